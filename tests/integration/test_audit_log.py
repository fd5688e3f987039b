"""The audit log through the real handlers, repositories and admin CLI, under moto: team events
and pause entries in the ``auditLog`` index, plan rules and ``?type=`` on ``GET /api/audit``,
the export, and ``hitl-admin verify-audit`` on the table and on an exported file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hitl import runtime, timeutil, wiring
from hitl.adapters import keys
from hitl.adapters.audit_repository import DynamoAudit
from hitl.adapters.table import from_item, to_item
from hitl.domain import team_events
from hitl.domain.audit_log import GENESIS, AuditLog, ChainHead
from hitl.domain.ports import TransactionRefused
from hitl_admin import cli


def create(api, key: str, action: str = "Deploy") -> str:
    created = api.post("/api/pause", {"action": action}, key=key)
    assert created.status == 201, created.body
    return str(created.json()["watchId"])


def key_created(tenant_id: str, name: str = "ci") -> dict[str, Any]:
    entry = runtime.services().audit.record_team_event(
        tenant_id,
        team_events.KEY_CREATED,
        actor="owner@x.test",
        channel="dashboard",
        ip="198.51.100.7",
        details={"name": name},
    )
    return entry.to_json()


@pytest.fixture
def admin_cli(cloud, monkeypatch, capsys):
    monkeypatch.setattr(cli, "connect", lambda args: cloud.store)

    def run(*args: str) -> tuple[int, Any]:
        capsys.readouterr()
        status = cli.main(["--table", "x", *args])
        out, _ = capsys.readouterr()
        return status, (json.loads(out) if out else None)

    return run


#: what making a tenant records (``make_tenant``: the team, then its first member)
MADE = ["team.created", "team.member_added", "team.key_created"]


def audit_items(cloud, watch_id: str) -> list[dict[str, Any]]:
    answer = cloud.client("dynamodb").query(
        TableName=cloud.names.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
        ExpressionAttributeValues=to_item({":pk": keys.pause_pk(watch_id), ":a": keys.AUDIT_PREFIX}),
    )
    return [from_item(i) for i in answer["Items"]]


# --- the API ----------------------------------------------------------------------------------


def test_pro_sees_pause_and_team_events_with_their_chain(api, make_tenant):
    tenant = make_tenant(plan="pro")
    key = tenant["apiKey"]
    watch_id = create(api, key)
    assert api.post(f"/api/pause/{watch_id}/cancel", key=key).status == 200
    key_created(tenant["tenantId"])

    entries = api.get("/api/audit", key=key).json()["items"][:3]  # the tenant's making is older
    assert [e["type"] for e in entries] == ["team.key_created", "pause.cancelled", "pause.created"]
    team, cancelled, created = entries
    assert "watchId" not in team
    assert (team["actor"], team["channel"], team["ip"]) == ("owner@x.test", "dashboard", "198.51.100.7")
    made = api.get("/api/audit", query={"type": "team.key_created"}, key=key).json()["items"][1]
    assert team["prevHash"] == made["hash"]  # the team's chain began when the tenant was made
    assert created["prevHash"] == GENESIS and cancelled["prevHash"] == created["hash"]
    assert api.get(f"/api/pause/{watch_id}", key=key).json().keys().isdisjoint({"auditHash"})


def test_the_type_filter_and_a_team_type_on_a_lower_plan(api, make_tenant):
    pro = make_tenant(plan="pro")
    create(api, pro["apiKey"])
    key_created(pro["tenantId"])
    only = api.get("/api/audit", query={"type": "team.key_created"}, key=pro["apiKey"]).json()["items"]
    assert [e["type"] for e in only] == ["team.key_created"] * 2  # the tenant's first key, and this one
    assert api.get("/api/audit", query={"type": "pause.approved"}, key=pro["apiKey"]).json()["items"] == []

    free = make_tenant(plan="free")
    create(api, free["apiKey"])
    key_created(free["tenantId"])
    assert [e["type"] for e in api.get("/api/audit", key=free["apiKey"]).json()["items"]] == ["pause.created"]
    refused = api.get("/api/audit", query={"type": "team.key_created"}, key=free["apiKey"])
    assert refused.status == 402
    assert refused.json()["error"]["code"] == "plan_required"
    assert "Pro plan" in refused.json()["error"]["message"]
    malformed = api.get("/api/audit", query={"type": "approved"}, key=free["apiKey"])
    assert malformed.status == 422


def test_cursor_paging_over_the_index_shows_each_entry_once(api, make_tenant):
    tenant = make_tenant(plan="starter")
    for n in range(3):
        create(api, tenant["apiKey"], f"step {n}")
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 2}
    while True:
        page = api.get("/api/audit", query=query, key=tenant["apiKey"]).json()
        seen += [e["auditId"] for e in page["items"]]
        if not page["nextCursor"]:
            break
        query = {"limit": 2, "cursor": page["nextCursor"]}
    assert len(seen) == len(set(seen)) == 3
    other = make_tenant(plan="starter")
    first = api.get("/api/audit", query={"limit": 1}, key=tenant["apiKey"]).json()["nextCursor"]
    stolen = api.get("/api/audit", query={"cursor": first}, key=other["apiKey"])
    assert stolen.status == 400 and stolen.json()["error"]["code"] == "invalid_cursor"


# --- the repository ---------------------------------------------------------------------------


def test_team_entries_and_their_chain_head_are_stored_together(cloud, make_tenant):
    tenant_id = make_tenant()["tenantId"]
    first = key_created(tenant_id, "one")
    second = key_created(tenant_id, "two")
    store = DynamoAudit(cloud.store.table)
    head = store.team_chain_head(tenant_id)
    assert head is not None and head.hash == second["hash"]
    assert [e.hash for e in store.team_entries(tenant_id)][-2:] == [first["hash"], second["hash"]]
    assert second["prevHash"] == first["hash"]
    # an append against a head that moved on is refused, and nothing is written
    stale = store.team_entries(tenant_id)[0].model_copy(update={"auditId": "aud_stale"})
    with pytest.raises(TransactionRefused) as refused:
        store.append_team_entry(stale, ChainHead(first["hash"]))
    assert refused.value.reasons == ["chainHead"]
    assert [e.type for e in store.team_entries(tenant_id)] == [*MADE, "team.key_created", "team.key_created"]
    # stored with its TTL: a year after it happened
    item = cloud.store.table.get(keys.team_audit(tenant_id, second["at"], second["auditId"]))
    assert item is not None
    assert item[wiring.TTL_ATTRIBUTE] == timeutil.epoch(timeutil.parse(second["at"])) + 365 * 86400


def test_the_export_streams_the_whole_log_oldest_first_and_checks_out(api, make_tenant, admin_cli, tmp_path):
    tenant = make_tenant(plan="pro")
    for n in range(3):
        create(api, tenant["apiKey"], f"step {n}")
    key_created(tenant["tenantId"])
    log: AuditLog = runtime.services().audit
    lines = list(log.export(tenant["tenantId"], "pro", "jsonl"))
    assert [json.loads(line).get("type") for line in lines[:-1]] == [
        *MADE,
        *["pause.created"] * 3,
        "team.key_created",
    ]
    exported = tmp_path / "export.jsonl"
    exported.write_text("".join(lines))
    status, report = admin_cli("verify-audit", "--file", str(exported))
    assert (status, report["ok"], report["entries"]) == (0, True, 7)


# --- hitl-admin verify-audit ----------------------------------------------------------------------


def test_verify_audit_reports_an_intact_log(api, make_tenant, admin_cli):
    tenant = make_tenant(plan="pro")
    watch_id = create(api, tenant["apiKey"])
    api.post(f"/api/pause/{watch_id}/cancel", key=tenant["apiKey"])
    key_created(tenant["tenantId"])
    status, report = admin_cli("verify-audit", tenant["name"])
    assert status == 0
    assert report == {
        "tenantId": tenant["tenantId"],
        "entries": 6,  # the tenant's making (team.created, team.member_added, team.key_created) too
        "ok": True,
        "chains": 2,
        "intact": 2,
        "unchained": 0,
        "broken": [],
    }


def test_verify_audit_finds_an_edited_entry_and_a_deleted_one(cloud, api, make_tenant, admin_cli):
    tenant = make_tenant(plan="pro")
    edited, deleted = create(api, tenant["apiKey"]), create(api, tenant["apiKey"])
    for watch_id in (edited, deleted):
        api.post(f"/api/pause/{watch_id}/cancel", key=tenant["apiKey"])
    dynamodb = cloud.client("dynamodb")
    created = next(i for i in audit_items(cloud, edited) if i["type"] == "pause.created")
    dynamodb.update_item(
        TableName=cloud.names.table,
        Key=to_item({"pk": created["pk"], "sk": created["sk"]}),
        UpdateExpression="SET actor = :who",
        ExpressionAttributeValues=to_item({":who": "someone-else"}),
    )
    newest = next(i for i in audit_items(cloud, deleted) if i["type"] == "pause.cancelled")
    dynamodb.delete_item(TableName=cloud.names.table, Key=to_item({"pk": newest["pk"], "sk": newest["sk"]}))

    status, report = admin_cli("verify-audit", tenant["tenantId"])
    assert status == 1
    problems = {b["chain"]: b["problems"] for b in report["broken"]}
    assert problems[edited] == [
        f"pause.created {created['auditId']} at {created['at']} was edited: its content does not match its hash"
    ]
    assert problems[deleted][0].startswith("the newest entries are missing: the head names an entry after")


def test_verify_audit_of_an_edited_export_file_fails(cloud, api, make_tenant, admin_cli, tmp_path):
    tenant = make_tenant(plan="pro")
    create(api, tenant["apiKey"])
    key_created(tenant["tenantId"])
    lines = list(runtime.services().audit.export(tenant["tenantId"], "pro", "jsonl"))
    exported = tmp_path / "export.jsonl"
    exported.write_text("".join(lines).replace("198.51.100.7", "192.0.2.1"))
    status, report = admin_cli("verify-audit", "--file", str(exported))
    assert status == 1
    assert report["broken"][0]["chain"] == "team"
    assert "the summary's sha256 does not match the lines before it" in report["problems"]
