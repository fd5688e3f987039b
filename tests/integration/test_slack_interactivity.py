"""``POST /slack/interactivity`` under moto, the slack function invoked with API Gateway v2 events
(the form body base64-encoded, as API Gateway hands it): Slack's signature first, then the click
rules — not linked, not named, already decided, expired, N of M, retries and replays, the plan.

The signing secret is an SSM SecureString parameter in moto, read as the deployed function reads
it; Slack's Web API is the in-memory fake (``tests.fakes.MemorySlackApi``): the notes it was asked
to post are what the clicker would see."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from hitl.domain.slack_clicks import NOT_AN_APPROVER, PRO_ONLY
from hitl.slack import blocks
from tests import slack
from tests.client import Answer, Client
from tests.conftest import Cloud
from tests.fakes import MemorySlackApi
from tests.slack import BOT_TOKEN, ROUTE, SIGNING_SECRET, TEAM, click_body, signed

ANN, BOB, CAT = "ann@x.test", "bob@x.test", "cat@x.test"
SLACK_IDS = {ANN: "U0ANN", BOB: "U0BOB", CAT: "U0CAT"}


@pytest.fixture
def slack_api(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> MemorySlackApi:
    return slack.enable(cloud, monkeypatch, SLACK_IDS)


@pytest.fixture
def acme(cloud: Cloud, slack_api: MemorySlackApi, make_tenant: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A pro team of ann, bob and cat, its Slack workspace connected, each of them linked."""
    tenant = make_tenant(plan="pro", approvers=[ANN, BOB, CAT])
    slack.connect(cloud, tenant["tenantId"], SLACK_IDS, ANN)
    return tenant


def send(api: Client, body: bytes, headers: dict[str, str]) -> Answer:
    return api.call("POST", ROUTE, raw=body, headers=headers, key="")


def click(api: Client, watch_id: str, user: str, action: str = blocks.APPROVE, **headers: str) -> Answer:
    body = click_body(watch_id, user, action)
    return send(api, body, {**signed(body), **headers})


def pause_of(api: Client, tenant: dict[str, Any], watch_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/pause/{watch_id}", key=tenant["apiKey"])
    assert answer.status == 200, answer.body
    pause: dict[str, Any] = answer.json()
    return pause


def notes(slack: MemorySlackApi) -> list[tuple[str, str, str]]:
    return [(c.args["channel"], c.args["user"], c.args["text"]) for c in slack.called("chat.postEphemeral")]


# --- the signature, before anything else ------------------------------------------------------------


def test_a_linked_approvers_signed_click_decides_with_channel_slack(api, acme, slack_api, make_pause):
    approved, rejected = make_pause(acme)["watchId"], make_pause(acme)["watchId"]

    answers = [click(api, approved, "U0ANN"), click(api, rejected, "U0BOB", blocks.REJECT)]

    assert [(a.status, a.body) for a in answers] == [(200, b""), (200, b"")]
    pause = pause_of(api, acme, approved)
    assert pause["status"] == "approved"
    assert (pause["decision"]["by"], pause["decision"]["channel"]) == (ANN, "slack")
    assert [(a["by"], a["channel"], a["decision"]) for a in pause["approvals"]] == [(ANN, "slack", "approved")]
    pause = pause_of(api, acme, rejected)
    assert (pause["status"], pause["decision"]["by"], pause["decision"]["channel"]) == ("rejected", BOB, "slack")
    assert notes(slack_api) == []


def test_a_request_slack_did_not_sign_is_refused_401_and_nothing_is_written(api, cloud, acme, slack_api, make_pause):
    watch_id = make_pause(acme)["watchId"]
    body = click_body(watch_id, "U0ANN")
    now = int(time.time())
    no_timestamp = signed(body)
    del no_timestamp["X-Slack-Request-Timestamp"]
    tampered = {
        "unsigned": (body, {"Content-Type": "application/x-www-form-urlencoded"}),
        "another app's secret": (body, signed(body, secret="another-apps-signing-secret")),
        "one byte changed": (body.replace(b"U0ANN", b"U0ANM", 1), signed(body)),
        "signed 5 minutes ago": (body, signed(body, at=now - 310)),
        "signed 5 minutes ahead": (body, signed(body, at=now + 310)),
        "no timestamp": (body, no_timestamp),
    }
    before = cloud.items()

    answers = {name: send(api, sent, headers) for name, (sent, headers) in tampered.items()}

    assert {name: a.status for name, a in answers.items()} == dict.fromkeys(tampered, 401)
    assert {name: a.error_code for name, a in answers.items()} == {
        "unsigned": "missing_slack_signature",
        "another app's secret": "invalid_slack_signature",
        "one byte changed": "invalid_slack_signature",
        "signed 5 minutes ago": "stale_slack_request",
        "signed 5 minutes ahead": "stale_slack_request",
        "no timestamp": "missing_slack_signature",
    }
    assert all(SIGNING_SECRET not in a.text for a in answers.values())
    assert cloud.items() == before
    assert slack_api.calls == []
    assert pause_of(api, acme, watch_id)["status"] == "pending"


def test_a_signed_body_that_is_not_a_click_is_a_400_and_other_interactions_are_ignored(api, acme, make_pause):
    many_fields = urlencode({f"field{n}": "x" for n in range(50)}).encode()
    for body in (b"payload=not-json", b"nothing=here", urlencode({"payload": "[1]"}).encode(), many_fields):
        answer = send(api, body, signed(body))
        assert (answer.status, answer.error_code) == (400, "invalid_slack_payload"), body
    watch_id = make_pause(acme)["watchId"]
    opened = click_body(watch_id, "U0ANN", blocks.OPEN)  # the link button to the pause's page
    shortcut = urlencode({"payload": json.dumps({"type": "shortcut", "team": {"id": TEAM}})}).encode()

    for body in (opened, shortcut):
        assert send(api, body, signed(body)).status == 200

    assert pause_of(api, acme, watch_id)["status"] == "pending"


# --- who may decide -------------------------------------------------------------------------------------


def test_only_a_linked_member_the_pause_names_decides_others_are_told(
    api, cloud, acme, slack_api, make_pause, make_tenant
):
    named = make_pause(acme, approvers=[ANN, BOB])["watchId"]
    other = make_tenant(plan="pro", approvers=[ANN])
    elsewhere = make_pause(other)["watchId"]  # another tenant's pause, whose id leaked
    cloud.store.tenants.set_slack_user(acme["tenantId"], BOB, None)  # bob unlinked himself

    for watch_id, user in [(named, "U0STRANGER"), (named, "U0CAT"), (named, "U0BOB"), (elsewhere, "U0ANN")]:
        assert click(api, watch_id, user).status == 200

    assert pause_of(api, acme, named)["approvals"] == []
    assert pause_of(api, other, elsewhere)["approvals"] == []
    assert notes(slack_api) == [
        ("DU0STRANGER", "U0STRANGER", NOT_AN_APPROVER),  # linked to no member
        ("DU0CAT", "U0CAT", NOT_AN_APPROVER),  # a member the pause does not name
        ("DU0BOB", "U0BOB", NOT_AN_APPROVER),  # no longer linked
        ("DU0ANN", "U0ANN", "This pause no longer exists; nothing was recorded."),
    ]
    assert {c.token for c in slack_api.called("chat.postEphemeral")} == {BOT_TOKEN}  # decrypted from KMS


def test_a_team_not_on_pro_changes_nothing(api, admin, acme, slack_api, make_pause):
    watch_id = make_pause(acme)["watchId"]
    admin.set_plan(acme["tenantId"], "starter")

    assert click(api, watch_id, "U0ANN").status == 200

    assert pause_of(api, acme, watch_id)["status"] == "pending"
    assert notes(slack_api) == [("DU0ANN", "U0ANN", PRO_ONLY)]


# --- nothing decided twice ------------------------------------------------------------------------------


def test_n_of_m_counts_each_approver_once(api, cloud, acme, slack_api, make_pause):
    watch_id = make_pause(acme, approvers=[ANN, BOB, CAT], requiredApprovals=2)["watchId"]

    click(api, watch_id, "U0ANN")
    click(api, watch_id, "U0ANN")  # a double click
    middle = pause_of(api, acme, watch_id)
    click(api, watch_id, "U0CAT")

    assert middle["status"] == "pending" and [a["by"] for a in middle["approvals"]] == [ANN]
    assert notes(slack_api) == [
        ("DU0ANN", "U0ANN", "You already approved this pause. 1 of 2 approvals so far; others still have to decide.")
    ]
    final = pause_of(api, acme, watch_id)
    assert final["status"] == "approved" and final["decision"]["by"] == CAT
    assert [a["by"] for a in final["approvals"]] == [ANN, CAT]
    types = [e["detail"]["type"] for e in cloud.events() if e["detail"]["data"]["watchId"] == watch_id]
    assert types == ["pause.created", "pause.approval_recorded", "pause.approved"]


def test_slacks_retry_and_a_replay_of_one_signed_request_decide_once(api, cloud, acme, slack_api, make_pause):
    watch_id = make_pause(acme, approvers=[ANN, BOB], requiredApprovals=2)["watchId"]
    body = click_body(watch_id, "U0ANN")
    headers = signed(body)

    first = send(api, body, headers)
    retried = send(api, body, {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    replayed = send(api, body, headers)

    assert (first.status, retried.status, replayed.status) == (200, 200, 200)
    pause = pause_of(api, acme, watch_id)
    assert pause["status"] == "pending" and [a["by"] for a in pause["approvals"]] == [ANN]
    types = [e["detail"]["type"] for e in cloud.events() if e["detail"]["data"]["watchId"] == watch_id]
    assert types.count("pause.approval_recorded") == 1
    assert len(notes(slack_api)) == 2 and all(n[2].startswith("You already approved") for n in notes(slack_api))


def test_a_click_on_a_decided_or_expired_pause_answers_its_state_and_decides_nothing(api, acme, slack_api, make_pause):
    decided = make_pause(acme)["watchId"]
    expiring = make_pause(acme, timeoutSeconds=1)["watchId"]
    click(api, decided, "U0BOB", blocks.REJECT)
    time.sleep(1.1)

    click(api, decided, "U0ANN")
    click(api, expiring, "U0ANN")

    pause = pause_of(api, acme, decided)
    assert pause["status"] == "rejected" and [a["by"] for a in pause["approvals"]] == [BOB]
    pause = pause_of(api, acme, expiring)
    assert pause["status"] == "expired" and pause["approvals"] == []
    (rejected_note, expired_note) = notes(slack_api)
    assert rejected_note == ("DU0ANN", "U0ANN", f"This pause was already rejected by {BOB}.")
    assert expired_note[2].startswith("This pause expired at ")


# --- Slack off ------------------------------------------------------------------------------------------


def test_without_a_slack_app_the_route_says_so_and_reads_nothing(api, cloud, make_tenant, make_pause):
    tenant = make_tenant(plan="pro", approvers=[ANN])
    watch_id = make_pause(tenant)["watchId"]
    body = click_body(watch_id, "U0ANN")

    answer = send(api, body, signed(body))

    assert answer.status == 404 and answer.error_code == "slack_not_configured"
    assert pause_of(api, tenant, watch_id)["status"] == "pending"
