"""The audit log on the dashboard: what each plan shows, and the owners' export (Pro only)."""

from __future__ import annotations

import json

from hitl.domain.audit_log import verify_export
from tests import people
from tests.client import Browser, Client

OWNER = "owner@example.com"


def signed_in(api: Client, cloud, email: str = OWNER) -> Browser:
    return people.sign_in(Browser(api), cloud.sent_emails, email)


def test_pro_shows_pause_and_team_events_and_exports_an_intact_log(api, cloud, make_tenant):
    team = make_tenant(plan="pro", approvers=[OWNER], name="Pro team")
    agent = api.as_tenant(team["apiKey"])
    watch_id = agent.post("/api/pause", {"action": "Deploy", "context": {}}).json()["watchId"]
    agent.post(f"/api/pause/{watch_id}/cancel")
    owner = signed_in(api, cloud)
    page = owner.get("/app/audit")
    assert page.status == 200 and "pause.created" in page.text and "team.signed_in" in page.text
    only = owner.get("/app/audit?type=team.signed_in")
    assert "team.signed_in" in only.text and "pause.created</td>" not in only.text
    exported = owner.get("/app/audit/export?format=jsonl")
    assert exported.status == 200 and exported.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in exported.headers["content-disposition"]
    lines = exported.text.splitlines(keepends=True)
    types = [json.loads(line).get("type") for line in lines[:-1]]
    assert {"pause.created", "pause.cancelled", "team.signed_in"} <= set(types)
    assert verify_export(lines)["ok"] is True
    edited = [line.replace('"pause.created"', '"pause.approved"') for line in lines]
    assert edited != lines and verify_export(edited)["ok"] is False
    assert verify_export([line for line in lines if '"pause.cancelled"' not in line])["ok"] is False
    csv = owner.get("/app/audit/export?format=csv")
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "auditId" in csv.text.splitlines()[0] and len(csv.text.splitlines()) == len(lines)


def test_free_shows_pause_events_only_and_refuses_the_export(api, cloud, make_tenant):
    team = make_tenant(plan="free", approvers=[OWNER], name="Free team")
    api.post("/api/pause", {"action": "Deploy", "context": {}}, key=team["apiKey"])
    owner = signed_in(api, cloud)
    page = owner.get("/app/audit")
    assert "pause.created" in page.text and "team.signed_in" not in page.text
    assert "Export CSV" not in page.text and "shown on the Pro plan" in page.text
    refused = owner.get("/app/audit/export?format=csv")
    assert refused.status == 402 and "Pro plan" in refused.text
