"""What the functions leave in X-Ray and in their log lines: never a response (secrets, pause
context), never an earlier request's keys."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from hitl import runtime, wiring
from hitl.observability import logger, tracer
from hitl_local import apigw


class RecordedSubsegment:
    """What the tracer writes on a subsegment, kept instead of sent to X-Ray."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.metadata: list[tuple[str, Any]] = []
        self.annotations: dict[str, Any] = {}

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata.append((key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> list[RecordedSubsegment]:
    recorded: list[RecordedSubsegment] = []

    @contextlib.contextmanager
    def in_subsegment(name: str, **kwargs: Any) -> Iterator[RecordedSubsegment]:
        subsegment = RecordedSubsegment(name)
        recorded.append(subsegment)
        yield subsegment

    monkeypatch.setattr(tracer.provider, "in_subsegment", in_subsegment)
    return recorded


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The functions' log output (Powertools' JSON lines), as CloudWatch would receive it."""
    sink = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", sink)
    return sink


@pytest.fixture
def tenant(cloud, make_tenant, monkeypatch):
    monkeypatch.setenv(wiring.ENV_WEBHOOK_LOOPBACK, "true")
    runtime.reset()
    return make_tenant(plan="pro", approvers=["ann@x.test"])


def test_traces_never_hold_a_response(api, tenant, traces):
    """X-Ray would show the webhook secret, the callback secret and the pause's context."""
    key = tenant["apiKey"]
    webhook = api.post("/api/webhooks", {"url": "http://127.0.0.1:9/hook"}, key=key)
    assert webhook.status == 201
    callback = api.get("/api/callback-secret", key=key)
    assert callback.status == 200
    created = api.post("/api/pause", {"action": "Pay", "context": {"iban": "DE89370400440532013000"}}, key=key)
    watch_id = created.json()["watchId"]
    assert api.get(f"/api/pause/{watch_id}", key=key).status == 200
    failing = api.post("/api/pause", raw=b"{", key=key)  # an error answer is a response too
    assert failing.status == 400

    secrets = [webhook.json()["secret"], *_strings(callback.json()), "DE89370400440532013000"]
    assert traces, "the handlers were traced"
    for subsegment in traces:
        assert subsegment.metadata == [], f"{subsegment.name} recorded {[k for k, _ in subsegment.metadata]}"
        recorded = json.dumps(subsegment.annotations, default=str)
        assert not [s for s in secrets if s in recorded]


def test_a_warm_function_forgets_the_previous_requests_keys(api, tenant, log_lines, monkeypatch):
    """A warm API function served a tenant's create; its next request fails before it knows who
    asked: that error line names no tenant and no pause."""
    key = tenant["apiKey"]
    watch_id = api.post("/api/pause", {"action": "Deploy"}, key=key).json()["watchId"]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the key store is down")

    monkeypatch.setattr(runtime.services().auth, "authenticate", broken)
    log_lines.truncate(0)
    log_lines.seek(0)
    assert api.get("/api/pause", key=key).status == 500

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.strip()]
    errors = [line for line in lines if line.get("message") == "unhandled error"]
    assert errors, lines
    for line in errors:
        assert "tenant_id" not in line and "watch_id" not in line, line
        assert tenant["tenantId"] not in json.dumps(line) and watch_id not in json.dumps(line)


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_every_function_starts_each_invocation_with_no_keys_of_the_last(spec, cloud, log_lines):
    """Whatever a function appended during one invocation is gone at the next one."""
    module = importlib.import_module(spec.handler.rsplit(".", 1)[0])
    logger.append_keys(tenant_id="t_previous", watch_id="w_previous")
    event: dict[str, Any]
    if any(route.function == spec.name for route in wiring.ROUTES):
        route, params = apigw.match_route("GET", "/no/such/path")
        event = apigw.to_event(apigw.Request("GET", "/no/such/path"), route, params)
    elif any(schedule.function == spec.name for schedule in wiring.SCHEDULES):
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    else:
        event = {"Records": []}
    with contextlib.suppress(Exception):  # an event this function does not take still starts an invocation
        module.lambda_handler(event, apigw.LambdaContext(function_name=spec.name))
    logger.warning("probe")
    probe = json.loads(log_lines.getvalue().strip().splitlines()[-1])
    assert probe["message"] == "probe"
    assert "tenant_id" not in probe and "watch_id" not in probe


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) >= 16 else []
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
