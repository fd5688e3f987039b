"""The approver's DM in Block Kit: what it shows, within Slack's limits whatever the context, and
how it reads once the pause goes on (tally, outcome, no buttons)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hitl import timeutil
from hitl.slack import blocks
from hitl.slack.blocks import APPROVE, OPEN, REJECT

BASE = "https://hitl.example.test"


def pause(**changes: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "watchId": "w_123",
        "status": "pending",
        "action": "Deploy v2 to prod",
        "requestedBy": "deploy-bot",
        "createdAt": "2026-11-24T12:00:00.000Z",
        "expiresAt": timeutil.iso(timeutil.now() + timeutil.timedelta(hours=3)),
        "decidedAt": None,
        "decision": None,
        "approvals": [],
        "policy": {"approvers": ["ann@x.test"], "requiredApprovals": 1, "onTimeout": "reject"},
        "context": {"env": "prod", "change": "bump"},
        "metadata": {},
    }
    shown.update(changes)
    return shown


def texts(message: blocks.Message) -> list[str]:
    """Every text of every block (sections, fields, headers, buttons, confirms, context notes)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.blocks)
    return found


def buttons(message: blocks.Message) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in message.blocks if b["type"] == "actions" for e in b["elements"]}


def assert_within_slacks_limits(message: blocks.Message) -> None:
    assert 0 < len(message.blocks) <= 50
    assert 0 < len(message.text) <= 3000
    for block in message.blocks:
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element.get("value", "")) <= 2000
                if "confirm" in element:
                    assert len(element["confirm"]["title"]["text"]) <= 100
                    assert len(element["confirm"]["text"]["text"]) <= 300
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])


def sixty_four_kib_contexts() -> list[dict[str, Any]]:
    wide = {f"key{n}": "x" * 50 for n in range(1000)}
    long_values = {f"field{n}": "y" * 6400 for n in range(10)}
    deep: dict[str, Any] = {"leaf": "z" * 1000}
    for _ in range(31):
        deep = {"level": deep, "pad": "p" * 2000}
    single = {"log": "l" * (64 * 1024 - 20)}
    markup = {"attack": "```<!channel>&<https://evil.test|click>" * 1700}
    found = [wide, long_values, deep, single, markup]
    for context in found:
        assert 60 * 1024 <= len(json.dumps(context)) <= 64 * 1024 + 1024
    return found


@pytest.mark.parametrize("context", sixty_four_kib_contexts(), ids=["wide", "long", "deep", "single", "markup"])
@pytest.mark.parametrize("action", ["Deploy", "A" * 2000])
def test_a_64_kib_context_stays_within_slacks_limits(context, action):
    for message in (
        blocks.request_message(pause(context=context, action=action), base_url=BASE),
        blocks.status_message(
            pause(context=context, action=action, status="approved", decision=DECIDED), base_url=BASE
        ),
    ):
        assert_within_slacks_limits(message)
        # the summary says that some of it is not shown: cut values, or the rest on the page
        assert any("more characters" in t or "nested deeper" in t for t in texts(message))


def test_the_request_shows_the_action_who_asked_the_context_and_the_expiry():
    message = blocks.request_message(pause(), base_url=BASE)

    shown = "\n".join(texts(message))
    assert message.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Approval needed", "emoji": True},
    }
    assert "*Deploy v2 to prod*" in shown and "Requested by deploy-bot" in shown
    assert '"env": "prod"' in shown
    assert "*Expires*" in shown and "<!date^" in shown
    assert message.text == "Approval needed: Deploy v2 to prod (requested by deploy-bot)"
    assert_within_slacks_limits(message)
    reminder = blocks.request_message(pause(), base_url=BASE, reminder=True)
    assert reminder.blocks[0]["text"]["text"] == "Reminder: approval needed"


def test_approve_and_reject_carry_the_watch_id_and_ask_for_confirmation_and_the_page_is_linked():
    found = buttons(blocks.request_message(pause(), base_url=BASE))

    assert set(found) == {APPROVE, REJECT, OPEN}
    assert found[APPROVE]["value"] == found[REJECT]["value"] == "w_123"
    assert (found[APPROVE]["style"], found[REJECT]["style"]) == ("primary", "danger")
    for action_id in (APPROVE, REJECT):
        confirm = found[action_id]["confirm"]
        assert {"title", "text", "confirm", "deny"} <= set(confirm)
        assert "Deploy v2 to prod" in confirm["text"]["text"]
    assert found[OPEN]["url"] == "https://hitl.example.test/app/pauses/w_123"
    assert (
        next(b["block_id"] for b in blocks.request_message(pause(), base_url=BASE).blocks if b["type"] == "actions")
        == blocks.ACTIONS_BLOCK
    )


def test_what_a_requester_wrote_cannot_mention_link_or_break_out_of_the_context():
    hostile = "<!channel> & <https://evil.test|click here> <@U0ADMIN>"
    message = blocks.request_message(
        pause(action=hostile, requestedBy="<!here>", context={"note": "```*bold* <!everyone>"}), base_url=BASE
    )

    every = "\n".join(texts(message)) + message.text
    for smuggled in ("<!channel>", "<!here>", "<!everyone>", "<https://evil.test", "<@U0ADMIN>"):
        assert smuggled not in every
    assert "&lt;!channel&gt; &amp; &lt;https://evil.test|click here&gt;" in every
    context = next(t for t in texts(message) if t.startswith("*Context*"))
    assert context.count("```") == 2  # the fences: the value's own backticks cannot close them


DECIDED = {
    "outcome": "approved",
    "by": "ann@x.test",
    "channel": "slack",
    "comment": "ship it",
    "at": "2026-11-24T12:05:00.000Z",
}


def test_once_decided_the_message_says_who_when_and_why_and_has_no_buttons_to_decide():
    message = blocks.status_message(
        pause(
            status="approved",
            decision=DECIDED,
            decidedAt=DECIDED["at"],
            approvals=[{**DECIDED, "decision": "approved"}],
        ),
        base_url=BASE,
    )

    shown = "\n".join(texts(message))
    assert message.blocks[0]["text"]["text"] == "Approved"
    assert (
        "*Approved* by ann@x.test (via slack)" in shown
        and f"<!date^{timeutil.epoch(timeutil.parse(DECIDED['at']))}^" in shown
    )
    assert "> ship it" in shown
    assert set(buttons(message)) == {OPEN}
    assert "approved by ann@x.test" in message.text


@pytest.mark.parametrize(
    ("status", "decision", "says"),
    [
        (
            "expired",
            {"outcome": "expired", "by": "timeout", "channel": "timeout", "at": "2026-11-24T15:00:00.000Z"},
            "*Expired:* nobody decided in time",
        ),
        (
            "approved",
            {"outcome": "approved", "by": "timeout", "channel": "timeout", "at": "2026-11-24T15:00:00.000Z"},
            "*Approved automatically:* nobody decided in time",
        ),
        (
            "cancelled",
            {"outcome": "cancelled", "by": "ci-key", "channel": "api", "at": "2026-11-24T13:00:00.000Z"},
            "*Cancelled* by ci-key",
        ),
        (
            "rejected",
            {"outcome": "rejected", "by": "bob@x.test", "channel": "email", "at": "2026-11-24T13:00:00.000Z"},
            "*Rejected* by bob@x.test (via email)",
        ),
    ],
)
def test_every_outcome_reads_plainly_without_buttons(status, decision, says):
    message = blocks.status_message(pause(status=status, decision=decision, decidedAt=decision["at"]), base_url=BASE)

    assert says in "\n".join(texts(message))
    assert message.blocks[0]["text"]["text"] == blocks.OUTCOME_TITLES[status]
    assert set(buttons(message)) == {OPEN}


def test_an_n_of_m_pause_shows_the_tally_so_far_and_keeps_its_buttons():
    approval = {"by": "ann@x.test", "channel": "dashboard", "decision": "approved", "at": "2026-11-24T12:05:00.000Z"}
    policy = {"approvers": ["ann@x.test", "bob@x.test", "cy@x.test"], "requiredApprovals": 2, "onTimeout": "reject"}

    message = blocks.status_message(pause(policy=policy, approvals=[approval]), base_url=BASE)

    shown = "\n".join(texts(message))
    assert "*Approvals*\n1 of 2" in shown
    assert "*Approvals:* 1 of 2 needed (3 approvers named)" in shown
    assert "• ann@x.test approved" in shown
    assert set(buttons(message)) == {APPROVE, REJECT, OPEN}
