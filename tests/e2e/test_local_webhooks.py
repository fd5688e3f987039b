"""Webhooks on the local stack, over HTTP as a user sees them: an endpoint registered to a receiver on
127.0.0.1 (loopback http: allowed on the local stack only), decisions from the approvers' emailed
links, a pause's ``callbackUrl``, the policy floor, retries on the compressed schedule and the
delivery log.  Every delivery is verified with the ``standardwebhooks`` package, as a user would.

Each test's tenant is its own (``hitl-admin --local create-tenant``), so its approvers' emails are
told apart in the shared outbox, and its webhooks see only its events.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hitl.webhooks.models import message_id, retry_delay
from hitl_local.receiver import Received, Receiver, receiver
from hitl_local.server import (
    DEFAULT_WEBHOOK_RETRY_SCALE,
    WEBHOOK_RETRY_WINDOW_S,
)
from tests.client import Answer
from tests.e2e.conftest import Http, Stack

pytestmark = pytest.mark.e2e

#: how long a delivery may take before a test gives up (not a target: the bench measures that)
DELIVERY_WAIT_S = 20
EMAIL_WAIT_S = 15
#: how long a test keeps listening after a delivery, for a second one that must not come
QUIET_S = 3


@dataclass
class Team:
    """A tenant of the test's own, its agent, and its approvers."""

    stack: Stack
    tenant_id: str
    agent: Http
    approvers: list[str]

    def create(self, **fields: Any) -> tuple[str, str]:
        """A new pause with a unique action: ``(watchId, action)``."""
        action = f"Deploy build 42 [{uuid.uuid4().hex[:8]}]"
        answer = self.agent.post("/api/pause", {"action": action, "context": {"build": 42}, **fields})
        assert answer.status == 201, answer.body
        return answer.json()["watchId"], action

    def register(self, url: str, events: list[str]) -> dict[str, Any]:
        answer = self.agent.post("/api/webhooks", {"url": url, "events": events, "description": "e2e"})
        assert answer.status == 201, answer.body
        endpoint: dict[str, Any] = answer.json()
        return endpoint

    def approve_link(self, to: str, action: str) -> str:
        """The Approve link of the email about ``action`` to ``to``, once it is in the outbox."""
        deadline = time.monotonic() + EMAIL_WAIT_S
        while True:
            emails = self.stack.http().get("/_local/outbox.json").json()
            found = [e for e in emails if e["to"] == [to] and action in e["subject"]]
            if found:
                (email,) = found
                (link,) = [link for link in email["links"] if link.endswith("/approve")]
                return str(link)
            assert time.monotonic() < deadline, f"no email to {to} about {action!r} after {EMAIL_WAIT_S} s"
            time.sleep(0.05)

    def pause(self, watch_id: str) -> dict[str, Any]:
        answer = self.agent.get(f"/api/pause/{watch_id}")
        assert answer.status == 200, answer.body
        pause: dict[str, Any] = answer.json()
        return pause


def make_team(stack: Stack, approvers: int = 1) -> Team:
    tag = uuid.uuid4().hex[:8]
    emails = [f"{name}-{tag}@example.com" for name in ("ann", "bob", "cy")[:approvers]]
    flags = [flag for email in emails for flag in ("--approver", email)]
    created = stack.admin("create-tenant", f"hooks-{tag}", "--plan", "pro", *flags)
    return Team(stack, created["tenantId"], stack.http(created["apiKey"]), emails)


@pytest.fixture
def team3(stack: Stack) -> Team:
    return make_team(stack, approvers=3)


@pytest.fixture
def team(stack: Stack) -> Team:
    return make_team(stack)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def confirm(link: str, origin: str) -> Answer:
    """The approver's "Confirm" on the link's page: the form's POST, as a browser sends it."""
    return Http("").post_form(link.rsplit("/", 1)[0], {"decision": "approved"}, {"Origin": origin})


def deliveries(hook: Receiver, count: int = 1, timeout_s: float = DELIVERY_WAIT_S) -> list[Received]:
    """What ``hook`` received once it has ``count`` requests, after ``QUIET_S`` more seconds in which
    no other may come (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while len(hook.received) < count:
        assert time.monotonic() < deadline, f"{len(hook.received)} of {count} deliveries after {timeout_s} s"
        time.sleep(0.02)
    time.sleep(QUIET_S)
    return list(hook.received)


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The envelope, once the ``standardwebhooks`` package verified its signature (it raises otherwise)."""
    envelope: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return envelope


# --- a 2-of-3 pause decided from three emails at once ------------------------------------------------


def test_three_approvers_at_once_approve_a_2_of_3_pause_once_and_one_signed_webhook_says_so(team3, hook):
    # Given a webhook for pause.approved, and a pause that two of three named approvers must approve
    endpoint = team3.register(hook.url, ["pause.approved"])
    assert endpoint["secret"].startswith("whsec_")
    watch_id, action = team3.create(approvers=team3.approvers, requiredApprovals=2)
    assert team3.pause(watch_id)["policy"]["requiredApprovals"] == 2
    links = [team3.approve_link(approver, action) for approver in team3.approvers]

    # When all three confirm "Approve" from their emails at the same moment
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda link: confirm(link, team3.stack.url), links))

    # Then two approvals were recorded, the second decided, and the third was told it came too late
    assert sorted(a.status for a in answers) == [200, 200, 409], [a.body[:300] for a in answers]
    assert sum(b"Recorded: approved" in a.body for a in answers) == 1
    pause = team3.pause(watch_id)
    assert pause["status"] == "approved"
    assert len(pause["approvals"]) == 2
    assert {a["by"] for a in pause["approvals"]} < set(team3.approvers)
    audit = team3.agent.get("/api/audit", query={"watchId": watch_id}).json()["items"]
    assert [entry["type"] for entry in audit].count("pause.approved") == 1

    # and the receiver got exactly one pause.approved delivery, which the standardwebhooks package verifies
    (request,) = deliveries(hook)
    envelope = verified(endpoint["secret"], request)
    assert envelope["type"] == "pause.approved" and envelope["version"] == 1
    assert envelope["tenantId"] == team3.tenant_id
    assert envelope["data"]["watchId"] == watch_id and envelope["data"]["status"] == "approved"
    assert "context" not in envelope["data"]
    assert request.headers["webhook-id"] == message_id(envelope["eventId"], endpoint["id"])
    # a forged body does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(request.body.replace(b"approved", b"rejected"), request.headers)


# --- callbackUrl ----------------------------------------------------------------------------------------


def test_an_expired_pause_tells_its_callback_url_signed_with_the_callback_secret(team, hook):
    # Given a pause that refuses on timeout after 2 s, with a callbackUrl to the receiver
    watch_id, _ = team.create(onTimeout="reject", timeoutSeconds=2, callbackUrl=hook.url)

    # When it times out (the local stack's sweeper runs every second here)
    (request,) = deliveries(hook, timeout_s=DELIVERY_WAIT_S)

    # Then its callbackUrl got pause.expired (and not pause.created: only terminal events), signed with
    # the tenant's callback secret
    secret = team.agent.get("/api/callback-secret").json()["secret"]
    envelope = verified(secret, request)
    assert envelope["type"] == "pause.expired"
    assert envelope["data"]["watchId"] == watch_id and envelope["data"]["status"] == "expired"
    assert team.pause(watch_id)["status"] == "expired"
    log = team.agent.get(f"/api/pause/{watch_id}/deliveries").json()["items"]
    assert [(d["eventType"], d["outcome"], d["statusCode"]) for d in log] == [("pause.expired", "delivered", 200)]


# --- the policy floor -------------------------------------------------------------------------------------


def test_auto_approve_on_timeout_is_refused_until_the_floor_allows_it(stack, team):
    # Given the default floor, auto-approval on timeout is refused
    refused = team.agent.post("/api/pause", {"action": "Rotate keys", "onTimeout": "approve", "timeoutSeconds": 2})
    assert refused.status == 422, refused.body
    assert refused.error_code == "policy_violation"

    # When the operator allows it
    floor = stack.admin("set-policy", team.tenant_id, "--allow-auto-approve")
    assert floor["floor"]["allowAutoApprove"] is True
    # A warm function trusts a key's lookup (tenant and floor with it) for up to 60 s, as documented:
    # a key first used after the change reads the new floor at once, so the agent uses a fresh key
    # rather than the test waiting out the cache (or the stack running with a shorter cache than users get)
    fresh = team.agent.as_tenant(stack.admin("create-key", team.tenant_id, "--name", "after-the-floor")["apiKey"])

    # Then the same request is accepted, and the pause approves itself when it times out
    created = fresh.post("/api/pause", {"action": "Rotate keys", "onTimeout": "approve", "timeoutSeconds": 2})
    assert created.status == 201, created.body
    watch_id = created.json()["watchId"]
    assert fresh.get(f"/api/pause/{watch_id}").json()["policy"]["onTimeout"] == "approve"
    time.sleep(2.2)
    pause = fresh.get(f"/api/pause/{watch_id}").json()
    assert pause["status"] == "approved"
    assert pause["decision"]["by"] == "timeout" and pause["decision"]["channel"] == "timeout"


# --- retries on the compressed schedule, and the delivery log -------------------------------------------------


def test_a_failing_receiver_is_retried_on_the_compressed_schedule_and_every_attempt_is_logged(team):
    # Given a receiver that fails four times (500), then answers 200
    with receiver(answers=[500, 500, 500, 500, 200]) as failing:
        endpoint = team.register(failing.url, ["pause.cancelled"])
        watch_id, _ = team.create()

        # When the pause is cancelled
        assert team.agent.post(f"/api/pause/{watch_id}/cancel").status == 200

        # Then the receiver is called five times, each time signed afresh, always with one webhook-id
        received = deliveries(failing, count=5, timeout_s=30)
    assert len(received) == 5
    assert len({r.headers["webhook-id"] for r in received}) == 1
    envelopes = [verified(endpoint["secret"], r) for r in received]
    assert {e["type"] for e in envelopes} == {"pause.cancelled"}

    # and the delivery log shows every attempt, newest first, readable at GET /api/webhooks/{id}/deliveries
    log = team.agent.get(f"/api/webhooks/{endpoint['id']}/deliveries").json()["items"]
    assert [(d["attempt"], d["statusCode"], d["outcome"]) for d in log] == [
        (5, 200, "delivered"),
        (4, 500, "retrying"),
        (3, 500, "retrying"),
        (2, 500, "retrying"),
        (1, 500, "retrying"),
    ]
    assert {d["errorClass"] for d in log[1:]} == {"http_status"} and log[0]["errorClass"] is None
    assert all(d["responseSnippet"] == "answer 500" for d in log[1:])
    assert all(d["messageId"] == received[0].headers["webhook-id"] for d in log)
    # the retries waited as the compressed schedule says (the 4th failure: 1800 s in AWS, ~3 s here)
    at = {d["attempt"]: datetime.fromisoformat(d["at"].replace("Z", "+00:00")) for d in log}
    gap = (at[5] - at[4]).total_seconds()
    assert gap >= retry_delay(4, DEFAULT_WEBHOOK_RETRY_SCALE) - 0.5, gap
    assert (at[5] - at[1]).total_seconds() < WEBHOOK_RETRY_WINDOW_S


def test_a_hanging_endpoint_does_not_delay_another(team):
    # Given an endpoint that never answers (until the test ends), already holding a delivery
    hold = threading.Event()
    with receiver(hold=hold) as slow, receiver() as fast:
        hanging = team.register(slow.url, ["pause.cancelled"])
        first, _ = team.create()
        assert team.agent.post(f"/api/pause/{first}/cancel").status == 200
        assert slow.arrived.wait(DELIVERY_WAIT_S)
        # and another endpoint for the same event
        team.register(fast.url, ["pause.cancelled"])
        second, _ = team.create()

        # When another pause is cancelled
        assert team.agent.post(f"/api/pause/{second}/cancel").status == 200

        # Then the other endpoint gets its delivery while the hanging one's first attempt is still
        # unfinished: had deliveries waited for each other, that attempt would have timed out (10 s)
        # and been logged before this one was sent (an order, not a time: a busy machine may be slow)
        assert fast.arrived.wait(DELIVERY_WAIT_S)
        assert json.loads(fast.received[0].body)["data"]["watchId"] == second
        assert team.agent.get(f"/api/webhooks/{hanging['id']}/deliveries").json()["items"] == []
        assert json.loads(slow.received[0].body)["data"]["watchId"] == first
        hold.set()
