"""The local stack's parts, on a tiny test function: instances, queue pollers, schedules,
the gateway's answers, and DynamoDB's atomicity in moto server."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from hitl import wiring
from hitl_local import apigw, resources
from hitl_local.moto_server import MotoServer, SerializeDynamoDB
from hitl_local.pollers import QueuePoller, ScheduleRunner
from hitl_local.server import Front
from hitl_local.workers import Invocation, Outcome, PoolClosed, WorkerPool, spec_for

ECHO = """
import json, os, time
from pathlib import Path

CALLS = 0


def lambda_handler(event, context):
    global CALLS
    CALLS += 1
    with open(os.environ["ECHO_LOG"], "a") as log:
        log.write(json.dumps(event) + "\\n")
    if "Records" in event:
        return {"batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if '"fail": true' in r["body"]
        ]}
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("wait_for"):
        while not Path(event["wait_for"]).exists() and context.get_remaining_time_in_millis() > 100:
            time.sleep(0.05)
    if event.get("touch"):
        Path(event["touch"]).write_text("here")
    if event.get("raise"):
        raise RuntimeError(event["raise"])
    return {"pid": os.getpid(), "calls": CALLS, "setting": os.environ.get("ECHO_SETTING"),
            "remainingMs": context.get_remaining_time_in_millis()}
"""


@pytest.fixture
def echo_dir(tmp_path: Path) -> Path:
    asset = tmp_path / "echo"
    asset.mkdir()
    (asset / "echo_handler.py").write_text(ECHO)
    return tmp_path


@pytest.fixture
def make_pool(echo_dir: Path) -> Iterator[Callable[..., WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(**settings: Any) -> WorkerPool:
        function = wiring.Function(
            name="echo",
            asset="echo",
            handler="echo_handler.lambda_handler",
            description="a test function",
            **{"timeout_s": 10, "local_warm": 1, "local_max": 2, **settings},
        )
        env = {"ECHO_LOG": str(echo_dir / "calls.jsonl"), "ECHO_SETTING": "from-the-wiring"}
        pool = WorkerPool(function, spec_for(function, env, root=echo_dir))
        for thread in pool.start_warm():
            thread.join()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def calls(echo_dir: Path) -> list[dict[str, Any]]:
    path = echo_dir / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_instance_imports_its_handler_once_and_stays_warm(make_pool):
    # Given a function with one warm instance
    pool = make_pool(local_max=1)
    # When it is invoked twice
    first, second = pool.invoke({}), pool.invoke({})
    # Then the same process served both, with the module imported once, in its environment
    assert first.outcome is second.outcome is Outcome.OK
    assert first.result["pid"] == second.result["pid"] != os.getpid()
    assert [first.result["calls"], second.result["calls"]] == [1, 2]
    assert first.result["setting"] == "from-the-wiring"
    assert 0 < first.result["remainingMs"] <= 10_000


def test_a_busy_instance_never_blocks_another_request(make_pool, tmp_path):
    # Given an invocation that waits for a file, on one instance
    pool = make_pool()
    flag = tmp_path / "flag"
    waiting: list[Invocation] = []
    blocked = threading.Thread(target=lambda: waiting.append(pool.invoke({"wait_for": str(flag)})))
    blocked.start()
    # When another invocation comes while it waits, Then a second instance serves it at once
    other = pool.invoke({"touch": str(flag)})
    blocked.join(10)
    assert other.outcome is Outcome.OK
    assert waiting[0].outcome is Outcome.OK
    assert waiting[0].result["pid"] != other.result["pid"]
    assert pool.size == 2


def test_an_instance_past_its_timeout_is_killed_and_replaced(make_pool):
    # Given a function with a 1 s timeout
    pool = make_pool(timeout_s=1, local_max=1)
    before = pool.invoke({}).result["pid"]
    # When an invocation runs longer
    late = pool.invoke({"sleep": 30})
    # Then it ends as a timeout, its instance is gone, and the next invocation gets a new one
    assert late.outcome is Outcome.FUNCTION_TIMEOUT
    assert late.error and "timed out" in late.error["errorMessage"]
    assert not alive(before)
    after = pool.invoke({})
    assert after.outcome is Outcome.OK
    assert after.result["pid"] != before


def test_a_caller_that_cannot_wait_for_an_instance_is_told_so(make_pool):
    # Given a function whose only instance is busy
    pool = make_pool(local_max=1)
    busy = threading.Thread(target=lambda: pool.invoke({"sleep": 2}))
    busy.start()
    time.sleep(0.3)
    # When a caller whose deadline is half a second away invokes it
    answer = pool.invoke({}, until=time.monotonic() + 0.5)
    busy.join()
    # Then the caller's deadline ends it, and the instance survives
    assert answer.outcome is Outcome.CALLER_TIMEOUT
    assert pool.invoke({}).outcome is Outcome.OK
    assert pool.size == 1


def test_a_handler_error_is_reported_and_the_instance_kept(make_pool):
    pool = make_pool(local_max=1)
    pid = pool.invoke({}).result["pid"]
    failed = pool.invoke({"raise": "boom"})
    assert failed.outcome is Outcome.ERROR
    assert failed.error == {"errorType": "RuntimeError", "errorMessage": "boom"}
    assert pool.invoke({}).result["pid"] == pid


def test_a_closed_pool_leaves_no_process(make_pool):
    # Given a pool with two instances, one of them busy
    pool = make_pool(local_warm=2)
    outcomes: list[str] = []

    def invoke_long() -> None:
        try:
            outcomes.append(pool.invoke({"sleep": 30}).outcome.value)
        except PoolClosed:
            outcomes.append("pool closed")

    busy = threading.Thread(target=invoke_long)
    busy.start()
    time.sleep(0.3)
    pids = pool.pids()
    assert len(pids) == 2
    # When it is closed, Then no process is left, and the busy caller is released
    pool.close()
    busy.join(5)
    assert outcomes == ["pool closed"]
    time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


# --- moto server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.mark.parametrize(
    ("target", "most_at_once"), [("DynamoDB_20120810.UpdateItem", 1), ("AmazonSQS.ReceiveMessage", 8)]
)
def test_only_dynamodb_requests_into_moto_are_serialized(target, most_at_once):
    # Given moto's app behind the middleware, where each request takes a while
    inside, most = 0, 0
    lock = threading.Lock()

    def slow_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.2)
        with lock:
            inside -= 1
        start_response("200 OK", [])
        return [b"{}"]

    app = SerializeDynamoDB(slow_app)
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        assert app({"HTTP_X_AMZ_TARGET": target}, lambda *a: None) == [b"{}"]

    # When 8 requests arrive together
    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Then DynamoDB's run one at a time, and the others all at once
    assert most == most_at_once


def test_conditional_writes_into_moto_server_have_one_winner(moto):
    # Given an item in moto server, and 40 clients that each claim it with a conditional write
    dynamodb = moto.session().client("dynamodb", config=Config(max_pool_connections=50))
    names = resources.create(moto.session(), resources.Names(table="atomic", bus="atomic"))
    key = {"pk": {"S": "race"}, "sk": {"S": "x"}}
    dynamodb.put_item(TableName=names.table, Item={**key, "owner": {"S": "-"}})
    start = threading.Barrier(40)
    winners: list[int] = []

    def claim(n: int) -> None:
        start.wait()
        try:
            dynamodb.update_item(
                TableName=names.table,
                Key=key,
                UpdateExpression="SET #o = :me",
                ConditionExpression="#o = :nobody",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": str(n)}, ":nobody": {"S": "-"}},
            )
            winners.append(n)
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Then exactly one wins, and the item says so
    assert len(winners) == 1
    assert dynamodb.get_item(TableName=names.table, Key=key)["Item"]["owner"]["S"] == str(winners[0])


def test_a_queue_poller_is_an_event_source_mapping_with_batch_item_failures(moto, make_pool, echo_dir, monkeypatch):
    # Given a subscription rule -> queue -> the echo function (1 s visibility timeout)
    subscription = wiring.Subscription(name="echo", detail_types=("test.echo",), function="echo")
    monkeypatch.setattr(wiring, "SUBSCRIPTIONS", (*wiring.SUBSCRIPTIONS, subscription))
    session = moto.session()
    names = resources.create(session, resources.Names(table="poll", bus="poll"), visibility_s=1)
    pool = make_pool()
    poller = QueuePoller(session.client("sqs"), names.queues["echo"], subscription, pool)

    # When three events reach the bus, one of which the function reports as failed
    session.client("events").put_events(
        Entries=[
            {
                "EventBusName": names.bus,
                "Source": wiring.EVENT_SOURCE,
                "DetailType": "test.echo",
                "Detail": json.dumps({"n": n, "fail": n == 2}),
            }
            for n in (1, 2, 3)
        ]
    )

    def records() -> list[dict[str, Any]]:
        return [r for call in calls(echo_dir) for r in call.get("Records", [])]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(r["attributes"]["ApproximateReceiveCount"] == "2" for r in records()):
        poller.poll_once(wait_s=1)

    # Then the function got SQS records as Lambda builds them
    seen = records()
    first = seen[0]
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == f"arn:aws:sqs:us-east-1:123456789012:{names.bus}-echo"
    assert set(first) >= {"messageId", "receiptHandle", "body", "attributes", "md5OfBody", "awsRegion"}
    assert json.loads(first["body"])["detail-type"] == "test.echo"
    # and only the failed one came back (receive count 2); the others were deleted after one receive
    bodies = Counter(json.loads(r["body"])["detail"]["n"] for r in seen)
    assert bodies[1] == bodies[3] == 1
    assert bodies[2] == 2
    again = [r for r in seen if json.loads(r["body"])["detail"]["n"] == 2]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in again] == ["1", "2"]


def test_a_schedule_invokes_its_function_with_a_scheduled_event(make_pool, echo_dir):
    pool = make_pool()
    schedule = wiring.Schedule(function="echo", every_minutes=1, local_setting="ECHO_SECONDS", local_default_s=1)
    runner = ScheduleRunner(schedule, pool, period_s=0.2)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while len(calls(echo_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop()
        runner.join()
    scheduled = calls(echo_dir)
    assert len(scheduled) >= 2
    assert scheduled[0]["source"] == "aws.events"
    assert scheduled[0]["detail-type"] == "Scheduled Event"


# --- the gateway's own answers -------------------------------------------------------------


class _StubPool:
    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any], until: float | None = None) -> Invocation:
        self.events.append(event)
        return self.invocation


@pytest.mark.parametrize(
    ("invocation", "status", "body"),
    [
        (Invocation(Outcome.CALLER_TIMEOUT), 503, {"message": "Service Unavailable"}),
        (Invocation(Outcome.FUNCTION_TIMEOUT, error={"errorType": "x", "errorMessage": "y"}), 500, None),
        (Invocation(Outcome.ERROR, error={"errorType": "x", "errorMessage": "y"}), 500, None),
        (Invocation(Outcome.OK, result={"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}), 502, None),
        (Invocation(Outcome.OK, result={"statusCode": 201, "body": '{"ok": true}'}), 201, {"ok": True}),
    ],
)
def test_the_front_answers_as_api_gateway_does(invocation, status, body):
    pool = _StubPool(invocation)
    front = Front(pools={"api": pool})
    request = apigw.Request("POST", "/api/pause", "", {"content-type": "application/x-www-form-urlencoded"}, b"a=1")
    answer, function = front.handle(request, time.monotonic() + 30)
    assert answer.status == status
    assert function == "api"
    if body is not None:
        assert answer.json() == body
    elif status >= 500:
        assert set(answer.json()) == {"message"}
    # and the function got a payload-v2 event, the form body base64-encoded
    assert pool.events[0]["version"] == "2.0"
    assert pool.events[0]["isBase64Encoded"] is True
