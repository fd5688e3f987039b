"""AWS API calls per request, per route: counted with botocore's ``before-call`` hook while the
real handlers run in-process under moto (``mock_aws``), as the integration tests call them.

Each route runs on a fresh function instance (new boto3 session and clients, empty key cache),
twice: the first call shows the cold instance (the API key lookup), the second the warm one,
which is what the targets of issue 2 count — besides the key lookup: by default every request
reads its key (one GetItem, so a revoked key is refused at once), which the verdict notes;
``HITL_KEY_CACHE_SECONDS=60`` shows the warm instance trusting its cached lookup instead.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import boto3
from moto import mock_aws

from bench.common import (
    Options,
    handler_module,
    heading,
    quiet_powertools_environment,
    restore_environment,
    set_environment,
    table,
)
from hitl import runtime, timeutil, wiring
from hitl.adapters import aws
from hitl.domain.models import Event
from hitl.domain.requests import CreatePauseRequest
from hitl.domain.service import PauseService
from hitl.observability import logger
from hitl_local import apigw, resources

REGION = "us-east-1"
BASE_URL = "https://hitl.example.test"
#: what a warm instance may spend per request (issue 2, "Measured"), by operation name; a create
#: reads its tenant and approvers fresh (one Query, issue 7: a tenant change counts at once)
TARGETS: dict[str, Counter[str]] = {
    "create": Counter({"Query": 1, "TransactWriteItems": 1, "PutEvents": 1, "UpdateItem": 1}),
    "get": Counter({"Query": 1}),
    "long-poll, each re-check": Counter({"GetItem": 1}),
}
#: markers between the calls: the long-poll's sleeps, the API key lookup (cached ≤ 60 s when warm)
SLEEP = "·sleep"
LOOKUP_START = "·lookup"
LOOKUP_END = "·lookup-end"
MARKERS = {SLEEP, LOOKUP_START, LOOKUP_END}


@dataclass(frozen=True)
class Call:
    operation: str
    target: str = ""

    @property
    def label(self) -> str:
        """``GetItem(P#HEAD)``: the operation and what it touched (sort key prefix, index, items)."""
        return f"{self.operation}({self.target})" if self.target else self.operation


@dataclass
class Recorder:
    """Every AWS API call the handlers make, in order: botocore emits ``before-parameter-build``
    once per API call (its HTTP retries are not counted), with the call's own parameters."""

    calls: list[Call] = field(default_factory=list)

    def hook(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(Call(model.name, _target(model.name, params)))

    @contextmanager
    def recording(self) -> Iterator[list[Call]]:
        start = len(self.calls)
        seen: list[Call] = []
        yield seen
        seen += self.calls[start:]

    def fresh_instance(self) -> None:
        """A new function instance: new session and clients (with the hook), empty key cache.
        The long-poll's sleeps and the key lookup leave markers among the calls."""
        runtime.reset()
        aws.session().register("before-parameter-build", self.hook, unique_id="bench-count")
        services = runtime.services()
        sleep = services.pauses.sleep
        lookup = services.auth._lookup

        def marked_sleep(seconds: float) -> None:
            self.calls.append(Call(SLEEP))
            sleep(seconds)

        def marked_lookup(key_hash: str) -> Any:
            self.calls.append(Call(LOOKUP_START))
            try:
                return lookup(key_hash)
            finally:
                self.calls.append(Call(LOOKUP_END))

        services.pauses.sleep = marked_sleep
        setattr(services.auth, "_lookup", marked_lookup)  # noqa: B010  (a method, to mypy)


def _target(operation: str, params: dict[str, Any]) -> str:
    """What a call touches, briefly: the item kind (sort key prefix), the index, the item count."""
    key = params.get("Key") or params.get("Item")
    if isinstance(key, dict) and "sk" in key:
        sk = str(next(iter(key["sk"].values())))
        return sk if sk.startswith("P#") else sk.split("#", 1)[0] + ("#" if "#" in sk else "")
    if operation == "Query":
        prefix = params.get("ExpressionAttributeValues", {}).get(":prefix", {}).get("S")
        return str(params.get("IndexName") or prefix or "table")
    if operation == "TransactWriteItems":
        return f"{len(params.get('TransactItems', []))} items"
    if operation == "PutEvents":
        return f"{len(params.get('Entries', []))} events"
    return ""


def describe(calls: list[Call]) -> str:
    counted = Counter(c.label for c in calls if c.operation not in MARKERS)
    if not counted:
        return "none"
    return " + ".join(f"{n}×{label}" if n > 1 else label for label, n in counted.items())


def operations(calls: list[Call]) -> Counter[str]:
    return Counter(c.operation for c in calls if c.operation not in MARKERS)


def split_lookup(calls: list[Call]) -> tuple[list[Call], list[Call]]:
    """(the API key lookup's calls, the others)."""
    lookup: list[Call] = []
    others: list[Call] = []
    inside = False
    for call in calls:
        if call.operation in (LOOKUP_START, LOOKUP_END):
            inside = call.operation == LOOKUP_START
        elif call.operation not in MARKERS:
            (lookup if inside else others).append(call)
    return lookup, others


def verdict(route: str, cold: list[Call], warm: list[Call]) -> tuple[str, str]:
    """(target, verdict): the warm instance's calls against the target; a cold instance may add
    only the key lookup."""
    _, cold_rest = split_lookup(cold)
    warm_lookup, warm_rest = split_lookup(warm)
    notes = []
    if warm_lookup:  # the default since revocation is immediate (HITL_KEY_CACHE_SECONDS=0)
        notes.append(f"+ key read each request ({describe(warm_lookup)})")
    if operations(cold_rest) != operations(warm_rest):
        notes.append("cold adds more than the key lookup")
    target = TARGETS.get(route)
    if target is None:
        return "-", "; ".join(notes)
    warm_ops = operations(warm_rest)
    if warm_ops == target:
        result = "ok"
    elif any(warm_ops[op] > n for op, n in target.items()) or set(warm_ops) - set(target):
        result = "OVER"
    else:
        result = "under"
    return " + ".join(f"{n}×{op}" if n > 1 else op for op, n in target.items()), " ".join([result, *notes])


@dataclass
class Bench:
    recorder: Recorder
    key: str = ""

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        headers = {"content-type": "application/json", "authorization": f"Bearer {self.key}"}
        data = json.dumps(body).encode() if body is not None else b""
        request = apigw.Request(method, path, urlencode(query or {}), headers, data)
        route, params = apigw.match_route(method, path)
        function = wiring.function(route.function)
        event = apigw.to_event(request, route, params)
        with redirect_stdout(StringIO()):
            result = handler_module(function).lambda_handler(
                event, apigw.LambdaContext(function_name=function.name, memory_limit_in_mb=function.memory_mb)
            )
        answer = apigw.from_result(result)
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {answer.body[:300]!r}")
        return answer.json()

    def sweep(self) -> Any:
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events"}
        with redirect_stdout(StringIO()):
            return handler_module(wiring.SWEEPER).lambda_handler(
                event, apigw.LambdaContext(function_name=wiring.SWEEPER.name)
            )

    def create(self) -> str:
        watch_id: str = self.call("POST", "/api/pause", {"action": "deploy v2", "context": {"env": "prod"}})["watchId"]
        return watch_id

    def twice(self, first: Callable[[], Any], second: Callable[[], Any] | None = None) -> tuple[list[Call], list[Call]]:
        """Calls on a fresh instance: ``first`` (cold), then ``second`` or ``first`` again (warm)."""
        self.recorder.fresh_instance()
        with self.recorder.recording() as cold:
            first()
        with self.recorder.recording() as warm:
            (second or first)()
        return cold, warm


def measure() -> list[tuple[str, list[Call], list[Call]]]:
    """(route, cold calls, warm calls) for each route."""
    recorder = Recorder()
    bench = Bench(recorder)
    rows: list[tuple[str, list[Call], list[Call]]] = []
    session = boto3.session.Session(region_name=REGION)
    names = resources.create(session)
    deployment = wiring.Deployment(
        names.table, names.bus, BASE_URL, names.queues, kms_key_id=names.kms_key_id, log_level="WARNING"
    )
    set_environment(wiring.shared_environment(deployment))
    runtime.reset()
    tenant = runtime.tenant_admin(runtime.services().store).create_tenant("bench", "starter", ["approver@example.com"])
    bench.key = tenant["apiKey"]

    pending: list[str] = []
    rows.append(("create", *bench.twice(lambda: pending.append(bench.create()))))
    rows.append(("get", *bench.twice(lambda: bench.call("GET", f"/api/pause/{pending[0]}"))))
    rows.append(("list", *bench.twice(lambda: bench.call("GET", "/api/pause", query={"limit": 20}))))
    rows.append(
        ("list ?status=pending", *bench.twice(lambda: bench.call("GET", "/api/pause", query={"status": "pending"})))
    )
    rows.append(
        (
            "cancel",
            *bench.twice(
                lambda: bench.call("POST", f"/api/pause/{pending[0]}/cancel"),
                lambda: bench.call("POST", f"/api/pause/{pending[1]}/cancel"),
            ),
        )
    )
    rows.append(("audit", *bench.twice(lambda: bench.call("GET", "/api/audit"))))
    rows.append(
        ("audit ?watchId=", *bench.twice(lambda: bench.call("GET", "/api/audit", query={"watchId": pending[0]})))
    )

    waiting = bench.create()
    cold, warm = bench.twice(lambda: bench.call("GET", f"/api/pause/{waiting}", query={"wait": 1}))
    rows.append(("long-poll ?wait=1 (whole request)", cold, warm))
    rechecks = _between_sleeps(warm)
    rows.append(("long-poll, each re-check", rechecks[0] if rechecks else [], rechecks[0] if rechecks else []))
    if any(operations(r) != operations(rechecks[0]) for r in rechecks):
        rows.append(("long-poll, re-checks differ!", [c for r in rechecks for c in r], []))

    rows.append(("sweep, nothing due", *bench.twice(bench.sweep)))
    _make_overdue_pause_with_lost_event(bench, names.table)
    recorder.fresh_instance()
    with recorder.recording() as busy:
        swept = bench.sweep()
    rows.append(
        (f"sweep, 1 overdue + 1 lost event ({swept['expired']} expired, {swept['republished']} sent)", busy, busy)
    )
    return rows


def _between_sleeps(calls: list[Call]) -> list[list[Call]]:
    """The calls after each sleep of the long-poll, up to the next sleep (the last segment, which
    also releases the wait slot, is left out)."""
    segments: list[list[Call]] = []
    current: list[Call] | None = None
    for call in calls:
        if call.operation == SLEEP:
            if current is not None:
                segments.append(current)
            current = []
        elif current is not None:
            current.append(call)
    return segments


class _UnreachableBus:
    """A publisher whose bus never takes an event: it stays in the outbox for the sweeper."""

    def publish(self, events: list[Event]) -> list[bool]:
        return [False] * len(events)


def _make_overdue_pause_with_lost_event(bench: Bench, table_name: str) -> None:
    """A pause created an hour ago (1 minute timeout) whose pause.created never reached the bus."""
    services = runtime.services()
    principal = services.auth.authenticate(f"Bearer {bench.key}")
    an_hour_ago = timeutil.now() - timedelta(hours=1)
    past = PauseService(services.store, _UnreachableBus(), BASE_URL, clock=lambda: an_hour_ago)
    past.create(principal, CreatePauseRequest(action="old", timeoutSeconds=60), None)


def run(options: Options) -> None:
    heading("AWS API calls per request (in-process under moto; warm = second call on the same instance)")
    previous = set_environment(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            **quiet_powertools_environment(),
        }
    )
    level = logger.log_level
    logger.setLevel("WARNING")  # the module-wide Logger was made before the environment said so
    started = time.perf_counter()
    try:
        with warnings.catch_warnings(), mock_aws(config={"core": {"reset_boto3_session": False}}):
            warnings.simplefilter("ignore")
            rows = measure()
    finally:
        runtime.reset()
        restore_environment(previous)
        logger.setLevel(level)
    printed = []
    for route, cold, warm in rows:
        target, result = verdict(route, cold, warm)
        lookup, cold_rest = split_lookup(cold)
        extra = Counter(c.label for c in cold_rest) - Counter(c.label for c in split_lookup(warm)[1])
        printed.append(
            (
                route,
                sum(operations(warm).values()),
                describe(warm),
                describe(lookup) if lookup else "-",
                describe(list(_expand(extra))) if extra else "-",
                target,
                result,
            )
        )
    headers = ["route", "calls", "warm instance", "cold: key lookup", "cold: also", "target (warm)", "verdict"]
    print(table(headers, printed))
    print(f"\n({time.perf_counter() - started:.1f} s)")


def _expand(counted: Counter[str]) -> Iterator[Call]:
    for label, n in counted.items():
        operation, _, target = label.partition("(")
        for _ in range(n):
            yield Call(operation, target.rstrip(")"))
