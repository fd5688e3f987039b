"""The local stack as its table grows: create and poll p50 on an empty table, then on one holding
``SEEDED`` more pauses (issue 7, A13: target ≤ 1.5× the empty table's).

The pauses are seeded quickly but realistically: one pause is created through the API, its
items (head, body, audit entry, event; whatever the service writes for a pause) are read back
from moto and written again under new watch ids with batch writes, as ``SEEDED`` pending pauses
of the local tenant spread over the sweeper's shards (so its queries every second, as in the
end-to-end tests, find their shards full).  Both halves run on one stack, one request at a time.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.common import Options, heading, percentile, table
from bench.latency import Client, LocalStack, StackFailed
from hitl import ids, wiring

SEEDED = 10_000
TARGET_RATIO = 1.5
#: the sweeper's period during the measurement (the e2e tests' 1 s: the busiest it gets)
SWEEP_SECONDS = "1"
SHARD = re.compile(r"^(?P<prefix>[A-Z]+)#(?P<shard>\d+)$")


def measure(client: Client, n: int, label: str) -> dict[str, float]:
    """p50s (ms) of ``n`` creates, then of ``n`` polls of those pauses."""
    client.timings.clear()
    created = [
        client.expect("create", "POST", "/api/pause", {"action": f"{label} {i}", "context": {"i": i}}, 201)["watchId"]
        for i in range(n)
    ]
    for watch_id in created:
        client.expect("poll", "GET", f"/api/pause/{watch_id}")
    return {
        route: percentile([t * 1000 for r, _, _, t in client.timings if r == route], 50) for route in ("create", "poll")
    }


def _items_of(dynamodb: Any, table_name: str, watch_id: str) -> list[dict[str, Any]]:
    """Every item of the table that names ``watch_id`` (a scan: this runs once)."""
    found = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name):
        found.extend(item for item in page["Items"] if watch_id in repr(item))
    return found


def _renamed(value: Any, old: str, new: str, shard: int) -> Any:
    if isinstance(value, dict):
        if set(value) == {"S"}:
            text = value["S"].replace(old, new)
            match = SHARD.match(text)
            if match:  # a sharded partition (the sweeper's): the new pause's own shard
                text = f"{match['prefix']}#{shard}"
            return {"S": text}
        return {k: _renamed(v, old, new, shard) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new, shard) for v in value]
    return value


def seed(stack: LocalStack, client: Client, count: int) -> float:
    """``count`` pauses like one made through the API; the seconds it took."""
    started = time.perf_counter()
    template = client.expect("", "POST", "/api/pause", {"action": "seed", "context": {"seeded": True}}, 201)["watchId"]
    time.sleep(1)  # its event published and marked sent, as for a pause of some age
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.config["awsEndpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    name = stack.config["tableName"]
    items = _items_of(dynamodb, name, template)
    if not items:
        raise StackFailed(f"no items of {template} in {name}")
    batch: list[dict[str, Any]] = []
    for i in range(count):
        new_id = ids.new_watch_id()
        for item in items:
            batch.append({"PutRequest": {"Item": _renamed(item, template, new_id, i % wiring.DUE_SHARDS)}})
            if len(batch) == 25:
                _write(dynamodb, name, batch)
                batch = []
    if batch:
        _write(dynamodb, name, batch)
    return time.perf_counter() - started


def _write(dynamodb: Any, table_name: str, batch: list[dict[str, Any]]) -> None:
    requests: dict[str, Any] = {table_name: batch}
    while requests:
        requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


def run(options: Options) -> None:
    n = options.requests
    count = SEEDED
    heading(f"The local stack as its table grows (create and poll p50, {n} each, ms; {count:,} pauses seeded)")
    with tempfile.TemporaryDirectory(prefix="hitl-bench-scale-") as state_dir:
        stack = LocalStack(Path(state_dir))
        try:
            stack.start(extra_env={"HITL_SWEEP_SECONDS": SWEEP_SECONDS})
            client = Client(stack.config["apiUrl"], stack.config["apiKey"])
            measure(client, 5, "warm-up")
            empty = measure(client, n, "empty")
            seconds = seed(stack, client, count)
            print(f"seeded {count:,} pauses in {seconds:.1f} s")
            measure(client, 5, "warm-up")
            full = measure(client, n, "full")
        except StackFailed as failure:
            print(f"skipped: the local stack failed: {failure}")
            return
        finally:
            stack.stop()
    rows = []
    for route in ("create", "poll"):
        ratio = full[route] / empty[route]
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        target = f"≤ {TARGET_RATIO}×: {verdict}"
        rows.append((route, f"{empty[route]:.1f}", f"{full[route]:.1f}", f"{ratio:.2f}×", target))
    print(table(["route", "empty p50", f"{count:,} pauses p50", "ratio", "target"], rows))
