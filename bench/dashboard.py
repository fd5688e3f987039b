"""The dashboard's pages: AWS API calls and server time per request (issue 8, item 8), in-process
under moto as the integration tests call the handlers, on a warm instance with a signed-in member.

Server time is the handler's own time under in-process moto (p50 of the repeats): it ranks the
pages against each other; moto's cost per call is not DynamoDB's.  Every read must be a bounded
number of Queries and GetItems, never a Scan.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections import Counter
from contextlib import redirect_stdout
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import boto3
from moto import mock_aws

from bench.aws_calls import REGION, Recorder, describe, operations
from bench.common import (
    Options,
    handler_module,
    heading,
    percentile,
    quiet_powertools_environment,
    restore_environment,
    set_environment,
    table,
)
from hitl import runtime, wiring
from hitl.observability import logger
from hitl_local import apigw, resources

BASE_URL = "https://hitl.example.test"
MEMBER = "ana@example.com"


class Browser:
    """Just enough of a browser: the cookies it was given, same-origin form posts."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.last: apigw.HttpResponse | None = None

    def send(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
        sent = {"sec-fetch-site": "same-origin", **(headers or {})}
        if self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        bare, _, query = path.partition("?")
        route, params = apigw.match_route(method, bare)
        function = wiring.function(route.function)
        event = apigw.to_event(apigw.Request(method, bare, query, sent, body), route, params)
        with redirect_stdout(StringIO()):
            result = handler_module(function).lambda_handler(event, apigw.LambdaContext(function_name=function.name))
        answer = apigw.from_result(result)
        for line in answer.headers.get("set-cookie", "").split("\n"):
            name, _, rest = line.partition("=")
            if name:
                self.cookies[name] = rest.partition(";")[0]
        if answer.status >= 400:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {answer.body[:300]!r}")
        self.last = answer
        return answer

    def form(self, path: str, fields: dict[str, str]) -> Any:
        return self.send(
            "POST", path, urlencode(fields).encode(), {"content-type": "application/x-www-form-urlencoded"}
        )


def measure(repeats: int) -> list[tuple[str, list[Any], list[float]]]:
    session = boto3.session.Session(region_name=REGION)
    names = resources.create(session)
    deployment = wiring.Deployment(names.table, names.bus, BASE_URL, names.queues, kms_key_id=names.kms_key_id)
    set_environment(wiring.shared_environment(deployment))
    runtime.reset()
    tenant = runtime.tenant_admin(runtime.services().store).create_tenant("bench", "pro", [MEMBER])
    key = tenant["apiKey"]

    def create(action: str) -> str:
        answer = Browser().send(
            "POST",
            "/api/pause",
            json.dumps({"action": action, "context": {"env": "prod"}}).encode(),
            {"content-type": "application/json", "authorization": f"Bearer {key}"},
        )
        return str(answer.json()["watchId"])

    for n in range(40):
        create(f"background job {n}")
    browser = Browser()
    browser.form("/login", {"email": MEMBER})
    from moto.ses.models import ses_backends

    raw = ses_backends["123456789012"][REGION].sent_messages[-1].raw_data
    token = re.search(r"/login/([A-Za-z0-9_-]{43})", raw)
    assert token, "no sign-in link was sent"
    page = browser.send("GET", f"/login/{token.group(1)}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.body.decode())
    assert csrf
    browser.form(f"/login/{token.group(1)}", {"csrf": csrf.group(1)})
    home = browser.send("GET", "/app")
    session_csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', home.body.decode())
    assert session_csrf

    recorder = Recorder()
    recorder.fresh_instance()
    browser.send("GET", "/app")  # the instance's clients are built: what follows is warm
    to_decide = [create(f"decide me {n}") for n in range(repeats)]
    rows: list[tuple[str, list[Any], list[float]]] = []
    routes: list[tuple[str, Any]] = [
        ("GET /app", lambda n: browser.send("GET", "/app")),
        ("GET /app/pauses/{watchId}", lambda n: browser.send("GET", f"/app/pauses/{to_decide[n]}")),
        ("GET /app/history", lambda n: browser.send("GET", "/app/history")),
        (
            "POST /api/pause/{watchId}/approve (JSON)",
            lambda n: browser.send(
                "POST",
                f"/api/pause/{to_decide[n]}/approve",
                json.dumps({"decision": "approved"}).encode(),
                {"content-type": "application/json", "x-csrf-token": session_csrf.group(1)},
            ),
        ),
    ]
    for label, run in routes:
        times: list[float] = []
        calls: list[Any] = []
        for n in range(repeats):
            with recorder.recording() as seen:
                started = time.perf_counter()
                run(n)
                times.append((time.perf_counter() - started) * 1000)
            calls = seen
        rows.append((label, calls, times))
    return rows


def run(options: Options) -> None:
    heading("Dashboard: AWS calls and server time per request (warm instance, a signed-in member, in-process moto)")
    previous = set_environment(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            **quiet_powertools_environment(),
        }
    )
    level = logger.log_level
    logger.setLevel("WARNING")
    try:
        with warnings.catch_warnings(), mock_aws(config={"core": {"reset_boto3_session": False}}):
            warnings.simplefilter("ignore")
            rows = measure(5 if options.quick else 20)
    finally:
        runtime.reset()
        restore_environment(previous)
        logger.setLevel(level)
    printed = [
        (
            label,
            sum(operations(calls).values()),
            describe(calls),
            "none" if "Scan" not in Counter(c.operation for c in calls) else "SCAN!",
            f"{percentile(times, 50):.1f}",
            f"{percentile(times, 90):.1f}",
        )
        for label, calls, times in rows
    ]
    print(table(["route", "calls", "AWS calls (last request)", "scans", "p50 ms", "p90 ms"], printed))
