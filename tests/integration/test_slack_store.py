"""The Slack repository (``store.slack``) on moto: one workspace per tenant, one tenant per Slack
team, the bot token only as KMS ciphertext, DMs per pause, install states used once; and the
members' Slack links (``store.tenants``)."""

from __future__ import annotations

import json

import pytest

from hitl import runtime, timeutil
from hitl.domain.models import SlackWorkspace
from hitl.domain.ports import SlackInstallState, SlackMessage, SlackTeamTaken

TOKEN = "xoxb-1111-2222-plaintext-bot-token"


def workspace(tenant_id: str, team_id: str = "T0AAA", token_cipher: str = "cipher", **changes: str) -> SlackWorkspace:
    fields = {
        "tenantId": tenant_id,
        "teamId": team_id,
        "teamName": f"Team {team_id}",
        "botUserId": "U0BOT",
        "botTokenCipher": token_cipher,
        "connectedAt": timeutil.iso(timeutil.now()),
        "connectedBy": "owner@x.test",
        "via": "token",
        **changes,
    }
    return SlackWorkspace.model_validate(fields)


def test_a_connected_workspace_keeps_its_bot_token_only_encrypted(cloud, make_tenant):
    tenant = make_tenant(plan="pro", approvers=["ann@x.test"])
    cipher = runtime.slack_tokens()
    sealed = cipher.encrypt(tenant["tenantId"], TOKEN)

    cloud.store.slack.connect(workspace(tenant["tenantId"], token_cipher=sealed))

    stored = json.dumps(cloud.items())
    assert TOKEN not in stored and "plaintext-bot-token" not in stored
    found = cloud.store.slack.get(tenant["tenantId"])
    assert found is not None and found.botTokenCipher == sealed
    assert cipher.decrypt(tenant["tenantId"], found.botTokenCipher) == TOKEN
    assert "botTokenCipher" not in found.view()
    # bound to its tenant, and to being a bot token: another tenant's item, or the webhook
    # secrets' cipher, cannot decrypt it
    other = make_tenant(plan="pro")
    with pytest.raises(Exception, match="InvalidCiphertext"):
        cipher.decrypt(other["tenantId"], sealed)
    with pytest.raises(Exception, match="InvalidCiphertext"):
        runtime.webhooks().crypto.decrypt(tenant["tenantId"], sealed)
    assert cloud.store.slack.by_team("T0AAA") == found


def test_one_slack_team_belongs_to_one_tenant(cloud, make_tenant):
    first, second = make_tenant(plan="pro"), make_tenant(plan="pro")
    slack = cloud.store.slack
    slack.connect(workspace(first["tenantId"], "T0AAA"))

    with pytest.raises(SlackTeamTaken):
        slack.connect(workspace(second["tenantId"], "T0AAA"))
    assert slack.get(second["tenantId"]) is None  # nothing written
    assert slack.by_team("T0AAA").tenantId == first["tenantId"]

    # reconnecting the same team is fine; replacing it releases the old team
    slack.connect(workspace(first["tenantId"], "T0AAA", teamName="Renamed"))
    assert slack.get(first["tenantId"]).teamName == "Renamed"
    slack.connect(workspace(first["tenantId"], "T0BBB"))
    assert slack.by_team("T0AAA") is None
    slack.connect(workspace(second["tenantId"], "T0AAA"))
    assert slack.by_team("T0AAA").tenantId == second["tenantId"]
    assert slack.by_team("T0BBB").tenantId == first["tenantId"]

    # disconnecting removes the workspace (and its token) and the team's claim
    removed = slack.disconnect(first["tenantId"])
    assert removed is not None and removed.teamId == "T0BBB"
    assert slack.get(first["tenantId"]) is None and slack.by_team("T0BBB") is None
    assert slack.disconnect(first["tenantId"]) is None
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in cloud.items()}
    assert ("SLACKTEAM#T0BBB", "SLACKTEAM") not in keys
    assert (f"T#{first['tenantId']}", "SLACK") not in keys
    slack.connect(workspace(make_tenant(plan="pro")["tenantId"], "T0BBB"))  # free for anyone again


def test_the_dms_of_a_pause_are_kept_with_it_and_leave_its_reads_alone(cloud, make_tenant, make_pause):
    tenant = make_tenant(plan="pro", approvers=["ann@x.test", "bob@x.test"])
    watch_id = make_pause(tenant)["watchId"]
    slack = cloud.store.slack
    sent = [
        SlackMessage(tenant["tenantId"], watch_id, "ann@x.test", "D0ANN", "1700000000.000100"),
        SlackMessage(tenant["tenantId"], watch_id, "bob@x.test", "D0BOB", "1700000000.000200"),
        SlackMessage(tenant["tenantId"], watch_id, "ann@x.test", "D0ANN", "1700000500.000300"),  # a reminder
    ]
    for message in sent:
        slack.record_message(message)
    slack.record_message(sent[0])  # recorded twice (a retried work item): kept once

    assert slack.messages(tenant["tenantId"], watch_id) == sorted(sent, key=lambda m: (m.approverEmail, m.ts))
    assert slack.messages("another-tenant", watch_id) == []
    head, body = cloud.store.pauses.get(watch_id)
    assert head.watchId == watch_id and body is not None
    assert all("ttl" in i for i in cloud.items() if i["sk"]["S"].startswith("SLACK#"))


def test_an_install_state_is_used_once(cloud):
    slack = cloud.store.slack
    state = SlackInstallState(
        "t1", "session-hash", "owner@x.test", "2026-12-02T10:00:00.000Z", "2026-12-02T10:10:00.000Z"
    )
    slack.put_install_state("state-hash", state)
    stored = next(i for i in cloud.items() if i["pk"]["S"] == "SLACKSTATE#state-hash")
    assert int(stored["ttl"]["N"]) == timeutil.epoch(timeutil.parse(state.expiresAt))

    assert slack.take_install_state("state-hash") == state
    assert slack.take_install_state("state-hash") is None
    assert slack.take_install_state("never-made") is None


def test_a_member_is_linked_to_slack_and_may_then_turn_email_off(cloud, make_tenant):
    tenant = make_tenant(plan="pro", approvers=["ann@x.test"])
    tenants = cloud.store.tenants
    tenant_id = tenant["tenantId"]
    ann = tenants.member(tenant_id, "ann@x.test")
    assert (ann.slackUserId, ann.emailNotifications, ann.emailed()) == (None, True, True)

    assert tenants.set_email_notifications(tenant_id, "ann@x.test", False) is False  # not linked yet
    assert tenants.set_slack_user(tenant_id, "ann@x.test", "U0ANN")
    assert tenants.set_email_notifications(tenant_id, "ann@x.test", False)
    ann = tenants.member(tenant_id, "ann@x.test")
    assert (ann.slackUserId, ann.emailNotifications, ann.emailed()) == ("U0ANN", False, False)

    assert tenants.set_slack_user(tenant_id, "ann@x.test", None)  # unlinked: email is back on
    ann = tenants.member(tenant_id, "ann@x.test")
    assert (ann.slackUserId, ann.emailNotifications) == (None, True)
    assert tenants.set_slack_user(tenant_id, "nobody@x.test", "U0NOBODY") is False
    assert tenants.member(tenant_id, "nobody@x.test") is None
