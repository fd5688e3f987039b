"""The local stack's fake Slack, called as the front calls it (no sockets): the Web API it answers
and records, its page of messages, and the signed interactivity request a click sends."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from hitl.slack import blocks
from hitl_local import apigw, slack_fake
from hitl_local.slack_fake import FakeSlack

STACK = "http://127.0.0.1:3101"
SECRET = "local-signing-secret-0123456789ab"
NOW = 1_800_000_000.0
MEMBERS = {"owner@example.com", "ann@x.test"}


class Sent:
    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        self.requests.append((url, body, headers))
        return 200, '{"ok": true}'


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def fake(tmp_path, sent) -> FakeSlack:
    return FakeSlack(
        tmp_path, signing_secret=SECRET, stack_url=STACK, is_member=MEMBERS.__contains__, post=sent, clock=lambda: NOW
    )


def call(
    fake: FakeSlack, method: str, *, form: dict[str, str] | None = None, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    if body is not None:
        request = apigw.Request(
            "POST",
            slack_fake.API_PREFIX + method,
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
    else:
        request = apigw.Request(
            "POST",
            slack_fake.API_PREFIX + method,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(form or {}).encode(),
        )
    answer = fake.api(request)
    assert answer.status == 200
    result: dict[str, Any] = answer.json()
    return result


def request_blocks() -> blocks.Message:
    pause = {
        "watchId": "w_1",
        "status": "pending",
        "action": "Deploy",
        "requestedBy": "bot",
        "expiresAt": "2026-12-02T18:00:00.000Z",
        "approvals": [],
        "policy": {"approvers": ["owner@example.com"], "requiredApprovals": 1},
        "context": {},
    }
    return blocks.request_message(pause, base_url=STACK)


def post_dm(fake: FakeSlack, email: str = "owner@example.com") -> tuple[str, str]:
    user = call(fake, "users.lookupByEmail", form={"email": email})["user"]["id"]
    channel = call(fake, "conversations.open", form={"users": user})["channel"]["id"]
    message = request_blocks()
    ts = call(fake, "chat.postMessage", body={"channel": channel, "text": message.text, "blocks": message.blocks})["ts"]
    return channel, ts


def test_it_answers_the_web_api_as_the_fake_workspace_and_records_every_call(fake):
    identity = call(fake, "auth.test")
    assert (identity["ok"], identity["team_id"], identity["user_id"]) == (True, "T0LOCAL", "U0LOCALBOT")
    owner = call(fake, "users.lookupByEmail", form={"email": "Owner@Example.com"})["user"]["id"]
    assert (
        owner
        == slack_fake.user_id("owner@example.com")
        == call(fake, "users.lookupByEmail", form={"email": "owner@example.com"})["user"]["id"]
    )
    assert owner != slack_fake.user_id("ann@x.test")
    assert call(fake, "users.lookupByEmail", form={"email": "stranger@x.test"}) == {
        "ok": False,
        "error": "users_not_found",
    }
    installed = call(fake, "oauth.v2.access", form={"code": slack_fake.OAUTH_CODE})
    assert (installed["team"]["id"], installed["access_token"]) == ("T0LOCAL", slack_fake.BOT_TOKEN)
    assert call(fake, "oauth.v2.access", form={"code": "stolen"})["error"] == "invalid_code"

    channel, ts = post_dm(fake)
    assert call(fake, "chat.update", body={"channel": channel, "ts": ts, "text": "Approved", "blocks": []})["ts"] == ts
    assert (
        call(fake, "chat.update", body={"channel": channel, "ts": "1.000001", "text": "x"})["error"]
        == "message_not_found"
    )

    recorded = fake.messages_json(apigw.Request("GET", "/_local/slack/messages.json")).json()
    posted = next(c for c in recorded if c["method"] == "chat.postMessage")
    assert (posted["channel"], posted["ts"]) == (channel, ts) and posted["blocks"] == request_blocks().blocks
    updated = next(c for c in recorded if c["method"] == "chat.update")
    assert (updated["channel"], updated["ts"], updated["text"]) == (channel, ts, "Approved")
    assert {"method", "channel", "ts", "text", "blocks"} <= set(updated) and "user" not in updated


def test_what_it_recorded_survives_a_restart(tmp_path, fake):
    channel, ts = post_dm(fake)
    again = FakeSlack(tmp_path, signing_secret=SECRET, stack_url=STACK, is_member=MEMBERS.__contains__)

    assert [(m["channel"], m["ts"]) for m in again.current()] == [(channel, ts)]
    assert float(call(again, "chat.postMessage", form={"channel": channel, "text": "next"})["ts"]) > float(ts)


def test_the_page_shows_each_message_as_it_now_reads(fake):
    channel, ts = post_dm(fake)
    page = fake.page(apigw.Request("GET", "/_local/slack")).body.decode()
    assert 'data-action-id="hitl_approve"' in page and 'data-action-id="hitl_reject"' in page
    assert f'name="ts" value="{ts}"' in page

    call(
        fake,
        "chat.update",
        body={
            "channel": channel,
            "ts": ts,
            "text": "Approved",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Approved* by owner"}}],
        },
    )
    page = fake.page(apigw.Request("GET", "/_local/slack")).body.decode()
    assert "hitl_approve" not in page and "*Approved* by owner" in page and "· updated" in page


def click(fake: FakeSlack, channel: str, ts: str, action_id: str, **headers: str) -> apigw.HttpResponse:
    body = urlencode({"channel": channel, "ts": ts, "action_id": action_id}).encode()
    return fake.click(apigw.Request("POST", "/_local/slack/click", headers=headers, body=body))


def test_a_click_sends_slacks_signed_block_actions_request_to_the_stack(fake, sent):
    channel, ts = post_dm(fake)

    answer = click(fake, channel, ts, blocks.APPROVE, **{"Sec-Fetch-Site": "same-origin"})

    assert answer.status == 200 and 'id="status">200<' in answer.body.decode()
    ((url, body, headers),) = sent.requests
    assert url == f"{STACK}/slack/interactivity"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["X-Slack-Request-Timestamp"] == str(int(NOW))
    verifier = SignatureVerifier(SECRET, clock=type("Clock", (), {"now": staticmethod(lambda: NOW)})())
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("another-secret", clock=verifier.clock).is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["team"]["id"] == "T0LOCAL"
    assert payload["user"]["id"] == slack_fake.user_id("owner@example.com")
    assert payload["container"] == {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
    (action,) = payload["actions"]
    assert (action["action_id"], action["value"], action["block_id"]) == (blocks.APPROVE, "w_1", blocks.ACTIONS_BLOCK)
    assert payload["response_url"].startswith(f"{STACK}/_local/slack/respond?")


def test_a_click_on_a_button_that_is_gone_or_from_another_site_sends_nothing(fake, sent):
    channel, ts = post_dm(fake)
    call(fake, "chat.update", body={"channel": channel, "ts": ts, "text": "Approved", "blocks": []})

    assert click(fake, channel, ts, blocks.APPROVE).status == 404
    assert click(fake, channel, "1.5", blocks.APPROVE).status == 404
    assert click(fake, channel, ts, blocks.APPROVE, **{"Sec-Fetch-Site": "cross-site"}).status == 403
    assert sent.requests == []


def test_a_response_url_answer_is_shown_to_the_clicker(fake):
    channel, _ = post_dm(fake)
    query = urlencode({"channel": channel, "user": "U1"})
    answer = fake.respond(
        apigw.Request(
            "POST", "/_local/slack/respond", query=query, body=b'{"text": "You are not an approver of this pause."}'
        )
    )
    assert answer.json() == {"ok": True}
    (shown,) = [m for m in fake.current() if m["method"] == "response_url"]
    assert (shown["text"], shown["user"]) == ("You are not an approver of this pause.", "U1")


def test_the_install_page_sends_back_to_this_stack_only(fake):
    back = fake.authorize(
        apigw.Request(
            "GET",
            "/_local/slack/oauth/authorize",
            query=urlencode({"state": "s1", "redirect_uri": f"{STACK}/slack/oauth/callback"}),
        )
    )
    assert back.status == 302
    assert back.headers["location"] == f"{STACK}/slack/oauth/callback?code={slack_fake.OAUTH_CODE}&state=s1"
    elsewhere = urlencode({"state": "s1", "redirect_uri": "https://evil.test/callback"})
    assert fake.authorize(apigw.Request("GET", "/_local/slack/oauth/authorize", query=elsewhere)).status == 400
