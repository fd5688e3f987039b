"""A click in a Slack DM (``SlackClicks``) on the in-memory fakes: who may decide, what others are
told (an ephemeral note only they see), and that nothing is ever decided twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hitl import timeutil
from hitl.domain.auth import Principal
from hitl.domain.models import ApiKeyRecord, Approver, SlackWorkspace, Tenant
from hitl.domain.ports import SlackApiError
from hitl.domain.requests import CreatePauseRequest
from hitl.domain.service import PauseService
from hitl.domain.slack_clicks import NOT_AN_APPROVER, PRO_ONLY, Click, SlackClicks
from tests.fakes import Clock, MemoryCipher, MemoryPublisher, MemorySlackApi, MemoryStore

START = timeutil.now().replace(microsecond=0)
TENANT = "t_acme"
TEAM = "T0ACME"
ANN, BOB, CAT = "ann@x.test", "bob@x.test", "cat@x.test"
SLACK_IDS = {ANN: "U0ANN", BOB: "U0BOB", CAT: "U0CAT"}
DM = "D0ANN"


@pytest.fixture
def world():
    store = MemoryStore()
    clock = Clock(START)
    publisher = MemoryPublisher()
    service = PauseService(store, publisher, "https://hitl.example.test", clock=clock, sleep=lambda _: None)
    slack = MemorySlackApi(token="xoxb-acme", team_id=TEAM, users=dict(SLACK_IDS))
    cipher = MemoryCipher()
    store.tenants.tenants[TENANT] = Tenant(tenantId=TENANT, name="acme", plan="pro", createdAt=timeutil.iso(START))
    for email in (ANN, BOB, CAT):
        store.tenants.approver_records[(TENANT, email)] = Approver(
            tenantId=TENANT,
            email=email,
            status="confirmed",
            createdAt=timeutil.iso(START),
            slackUserId=SLACK_IDS[email],
        )
    store.slack.connect(
        SlackWorkspace(
            tenantId=TENANT,
            teamId=TEAM,
            teamName="Acme",
            botUserId="U0BOT",
            botTokenCipher=cipher.encrypt(TENANT, "xoxb-acme"),
            connectedAt=timeutil.iso(START),
            connectedBy=ANN,
            via="token",
        )
    )
    clicks = SlackClicks(store.slack, store.tenants, store.pauses, service.decide, lambda: slack, lambda: cipher, clock)
    return store, clock, service, slack, clicks, publisher


def create(service: PauseService, **fields) -> str:
    key = ApiKeyRecord(keyId="key_1", tenantId=TENANT, name="agent", last4="abcd", createdAt=timeutil.iso(START))
    request = CreatePauseRequest.model_validate({"action": "Deploy", **fields})
    return service.create(Principal(tenant_id=TENANT, key=key), request, None).pause.watchId


def click(watch_id: str, user: str = "U0ANN", decision="approved", team: str = TEAM, channel: str | None = DM):
    return Click(team_id=team, user_id=user, watch_id=watch_id, decision=decision, channel_id=channel)


def notes(slack: MemorySlackApi) -> list[tuple[str, str, str]]:
    return [(c.args["channel"], c.args["user"], c.args["text"]) for c in slack.called("chat.postEphemeral")]


def test_a_linked_named_approver_decides_with_channel_slack_and_their_email(world):
    store, _, service, slack, clicks, publisher = world
    watch_id = create(service)

    result = clicks.click(click(watch_id))

    assert result.kind == "decided" and result.approver == ANN
    head = store.pauses.get_head(watch_id)
    assert head is not None and head.status == "approved"
    assert head.decision is not None and (head.decision.by, head.decision.channel) == (ANN, "slack")
    assert [e.type for e in publisher.published][-1] == "pause.approved"
    assert notes(slack) == []  # the DM's update says it; no note


def test_reject_rejects(world):
    store, _, service, _, clicks, _ = world
    watch_id = create(service)

    assert clicks.click(click(watch_id, "U0BOB", "rejected")).kind == "decided"

    head = store.pauses.get_head(watch_id)
    assert head is not None and head.status == "rejected" and head.decision.by == BOB


def test_a_slack_user_linked_to_no_member_changes_nothing_and_is_told(world):
    store, _, service, slack, clicks, _ = world
    watch_id = create(service)

    result = clicks.click(click(watch_id, "U0STRANGER"))

    assert result.kind == "not_an_approver"
    assert store.pauses.get_head(watch_id).status == "pending"
    assert notes(slack) == [(DM, "U0STRANGER", NOT_AN_APPROVER)]
    assert slack.called("chat.postEphemeral")[0].token == "xoxb-acme"  # the team's own bot token


def test_a_member_the_pause_does_not_name_changes_nothing(world):
    store, _, service, slack, clicks, _ = world
    watch_id = create(service, approvers=[ANN, BOB])

    assert clicks.click(click(watch_id, "U0CAT")).kind == "not_an_approver"

    assert store.pauses.get_head(watch_id).status == "pending"
    assert notes(slack) == [(DM, "U0CAT", NOT_AN_APPROVER)]


def test_an_invited_member_is_no_approver_yet(world):
    store, _, service, _, clicks, _ = world
    watch_id = create(service, approvers=[ANN, BOB])
    bob = store.tenants.approver_records[(TENANT, BOB)]
    store.tenants.approver_records[(TENANT, BOB)] = bob.model_copy(update={"status": "invited"})

    assert clicks.click(click(watch_id, "U0BOB")).kind == "not_an_approver"
    assert store.pauses.get_head(watch_id).status == "pending"


def test_n_of_m_each_approver_counts_once_and_a_second_click_gets_the_tally(world):
    store, _, service, slack, clicks, publisher = world
    watch_id = create(service, approvers=[ANN, BOB, CAT], requiredApprovals=2)

    assert clicks.click(click(watch_id, "U0ANN")).kind == "decided"
    again = clicks.click(click(watch_id, "U0ANN"))  # a double click, a retry, a replay
    assert again.kind == "already_decided_by_you"
    assert store.pauses.get_head(watch_id).status == "pending"
    assert len(store.pauses.get_head(watch_id).approvals) == 1
    assert (
        notes(slack)[-1][2] == "You already approved this pause. 1 of 2 approvals so far; others still have to decide."
    )

    assert clicks.click(click(watch_id, "U0CAT")).kind == "decided"
    head = store.pauses.get_head(watch_id)
    assert head.status == "approved" and [a.by for a in head.approvals] == [ANN, CAT]
    assert [e.type for e in publisher.published].count("pause.approval_recorded") == 1


def test_a_click_on_a_decided_pause_answers_its_state_and_decides_nothing(world):
    store, _, service, slack, clicks, publisher = world
    watch_id = create(service)
    clicks.click(click(watch_id, "U0BOB", "rejected"))
    sent = len(publisher.published)

    result = clicks.click(click(watch_id, "U0ANN", "approved"))

    assert result.kind == "closed"
    assert store.pauses.get_head(watch_id).status == "rejected"
    assert notes(slack) == [(DM, "U0ANN", f"This pause was already rejected by {BOB}.")]
    assert len(publisher.published) == sent


def test_a_late_click_after_expiry_is_refused_even_before_the_sweeper_ran(world):
    store, clock, service, slack, clicks, _ = world
    watch_id = create(service, timeoutSeconds=60)
    clock.now = START + timedelta(seconds=61)

    result = clicks.click(click(watch_id))

    assert result.kind == "closed" and result.pause is not None and result.pause.status == "expired"
    assert store.pauses.get_head(watch_id).status == "pending"  # stored as it was: the sweeper records it
    assert "expired" in notes(slack)[0][2]


def test_a_cancelled_pause_says_so(world):
    store, _, service, slack, clicks, _ = world
    watch_id = create(service)
    head = store.pauses.get_head(watch_id)
    key = ApiKeyRecord(keyId="key_1", tenantId=TENANT, name="agent", last4="abcd", createdAt=timeutil.iso(START))
    service.cancel(Principal(tenant_id=TENANT, key=key), head.watchId, None)

    assert clicks.click(click(watch_id)).kind == "closed"
    assert notes(slack) == [(DM, "U0ANN", "The agent withdrew this pause; nothing to decide.")]


def test_a_team_not_on_pro_changes_nothing(world):
    store, _, service, slack, clicks, _ = world
    watch_id = create(service)
    store.tenants.tenants[TENANT] = store.tenants.tenants[TENANT].model_copy(update={"plan": "starter"})

    result = clicks.click(click(watch_id))

    assert result.kind == "plan_required"
    assert store.pauses.get_head(watch_id).status == "pending"
    assert notes(slack) == [(DM, "U0ANN", PRO_ONLY)]


def test_an_unknown_slack_team_changes_nothing_and_nothing_is_posted(world):
    store, _, service, slack, clicks, _ = world
    watch_id = create(service)

    assert clicks.click(click(watch_id, team="T0OTHER")).kind == "unknown_team"

    assert store.pauses.get_head(watch_id).status == "pending"
    assert slack.calls == []


def test_another_tenants_pause_is_unknown_even_to_a_linked_approver(world):
    store, _, service, slack, clicks, _ = world
    watch_id = create(service)
    head = store.pauses.get_head(watch_id)
    store.pauses.heads[watch_id] = head.model_copy(update={"tenantId": "t_other"})  # type: ignore[attr-defined]

    assert clicks.click(click(watch_id)).kind == "unknown_pause"
    assert store.pauses.get_head(watch_id).status == "pending"
    assert watch_id not in notes(slack)[0][2]


def test_a_note_that_slack_refuses_is_logged_and_the_click_still_answered(world):
    _, _, service, slack, clicks, _ = world
    watch_id = create(service)
    slack.fail["chat.postEphemeral"] = SlackApiError("channel_not_found")

    assert clicks.click(click(watch_id, "U0STRANGER")).kind == "not_an_approver"


def test_without_a_channel_no_note_is_posted(world):
    _, _, service, slack, clicks, _ = world
    watch_id = create(service)

    assert clicks.click(click(watch_id, "U0STRANGER", channel=None)).kind == "not_an_approver"
    assert slack.calls == []
