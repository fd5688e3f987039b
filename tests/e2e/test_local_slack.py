"""Slack on the local stack: the local tenant is Pro with the fake workspace connected and its
owner linked, so a pause sends the owner a DM in the fake Slack (``/_local/slack``,
``/_local/slack/messages.json``) with Approve and Reject buttons, and a decision by another
channel rewrites that DM with the outcome (``chat.update``, same ``ts``, no buttons left)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hitl.slack.blocks import APPROVE, OPEN, REJECT
from hitl.slack.client import SlackWebApi
from hitl_local import slack_fake
from tests.e2e.conftest import Http, Stack

pytestmark = pytest.mark.e2e


def slack_calls(stack: Stack) -> list[dict[str, Any]]:
    answer = stack.http().get("/_local/slack/messages.json")
    assert answer.status == 200, answer.body
    calls: list[dict[str, Any]] = answer.json()
    return calls


def buttons(blocks: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in blocks or [] if b["type"] == "actions" for e in b["elements"]}


def dm_about(stack: Stack, watch_id: str, eventually: Any) -> dict[str, Any]:
    def posted() -> dict[str, Any] | None:
        return next(
            (
                c
                for c in slack_calls(stack)
                if c["method"] == "chat.postMessage" and buttons(c["blocks"]).get(APPROVE, {}).get("value") == watch_id
            ),
            None,
        )

    found: dict[str, Any] = eventually(posted)
    return found


def test_local_json_names_the_fake_slack_and_its_signing_secret(stack):
    assert stack.config["slackUrl"] == f"{stack.url}/_local/slack"
    assert len(stack.config["slackSigningSecret"]) >= 32
    page = stack.http().get("/_local/slack")
    assert page.status == 200 and "Local Slack" in page.text
    # the fake answers the service's own client, as Slack would
    identity = SlackWebApi(f"{stack.url}/_local/slack/api/").auth_test("xoxb-anything")
    assert (identity.teamId, identity.botUserId) == (slack_fake.TEAM_ID, slack_fake.BOT_USER_ID)


def test_a_pause_sends_the_owner_a_dm_that_a_decision_by_email_rewrites(stack, agent, new_pause, eventually):
    action = f"Deploy build {uuid.uuid4().hex[:6]} to production"
    watch_id = new_pause(action=action)["watchId"]

    dm = dm_about(stack, watch_id, eventually)
    owner = stack.config["approverEmail"]
    assert dm["channel"] == slack_fake.dm_channel(slack_fake.user_id(owner))
    shown = buttons(dm["blocks"])
    assert set(shown) == {APPROVE, REJECT, OPEN}
    assert shown[REJECT]["value"] == watch_id and "confirm" in shown[APPROVE] and "confirm" in shown[REJECT]
    assert shown[OPEN]["url"].endswith(f"/app/pauses/{watch_id}")
    assert action in dm["text"]
    page = stack.http().get("/_local/slack").text
    assert f'data-ts="{dm["ts"]}"' in page and 'data-action-id="hitl_approve"' in page

    # the owner decides from the email instead: the DM then says so, and its buttons are gone
    def email_links() -> list[str] | None:
        emails = stack.http().get("/_local/outbox.json").json()
        return next((e["links"] for e in emails if e["to"] == [owner] and action in e["subject"]), None)

    approve = next(link for link in eventually(email_links) if link.endswith("/approve"))
    decided = Http("").post_form(
        approve.rsplit("/", 1)[0],
        {"decision": "approved", "comment": "ship it"},
        {"Origin": stack.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert decided.status == 200, decided.body
    assert agent.get(f"/api/pause/{watch_id}").json()["status"] == "approved"

    def rewritten() -> dict[str, Any] | None:
        updates = [c for c in slack_calls(stack) if c["method"] == "chat.update" and c["ts"] == dm["ts"]]
        return updates[-1] if updates else None

    update = eventually(rewritten)
    assert update["channel"] == dm["channel"]
    assert set(buttons(update["blocks"])) == {OPEN}
    assert f"*Approved* by {owner} (via email)" in str(update["blocks"]) and "ship it" in str(update["blocks"])
    page = stack.http().get("/_local/slack").text
    assert "· updated" in page
