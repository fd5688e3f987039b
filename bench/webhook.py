"""Decision → webhook on the local stack (``python -m hitl_local`` on a free port): an endpoint of
tenant ``local`` registered for ``pause.approved`` to a receiver on 127.0.0.1; for each pause, the
approver POSTs the emailed link's confirmation form, and the time is taken from sending the form
until the receiver has the signed delivery (verified with the ``standardwebhooks`` package, after
the clock stops).  One decision at a time, after a warm-up (instances start cold, as Lambda's do).

The path: the form's transaction writes the outbox event and puts it on the bus (moto) → the
"webhooks" rule's queue → the deliverer fans it out (one work item per endpoint) → the
"deliveries" queue → the deliverer signs and POSTs.  Beside the total, the part from the event's
``occurredAt`` (written in the decision's transaction) to the receiver, wall clock.

Target (issue 4): decision → webhook received p50 ≤ 1 s.  Figures for comparison between changes
on one machine, not for AWS: moto stands in for AWS.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from bench.common import Options, heading, percentile, table
from bench.decision import Outbox, confirm, create
from bench.latency import Client, LocalStack, StackFailed
from hitl_local.receiver import Received, Receiver, receiver

TARGET_P50_S = 1.0
DELIVERY_TIMEOUT_S = 20
WARM_UP = 3


@dataclass(frozen=True)
class Sample:
    sent: float
    answered: float
    arrival: Received
    envelope: dict[str, Any]

    @property
    def total_s(self) -> float:
        return self.arrival.at - self.sent

    @property
    def from_event_s(self) -> float:
        occurred = datetime.fromisoformat(self.envelope["occurredAt"].replace("Z", "+00:00")).timestamp()
        return self.arrival.wall - occurred


def decide_once(client: Client, outbox: Outbox, hook: Receiver, secret: str, origin: str, label: str) -> Sample:
    pause, _ = create(client, outbox, label)
    count = len(hook.received) + 1
    sent = time.perf_counter()
    status = confirm(pause.approve_link, origin)
    answered = time.perf_counter()
    if status != 200:
        raise StackFailed(f"{pause.watch_id}: the form answered {status}")
    arrival = hook.wait_for(count, DELIVERY_TIMEOUT_S)
    if arrival is None:
        raise StackFailed(f"no webhook delivery {count} within {DELIVERY_TIMEOUT_S} s")
    envelope: dict[str, Any] = Webhook(secret).verify(arrival.body, arrival.headers)
    if envelope["data"]["watchId"] != pause.watch_id or envelope["type"] != "pause.approved":
        raise StackFailed(f"expected pause.approved of {pause.watch_id}, received {json.dumps(envelope)[:300]}")
    return Sample(sent, answered, arrival, envelope)


def run(options: Options) -> None:
    n = 10 if options.quick else 40
    heading(f"Decision → webhook received ({n} decisions, one at a time), local stack")
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as state_dir, receiver() as hook:
        stack = LocalStack(Path(state_dir))
        try:
            stack.start()
            api_url = stack.config["apiUrl"]
            client = Client(api_url, stack.config["apiKey"])
            outbox = Outbox(stack.config)
            registration = {"url": hook.url, "events": ["pause.approved"], "description": "bench"}
            secret = client.expect("", "POST", "/api/webhooks", registration, 201)["secret"]
            tag = uuid.uuid4().hex[:6]
            cold = [decide_once(client, outbox, hook, secret, api_url, f"warm-up {tag} {i}") for i in range(WARM_UP)]
            samples = [decide_once(client, outbox, hook, secret, api_url, f"webhook {tag} {i}") for i in range(n)]
        except StackFailed as failure:
            print(f"skipped: the local stack failed: {failure}")
            return
        finally:
            stack.stop()
    report(samples, cold[0])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(samples: list[Sample], first: Sample) -> None:
    totals = [s.total_s for s in samples]
    from_event = [s.from_event_s for s in samples]
    forms = [s.answered - s.sent for s in samples]
    print(f"decision → webhook received, ms (n={len(samples)}):")
    print(
        table(
            ["", "p50", "p95", "max"],
            [
                (
                    "from sending the approver's form",
                    ms(percentile(totals, 50)),
                    ms(percentile(totals, 95)),
                    ms(max(totals)),
                ),
                (
                    "from the event's occurredAt (wall clock)",
                    ms(percentile(from_event, 50)),
                    ms(percentile(from_event, 95)),
                    ms(max(from_event)),
                ),
                ("the form's own answer", ms(percentile(forms, 50)), ms(percentile(forms, 95)), ms(max(forms))),
            ],
        )
    )
    print(f"(the first decision after the stack started, cold instances: {ms(first.total_s)} ms)")
    p50 = percentile(totals, 50)
    verdict = "met" if p50 <= TARGET_P50_S else "MISSED"
    print(f"\ntarget: decision → webhook p50 {ms(p50)} ms (≤ {ms(TARGET_P50_S)}: {verdict})")
