"""The approval loop's two delays on the local stack (``python -m hitl_local`` on a free port):

* decision → agent: an approver POSTs the emailed link's confirmation form while the agent
  long-polls (``?wait=20``); how long after the form is sent the long-poll returns.  The decisions
  land spread evenly over the wait (0.2–19 s into it), as a human's would land anywhere in an
  agent's repeated 20 s waits, a few waits open at once; and beside
  each, what an agent polling every 3 s from its create would have seen: its first poll after the
  form's answer, plus one poll's round trip.
* create → email: from sending ``POST /api/pause`` until the approver's email is in the local
  outbox, one pause at a time.  The outbox lists what (moto's) SES holds, and re-parses every
  email on each ``/_local/outbox.json`` (about 3 ms each, in the stack's own process): polled
  every few ms it would slow the stack it measures.  So the bench polls SES's sent count
  (``GetSendQuota``, a counter, every 5 ms) at the stack's AWS endpoint, then reads
  ``/_local/outbox.json`` once, where the email is by then.

Both after a warm-up at the same concurrency (the local stack starts instances as Lambda
does, cold: ~2 s each on this machine); the first email after the start is shown apart.

Targets (issue 3): decision → agent p50 ≤ 0.2 s; create → email p99 ≤ 1 s.  Figures for
comparison between changes on one machine, not for AWS: moto stands in for AWS.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3

from bench.common import Options, heading, percentile, table
from bench.latency import Client, LocalStack, StackFailed

DECISION_TARGET_P50_S = 0.2
EMAIL_TARGET_P99_S = 1.0
POLL_EVERY_S = 3.0
WAIT_S = 20
#: when, after its long-poll starts, each decision is sent (uniform): inside one wait
DECISION_AT_S = (0.2, 19.0)
#: decisions in flight at once, each with its long-poll open: a few (the local stack runs every
#: instance and moto on this machine's cores: 15 waits at once made the form itself ~2.5× slower)
BATCH = 6
SES_POLL_S = 0.005
EMAIL_TIMEOUT_S = 20


@dataclass(frozen=True)
class Pause:
    watch_id: str
    created: float
    approve_link: str


@dataclass(frozen=True)
class Decision:
    created: float
    wait_started: float
    sent: float
    answered: float
    returned: float

    @property
    def long_poll_s(self) -> float:
        return self.returned - self.sent

    @property
    def into_wait_s(self) -> float:
        return self.sent - self.wait_started

    def polling_s(self, round_trip_s: float) -> float:
        """When a poller that polls every 3 s from the create first sees the decision: its first
        poll that starts after the form's answer (the decision is stored by then), answered one
        round trip later; measured, like the long-poll, from sending the form."""
        polls = int((self.answered - self.created) // POLL_EVERY_S) + 1
        return self.created + polls * POLL_EVERY_S + round_trip_s - self.sent


class Outbox:
    """The local outbox, and SES's count of sent emails behind it (one approver: one per pause)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url = config["apiUrl"] + "/_local/outbox.json"
        self.ses = boto3.client(
            "ses",
            endpoint_url=config["awsEndpoint"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # moto checks nothing
        )

    def sent(self) -> int:
        return int(self.ses.get_send_quota()["SentLast24Hours"])

    def wait_for(self, action: str, before: int) -> tuple[float, dict[str, Any]]:
        """When SES's count passed ``before`` (the email is in the outbox then), and the email."""
        deadline = time.perf_counter() + EMAIL_TIMEOUT_S
        while self.sent() <= before:
            if time.perf_counter() > deadline:
                raise StackFailed(f"no email about {action!r} within {EMAIL_TIMEOUT_S} s")
            time.sleep(SES_POLL_S)
        seen = time.perf_counter()
        with urllib.request.urlopen(self.url, timeout=10) as answer:
            emails = json.loads(answer.read())
        found = [email for email in emails if action in email["subject"]]
        if not found:
            raise StackFailed(f"SES sent an email, but none about {action!r} is in the outbox")
        return seen, found[0]


def create(client: Client, outbox: Outbox, label: str) -> tuple[Pause, float]:
    """A pause and its email: ``(pause, seconds from sending the create to the email)``."""
    action = f"bench {label} {uuid.uuid4().hex[:8]}"
    before = outbox.sent()
    sent = time.perf_counter()
    body = {"action": action, "context": {"bench": label}}
    watch_id = client.expect("", "POST", "/api/pause", body, 201)["watchId"]
    seen, email = outbox.wait_for(action, before)
    return Pause(watch_id, sent, email["links"][0]), seen - sent


def confirm(link: str, origin: str) -> int:
    """The approver's click on "Confirm: Approve": the form's POST, as a browser sends it."""
    request = urllib.request.Request(
        link.rsplit("/", 1)[0],
        data=urlencode({"decision": "approved", "comment": "bench"}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Sec-Fetch-Site": "same-origin",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=35) as answer:
            status: int = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status


def decide(client: Client, pause: Pause, delay_s: float, origin: str) -> Decision:
    """A long-poll on ``pause``, and the approver's decision ``delay_s`` into it."""
    returned: list[tuple[float, Any]] = []

    def wait() -> None:
        answer = client.expect("", "GET", f"/api/pause/{pause.watch_id}?wait={WAIT_S}")
        returned.append((time.perf_counter(), answer))

    wait_started = time.perf_counter()
    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    time.sleep(delay_s)
    sent = time.perf_counter()
    status = confirm(pause.approve_link, origin)
    answered = time.perf_counter()
    waiter.join(WAIT_S + 15)
    if status != 200 or not returned or returned[0][1]["status"] != "approved":
        raise StackFailed(f"{pause.watch_id}: the form answered {status}; the long-poll gave {returned}")
    return Decision(pause.created, wait_started, sent, answered, returned[0][0])


def decide_batch(client: Client, outbox: Outbox, origin: str, label: str, delays: list[float]) -> list[Decision]:
    """One pause per delay, each long-polled and decided that long into its wait, all at once."""
    pauses = [create(client, outbox, f"{label}.{i}")[0] for i in range(len(delays))]
    with ThreadPoolExecutor(max_workers=len(pauses)) as pool:
        return list(pool.map(lambda p, d: decide(client, p, d, origin), pauses, delays))


def poll_round_trip(client: Client, watch_id: str, n: int = 20) -> float:
    """The median of plain GETs of a pause: what one poll of a polling agent costs."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        client.expect("", "GET", f"/api/pause/{watch_id}")
        times.append(time.perf_counter() - started)
    return percentile(times, 50)


def run(options: Options) -> None:
    n_decisions = 6 if options.quick else 30
    n_emails = 10 if options.quick else 50
    heading(f"Decision → agent ({n_decisions} decisions) and create → email ({n_emails} pauses), local stack")
    low, high = DECISION_AT_S
    moments = [low + (high - low) * (i + 0.5) / n_decisions for i in range(n_decisions)]
    batches = [moments[i :: -(-n_decisions // BATCH)] for i in range(-(-n_decisions // BATCH))]
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as state_dir:
        stack = LocalStack(Path(state_dir))
        try:
            stack.start()
            api_url = stack.config["apiUrl"]
            client = Client(api_url, stack.config["apiKey"])
            outbox = Outbox(stack.config)
            # warm-up: the first email pays cold starts; then a batch of decisions at once
            first, cold_email_s = create(client, outbox, "warm-up")
            decide_batch(client, outbox, api_url, "warm-up", [0.1 * i for i in range(BATCH)])
            round_trip_s = poll_round_trip(client, first.watch_id)
            emails = [create(client, outbox, f"email {i}")[1] for i in range(n_emails)]
            decisions: list[Decision] = []
            for number, delays in enumerate(batches):  # each batch spans the whole wait
                decisions += decide_batch(client, outbox, api_url, f"decision {number}", delays)
        except StackFailed as failure:
            print(f"skipped: the local stack failed: {failure}")
            return
        finally:
            stack.stop()
    report(decisions, emails, cold_email_s, round_trip_s)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(decisions: list[Decision], emails: list[float], cold_email_s: float, round_trip_s: float) -> None:
    long_polls = [d.long_poll_s for d in decisions]
    polling = [d.polling_s(round_trip_s) for d in decisions]
    print(f"decision → agent, ms from sending the approver's form (n={len(decisions)}):")
    print(
        table(
            ["agent", "p50", "p95", "max"],
            [
                (
                    f"long-poll ?wait={WAIT_S}",
                    ms(percentile(long_polls, 50)),
                    ms(percentile(long_polls, 95)),
                    ms(max(long_polls)),
                ),
                (
                    f"polling every {POLL_EVERY_S:.0f} s (simulated)",
                    ms(percentile(polling, 50)),
                    ms(percentile(polling, 95)),
                    ms(max(polling)),
                ),
            ],
        )
    )
    print("\nthe long-poll, by when in its wait the decision came (re-reads: 100 ms for 10 s, then 200 ms):")
    rows = []
    for low, high in ((0, 2), (2, 10), (10, WAIT_S)):
        part = [d.long_poll_s for d in decisions if low <= d.into_wait_s < high]
        if part:
            rows.append((f"{low}–{high} s", len(part), ms(percentile(part, 50)), ms(max(part))))
    print(table(["into the wait", "n", "p50", "max"], rows))
    forms = [d.answered - d.sent for d in decisions]
    print(f"(the form's own answer: p50 {ms(percentile(forms, 50))} ms, max {ms(max(forms))} ms)")
    print(f"\ncreate → email in the outbox, ms from sending the create (n={len(emails)}):")
    print(
        table(
            ["", "p50", "p99", "max"],
            [("warm", ms(percentile(emails, 50)), ms(percentile(emails, 99)), ms(max(emails)))],
        )
    )
    print(f"(the first email after the stack started, cold instances: {ms(cold_email_s)} ms)")
    p50, p99 = percentile(long_polls, 50), percentile(emails, 99)
    print(
        f"\ntargets: decision → agent p50 {ms(p50)} ms (≤ {ms(DECISION_TARGET_P50_S)}: "
        f"{'met' if p50 <= DECISION_TARGET_P50_S else 'MISSED'}); create → email p99 {ms(p99)} ms "
        f"(≤ {ms(EMAIL_TARGET_P99_S)}: {'met' if p99 <= EMAIL_TARGET_P99_S else 'MISSED'})"
    )
