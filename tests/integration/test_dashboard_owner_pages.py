"""The owners' pages, in-process: API keys (shown once, working on the API, revoked at once),
webhooks (a secret shown once, enable/disable/delete, deliveries and retry, the callback secret
shown only on a POST, rotated), settings (name, the policy floor the next create follows, the
plan's usage) — and the team event each change records, never with a secret in it."""

from __future__ import annotations

import json
import re

import pytest

from hitl import runtime, timeutil, wiring
from hitl_local.receiver import receiver
from tests import people
from tests.client import Answer, Browser, Client
from tests.people import form_field

OWNER, BEN = "olga@example.com", "ben@example.com"
KEY = re.compile(r"hitl_[0-9A-Za-z]{36}")
WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def loopback(monkeypatch):
    """The receiver listens on 127.0.0.1: allowed as on the local stack (never deployed)."""
    monkeypatch.setenv(wiring.ENV_WEBHOOK_LOOPBACK, "true")
    monkeypatch.setenv(wiring.ENV_WEBHOOK_RETRY_SCALE, "0")
    runtime.reset()


@pytest.fixture
def team(make_tenant, loopback):
    return make_tenant(plan="pro", approvers=[OWNER, BEN], name="Acme")


@pytest.fixture
def agent(api: Client, team) -> Client:
    return api.as_tenant(team["apiKey"])


@pytest.fixture
def owner(api, cloud, team) -> Browser:
    return people.sign_in(Browser(api), cloud.sent_emails, OWNER)


def post(browser: Browser, path: str, fields: dict[str, str] | None = None, page: str = "/app") -> Answer:
    """Send a page's form: with the session's CSRF token, as the page carries it."""
    csrf = form_field(browser.get(page), "csrf")
    return browser.post(path, {"csrf": csrf, **(fields or {})})


def team_events(agent: Client, type_: str) -> list[dict]:
    answer = agent.get("/api/audit", query={"type": type_})
    assert answer.status == 200, answer.text
    return answer.json()["items"]


def the_secret_box(answer: Answer) -> str:
    found = re.search(r'class="secret"[^>]*>([^<]+)<', answer.text)
    assert found, "no secret box on the page"
    return found.group(1).strip()


# --- API keys -------------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_works_on_the_api_and_is_recorded_without_the_key(api, owner, agent):
    created = post(owner, "/app/keys", {"name": "deploy-bot"}, page="/app/keys")

    assert created.status == 200
    key = the_secret_box(created)
    assert KEY.fullmatch(key) and "shown only this once" in created.text
    assert created.headers["cache-control"] == "no-store"
    pause = api.post("/api/pause", {"action": "Deploy v3", "context": {}}, key=key)
    assert pause.status == 201, pause.text
    later = owner.get("/app/keys")
    assert key not in later.text and "deploy-bot" in later.text and f"hitl_…{key[-4:]}" in later.text
    (entry,) = [e for e in team_events(agent, "team.key_created") if e["channel"] == "dashboard"]
    assert entry["actor"] == OWNER and entry["details"]["name"] == "deploy-bot" and entry["ip"]
    assert key not in json.dumps(team_events(agent, "team.key_created"))


def test_a_revoked_key_is_refused_at_its_next_request(api, owner, agent):
    key = the_secret_box(post(owner, "/app/keys", {"name": "soon-gone"}, page="/app/keys"))
    assert api.get("/api/pause", key=key).status == 200  # a warm function has just read it
    key_id = next(
        k["keyId"]
        for k in runtime.tenant_admin(runtime.services().store).list_keys("Acme")["keys"]
        if k["name"] == "soon-gone"
    )

    revoked = post(owner, f"/app/keys/{key_id}/revoke", page="/app/keys")

    assert revoked.status == 303 and revoked.headers["location"] == f"/app/keys?revoked={key_id}"
    refused = api.get("/api/pause", key=key)
    assert refused.status == 401 and refused.error_code == "invalid_api_key"  # the very next request
    page = owner.get(revoked.headers["location"])
    assert "is revoked" in page.text and "revoked</span>" in page.text
    (entry,) = team_events(agent, "team.key_revoked")
    assert (entry["actor"], entry["channel"], entry["details"]) == (
        OWNER,
        "dashboard",
        {"keyId": key_id, "name": "soon-gone"},
    )
    # revoking again changes nothing and records nothing
    assert post(owner, f"/app/keys/{key_id}/revoke", page="/app/keys").status == 303
    assert len(team_events(agent, "team.key_revoked")) == 1


def test_an_owner_cannot_revoke_another_teams_key_nor_make_a_nameless_one(api, owner, agent, make_tenant):
    other = make_tenant(plan="pro", approvers=["zed@example.com"], name="Other")

    refused = post(owner, f"/app/keys/{other['keyId']}/revoke", page="/app/keys")

    assert refused.status == 404
    assert api.get("/api/pause", key=other["apiKey"]).status == 200
    nameless = post(owner, "/app/keys", {"name": "   "}, page="/app/keys")
    assert nameless.status == 422 and "Give the key a name" in nameless.text and not KEY.search(nameless.text)


# --- webhooks -------------------------------------------------------------------------------------


def webhook_id(agent: Client, url: str) -> str:
    return next(e["id"] for e in agent.get("/api/webhooks").json()["items"] if e["url"] == url)


def test_a_webhook_is_created_with_its_secret_shown_once_then_disabled_enabled_deleted(owner, agent):
    url = "http://127.0.0.1:9/hitl-events"
    created = post(
        owner,
        "/app/webhooks",
        {"url": url, "event.pause.approved": "on", "event.pause.rejected": "on", "description": "ops"},
        page="/app/webhooks",
    )

    assert created.status == 200, created.text
    secret = the_secret_box(created)
    assert WHSEC.fullmatch(secret) and "shown only this once" in created.text
    hook = webhook_id(agent, url)
    assert agent.get("/api/webhooks").json()["items"][0]["events"] == ["pause.approved", "pause.rejected"]
    assert secret not in owner.get("/app/webhooks").text
    assert secret not in owner.get(f"/app/webhooks/{hook}").text

    disabled = post(owner, f"/app/webhooks/{hook}/disable", page="/app/webhooks")
    assert disabled.status == 303 and agent.get("/api/webhooks").json()["items"][0]["enabled"] is False
    assert "disabled</span>" in owner.get("/app/webhooks").text
    assert post(owner, f"/app/webhooks/{hook}/enable", page="/app/webhooks").status == 303
    assert agent.get("/api/webhooks").json()["items"][0]["enabled"] is True
    deleted = post(owner, f"/app/webhooks/{hook}/delete", page="/app/webhooks")
    assert deleted.status == 303 and agent.get("/api/webhooks").json()["items"] == []
    assert owner.get(f"/app/webhooks/{hook}").status == 404

    (made,) = team_events(agent, "team.webhook_created")
    assert (made["actor"], made["channel"], made["details"]["url"]) == (OWNER, "dashboard", url)
    changes = [e["details"]["changes"] for e in team_events(agent, "team.webhook_changed")]
    assert changes == [{"enabled": True}, {"enabled": False}]  # newest first
    (gone,) = team_events(agent, "team.webhook_deleted")
    assert gone["details"] == {"webhookId": hook, "url": url}
    assert secret not in json.dumps(agent.get("/api/audit").json())


def test_an_unsafe_or_eventless_endpoint_is_refused_with_the_reason(owner, agent):
    unsafe = post(
        owner, "/app/webhooks", {"url": "https://10.0.0.7/hook", "event.pause.approved": "on"}, page="/app/webhooks"
    )
    assert unsafe.status == 422 and 'class="error"' in unsafe.text and not WHSEC.search(unsafe.text)
    eventless = post(owner, "/app/webhooks", {"url": "http://127.0.0.1:9/x"}, page="/app/webhooks")
    assert eventless.status == 422 and "at least one event" in eventless.text
    assert agent.get("/api/webhooks").json()["items"] == []
    assert team_events(agent, "team.webhook_created") == []


def test_an_endpoints_page_lists_its_deliveries_and_retry_sends_one_again(owner, agent, cloud):
    with receiver() as hook:
        assert (
            post(owner, "/app/webhooks", {"url": hook.url, "event.pause.created": "on"}, page="/app/webhooks").status
            == 200
        )
        endpoint = webhook_id(agent, hook.url)
        watch_id = agent.post("/api/pause", {"action": "Ship it", "context": {}}).json()["watchId"]
        for _ in range(2):
            cloud.run_queue("webhooks")
            cloud.run_queue("deliveries")
        assert len(hook.received) == 1
        page = owner.get(f"/app/webhooks/{endpoint}")
        assert page.status == 200 and "pause.created" in page.text and watch_id in page.text and "HTTP 200" in page.text
        delivery = re.search(r"/deliveries/(dlv_[A-Za-z0-9]+)/retry", page.text)
        assert delivery

        retried = post(
            owner, f"/app/webhooks/{endpoint}/deliveries/{delivery.group(1)}/retry", page=f"/app/webhooks/{endpoint}"
        )

        assert retried.status == 303 and "retried=" in retried.headers["location"]
        cloud.run_queue("deliveries")
        assert len(hook.received) == 2
        assert hook.received[0].headers["webhook-id"] == hook.received[1].headers["webhook-id"]


def test_the_callback_secret_is_shown_only_on_a_post_and_rotates_with_a_record(owner, agent):
    assert "whsec_" not in owner.get("/app/webhooks").text

    revealed = post(owner, "/app/webhooks/callback-secret/reveal", page="/app/webhooks")

    first = the_secret_box(revealed)
    assert revealed.status == 200 and first == agent.get("/api/callback-secret").json()["secret"]
    rotated = post(owner, "/app/webhooks/callback-secret/rotate", page="/app/webhooks")
    second = the_secret_box(rotated)
    assert second != first and "previous secret signs too" in rotated.text
    assert agent.get("/api/callback-secret").json() == {
        **agent.get("/api/callback-secret").json(),
        "secret": second,
        "previousSecret": first,
    }
    (entry,) = team_events(agent, "team.callback_secret_rotated")
    assert (entry["actor"], entry["channel"]) == (OWNER, "dashboard")
    everything = json.dumps(agent.get("/api/audit").json())
    assert first not in everything and second not in everything


def test_the_agent_apis_webhook_changes_are_recorded_with_the_keys_name(agent):
    made = agent.post("/api/webhooks", {"url": "http://127.0.0.1:9/api-made"}).json()
    assert agent.call("PATCH", f"/api/webhooks/{made['id']}", {"enabled": False}).status == 200
    assert agent.call("DELETE", f"/api/webhooks/{made['id']}").status == 200
    assert agent.post("/api/callback-secret/rotate").status == 200

    for type_ in (
        "team.webhook_created",
        "team.webhook_changed",
        "team.webhook_deleted",
        "team.callback_secret_rotated",
    ):
        (entry,) = team_events(agent, type_)
        assert (entry["actor"], entry["channel"]) == ("default", "api"), type_
    assert made["secret"] not in json.dumps(agent.get("/api/audit").json())


# --- settings -------------------------------------------------------------------------------------


def test_the_policy_floor_set_on_the_page_is_what_the_next_create_follows(owner, agent):
    saved = post(
        owner,
        "/app/settings/policy",
        {"minRequiredApprovals": "2", "allowAutoApprove": "on", "minAutoApproveTimeoutSeconds": "600"},
        page="/app/settings",
    )

    assert saved.status == 303 and saved.headers["location"] == "/app/settings?done=policy"
    asks_one = agent.post("/api/pause", {"action": "Deploy", "context": {}})
    assert asks_one.status == 422 and asks_one.error_code == "policy_violation"
    asks_two = agent.post("/api/pause", {"action": "Deploy", "context": {}, "requiredApprovals": 2})
    assert asks_two.status == 201
    quick_auto = agent.post(
        "/api/pause", {"action": "x", "requiredApprovals": 2, "onTimeout": "approve", "timeoutSeconds": 60}
    )
    assert quick_auto.status == 422
    page = owner.get("/app/settings")
    assert 'name="minRequiredApprovals" min="1" step="1" required value="2"' in page.text
    (entry,) = team_events(agent, "team.policy_changed")
    assert entry["actor"] == OWNER and entry["channel"] == "dashboard"
    assert entry["details"]["from"]["minRequiredApprovals"] == 1
    assert entry["details"]["to"] == {
        "allowAutoApprove": True,
        "minRequiredApprovals": 2,
        "minAutoApproveTimeoutSeconds": 600,
    }


def test_an_unmeetable_floor_is_refused_with_what_to_do(owner, agent):
    refused = post(
        owner,
        "/app/settings/policy",
        {"minRequiredApprovals": "3", "minAutoApproveTimeoutSeconds": "0"},
        page="/app/settings",
    )

    assert refused.status == 422
    assert "A floor of 3 approvals cannot be met: Acme has 2 approvers" in refused.text
    assert "set the minimum of approvals to 2" in refused.text and "--min-approvals" not in refused.text
    assert post(owner, "/app/settings/policy", {"minRequiredApprovals": "two"}, page="/app/settings").status == 422
    assert team_events(agent, "team.policy_changed") == []
    assert agent.post("/api/pause", {"action": "Still one approval", "context": {}}).status == 201


def test_renaming_the_team_shows_in_the_header_and_is_recorded(owner, agent):
    renamed = post(owner, "/app/settings/name", {"name": "  Acme   Robotics "}, page="/app/settings")

    assert renamed.status == 303
    assert "Acme Robotics" in owner.get("/app").text
    assert runtime.tenant_admin(runtime.services().store).tenant("Acme Robotics").name == "Acme Robotics"
    (entry,) = team_events(agent, "team.renamed")
    assert entry["details"] == {"from": "Acme", "to": "Acme Robotics"} and entry["actor"] == OWNER
    assert post(owner, "/app/settings/name", {"name": ""}, page="/app/settings").status == 422


def test_the_plan_and_this_months_usage(api, cloud, make_tenant, loopback):
    solo = make_tenant(plan="free", approvers=["sam@example.com"], name="Solo")
    for n in range(3):
        assert api.post("/api/pause", {"action": f"Task {n}", "context": {}}, key=solo["apiKey"]).status == 201
    sam = people.sign_in(Browser(api), cloud.sent_emails, "sam@example.com")

    page = sam.get("/app/settings")

    month = timeutil.month_key(timeutil.now())
    assert page.status == 200 and "<dd>free</dd>" in page.text
    assert f"3 of 50 pauses in {month}" in page.text
    assert "1 of 1 approvers" in page.text


def test_a_pro_teams_usage_counts_pauses_and_pending_invitations(owner, agent, team, admin, monkeypatch):
    agent.post("/api/pause", {"action": "One", "context": {}})
    monkeypatch.setattr(admin, "invitations", _NoMail())
    admin.invite(team["tenantId"], "newbie@example.com")

    page = owner.get("/app/settings")

    month = timeutil.month_key(timeutil.now())
    assert f"1 pause in {month} (no limit on the pro plan)" in page.text
    assert "3 approvers (no limit on the pro plan)" in page.text


class _NoMail:
    def send_invitation(self, *args, **kwargs):
        return None


def test_the_operators_key_and_policy_commands_record_their_team_events(admin, team, agent):
    made = admin.create_key("Acme", "ci")
    admin.revoke_key(made["keyId"])
    admin.set_policy("Acme", allow_auto_approve=True)

    created = [e for e in team_events(agent, "team.key_created") if e["details"]["name"] == "ci"]
    assert [(e["actor"], e["channel"]) for e in created] == [("admin", "admin")]
    assert team_events(agent, "team.key_revoked")[0]["actor"] == "admin"
    assert team_events(agent, "team.policy_changed")[0]["details"]["to"]["allowAutoApprove"] is True
    assert made["apiKey"] not in json.dumps(agent.get("/api/audit").json())
