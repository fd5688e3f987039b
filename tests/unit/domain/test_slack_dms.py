"""Slack DMs to approvers (``hitl.domain.slack_notify`` through ``Notifier``) on in-memory fakes:
who gets a DM and who still gets email, each DM sent once, retries (``Retry-After``), failures on
the pause, and every DM of a pause rewritten after each decision."""

from __future__ import annotations

from typing import Any

import pytest

from hitl import timeutil
from hitl.domain.auth import Principal
from hitl.domain.models import ApiKeyRecord, Approver, SlackWorkspace, Tenant
from hitl.domain.notify import GaveUp, Notifier, RetryLater
from hitl.domain.ports import SlackApiError
from hitl.domain.requests import CreatePauseRequest
from hitl.domain.service import PauseService
from hitl.domain.slack_notify import SlackDms
from hitl.slack.blocks import APPROVE, OPEN, REJECT
from tests.fakes import MemoryCipher, MemoryPublisher, MemorySlackApi, MemoryStore

BASE = "https://hitl.example.test"
TENANT = "t_acme"
ANN, BOB, CY = "ann@x.test", "bob@x.test", "cy@x.test"
START = timeutil.iso(timeutil.now())


class Queue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, messages: list[dict[str, Any]]) -> None:
        self.sent += messages


class NoMail:
    def send(self, to: str, message: Any) -> str:
        raise AssertionError("no email in these tests")


class World:
    """A Pro team (ann and bob linked to Slack, bob with email off; cy not linked) with its
    workspace connected, the service, and the notifier with Slack DMs."""

    def __init__(self, plan: str = "pro", connected: bool = True) -> None:
        self.store = MemoryStore()
        self.publisher = MemoryPublisher()
        self.service = PauseService(self.store, self.publisher, BASE, sleep=lambda _: None)
        self.slack = MemorySlackApi(users={ANN: "U0ANN", BOB: "U0BOB", CY: "U0CY"})
        self.cipher = MemoryCipher()
        self.queue = Queue()
        tenants = self.store.tenants
        tenants.tenants[TENANT] = Tenant(tenantId=TENANT, name="acme", plan=plan, createdAt=START)  # type: ignore[arg-type]
        for email, user, emailed in ((ANN, "U0ANN", True), (BOB, "U0BOB", False), (CY, None, True)):
            tenants.approver_records[(TENANT, email)] = Approver(
                tenantId=TENANT,
                email=email,
                status="confirmed",
                createdAt=START,
                slackUserId=user,
                emailNotifications=emailed,
            )
        if connected:
            self.connect()
        self.dms = SlackDms(
            self.store.pauses,
            self.store.tokens,
            self.store.slack,
            self.store.tenants,
            self.cipher,
            self.slack,
            BASE,
            record_failure=self.service.record_notification_failure,
            max_attempts=6,
        )
        self.notifier = Notifier(
            self.store.pauses,
            self.store.tokens,
            NoMail(),
            self.queue,
            BASE,
            "HITL <approvals@hitl.local>",
            record_failure=self.service.record_notification_failure,
            max_attempts=6,
            members=self.store.tenants,
            slack=self.dms,
        )
        key = ApiKeyRecord(keyId="key_1", tenantId=TENANT, name="agent", last4="abcd", createdAt=START)
        self.agent = Principal(tenant_id=TENANT, key=key)

    def connect(self) -> None:
        self.store.slack.connect(
            SlackWorkspace(
                tenantId=TENANT,
                teamId=self.slack.team_id,
                teamName=self.slack.team_name,
                botUserId=self.slack.bot_user_id,
                botTokenCipher=self.cipher.encrypt(TENANT, self.slack.token),
                connectedAt=START,
                connectedBy=ANN,
                via="token",
            )
        )

    def pause(self, **fields: Any) -> str:
        request = CreatePauseRequest.model_validate({"action": "Deploy v2", "context": {"env": "prod"}, **fields})
        return self.service.create(self.agent, request, None).pause.watchId

    def fan_out(self, watch_id: str, type_: str = "pause.created") -> list[dict[str, Any]]:
        event = next(e for e in reversed(self.publisher.published) if e.data["watchId"] == watch_id and e.type == type_)
        self.queue.sent.clear()
        self.notifier.fan_out(event.to_json())
        return list(self.queue.sent)

    def dm_items(self, watch_id: str) -> list[dict[str, Any]]:
        return [w for w in self.fan_out(watch_id) if w["channel"] == "slack"]

    def events_after(self, watch_id: str, since: int) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.publisher.published[since:] if e.data["watchId"] == watch_id]


def items(queued: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(w["channel"], w["to"]) for w in queued}


def action_ids(blocks: list[dict[str, Any]]) -> set[str]:
    return {e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]}


# --- who gets what --------------------------------------------------------------------------------


def test_linked_approvers_get_a_dm_and_email_unless_they_turned_it_off():
    world = World()
    watch_id = world.pause()

    assert items(world.fan_out(watch_id)) == {("email", ANN), ("email", CY), ("slack", ANN), ("slack", BOB)}


@pytest.mark.parametrize(("plan", "connected"), [("starter", True), ("pro", False)])
def test_without_slack_on_the_plan_or_a_workspace_everyone_is_emailed_even_with_email_off(plan, connected):
    world = World(plan=plan, connected=connected)
    watch_id = world.pause()

    assert items(world.fan_out(watch_id)) == {("email", ANN), ("email", BOB), ("email", CY)}


def test_a_reminder_goes_only_to_those_who_have_not_decided():
    world = World()
    watch_id = world.pause(requiredApprovals=2, approvers=[ANN, BOB, CY])
    world.service.decide(watch_id, ANN, "approved", None, "dashboard")
    # the sweeper's reminder event carries the pause as it stands (ann has decided)
    head = world.store.pauses.heads[watch_id]
    reminder = world.publisher.published[-1].model_copy(
        update={"type": "pause.reminder_due", "data": {**world.publisher.published[-1].data, **head.to_json()}}
    )
    world.queue.sent.clear()
    world.notifier.fan_out(reminder.to_json())

    assert items(world.queue.sent) == {("email", CY), ("slack", BOB)}
    assert all(w["kind"] == "reminder" for w in world.queue.sent)


# --- one DM -------------------------------------------------------------------------------------


def test_a_dm_is_posted_once_with_buttons_and_recorded():
    world = World()
    watch_id = world.pause()
    (ann,) = [w for w in world.dm_items(watch_id) if w["to"] == ANN]

    assert world.notifier.attempt(ann, 1).status == "sent"
    assert world.notifier.attempt(ann, 2).status == "duplicate"  # a redelivered work item

    (opened,) = world.slack.called("conversations.open")
    assert opened.args == {"users": "U0ANN"} and opened.token == world.slack.token
    (posted,) = world.slack.called("chat.postMessage")
    assert posted.args["channel"] == "DU0ANN"
    assert action_ids(posted.args["blocks"]) == {APPROVE, REJECT, OPEN}
    assert "Deploy v2" in posted.args["text"]
    (recorded,) = world.store.slack.messages(TENANT, watch_id)
    assert (recorded.approverEmail, recorded.channel) == (ANN, "DU0ANN")
    assert (recorded.channel, recorded.ts) in world.slack.messages


@pytest.mark.parametrize(
    "since",
    [
        "decided",  # the pause was decided before the DM went out
        "unlinked",  # the member unlinked Slack
        "disconnected",  # the workspace was disconnected
        "removed",  # the member left the team
        "downgraded",  # the team left Pro
    ],
)
def test_nothing_is_posted_when_things_changed_since_the_fan_out(since):
    world = World()
    watch_id = world.pause()
    (ann,) = [w for w in world.dm_items(watch_id) if w["to"] == ANN]
    if since == "decided":
        world.service.decide(watch_id, BOB, "approved", None, "email")
    elif since == "unlinked":
        world.store.tenants.set_slack_user(TENANT, ANN, None)
    elif since == "disconnected":
        world.store.slack.disconnect(TENANT)
    elif since == "removed":
        del world.store.tenants.approver_records[(TENANT, ANN)]
    else:
        tenant = world.store.tenants.tenants[TENANT]
        world.store.tenants.tenants[TENANT] = tenant.model_copy(update={"plan": "starter"})

    assert world.notifier.attempt(ann, 1).status == "skipped"
    assert world.slack.called("chat.postMessage") == []


def test_a_ratelimited_dm_comes_back_after_slacks_retry_after_then_goes_out():
    world = World()
    watch_id = world.pause()
    (ann,) = [w for w in world.dm_items(watch_id) if w["to"] == ANN]
    world.slack.fail["chat.postMessage"] = SlackApiError("ratelimited", 12.5)

    with pytest.raises(RetryLater) as later:
        world.notifier.attempt(ann, 1)
    assert later.value.delay_s == 13
    assert world.store.slack.messages(TENANT, watch_id) == []

    assert world.notifier.attempt(ann, 2).status == "sent"
    assert len(world.store.slack.messages(TENANT, watch_id)) == 1


def test_a_dm_that_cannot_be_delivered_is_a_failed_slack_notification_on_the_pause():
    world = World()
    watch_id = world.pause()
    (ann,) = [w for w in world.dm_items(watch_id) if w["to"] == ANN]
    world.slack.fail["conversations.open"] = SlackApiError("user_not_found")
    since = len(world.publisher.published)

    with pytest.raises(GaveUp) as gave_up:
        world.notifier.attempt(ann, 1)  # no retry cures it: at once
    assert gave_up.value.channel == "slack"

    head = world.store.pauses.heads[watch_id]
    assert [(n.to, n.channel, n.status) for n in head.notifications] == [(ANN, "slack", "failed")]
    (failed,) = world.events_after(watch_id, since)
    assert failed["type"] == "pause.notification_failed"
    assert head.status == "pending"  # the others may still decide


def test_a_transient_failure_is_retried_with_growing_delays_and_recorded_on_the_last_attempt():
    world = World()
    watch_id = world.pause()
    (bob,) = [w for w in world.dm_items(watch_id) if w["to"] == BOB]
    world.slack.fail["chat.postMessage"] = SlackApiError("unreachable")
    world.slack.fail_always = True

    delays = []
    for attempt in (1, 2, 3):
        with pytest.raises(RetryLater) as later:
            world.notifier.attempt(bob, attempt)
        delays.append(later.value.delay_s)
    assert delays == sorted(delays) and delays[0] < delays[-1]
    assert world.store.pauses.heads[watch_id].notifications == []
    with pytest.raises(GaveUp):
        world.notifier.attempt(bob, 6)
    assert [(n.to, n.channel) for n in world.store.pauses.heads[watch_id].notifications] == [(BOB, "slack")]


# --- updates ------------------------------------------------------------------------------------


def send_all(world: World, watch_id: str) -> None:
    for work in world.dm_items(watch_id):
        assert world.notifier.attempt(work, 1).status == "sent"


def test_after_each_decision_every_dm_of_the_pause_shows_how_it_stands():
    world = World()
    watch_id = world.pause(requiredApprovals=2, approvers=[ANN, BOB, CY])
    send_all(world, watch_id)
    sent = world.store.slack.messages(TENANT, watch_id)
    assert {m.approverEmail for m in sent} == {ANN, BOB}

    since = len(world.publisher.published)
    world.service.decide(watch_id, ANN, "approved", "looks fine", "dashboard")
    (recorded,) = world.events_after(watch_id, since)
    assert recorded["type"] == "pause.approval_recorded"
    assert world.notifier.update_slack(recorded) == 2
    for message in sent:
        shown = world.slack.messages[(message.channel, message.ts)]
        assert action_ids(shown["blocks"]) == {APPROVE, REJECT, OPEN}  # still pending: 1 of 2
        assert "1 of 2" in str(shown["blocks"]) and ANN in str(shown["blocks"])

    since = len(world.publisher.published)
    world.service.decide(watch_id, CY, "approved", "ship it", "email")
    (approved,) = world.events_after(watch_id, since)
    assert world.notifier.update_slack(approved) == 2
    for message in sent:
        shown = world.slack.messages[(message.channel, message.ts)]
        assert action_ids(shown["blocks"]) == {OPEN}  # decided: no buttons left
        assert "*Approved* by cy@x.test (via email)" in str(shown["blocks"])
        assert "ship it" in str(shown["blocks"])
        assert shown["text"].startswith("Approved: Deploy v2")


def test_an_update_skips_a_dm_slack_lost_and_retries_when_rate_limited():
    world = World()
    watch_id = world.pause(approvers=[ANN, BOB])
    send_all(world, watch_id)
    since = len(world.publisher.published)
    world.service.decide(watch_id, BOB, "rejected", None, "slack")
    (rejected,) = world.events_after(watch_id, since)

    world.slack.fail["chat.update"] = SlackApiError("ratelimited", 3)
    with pytest.raises(SlackApiError):
        world.notifier.update_slack(rejected)  # the event comes back
    lost = world.store.slack.messages(TENANT, watch_id)[0]
    del world.slack.messages[(lost.channel, lost.ts)]  # deleted in Slack meanwhile
    assert world.notifier.update_slack(rejected) == 1


def test_events_that_change_no_dm_and_pauses_without_dms_update_nothing():
    world = World()
    watch_id = world.pause()
    created = world.publisher.published[-1].to_json()
    assert world.notifier.update_slack(created) == 0  # not a decision
    world.service.decide(watch_id, ANN, "approved", None, "email")
    assert world.notifier.update_slack(world.publisher.published[-1].to_json()) == 0  # no DM was sent
    assert world.slack.called("chat.update") == []


def test_a_decision_made_while_the_dm_was_posted_is_shown_at_once():
    world = World()
    watch_id = world.pause()
    (ann,) = [w for w in world.dm_items(watch_id) if w["to"] == ANN]
    post = world.slack.post_message

    def post_as_bob_decides(token: str, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        ts = post(token, channel, text, blocks)
        world.service.decide(watch_id, BOB, "approved", None, "email")  # its update found no DM yet
        return ts

    world.slack.post_message = post_as_bob_decides  # type: ignore[method-assign]
    assert world.notifier.attempt(ann, 1).status == "sent"

    (message,) = world.store.slack.messages(TENANT, watch_id)
    assert action_ids(world.slack.messages[(message.channel, message.ts)]["blocks"]) == {OPEN}
