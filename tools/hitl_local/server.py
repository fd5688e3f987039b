"""The local stack (``make dev``, ``python -m hitl_local``): the service on one machine.

moto in server mode (this process, DynamoDB serialized) holds the resources the wiring
describes; an HTTP front on ``HITL_PORT`` turns requests into API Gateway HTTP API events for
the routes' functions, which run in warm worker processes (one event at a time each, more
instances for concurrent requests); queue pollers, event collectors and schedules invoke the
same functions as AWS would, and a fake of SES's mailbox simulator reports bounces and complaints
on the default bus as SES would (``ses_simulator``).  The table is kept across restarts in the
state directory, with the KMS key that encrypts the webhook secrets in it (``state.KMS_FILE``).

Set here only, never in the CDK stack: webhooks may call ``http://127.0.0.1`` (a receiver on this
machine), and their retry schedule is compressed so that every retry happens within about a minute
(``HITL_WEBHOOK_RETRY_SCALE`` to change it; 1 is AWS's schedule).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request as WsgiRequest
from werkzeug.wrappers import Response as WsgiResponse

from hitl import runtime, wiring
from hitl.adapters.dynamo import DynamoStore
from hitl.adapters.kms import SLACK_BOT_TOKEN, KmsCrypto
from hitl.webhooks.models import RETRY_SCHEDULE_S
from hitl_local import apigw, fast_queries, fast_transactions, outbox, resources, saved_messages, slack_fake, state
from hitl_local.moto_server import FAKE_CREDENTIALS, REGION, MotoServer, export_kms_key, import_kms_key
from hitl_local.pollers import MAPPING_CONCURRENCY, EventCollector, QueuePoller, ScheduleRunner
from hitl_local.ses_simulator import MailboxSimulator, moto_sent_messages
from hitl_local.workers import Invocation, Outcome, PoolClosed, Pools

log = logging.getLogger("hitl_local")

#: API Gateway HTTP API's request payload limit
MAX_REQUEST_BYTES = 10 * 1024 * 1024
LOCAL_PREFIX = "/_local/"
#: the local Slack app's secrets, SecureString parameters in moto's SSM
SLACK_SIGNING_SECRET_PARAMETER = "/hitl-local/slack/signing-secret"  # noqa: S105 (a name)
SLACK_CLIENT_SECRET_PARAMETER = "/hitl-local/slack/client-secret"  # noqa: S105 (a name)
#: every retry of a webhook delivery within about this long of its first attempt (the schedule of
#: ``hitl.webhooks.models``, ~8.6 hours in AWS, compressed): a developer sees them all happen
WEBHOOK_RETRY_WINDOW_S = 60
DEFAULT_WEBHOOK_RETRY_SCALE = round(WEBHOOK_RETRY_WINDOW_S / sum(RETRY_SCHEDULE_S), 4)


# --- options -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 3000
    state_dir: Path = Path(".hitl")
    public_base_url: str | None = None
    log_level: str = "INFO"
    approver_email: str = state.DEFAULT_APPROVER
    #: print each invocation's CloudWatch metrics (EMF) as Lambda would; off: they are noise here
    metrics: bool = False
    #: multiplies the webhook retry schedule (``HITL_WEBHOOK_RETRY_SCALE``; 1: AWS's own)
    webhook_retry_scale: float = DEFAULT_WEBHOOK_RETRY_SCALE


def parse_options(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Options:
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m hitl_local",
        description="The HITL local stack: the agent API on http://127.0.0.1:3000 with moto behind it.",
        epilog="Environment: HITL_PORT, HITL_HOST, HITL_STATE_DIR, HITL_SWEEP_SECONDS, HITL_LOG_LEVEL, "
        "HITL_PUBLIC_BASE_URL, HITL_APPROVER_EMAIL, HITL_METRICS, HITL_WEBHOOK_RETRY_SCALE (default "
        f"{DEFAULT_WEBHOOK_RETRY_SCALE}: every retry of a webhook within about {WEBHOOK_RETRY_WINDOW_S} s).",
    )
    parser.add_argument("--host", default=env.get("HITL_HOST", "127.0.0.1"), help="address to serve on")
    parser.add_argument(
        "--port", type=int, default=int(env.get("HITL_PORT", "3000")), help="port to serve on (0: any free one)"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=Path(env.get("HITL_STATE_DIR", ".hitl")), help="where state is kept"
    )
    args = parser.parse_args(argv)
    scale = env.get(wiring.ENV_WEBHOOK_RETRY_SCALE, "").strip()
    try:
        retry_scale = float(scale) if scale else DEFAULT_WEBHOOK_RETRY_SCALE
    except ValueError:
        parser.error(f"{wiring.ENV_WEBHOOK_RETRY_SCALE} must be a number, not {scale!r}")
    if not retry_scale >= 0:
        parser.error(f"{wiring.ENV_WEBHOOK_RETRY_SCALE} must be 0 or more, not {scale!r}")
    return Options(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        public_base_url=env.get("HITL_PUBLIC_BASE_URL") or None,
        log_level=env.get("HITL_LOG_LEVEL", "INFO").upper(),
        approver_email=env.get("HITL_APPROVER_EMAIL", state.DEFAULT_APPROVER),
        metrics=env.get("HITL_METRICS", "").lower() in ("1", "true", "yes"),
        webhook_retry_scale=retry_scale,
    )


# --- the HTTP front ------------------------------------------------------------------------

LocalHandler = Callable[[apigw.Request], apigw.HttpResponse]


def json_answer(status: int, body: Any) -> apigw.HttpResponse:
    return apigw.HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


def error_answer(status: int, code: str, message: str) -> apigw.HttpResponse:
    return json_answer(status, {"error": {"code": code, "message": message}})


class Invoker(Protocol):
    def invoke(self, event: Any, until: float | None = None) -> Invocation: ...


@dataclass
class Front:
    """API Gateway's part: route, build the event, invoke within 30 s, shape the answer.
    Paths under ``/_local/`` are the local stack's own pages (``local_routes``)."""

    #: function name -> its instances
    pools: Mapping[str, Invoker]
    local_routes: dict[tuple[str, str], LocalHandler] = field(default_factory=dict)
    #: (method, path prefix) -> handler: the fake Slack's ``/_local/slack/api/{method}``
    local_prefixes: dict[tuple[str, str], LocalHandler] = field(default_factory=dict)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.monotonic()
        incoming = WsgiRequest(environ)
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or incoming.full_path
        path, _, query = raw.partition("?")
        request_id = secrets.token_hex(8)
        if (incoming.content_length or 0) > MAX_REQUEST_BYTES:
            answer, function = apigw.gateway_error(413, "Request Entity Too Large"), "-"
        else:
            request = apigw.Request(
                method=incoming.method,
                path=path or "/",
                query=query,
                headers=dict(incoming.headers.items()),
                body=incoming.get_data(),
                source_ip=incoming.remote_addr or "127.0.0.1",
            )
            answer, function = self.handle(request, started + apigw.TIMEOUT_S)
        answer.headers.setdefault("apigw-requestid", request_id)
        log.info(
            "%s %s -> %d (%s, %d ms)",
            incoming.method,
            logged_path(incoming.method, path or "/"),
            answer.status,
            function,
            (time.monotonic() - started) * 1000,
        )
        return to_wsgi(answer)(environ, start_response)

    def handle(self, request: apigw.Request, until: float) -> tuple[apigw.HttpResponse, str]:
        """The answer to one request, and which function (or ``local``) gave it."""
        if request.path.startswith(LOCAL_PREFIX):
            handler = self.local_routes.get((request.method, request.path))
            if handler is None:
                handler = next(
                    (
                        h
                        for (m, p), h in self.local_prefixes.items()
                        if m == request.method and request.path.startswith(p)
                    ),
                    None,
                )
            if handler is None and request.method == "HEAD":
                handler = self.local_routes.get(("GET", request.path))
            if handler is None:
                return error_answer(404, "route_not_found", f"No route {request.method} {request.path}."), "local"
            try:
                return handler(request), "local"
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                return error_answer(500, "internal_error", "The local stack failed; see its output."), "local"
        route, params = apigw.match_route(request.method, request.path)
        event = apigw.to_event(request, route, params)
        try:
            invocation = self.pools[route.function].invoke(event, until)
        except PoolClosed:
            return apigw.gateway_error(503, "Service Unavailable"), route.function
        if invocation.outcome is Outcome.OK:
            return apigw.from_result(invocation.result), route.function
        if invocation.outcome is Outcome.CALLER_TIMEOUT:
            return apigw.gateway_error(503, "Service Unavailable"), route.function
        # the function failed (raised, crashed, or ran out of time): API Gateway answers 500
        log.error("%s failed: %s", route.function, invocation.error)
        return apigw.gateway_error(500, "Internal Server Error"), route.function


# --- what the request log shows ------------------------------------------------------------

#: a path segment shown as it is on an unknown path: a plain lower-case word (``api``, ``pause``,
#: ``openapi.json``); anything else (a token, a key, an id) is shown as ``REDACTED``
_PLAIN_SEGMENT = re.compile(r"^[a-z][a-z.-]{0,23}$")
REDACTED = "{redacted}"
#: a run of characters that could be a secret (link tokens, API keys, ``whsec_…``) in free text
_SECRET_LIKE = re.compile(r"[A-Za-z0-9_-]{20,}")


def logged_path(method: str, path: str) -> str:
    """How the request log shows ``method path``: never a token or any other secret a path may carry.

    A path of one of the wiring's routes is shown as the route's template (``/a/{token}/{choice}``,
    as API Gateway's ``$context.routeKey``), whatever route is added later (sign-in links,
    invitations); any other path keeps only the segments that are the literal words of some route
    or plain words, every other segment redacted.  The local stack's own pages are shown as they are.
    """
    if path.startswith(LOCAL_PREFIX):
        return path if _SECRET_LIKE.search(path) is None else LOCAL_PREFIX + REDACTED
    route, _ = apigw.match_route(method, path)
    if route.path != wiring.DEFAULT_ROUTE:
        return route.path
    literals = {part for known in wiring.ROUTES for part in known.path.split("/") if not part.startswith("{")}
    shown = [
        segment if segment in literals or _PLAIN_SEGMENT.match(segment) else REDACTED for segment in path.split("/")
    ]
    return "/".join(shown) or "/"


def redacted_text(text: str) -> str:
    """``text`` with every run that could be a secret replaced (free-form lines: werkzeug's errors)."""
    return _SECRET_LIKE.sub(REDACTED, text)


def to_wsgi(answer: apigw.HttpResponse) -> WsgiResponse:
    headers: list[tuple[str, str]] = []
    for name, value in answer.headers.items():
        if name == "set-cookie":
            headers.extend(("set-cookie", cookie) for cookie in value.split("\n") if cookie)
        else:
            headers.append((name, value))
    try:
        status = f"{answer.status} {HTTPStatus(answer.status).phrase}"
    except ValueError:
        status = str(answer.status)
    return WsgiResponse(answer.body, status=status, headers=headers)


class _QuietHandler(WSGIRequestHandler):
    """The front logs each request itself (with the function that served it)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        """werkzeug's own errors (a malformed request line) quote the request: redacted."""
        log.warning("http: %s", redacted_text(format % args if args else format))

    def version_string(self) -> str:
        return "hitl-local"


class StartError(Exception):
    pass


# --- the stack -------------------------------------------------------------------------------


class LocalStack:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.started_at = time.time()
        self.moto: MotoServer | None = None
        self.store: DynamoStore | None = None
        self.names: resources.Names | None = None
        self.pools: Pools | None = None
        self.front: Front | None = None
        self.http: BaseWSGIServer | None = None
        self._http_thread: threading.Thread | None = None
        self.loops: list[QueuePoller | EventCollector | ScheduleRunner | MailboxSimulator] = []
        self.collectors: dict[str, EventCollector] = {}
        self.config: state.LocalConfig | None = None
        self.restored = 0
        self.restored_messages = 0
        self.restored_emails = 0
        self._keep_on_stop = False
        self.lock = state.StateLock(options.state_dir)
        #: what signs the fake Slack's clicks (kept in local.json across restarts)
        self.slack_signing_secret = ""
        self.slack: slack_fake.FakeSlack | None = None

    @property
    def api_url(self) -> str:
        """Where the front serves (before it does: where it is to, on the options' port)."""
        host = self.options.host if self.options.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
        port = self.http.server_port if self.http is not None else self.options.port
        return f"http://{host}:{port}"

    def slack_app(self) -> wiring.SlackApp:
        """The local Slack app: the fake Slack of this stack (``hitl_local.slack_fake``), its secrets
        in moto's SSM."""
        return wiring.SlackApp(
            signing_secret_parameter=SLACK_SIGNING_SECRET_PARAMETER,
            client_id=slack_fake.CLIENT_ID,
            client_secret_parameter=SLACK_CLIENT_SECRET_PARAMETER,
            api_url=f"{self.api_url}{slack_fake.API_PREFIX}",
            authorize_url=f"{self.api_url}{slack_fake.PREFIX}/oauth/authorize",
        )

    def function_environment(self, function: wiring.Function) -> dict[str, str]:
        """The function's environment from the wiring (as in AWS, plus the local-only settings), and
        the AWS SDK's, pointed at moto."""
        assert self.moto is not None and self.names is not None
        deployment = wiring.Deployment(
            table=self.names.table,
            bus=self.names.bus,
            public_base_url=(self.options.public_base_url or self.api_url).rstrip("/"),
            queue_urls=self.names.queues,
            # as in AWS, every email names the configuration set whose events SES reports
            ses_configuration_set=self.names.configuration_set,
            kms_key_id=self.names.kms_key_id,
            log_level=self.options.log_level,
            slack=self.slack_app(),
        )
        local = wiring.LocalSettings(webhook_retry_scale=self.options.webhook_retry_scale, metrics=self.options.metrics)
        return {
            **wiring.function_environment(function, deployment, local),
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def start(self) -> state.LocalConfig:
        options = self.options
        state_dir = options.state_dir
        try:
            self.lock.acquire()
        except state.StateInUse as error:
            raise StartError(str(error)) from error
        # the HTTP port first: a port in use should fail before anything else starts, and
        # the functions need the front's URL (PUBLIC_BASE_URL)
        self.front = Front(pools={})
        try:
            self.http = make_server(
                options.host, options.port, self.front, threaded=True, request_handler=_QuietHandler
            )
        except (OSError, SystemExit) as error:  # werkzeug exits on a port in use, having said why
            raise StartError(f"cannot serve on {options.host}:{options.port}; set HITL_PORT or --port") from error

        self.moto = MotoServer().start()
        session = self.moto.session()
        # the key of the last run, under its own id (the restored table's secrets are encrypted with it)
        try:
            saved_key = state.load_kms_key(state_dir)
        except state.StateCorrupt as error:
            raise StartError(str(error)) from error
        kept = resources.Names(kms_key_id=import_kms_key(saved_key)) if saved_key else resources.Names()
        self.names = resources.create(session, kept)
        if saved_key is None:
            state.save_kms_key(state_dir, export_kms_key(self.names.kms_key_id))
        dynamodb = session.client("dynamodb")
        self.store = DynamoStore(dynamodb, self.names.table)
        self.restored = state.restore(dynamodb, self.names.table, state_dir)
        # the queues' messages and the outbox, before any poller or the SES simulator runs
        saved_queues, saved_outbox = state.load_messages(state_dir)
        self.restored_messages = saved_messages.import_queues(saved_queues)
        self.restored_emails = saved_messages.import_outbox(saved_outbox)
        self._keep_on_stop = True  # moto holds the saved state now: it may be saved again
        previous = state.read_config(state_dir)
        # the Slack app's secrets, in moto's SSM as SecureStrings (the functions read them there)
        self.slack_signing_secret = str((previous or {}).get("slackSigningSecret") or secrets.token_hex(16))
        ssm = session.client("ssm")
        for name, value in (
            (SLACK_SIGNING_SECRET_PARAMETER, self.slack_signing_secret),
            (SLACK_CLIENT_SECRET_PARAMETER, secrets.token_hex(16)),
        ):
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)

        self.pools = Pools(wiring.FUNCTIONS, self.function_environment)
        self.front.pools = self.pools.pools
        warming = [thread for pool in self.pools.pools.values() for thread in pool.start_warm()]

        tenant = state.ensure_local_tenant(runtime.tenant_admin(self.store), options.approver_email, previous)
        store = self.store
        self.slack = slack_fake.FakeSlack(
            state_dir,
            signing_secret=self.slack_signing_secret,
            stack_url=self.api_url,
            is_member=lambda email: bool(store.tenants.memberships(email)),
        )
        state.ensure_local_slack(
            store, KmsCrypto(session.client("kms"), self.names.kms_key_id, purpose=SLACK_BOT_TOKEN), tenant
        )

        sqs = session.client("sqs")
        for subscription in wiring.SUBSCRIPTIONS:
            url = self.names.queues[subscription.name]
            if subscription.function:
                pool = self.pools[subscription.function]
                concurrency = min(MAPPING_CONCURRENCY, pool.function.local_max)
                self.loops.append(QueuePoller(sqs, url, subscription, pool, concurrency))
            else:
                collector = EventCollector(sqs, url, subscription)
                self.collectors[subscription.name] = collector
                self.loops.append(collector)
        for schedule in wiring.SCHEDULES:
            period = float(os.environ.get(schedule.local_setting, schedule.local_default_s))
            self.loops.append(ScheduleRunner(schedule, self.pools[schedule.function], period))
        # moto reports no bounces: this puts SES's events for mail to its simulator addresses on the default bus
        # (the emails of the outbox put back were reported on in their own run)
        earlier_emails = self.restored_emails
        self.loops.append(
            MailboxSimulator(
                session.client("events"),
                self.names.configuration_set,
                sent_messages=lambda: moto_sent_messages()[earlier_emails:],
            )
        )

        self.front.local_routes.update(
            {
                ("GET", "/_local/health"): self._health,
                ("GET", "/_local/events.json"): self._events,
                ("GET", "/_local/outbox"): outbox.as_page,
                ("GET", "/_local/outbox.json"): outbox.as_json,
                **self.slack.routes(),
            }
        )
        self.front.local_prefixes[("POST", slack_fake.API_PREFIX)] = self.slack.api
        for thread in warming:
            thread.join()
        for loop in self.loops:
            loop.start()
        http = self.http
        self._http_thread = threading.Thread(
            target=lambda: http.serve_forever(poll_interval=0.1), name="http", daemon=True
        )
        self._http_thread.start()

        api_url = self.api_url
        self.config = state.LocalConfig(
            apiUrl=api_url,
            apiKey=tenant.apiKey,
            tenantId=tenant.tenantId,
            approverEmail=tenant.approverEmail,
            outboxUrl=f"{api_url}/_local/outbox",
            slackUrl=f"{api_url}{slack_fake.PREFIX}",
            slackSigningSecret=self.slack_signing_secret,
            awsEndpoint=self.moto.url,
            tableName=self.names.table,
            eventBusName=self.names.bus,
        )
        state.write_config(state_dir, self.config)
        return self.config

    def stop(self) -> int | None:
        """Stop everything started, in order; the number of items saved (None: nothing saved)."""
        began = time.monotonic()

        def done(what: str) -> None:
            log.debug("stopped %s at %.2f s", what, time.monotonic() - began)

        if self.http is not None:
            if self._http_thread is not None:
                self.http.shutdown()
            self.http.server_close()
            done("http")
        for loop in self.loops:
            loop.stop()
        if self.pools is not None:
            self.pools.close()
            done("functions")
        for loop in self.loops:
            loop.join()
        done("pollers")
        saved = None
        if self.moto is not None and self.names is not None and self._keep_on_stop:
            state_dir = self.options.state_dir
            try:
                saved = state.dump(self.moto.session().client("dynamodb"), self.names.table, state_dir)
            except Exception:
                log.exception("could not save the table to %s", state_dir / state.DUMP_FILE)
            done("dump")
            # every poller and batch has stopped: what is in the queues now stays there
            pollers = [loop for loop in self.loops if isinstance(loop, QueuePoller)]
            interrupted = set().union(*(poller.interrupted() for poller in pollers))
            try:
                queues = saved_messages.export_queues(interrupted)
                state.save_messages(state_dir, queues, saved_messages.export_outbox())
            except Exception:
                log.exception("could not save the queues and the outbox to %s", state_dir)
            done("messages")
        if self.moto is not None:
            self.moto.stop()
            done("moto")
        self.lock.release()
        return saved

    # --- /_local/* -------------------------------------------------------------------------

    def _health(self, request: apigw.Request) -> apigw.HttpResponse:
        assert self.pools is not None
        return json_answer(
            200,
            {
                "status": "ok",
                "uptimeSeconds": round(time.time() - self.started_at, 1),
                "functions": self.pools.sizes(),
                "awsEndpoint": self.moto.url if self.moto else None,
            },
        )

    def _events(self, request: apigw.Request) -> apigw.HttpResponse:
        """Every event the test-only rules collected, oldest first (EventBridge envelopes)."""
        collected = [event for collector in self.collectors.values() for event in collector.events()]
        return json_answer(200, collected)


def banner(config: state.LocalConfig, state_dir: Path) -> str:
    example = (
        f"curl -s {config.apiUrl}/api/pause -H 'Authorization: Bearer {config.apiKey}' "
        '-H \'Content-Type: application/json\' -d \'{"action": "Deploy to production", "context": {}}\''
    )
    return "\n".join(
        [
            "",
            f"  HITL local stack  {config.apiUrl}",
            f"  API key           {config.apiKey}   (tenant 'local', approver {config.approverEmail})",
            f"  outbox            {config.outboxUrl}   (every email the stack sent; nothing leaves this machine)",
            f"  slack             {config.slackUrl}   (the fake Slack: the DMs sent, with working buttons)",
            f"  try               {example}",
            f"  settings          {state_dir / state.CONFIG_FILE}",
            "  Ctrl-C to stop (the table is kept in the state directory across restarts)",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    logging.basicConfig(
        level=getattr(logging, options.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # transactions and queries in time that does not grow with the table; safe because this
    # process's moto serializes every DynamoDB request (see fast_transactions, fast_queries)
    fast_transactions.install()
    fast_queries.install()
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            print("still stopping…", file=sys.stderr, flush=True)
        stopping.set()

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # Ctrl-C, kill, a closed terminal
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)
    stack = LocalStack(options)
    code = 0
    try:
        config = stack.start()
        if stack.restored:
            log.info("restored %d items from %s", stack.restored, options.state_dir / state.DUMP_FILE)
        if stack.restored_messages or stack.restored_emails:
            log.info("restored %d queued messages and %d emails", stack.restored_messages, stack.restored_emails)
        print(banner(config, options.state_dir), flush=True)
        while not stopping.wait(1):
            pass
        print("stopping…", file=sys.stderr, flush=True)
    except StartError as error:
        print(f"hitl_local: {error}", file=sys.stderr, flush=True)
        code = 1
    except Exception:
        log.exception("the local stack could not start")
        code = 1
    finally:
        saved = stack.stop()
    if saved is not None:
        print(f"saved {saved} items to {options.state_dir / state.DUMP_FILE}", file=sys.stderr, flush=True)
    return code
