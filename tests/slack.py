"""Helpers of the Slack tests: a deployment with a Slack app (its secrets in moto's SSM), a team's
workspace connected and its members linked, and the click requests Slack signs."""

from __future__ import annotations

import functools
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from hitl import runtime, timeutil, wiring
from hitl.domain.models import SlackWorkspace
from hitl.slack import blocks
from tests.conftest import Cloud
from tests.fakes import MemorySlackApi

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SIGNING_PARAMETER = "/hitl-test/slack/signing-secret"
CLIENT_PARAMETER = "/hitl-test/slack/client-secret"
TEAM = "T0ACME"
BOT_TOKEN = "xoxb-acme-bot-token"
ROUTE = "/slack/interactivity"


def enable(cloud: Cloud, monkeypatch: pytest.MonkeyPatch, users: dict[str, str]) -> MemorySlackApi:
    """The deployment gets a Slack app: its settings in the functions' environment, its secrets in
    SSM (read as the deployed functions read them); Slack's Web API is the in-memory fake, whose
    workspace ``TEAM`` knows ``users`` (email -> Slack user id)."""
    ssm = cloud.client("ssm")
    ssm.put_parameter(Name=SIGNING_PARAMETER, Value=SIGNING_SECRET, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name=CLIENT_PARAMETER, Value="client-secret", Type="SecureString", Overwrite=True)
    app = wiring.SlackApp(
        signing_secret_parameter=SIGNING_PARAMETER, client_id="1.2", client_secret_parameter=CLIENT_PARAMETER
    )
    for name, value in wiring.slack_environment(app).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    fake = MemorySlackApi(token=BOT_TOKEN, team_id=TEAM, users=dict(users))
    # an lru_cache like the real factory's: runtime.reset() clears it
    monkeypatch.setattr(runtime, "slack_api", functools.lru_cache(maxsize=1)(lambda: fake))
    return fake


def connect(cloud: Cloud, tenant_id: str, links: dict[str, str], connected_by: str) -> None:
    """The tenant's workspace ``TEAM`` connected (its bot token KMS-encrypted) and each member of
    ``links`` (email -> Slack user id) linked."""
    cloud.store.slack.connect(
        SlackWorkspace(
            tenantId=tenant_id,
            teamId=TEAM,
            teamName="Acme",
            botUserId="U0BOT",
            botTokenCipher=runtime.slack_tokens().encrypt(tenant_id, BOT_TOKEN),
            connectedAt=timeutil.iso(timeutil.now()),
            connectedBy=connected_by,
            via="token",
        )
    )
    for email, user_id in links.items():
        assert cloud.store.tenants.set_slack_user(tenant_id, email, user_id)


def click_body(watch_id: str, user: str, action: str = blocks.APPROVE, team: str = TEAM) -> bytes:
    """The form Slack posts for a button click in our DM (``block_actions``)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A0HITL",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": f"D{user}"},
        "channel": {"id": f"D{user}", "name": "directmessage"},
        "trigger_id": "1.2.3",
        "response_url": f"https://hooks.slack.com/actions/{team}/1/abc",
        "actions": [
            {
                "type": "button",
                "block_id": blocks.ACTIONS_BLOCK,
                "action_id": action,
                "value": watch_id,
                "action_ts": "1700000001.000002",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, at: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's headers for ``body`` (signed by slack_sdk's own ``generate_signature``)."""
    timestamp = str(int(time.time()) if at is None else at)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }
