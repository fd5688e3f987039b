"""Each agent route through the real handlers and adapters, under moto."""

from __future__ import annotations

import json

import pytest

from hitl import ids


@pytest.fixture
def agent(api, team):
    """The ``api`` client, as the team's agent (its API key on every request)."""
    api.key = team["apiKey"]
    return api


def test_create_answers_201_with_an_absolute_status_url(agent, team, make_pause):
    created = make_pause(team, timeoutSeconds=600)
    assert created["status"] == "pending"
    assert created["watchId"].startswith("w_")
    assert created["statusUrl"] == f"https://hitl.example.test/api/pause/{created['watchId']}"
    assert created["createdAt"].endswith("Z") and len(created["createdAt"]) == 24
    assert created["expiresAt"] > created["createdAt"]


def test_get_shows_the_whole_pause(agent, team, make_pause):
    created = make_pause(
        team,
        action="Deploy to production (v2.4.1)",
        context={"env": "prod"},
        requestedBy="deploy-bot",
        metadata={"ticket": "OPS-1"},
    )
    pause = agent.get(f"/api/pause/{created['watchId']}").json()
    assert pause["action"] == "Deploy to production (v2.4.1)"
    assert pause["context"] == {"env": "prod"}
    assert pause["requestedBy"] == "deploy-bot"
    assert pause["metadata"] == {"ticket": "OPS-1"}
    assert pause["decision"] is None and pause["decidedAt"] is None and pause["approvals"] == []
    # every confirmed approver of the tenant, one approval decides, a timeout refuses
    assert pause["policy"] == {"approvers": team["approvers"], "requiredApprovals": 1, "onTimeout": "reject"}
    assert len(pause["actionDigest"]) == 64
    assert "tenantId" not in pause


def test_a_tenant_without_approvers_cannot_pause(api, make_tenant):
    lonely = make_tenant(approvers=[])
    refused = api.post("/api/pause", {"action": "x"}, key=lonely["apiKey"])
    assert refused.status == 422
    assert refused.json()["error"]["code"] == "no_approvers"
    assert api.get("/api/pause", key=lonely["apiKey"]).json()["items"] == []


def test_requested_by_defaults_to_the_key_name(agent, team, make_pause):
    created = make_pause(team)
    assert agent.get(f"/api/pause/{created['watchId']}").json()["requestedBy"] == "default"


def test_context_keeps_json_types_exactly(agent, team, make_pause):
    context = {"f": 1.5, "i": 10**15, "b": True, "n": None, "s": "ü", "l": [1, {"x": []}], "e": {}}
    created = make_pause(team, context=context)
    assert agent.get(f"/api/pause/{created['watchId']}").json()["context"] == context


def test_cancel_then_get_shows_cancelled_by_the_key(agent, team, make_pause):
    created = make_pause(team)
    cancelled = agent.post(f"/api/pause/{created['watchId']}/cancel", {"reason": "not needed"})
    assert cancelled.status == 200
    pause = agent.get(f"/api/pause/{created['watchId']}").json()
    assert pause["status"] == "cancelled"
    assert pause["decision"]["outcome"] == "cancelled"
    assert pause["decision"]["by"] == "default"
    assert pause["decision"]["channel"] == "api"
    assert pause["decision"]["comment"] == "not needed"
    assert pause["decidedAt"] == pause["decision"]["at"]


def test_a_second_cancel_answers_410_with_the_pause(agent, team, make_pause):
    created = make_pause(team)
    agent.post(f"/api/pause/{created['watchId']}/cancel")
    again = agent.post(f"/api/pause/{created['watchId']}/cancel")
    assert again.status == 410
    error = again.json()["error"]
    assert error["code"] == "pause_cancelled"
    assert error["details"]["pause"]["status"] == "cancelled"


def test_approve_is_refused_for_api_keys(agent, team, make_pause):
    created = make_pause(team)
    refused = agent.post(f"/api/pause/{created['watchId']}/approve", {"decision": "approved"})
    assert refused.status == 401
    assert refused.json()["error"]["code"] == "dashboard_session_required"
    assert agent.get(f"/api/pause/{created['watchId']}").json()["status"] == "pending"


def test_audit_lists_newest_first_and_by_pause(agent, team, make_pause):
    first = make_pause(team)
    second = make_pause(team)
    agent.post(f"/api/pause/{first['watchId']}/cancel")
    entries = [e for e in agent.get("/api/audit").json()["items"] if e["type"].startswith("pause.")]
    assert [(e["type"], e["watchId"]) for e in entries] == [
        ("pause.cancelled", first["watchId"]),
        ("pause.created", second["watchId"]),
        ("pause.created", first["watchId"]),
    ]
    only_first = agent.get("/api/audit", query={"watchId": first["watchId"]}).json()["items"]
    assert [e["type"] for e in only_first] == ["pause.cancelled", "pause.created"]
    assert "tenantId" not in only_first[0]


def test_openapi_document_needs_no_key(api):
    document = api.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/api/pause", "/api/pause/{watchId}", "/api/pause/{watchId}/cancel", "/api/audit"} <= set(document["paths"])


def test_created_and_cancelled_events_reach_the_bus(agent, cloud, team, make_pause):
    created = make_pause(team)
    agent.post(f"/api/pause/{created['watchId']}/cancel")
    events = cloud.events()
    assert [e["detail-type"] for e in events] == ["pause.created", "pause.cancelled"]
    detail = events[0]["detail"]
    assert events[0]["source"] == "hitl"
    assert detail["version"] == 1 and detail["type"] == "pause.created"
    assert detail["tenantId"] == team["tenantId"]
    assert detail["data"]["watchId"] == created["watchId"]
    assert "context" not in detail["data"]
    assert detail["eventId"] != events[1]["detail"]["eventId"]


def test_an_event_is_marked_sent_once_published(agent, cloud, team, make_pause):
    created = make_pause(team)
    stored = cloud.store.table.query(
        key_condition="pk = :pk AND begins_with(sk, :e)", pk=f"P#{created['watchId']}", e="E#"
    ).items
    assert len(stored) == 1
    assert stored[0]["sent"] is True
    assert "duePk" not in stored[0]


# --- errors -----------------------------------------------------------------------------


def test_no_key_is_401(api):
    response = api.post("/api/pause", {"action": "x"})
    assert response.status == 401
    assert response.json()["error"]["code"] == "missing_api_key"


def test_a_wrong_key_is_401_even_with_a_bad_body(api):
    response = api.post("/api/pause", {"nothing": True}, key=ids.new_api_key())
    assert response.status == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_revoked_key_is_refused(api, team, admin, monkeypatch):
    monkeypatch.setenv("HITL_KEY_CACHE_SECONDS", "0")
    from hitl import runtime

    runtime.reset()
    assert api.get("/api/pause", key=team["apiKey"]).status == 200
    admin.revoke_key(team["keyId"])
    response = api.get("/api/pause", key=team["apiKey"])
    assert response.status == 401


def test_malformed_json_is_400(agent):
    response = agent.post("/api/pause", raw=b'{"action": ')
    assert response.status == 400
    assert response.json() == {"error": {"code": "malformed_json", "message": "The request body is not valid JSON."}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "action"),
        ({"action": ""}, "action"),
        ({"action": "   "}, "action"),
        ({"action": "x" * 2001}, "action"),
        ({"action": "x", "context": [1]}, "context"),
        ({"action": "x", "timeoutSeconds": 0}, "timeoutSeconds"),
        ({"action": "x", "timeoutSeconds": 30 * 86400 + 1}, "timeoutSeconds"),
        ({"action": "x", "metadata": {str(i): "v" for i in range(21)}}, "metadata"),
        ({"action": "x", "metadata": {"k": "v" * 201}}, "metadata.k"),
        ({"action": "x", "requestedBy": "r" * 201}, "requestedBy"),
        ({"action": "x", "surprise": 1}, "surprise"),
    ],
)
def test_schema_errors_are_422_naming_the_field(agent, body, field):
    response = agent.post("/api/pause", body)
    assert response.status == 422, response.body
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(e["field"].startswith(field) for e in error["details"]["errors"]), error


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "https://169.254.169.254/latest", "https://[::1]/x", "ftp://a.example/x"]
)
def test_an_unsafe_callback_url_is_422_and_nothing_is_written(agent, url):
    response = agent.post("/api/pause", {"action": "x", "callbackUrl": url})
    assert response.status == 422
    assert response.json()["error"]["code"] in ("unsafe_url", "validation_error")
    assert agent.get("/api/pause").json()["items"] == []


def test_a_context_over_64_kib_is_413_and_nothing_is_written(agent):
    response = agent.post("/api/pause", {"action": "x", "context": {"blob": "x" * (64 * 1024)}})
    assert response.status == 413
    assert response.json()["error"]["code"] == "context_too_large"
    assert agent.get("/api/pause").json()["items"] == []


def test_unknown_route_is_our_404_and_wrong_method_our_405(agent):
    missing = agent.get("/api/nothing-here")
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "route_not_found"
    wrong = agent.call("DELETE", "/api/pause")
    assert wrong.status == 405
    assert wrong.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("query", "status"),
    [({"wait": "soon"}, 400), ({"wait": "26"}, 422), ({"wait": "-1"}, 422)],
)
def test_a_bad_wait_is_refused(agent, query, status, team, make_pause):
    created = make_pause(team)
    response = agent.get(f"/api/pause/{created['watchId']}", query=query)
    assert response.status == status
    assert response.json()["error"]["code"] == ("invalid_query" if status == 400 else "validation_error")


def test_a_missing_pause_is_404(agent):
    response = agent.get("/api/pause/w_doesnotexist")
    assert response.status == 404
    assert response.json()["error"]["code"] == "pause_not_found"


def test_another_tenants_pause_is_exactly_like_a_missing_one(api, make_tenant, make_pause):
    owner, other = make_tenant(), make_tenant()
    watch_id = make_pause(owner)["watchId"]
    intruder = api.as_tenant(other["apiKey"])
    for response, missing in [
        (intruder.get(f"/api/pause/{watch_id}"), intruder.get("/api/pause/w_missing")),
        (intruder.get(f"/api/pause/{watch_id}", query={"wait": "1"}), intruder.get("/api/pause/w_missing")),
        (intruder.post(f"/api/pause/{watch_id}/cancel"), intruder.post("/api/pause/w_missing/cancel")),
        (
            intruder.get("/api/audit", query={"watchId": watch_id}),
            intruder.get("/api/audit", query={"watchId": "w_missing"}),
        ),
    ]:
        assert response.status == missing.status == 404
        assert json.loads(response.body.replace(watch_id.encode(), b"w_missing")) == missing.json()
    assert intruder.get("/api/pause").json()["items"] == []
    assert [e for e in intruder.get("/api/audit").json()["items"] if e["type"].startswith("pause.")] == []
    assert api.as_tenant(owner["apiKey"]).get(f"/api/pause/{watch_id}").json()["status"] == "pending"
