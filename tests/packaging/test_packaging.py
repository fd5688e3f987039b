"""Packaging: what Lambda gets is what we tested.

The deps layer, the shared layer and each function's asset are bundled with the stack's own
recipes (``infra.layer_build``: pip for this machine's architecture, sources copied without
byte code, everything compiled by a CPython 3.12), and each function of the wiring is imported
and invoked in a fresh CPython 3.12 (``-I -S``: no PYTHON* variables, no site-packages; ``-B``:
nothing written, as Lambda's read-only ``/opt`` and ``/var/task``) whose ``sys.path`` holds only
that function's bundled asset, the layers and boto3, as in Lambda.  A missing dependency, a
module that only the project's virtualenv provides, a wheel built for the wrong CPython, or a
module of ours or of the layers imported without valid 3.12 byte code (compiled again at every
cold start) fails here.  The deployed layer is arm64: every requirement must have an
arm64 CPython 3.12 wheel, checked with ``pip download``.

These tests need PyPI.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import boto3
import pytest
from moto.server import ThreadedMotoServer
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from hitl import ids, runtime, wiring
from hitl.adapters.dynamo import DynamoStore
from hitl.adapters.kms import KmsCrypto
from hitl.adapters.messaging import SqsWorkQueue
from hitl.domain.auth import Authenticator
from hitl.domain.requests import CreatePauseRequest
from hitl.domain.service import PauseService
from hitl.timeutil import now
from hitl.webhooks.models import RegisterWebhook
from hitl.webhooks.service import WebhookService
from hitl_local import apigw, resources
from hitl_local.receiver import receiver
from infra import layer_build
from tests.fakes import MemoryPublisher

REPO = layer_build.REPO_ROOT
RUNNER = Path(__file__).with_name("lambda_invoke.py")
SHARED_LAYER = REPO / "layers" / "shared"
REGION = "us-east-1"
BASE_URL = "https://hitl.example.test"
ARM64_PLATFORM = "manylinux2014_aarch64"


class Invoke(Protocol):
    def __call__(
        self,
        spec: wiring.Function,
        events: list[dict[str, Any]],
        endpoint: str,
        table: str = ...,
        bus: str = ...,
        queues: dict[str, str] | None = ...,
        environment: dict[str, str] | None = ...,
    ) -> list[Any]: ...


# --- the interpreter and the layers ------------------------------------------------------


def pip(*args: str) -> None:
    """``python -m pip …`` with the project's pip (the same one the CDK bundling runs)."""
    answer = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        check=False,
        timeout=300,
    )
    assert answer.returncode == 0, f"pip {' '.join(args)} failed:\n{answer.stdout}\n{answer.stderr}"


@pytest.fixture(scope="session")
def python312() -> str:
    found = layer_build.find_python()  # the one the CDK bundling compiles with
    if found is None:
        pytest.skip("no CPython 3.12 on this machine (Lambda's runtime); e.g. `pyenv install 3.12`")
    return found


@pytest.fixture(scope="session")
def deps_layer(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deps layer, built once with the stack's recipe for this machine's architecture:
    installed by pip, then compiled by the 3.12, as ``layer_build.bundle_deps`` does."""
    root = tmp_path_factory.mktemp("deps-layer")
    pip(*layer_build.pip_install_args(root, layer_build.host_platform()))
    layer_build.compile_tree(root, python312)
    return root / "python"


@pytest.fixture(scope="session")
def bundled(python312: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared layer (key ``"shared"``) and every function's asset folder (key: its ``asset``),
    bundled as the stack bundles them (``layer_build.bundle_source``)."""
    root = tmp_path_factory.mktemp("bundled")
    sources = {"shared": SHARED_LAYER, **{spec.asset: REPO / spec.asset for spec in wiring.FUNCTIONS}}
    folders = {}
    for n, (key, source) in enumerate(sources.items()):
        folders[key] = root / str(n)
        layer_build.bundle_source(source, folders[key], python312)
    return folders


@pytest.fixture(scope="session")
def runtime_boto3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boto3 as Lambda's Python runtime provides it (after the layers on the path)."""
    target = tmp_path_factory.mktemp("runtime-boto3")
    pip(
        "install",
        "boto3",
        "--target",
        str(target),
        "--platform",
        layer_build.host_platform(),
        "--implementation",
        "cp",
        "--python-version",
        layer_build.PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--quiet",
    )
    return target


@pytest.fixture(scope="session")
def xray_daemon() -> Iterator[socket.socket]:
    """A UDP socket in the X-Ray daemon's place: it receives the tracer's segments."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    yield sink
    sink.close()


def received_segments(sink: socket.socket) -> list[str]:
    segments = []
    while True:
        try:
            segments.append(sink.recv(1 << 16).decode(errors="replace"))
        except BlockingIOError:
            return segments


@pytest.fixture(scope="session")
def dead_endpoint() -> Iterator[str]:
    """An AWS endpoint that refuses every connection: a handler that calls AWS fails loudly."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused at once
    yield f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()


def trace_header() -> str:
    """The ``_X_AMZN_TRACE_ID`` Lambda sets for a sampled request."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"


def lambda_environment(
    spec: wiring.Function,
    task_root: Path,
    endpoint: str,
    table: str,
    bus: str,
    xray_port: int,
    queues: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The variables Lambda sets, plus the wiring's (and ``extra``); nothing inherited from this process."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": "/nonexistent",  # no ~/.aws of the developer
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{layer_build.PYTHON_VERSION}",
        "AWS_LAMBDA_FUNCTION_NAME": f"hitl-{spec.name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": str(task_root),  # also turns the Tracer on, as in Lambda
        "_X_AMZN_TRACE_ID": trace_header(),
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        **wiring.function_environment(
            spec,
            wiring.Deployment(
                table,
                bus,
                BASE_URL,
                {q: (queues or {}).get(q, "") for q in wiring.work_queues_of(spec)},
                kms_key_id="packaging-test-key",
            ),
        ),
        **(extra or {}),
    }


@pytest.fixture
def invoke(
    python312: str,
    deps_layer: Path,
    bundled: dict[str, Path],
    runtime_boto3: Path,
    xray_daemon: socket.socket,
    tmp_path: Path,
) -> Invoke:
    """Runs ``events`` through one function's handler in a fresh, bare CPython 3.12."""

    def run(
        spec: wiring.Function,
        events: list[dict[str, Any]],
        endpoint: str,
        table: str = "t",
        bus: str = "b",
        queues: dict[str, str] | None = None,
        environment: dict[str, str] | None = None,
    ) -> list[Any]:
        ours = [str(bundled[spec.asset]), str(bundled["shared"] / "python"), str(deps_layer)]
        path = [*ours, str(runtime_boto3)]
        out = tmp_path / f"{spec.name}-result.json"
        job = tmp_path / f"{spec.name}-job.json"
        job.write_text(
            json.dumps(
                {
                    "path": path,
                    "handler": spec.handler,
                    "function_name": f"hitl-{spec.name}",
                    "memory_mb": spec.memory_mb,
                    "events": events,
                    "compiled": ours,
                    "out": str(out),
                }
            )
        )
        env = lambda_environment(
            spec, bundled[spec.asset], endpoint, table, bus, xray_daemon.getsockname()[1], queues, environment
        )
        received_segments(xray_daemon)  # forget an earlier test's
        answer = subprocess.run(
            [python312, "-I", "-S", "-B", str(RUNNER), str(job)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )
        assert answer.returncode == 0 and out.exists(), (
            f"{spec.handler} failed in a bare Python 3.12:\n{answer.stdout[-4000:]}\n{answer.stderr[-4000:]}"
        )
        result = json.loads(out.read_text())
        assert result["python"] == [3, 12]
        assert result["foreign"] == [], "modules from outside the asset, the layers and boto3"
        assert result["uncompiled"] == [], "modules of the asset or the layers imported without their 3.12 byte code"
        traced = [s for s in received_segments(xray_daemon) if '"## lambda_handler"' in s]
        assert traced or not events, "the Tracer (on, as in Lambda) should have sent the handler's subsegment"
        results: list[Any] = result["results"]
        return results

    return run


def http_event(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    sent = {"host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    data = b""
    if body is not None:
        sent["content-type"] = "application/json"
        data = json.dumps(body).encode()
    route, params = apigw.match_route(method, path)
    return apigw.to_event(apigw.Request(method, path, "", sent, data), route, params)


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:123456789012:rule/hitl-sweeper"],
        "detail": {},
    }


def look_alike_key() -> str:
    """A key of the right shape whose checksum does not match (one character mistyped)."""
    key = ids.new_api_key()
    typo = "B" if key[10] != "B" else "C"
    return key[:10] + typo + key[11:]


# --- the handlers, each in a bare Python 3.12 ---------------------------------------------

#: functions of the wiring that a test below invokes; a new function needs a sample event here
INVOKED = {"api", "wait", "sweeper", "notifier", "pages", "webhooks", "dashboard", "slack"}


def test_every_function_of_the_wiring_is_invoked_here() -> None:
    new = sorted({spec.name for spec in wiring.FUNCTIONS} - INVOKED)
    assert not new, f"add a test here that invokes {new} with a sample event in a bare Python 3.12"
    assert {spec.name for spec in wiring.FUNCTIONS} >= INVOKED


def test_api_function_serves_openapi_and_refuses_a_look_alike_key_without_aws(
    invoke: Invoke, dead_endpoint: str
) -> None:
    # Given the API function's asset, the layers and boto3, and an AWS endpoint that refuses everything
    spec = wiring.API
    openapi = http_event("GET", "/api/openapi.json")
    create = http_event("POST", "/api/pause", {"action": "deploy"}, {"authorization": f"Bearer {look_alike_key()}"})
    assert apigw.match_route("POST", "/api/pause")[0].function == spec.name

    # When both requests run through its handler in a bare Python 3.12
    document, refused = (apigw.from_result(r) for r in invoke(spec, [openapi, create], dead_endpoint))

    # Then the OpenAPI document is served and the bad key is refused in our error shape, with no AWS call
    assert document.status == 200, document.body
    assert document.json()["openapi"].startswith("3.")
    assert "/api/pause" in document.json()["paths"]
    assert refused.status == 401, refused.body
    error = refused.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert isinstance(error["message"], str) and error["message"]


def test_wait_function_refuses_a_request_without_a_key(invoke: Invoke, dead_endpoint: str) -> None:
    # Given a GET of one pause without a key, routed as API Gateway routes it
    spec = wiring.WAIT
    event = http_event("GET", "/api/pause/w_x")
    assert apigw.match_route("GET", "/api/pause/w_x")[0].function == spec.name

    # When the wait function's handler runs it in a bare Python 3.12
    [result] = invoke(spec, [event], dead_endpoint)

    # Then it answers 401 in our error shape
    response = apigw.from_result(result)
    assert response.status == 401, response.body
    assert response.json()["error"]["code"] == "missing_api_key"


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield url
    finally:
        server.stop()


def test_sweeper_expires_and_republishes_against_aws_apis(invoke: Invoke, moto_server: str) -> None:
    # Given the stack's resources on a moto server, and a pause created an hour ago whose
    # pause.created event never reached the bus
    session = boto3.session.Session(region_name=REGION)
    names = resources.create(session)
    store = DynamoStore(session.client("dynamodb"), names.table)
    tenant = runtime.tenant_admin(store).create_tenant("packaging", "pro", ["approver@example.com"])
    principal = Authenticator(store.tenants).authenticate(f"Bearer {tenant['apiKey']}")
    an_hour_ago = now() - timedelta(hours=1)
    past = PauseService(store, MemoryPublisher(fail=True), BASE_URL, clock=lambda: an_hour_ago)
    pause = past.create(principal, CreatePauseRequest(action="deploy", timeoutSeconds=60), None).pause

    # When the sweeper's handler runs twice on its schedule in a bare Python 3.12
    results = invoke(wiring.SWEEPER, [scheduled_event(), scheduled_event()], moto_server, names.table, names.bus)

    # Then the first run expires the pause and republishes the lost event, the second finds nothing
    assert results == [
        {"expired": 1, "republished": 1, "reminded": 0},
        {"expired": 0, "republished": 0, "reminded": 0},
    ]
    sqs = session.client("sqs")
    received = sqs.receive_message(QueueUrl=names.queues["all-events"], MaxNumberOfMessages=10)["Messages"]
    seen = sorted(
        (json.loads(m["Body"])["detail"]["type"], json.loads(m["Body"])["detail"]["data"]["watchId"]) for m in received
    )
    assert seen == [("pause.created", pause.watchId), ("pause.expired", pause.watchId)]


def test_pages_function_refuses_a_malformed_link_without_aws(invoke: Invoke, dead_endpoint: str) -> None:
    # Given an approver's link whose token is not even well formed
    event = http_event("GET", "/a/not-a-token/approve")
    assert apigw.match_route("GET", "/a/not-a-token/approve")[0].function == wiring.PAGES.name
    # When the pages function's handler runs it in a bare Python 3.12
    [result] = invoke(wiring.PAGES, [event], dead_endpoint)
    # Then it answers an HTML page saying the link is not valid, with the page headers
    response = apigw.from_result(result)
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "This link is not valid" in response.body.decode()


def test_dashboard_function_serves_the_sign_in_page_and_refuses_an_api_key_without_aws(
    invoke: Invoke, dead_endpoint: str
) -> None:
    # Given the sign-in page, and an API key sent to the dashboard
    login = http_event("GET", "/login")
    keyed = http_event("GET", "/app", None, {"authorization": f"Bearer {look_alike_key()}"})
    assert apigw.match_route("GET", "/login")[0].function == wiring.DASHBOARD.name
    # When the dashboard function's handler runs them in a bare Python 3.12
    page, refused = (apigw.from_result(r) for r in invoke(wiring.DASHBOARD, [login, keyed], dead_endpoint))
    # Then the sign-in form is served, and the key is refused before any AWS call
    assert page.status == 200 and 'name="email"' in page.body.decode()
    assert page.headers["cache-control"] == "no-store"
    assert refused.status == 401 and "API keys cannot be used here" in refused.body.decode()


def test_slack_function_verifies_a_click_with_the_secret_from_ssm_against_aws_apis(
    invoke: Invoke, moto_server: str
) -> None:
    # Given the Slack app's signing secret in SSM, and two clicks: one unsigned, one signed by Slack
    # for a Slack team no tenant has connected
    session = boto3.session.Session(region_name=REGION)
    names = resources.create(session)
    secret, parameter = "packaging-signing-secret", "/hitl-packaging/slack/signing-secret"
    session.client("ssm").put_parameter(Name=parameter, Value=secret, Type="SecureString")
    app = wiring.SlackApp(signing_secret_parameter=parameter, client_id="1.2", client_secret_parameter="/unused")
    payload = {
        "type": "block_actions",
        "team": {"id": "T0NOBODY"},
        "user": {"id": "U0X"},
        "actions": [{"action_id": "hitl_approve", "value": "w_x"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    form = {"content-type": "application/x-www-form-urlencoded"}
    headers = {**form, "x-slack-request-timestamp": stamp, "x-slack-signature": str(signature)}
    route, params = apigw.match_route("POST", "/slack/interactivity")
    assert route.function == wiring.SLACK.name
    events = [
        apigw.to_event(apigw.Request("POST", "/slack/interactivity", "", form, body.encode()), route, params),
        apigw.to_event(apigw.Request("POST", "/slack/interactivity", "", headers, body.encode()), route, params),
    ]
    assert events[1]["isBase64Encoded"]  # a form body, as API Gateway hands it

    # When the slack function's handler runs them in a bare Python 3.12 (slack_sdk from the deps layer)
    unsigned, signed = (
        apigw.from_result(r)
        for r in invoke(
            wiring.SLACK, events, moto_server, names.table, names.bus, environment=wiring.slack_environment(app)
        )
    )

    # Then the unsigned one is refused in our error shape, the signed one acknowledged (nothing to decide)
    assert unsigned.status == 401 and unsigned.json()["error"]["code"] == "missing_slack_signature"
    assert signed.status == 200, signed.body


def test_notifier_sends_an_approval_email_against_aws_apis(invoke: Invoke, moto_server: str) -> None:
    # Given a pending pause of a tenant with one approver, on a moto server
    session = boto3.session.Session(region_name=REGION)
    names = resources.create(session)
    store = DynamoStore(session.client("dynamodb"), names.table)
    tenant = runtime.tenant_admin(store).create_tenant("packaging-notifier", "pro", ["approver@example.com"])
    principal = Authenticator(store.tenants).authenticate(f"Bearer {tenant['apiKey']}")
    pause = (
        PauseService(store, MemoryPublisher(), BASE_URL)
        .create(principal, CreatePauseRequest(action="deploy"), None)
        .pause
    )
    work = {"eventId": "evt_packaging", "watchId": pause.watchId, "to": "approver@example.com", "kind": "request"}
    record = {
        "messageId": "m1",
        "receiptHandle": "r1",
        "body": json.dumps(work),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:" + names.queues["email"].rsplit("/", 1)[-1],
        "awsRegion": REGION,
    }
    from moto.ses.models import ses_backends  # the moto server runs in this process

    outbox = ses_backends["123456789012"][REGION].sent_messages
    before = len(outbox)
    # When the notifier's handler runs the work item in a bare Python 3.12
    [result] = invoke(wiring.NOTIFIER, [{"Records": [record]}], moto_server, names.table, names.bus, names.queues)
    # Then nothing failed and SES accepted one email for the approver
    assert result == {"batchItemFailures": []}
    assert len(outbox) == before + 1
    assert "Subject: Approval needed: deploy" in outbox[-1].raw_data


def test_webhooks_function_delivers_a_signed_webhook_against_aws_apis(invoke: Invoke, moto_server: str) -> None:
    # Given an endpoint registered on a moto server (its secret KMS-encrypted), a receiver on 127.0.0.1,
    # and one delivery work item for it, as the fan-out queues it
    session = boto3.session.Session(region_name=REGION)
    names = resources.create(session)
    store = DynamoStore(session.client("dynamodb"), names.table)
    tenant = runtime.tenant_admin(store).create_tenant("packaging-webhooks", "pro", ["approver@example.com"])
    crypto = KmsCrypto(session.client("kms"), names.kms_key_id)
    queue = SqsWorkQueue(session.client("sqs"), names.queues["deliveries"])
    service = WebhookService(store.webhooks, crypto, queue, allow_loopback_http=True)
    with receiver() as hook:
        endpoint = service.register(
            tenant["tenantId"], RegisterWebhook(url=hook.url, events=["pause.cancelled"]), actor="test", channel="admin"
        )
        envelope = {
            "type": "pause.cancelled",
            "version": 1,
            "eventId": "evt_packaging",
            "occurredAt": "2026-01-01T00:00:00.000Z",
            "tenantId": tenant["tenantId"],
            "data": {"watchId": "w_packaging", "status": "cancelled"},
        }
        record = {
            "messageId": "m1",
            "receiptHandle": "r1",
            "body": json.dumps({"envelope": envelope, "webhookId": endpoint["id"]}),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:" + names.queues["deliveries"].rsplit("/", 1)[-1],
            "awsRegion": REGION,
        }
        settings = {wiring.ENV_KMS_KEY: names.kms_key_id, wiring.ENV_WEBHOOK_LOOPBACK: "true"}
        # When the deliverer's handler runs the work item in a bare Python 3.12
        [result] = invoke(
            wiring.WEBHOOKS, [{"Records": [record]}], moto_server, names.table, names.bus, names.queues, settings
        )
    # Then nothing failed, and the receiver got the event once, signed with the endpoint's secret
    assert result == {"batchItemFailures": []}
    assert len(hook.received) == 1
    assert Webhook(endpoint["secret"]).verify(hook.received[0].body, hook.received[0].headers) == envelope


# --- the deployed (arm64) layer ---------------------------------------------------------------


def test_every_requirement_has_an_arm64_wheel_for_python312(tmp_path: Path) -> None:
    # Given the stack builds the deps layer for arm64 Lambda
    assert layer_build.LAMBDA_PLATFORM == ARM64_PLATFORM

    # When pip downloads the layer's requirements as binaries for that platform
    pip(
        "download",
        "--only-binary=:all:",
        "--platform",
        ARM64_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        layer_build.PYTHON_VERSION,
        "--requirement",
        str(layer_build.requirements_file()),
        "--dest",
        str(tmp_path),
        "--quiet",
    )

    # Then it succeeds, and every compiled wheel is for aarch64
    wheels = sorted(path.name for path in tmp_path.glob("*.whl"))
    assert any(name.startswith("pydantic_core-") for name in wheels), wheels
    compiled = [name for name in wheels if not name.endswith("-any.whl")]
    assert compiled and all("aarch64" in name for name in compiled), compiled
