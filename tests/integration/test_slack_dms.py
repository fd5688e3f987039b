"""Slack DMs through the real notifier handler on moto (queues, table, KMS), with an in-memory
``SlackApi`` in place of Slack: a pause → an email and a DM to the linked approver → a decision
→ the DM rewritten with the outcome."""

from __future__ import annotations

import functools

import pytest

from hitl import runtime, timeutil, wiring
from hitl.domain.models import SlackWorkspace
from hitl.slack.blocks import APPROVE, OPEN, REJECT
from tests.fakes import MemorySlackApi

ANN, BOB = "ann@x.test", "bob@x.test"


@pytest.fixture
def slack(cloud, monkeypatch) -> MemorySlackApi:
    app = wiring.SlackApp("/hitl-test/slack/signing-secret", "123.456", "/hitl-test/slack/client-secret")
    for name, value in wiring.slack_environment(app).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    fake = MemorySlackApi(users={ANN: "U0ANN", BOB: "U0BOB"})
    monkeypatch.setattr(runtime, "slack_api", functools.lru_cache(maxsize=1)(lambda: fake))  # reset() clears it
    return fake


def action_ids(blocks):
    return {e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]}


def test_a_linked_approver_gets_a_dm_that_shows_the_outcome_once_decided(cloud, make_tenant, make_pause, slack):
    tenant = make_tenant(plan="pro", approvers=[ANN, BOB])
    tenant_id = tenant["tenantId"]
    cloud.store.slack.connect(
        SlackWorkspace(
            tenantId=tenant_id,
            teamId=slack.team_id,
            teamName=slack.team_name,
            botUserId=slack.bot_user_id,
            botTokenCipher=runtime.slack_tokens().encrypt(tenant_id, slack.token),
            connectedAt=timeutil.iso(timeutil.now()),
            connectedBy=ANN,
            via="token",
        )
    )
    assert cloud.store.tenants.set_slack_user(tenant_id, ANN, "U0ANN")
    assert cloud.store.tenants.set_email_notifications(tenant_id, ANN, False)

    watch_id = make_pause(tenant, action="Deploy v2")["watchId"]
    assert cloud.run_queue("notify") == 1
    assert cloud.run_queue("email") == 2  # bob's email, ann's DM (ann turned email off)

    assert [m["To"] for m in cloud.sent_emails()] == [BOB]
    (posted,) = slack.called("chat.postMessage")
    assert posted.token == slack.token  # decrypted from KMS
    assert posted.args["channel"] == "DU0ANN" and action_ids(posted.args["blocks"]) == {APPROVE, REJECT, OPEN}
    (message,) = cloud.store.slack.messages(tenant_id, watch_id)
    assert message.approverEmail == ANN

    runtime.services().pauses.decide(watch_id, BOB, "rejected", "not today", "dashboard")
    assert cloud.run_queue("slack-updates") == 1

    (updated,) = slack.called("chat.update")
    assert (updated.args["channel"], updated.args["ts"]) == (message.channel, message.ts)
    assert action_ids(updated.args["blocks"]) == {OPEN}
    assert "*Rejected* by bob@x.test (via dashboard)" in str(updated.args["blocks"])
    assert "not today" in str(updated.args["blocks"])
