"""Members on the dashboard, in-process: what waits for them, one pause, the history, and the
product page's route POST /api/pause/{watchId}/approve with a session (JSON and the page's form)."""

from __future__ import annotations

import pytest

from tests import people
from tests.client import Browser, Client
from tests.people import form_field

ANA, BEN = "ana@example.com", "ben@example.com"


@pytest.fixture
def team(make_tenant):
    return make_tenant(plan="pro", approvers=[ANA, BEN], name="Acme")


@pytest.fixture
def agent(api: Client, team) -> Client:
    return api.as_tenant(team["apiKey"])


def signed_in(api: Client, cloud, email: str) -> Browser:
    return people.sign_in(Browser(api), cloud.sent_emails, email)


def pause(agent: Client, **fields) -> str:
    created = agent.post("/api/pause", {"action": "Deploy v2", "context": {"env": "prod"}, **fields})
    assert created.status == 201, created.text
    return created.json()["watchId"]


def test_the_queue_shows_what_waits_for_me_and_the_pause_page_shows_it_all(api, cloud, agent):
    mine = pause(agent, approvers=[ANA], context={"env": "prod", "note": "x" * 400})
    theirs = pause(agent, approvers=[BEN], action="Only for Ben")
    ana = signed_in(api, cloud, ANA)
    queue = ana.get("/app")
    assert f"/app/pauses/{mine}" in queue.text and f"/app/pauses/{theirs}" not in queue.text
    page = ana.get(f"/app/pauses/{mine}")
    assert page.status == 200 and "Deploy v2" in page.text and "more characters" in page.text
    assert 'value="approved"' in page.text and "pause.created" in page.text
    other = ana.get(f"/app/pauses/{theirs}")
    assert "does not name you" in other.text and 'value="approved"' not in other.text


def test_a_member_decides_with_the_form_and_the_agent_sees_channel_dashboard(api, cloud, agent):
    watch_id = pause(agent, approvers=[ANA])
    ana = signed_in(api, cloud, ANA)
    page = ana.get(f"/app/pauses/{watch_id}")
    done = ana.post(
        f"/api/pause/{watch_id}/approve", {"decision": "approved", "comment": "ok", "csrf": form_field(page, "csrf")}
    )
    assert done.status == 303 and done.headers["location"] == f"/app/pauses/{watch_id}?decided=approved"
    decided = agent.get(f"/api/pause/{watch_id}").json()
    assert decided["status"] == "approved"
    assert decided["decision"] == {**decided["decision"], "by": ANA, "channel": "dashboard", "comment": "ok"}
    assert "Your decision is recorded" in ana.get(done.headers["location"]).text


def test_a_member_decides_with_json_and_the_csrf_header(api, cloud, agent):
    watch_id = pause(agent, approvers=[ANA, BEN], requiredApprovals=2)
    ana = signed_in(api, cloud, ANA)
    csrf = form_field(ana.get("/app"), "csrf")
    first = ana.post_json(f"/api/pause/{watch_id}/approve", {"decision": "approved"}, headers={"X-CSRF-Token": csrf})
    assert first.status == 200 and first.json()["status"] == "pending" and len(first.json()["approvals"]) == 1
    again = ana.post_json(f"/api/pause/{watch_id}/approve", {"decision": "approved"}, headers={"X-CSRF-Token": csrf})
    assert again.status == 409 and again.error_code == "already_decided_by_you"
    ben = signed_in(api, cloud, BEN)
    ben_csrf = form_field(ben.get("/app"), "csrf")
    last = ben.post_json(f"/api/pause/{watch_id}/approve", {"decision": "approved"}, headers={"X-CSRF-Token": ben_csrf})
    assert last.status == 200 and last.json()["status"] == "approved"
    late = ben.post_json(f"/api/pause/{watch_id}/approve", {"decision": "rejected"}, headers={"X-CSRF-Token": ben_csrf})
    assert late.status == 409 and late.json()["error"]["details"]["pause"]["status"] == "approved"


def test_only_a_member_the_policy_names_may_decide(api, cloud, agent):
    watch_id = pause(agent, approvers=[BEN])
    ana = signed_in(api, cloud, ANA)
    csrf = form_field(ana.get("/app"), "csrf")
    refused = ana.post_json(f"/api/pause/{watch_id}/approve", {"decision": "approved"}, headers={"X-CSRF-Token": csrf})
    assert refused.status == 403 and refused.error_code == "not_an_approver"
    assert agent.get(f"/api/pause/{watch_id}").json()["status"] == "pending"


def test_another_teams_pause_is_not_found_exactly_like_a_missing_one(api, cloud, agent, make_tenant):
    other = make_tenant(plan="pro", approvers=[ANA], name="Other")
    theirs = pause(api.as_tenant(other["apiKey"]))
    ana = signed_in(api, cloud, ANA)  # signed in to Acme (her first team)
    csrf = form_field(ana.get("/app"), "csrf")
    foreign = ana.post_json(f"/api/pause/{theirs}/approve", {"decision": "approved"}, headers={"X-CSRF-Token": csrf})
    missing = ana.post_json("/api/pause/w_missing/approve", {"decision": "approved"}, headers={"X-CSRF-Token": csrf})
    assert foreign.status == missing.status == 404
    assert foreign.json()["error"]["message"].replace(theirs, "w_missing") == missing.json()["error"]["message"]
    assert ana.get(f"/app/pauses/{theirs}").status == 404


def test_expired_and_cancelled_pauses_cannot_be_decided(api, cloud, agent):
    cancelled = pause(agent, approvers=[ANA])
    agent.post(f"/api/pause/{cancelled}/cancel")
    ana = signed_in(api, cloud, ANA)
    csrf = form_field(ana.get("/app"), "csrf")
    gone = ana.post_json(f"/api/pause/{cancelled}/approve", {"decision": "approved"}, headers={"X-CSRF-Token": csrf})
    assert gone.status == 410 and gone.json()["error"]["details"]["pause"]["status"] == "cancelled"


def test_the_approve_route_refuses_keys_missing_sessions_csrf_and_bad_bodies(api, cloud, agent, team):
    watch_id = pause(agent, approvers=[ANA])
    assert agent.post(f"/api/pause/{watch_id}/approve", {"decision": "approved"}).status == 401
    assert Browser(api).post_json(f"/api/pause/{watch_id}/approve", {"decision": "approved"}).status == 401
    ana = signed_in(api, cloud, ANA)
    assert ana.post_json(f"/api/pause/{watch_id}/approve", {"decision": "approved"}).status == 403
    csrf = {"X-CSRF-Token": form_field(ana.get("/app"), "csrf")}
    assert ana.post_json(f"/api/pause/{watch_id}/approve", {"decision": "maybe"}, headers=csrf).status == 422
    assert ana.post_json(f"/api/pause/{watch_id}/approve", {"decision": "approved", "x": 1}, headers=csrf).status == 422
    plain = ana.client.call(
        "POST",
        f"/api/pause/{watch_id}/approve",
        raw=b"decision=approved",
        headers={**ana._headers(csrf), "Content-Type": "text/plain"},
        key="",
    )
    assert plain.status == 415
    assert agent.get(f"/api/pause/{watch_id}").json()["status"] == "pending"


def test_history_filters_and_pages(api, cloud, agent):
    made = [pause(agent, approvers=[ANA], action=f"Job {n}") for n in range(30)]
    agent.post(f"/api/pause/{made[0]}/cancel")
    agent.post("/api/pause", {"action": "Rotate keys", "approvers": [BEN], "context": {}})
    ana = signed_in(api, cloud, ANA)
    first = ana.get("/app/history")
    assert first.status == 200 and first.text.count("/app/pauses/") == 25 and "cursor=" in first.text
    cancelled = ana.get("/app/history?status=cancelled")
    assert cancelled.text.count("/app/pauses/") == 1 and made[0] in cancelled.text
    by_text = ana.get("/app/history?q=rotate")
    assert by_text.text.count("/app/pauses/") == 1
    by_approver = ana.get("/app/history?approver=ben@example.com")
    assert by_approver.text.count("/app/pauses/") == 1
    assert ana.get("/app/history?cursor=forged").status == 400
