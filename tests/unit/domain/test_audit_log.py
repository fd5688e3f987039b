"""The audit log on fakes: team events chained per tenant, pause entries chained per pause, what
each plan shows, the type filter, the export, and verification (edits, deletions, reordering,
retention)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hitl import timeutil
from hitl.domain import team_events
from hitl.domain.audit_log import (
    GENESIS,
    AuditLog,
    ChainHead,
    chained,
    entry_hash,
    verify_chain,
    verify_export,
)
from hitl.domain.auth import Principal
from hitl.domain.errors import BadRequest, PlanRequired
from hitl.domain.models import ApiKeyRecord, Approver, AuditEntry, Tenant
from hitl.domain.requests import CreatePauseRequest
from hitl.domain.service import PauseService
from tests.fakes import Clock, MemoryPublisher, MemoryStore

START = timeutil.now().replace(microsecond=0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def service(store: MemoryStore, clock: Clock) -> PauseService:
    return PauseService(store, MemoryPublisher(), "https://hitl.example.test/", clock=clock, sleep=lambda _: None)


@pytest.fixture
def log(store: MemoryStore, clock: Clock) -> AuditLog:
    return AuditLog(store.audit, store.pauses, store.tenants, clock=clock)


def team(store: MemoryStore, plan: str = "pro") -> Principal:
    tenant_id = f"t_{plan}"
    store.tenants.tenants[tenant_id] = Tenant(tenantId=tenant_id, name=plan, plan=plan, createdAt=timeutil.iso(START))  # type: ignore[arg-type]
    store.tenants.approver_records[(tenant_id, "a@x.test")] = Approver(
        tenantId=tenant_id, email="a@x.test", status="confirmed", createdAt=timeutil.iso(START)
    )
    key = ApiKeyRecord(keyId="key_1", tenantId=tenant_id, name="agent", last4="abcd", createdAt=timeutil.iso(START))
    return Principal(tenant_id=tenant_id, key=key)


def decided_pause(service: PauseService, who: Principal, clock: Clock) -> str:
    """A pause created, one second later approved: two chained entries."""
    watch_id = service.create(who, CreatePauseRequest(action="Deploy"), None).pause.watchId
    clock.now += timedelta(seconds=1)
    service.decide(watch_id, "a@x.test", "approved", "ok", "email")
    return watch_id


def key_created(log: AuditLog, tenant_id: str, clock: Clock, name: str = "ci") -> AuditEntry:
    clock.now += timedelta(seconds=1)
    return log.record_team_event(
        tenant_id,
        team_events.KEY_CREATED,
        actor="owner@x.test",
        channel="dashboard",
        ip="203.0.113.9",
        details={"name": name},
    )


def api(log: AuditLog, tenant_id: str, **query: object) -> dict:
    asked = {"watch_id": None, "type_": None, "limit": 50, "offset": 0, "cursor_text": None, **query}
    return log.api_page(tenant_id, **asked)  # type: ignore[arg-type]


# --- recording ------------------------------------------------------------------------------


def test_a_team_event_is_recorded_with_who_how_and_from_where_and_no_pause(store, log, clock):
    who = team(store)
    entry = key_created(log, who.tenant_id, clock)
    [shown] = api(log, who.tenant_id)["items"]
    assert shown["type"] == "team.key_created"
    assert (shown["actor"], shown["channel"], shown["ip"], shown["details"]) == (
        "owner@x.test",
        "dashboard",
        "203.0.113.9",
        {"name": "ci"},
    )
    assert "watchId" not in shown and "tenantId" not in shown
    assert shown["prevHash"] == GENESIS and shown["hash"] == entry.hash == entry_hash(entry)
    kept = timeutil.parse(shown["keepUntil"]) - timeutil.parse(shown["at"])
    assert kept == timedelta(days=365)


def test_team_events_chain_one_after_another_and_a_raced_append_is_retried(store, log, clock):
    who = team(store)
    first = key_created(log, who.tenant_id, clock, "one")
    # another function appends between our read of the head and our write
    raced = chained(first.model_copy(update={"auditId": "aud_raced", "at": timeutil.iso(clock.now)}), None)
    raced = chained(raced, store.audit.heads[who.tenant_id])
    store.audit.race.append(raced)
    third = key_created(log, who.tenant_id, clock, "three")
    assert third.prevHash == raced.hash
    assert log.verify(who.tenant_id)["ok"]


def test_recording_a_pause_type_as_a_team_event_is_a_programming_error(store, log):
    with pytest.raises(ValueError, match="not a team event"):
        log.record_team_event(team(store).tenant_id, "pause.approved", actor="x", channel="admin")


def test_a_pause_s_entries_are_chained_and_its_head_holds_the_newest_hash(store, service, clock):
    who = team(store)
    watch_id = decided_pause(service, who, clock)
    created, approved = sorted(store.pauses.audit_of_pause(watch_id), key=lambda e: e.at)
    assert created.prevHash == GENESIS
    assert approved.prevHash == created.hash
    assert store.pauses.heads[watch_id].auditHash == approved.hash
    assert approved.keepUntil == created.keepUntil == approved.prevKeepUntil


# --- what each plan shows -----------------------------------------------------------------------


@pytest.mark.parametrize(("plan", "days"), [("free", 30), ("starter", 90), ("pro", 365)])
def test_each_plan_shows_its_window_of_pause_events(store, service, log, clock, plan, days):
    who = team(store, plan)
    old = decided_pause(service, who, clock)
    clock.now += timedelta(days=days, seconds=-10)
    recent = decided_pause(service, who, clock)
    clock.now += timedelta(seconds=30)  # the old pause's entries are now older than the window
    shown = {e["watchId"] for e in api(log, who.tenant_id)["items"]}
    assert shown == {recent}
    assert old not in shown


@pytest.mark.parametrize("plan", ["free", "starter"])
def test_team_events_are_recorded_on_every_plan_and_shown_on_pro_only(store, service, log, clock, plan):
    who = team(store, plan)
    decided_pause(service, who, clock)
    key_created(log, who.tenant_id, clock)
    assert {e["type"] for e in api(log, who.tenant_id)["items"]} == {"pause.created", "pause.approved"}
    with pytest.raises(PlanRequired) as refused:
        api(log, who.tenant_id, type_="team.key_created")
    assert refused.value.code == "plan_required"
    assert refused.value.details == {"plan": plan, "requiredPlan": "pro"}
    # the event was recorded all along: on pro it shows
    store.tenants.tenants[who.tenant_id] = store.tenants.tenants[who.tenant_id].model_copy(update={"plan": "pro"})
    assert [e["type"] for e in api(log, who.tenant_id, type_="team.key_created")["items"]] == ["team.key_created"]


def test_pro_shows_pause_and_team_events_newest_first(store, service, log, clock):
    who = team(store)
    decided_pause(service, who, clock)
    key_created(log, who.tenant_id, clock)
    assert [e["type"] for e in api(log, who.tenant_id)["items"]] == [
        "team.key_created",
        "pause.approved",
        "pause.created",
    ]


def test_the_type_filter_is_exact(store, service, log, clock):
    who = team(store)
    decided_pause(service, who, clock)
    decided_pause(service, who, clock)
    key_created(log, who.tenant_id, clock)
    assert [e["type"] for e in api(log, who.tenant_id, type_="pause.approved")["items"]] == ["pause.approved"] * 2
    assert api(log, who.tenant_id, type_="pause.approve")["items"] == []


def test_the_dashboard_pages_with_a_signed_cursor_each_entry_once(store, service, log, clock):
    who = team(store)
    for _ in range(3):
        decided_pause(service, who, clock)
    seen: list[str] = []
    page = log.list_audit(who.tenant_id, "pro", limit=4)
    seen += [e.auditId for e in page.entries]
    assert page.next_cursor is not None
    page = log.list_audit(who.tenant_id, "pro", cursor=page.next_cursor, limit=4)
    seen += [e.auditId for e in page.entries]
    assert page.next_cursor is None
    assert len(seen) == len(set(seen)) == 6
    with pytest.raises(BadRequest) as refused:
        log.list_audit(who.tenant_id, "pro", type_="pause.created", cursor=page.next_cursor or "x.y")
    assert refused.value.code == "invalid_cursor"


def test_a_page_mostly_filtered_out_stops_reading_early_and_continues_from_a_cursor(store, service, log, clock):
    who = team(store, "free")
    decided_pause(service, who, clock)
    for _ in range(30):
        key_created(log, who.tenant_id, clock)
    store.audit.reads = 0
    page = log.list_audit(who.tenant_id, "free", limit=1)
    # limit 1 reads 2 entries a Query: 10 Queries see 20 team events, then the page ends early
    assert store.audit.reads == 10
    assert page.entries == [] and page.next_cursor is not None
    page = log.list_audit(who.tenant_id, "free", cursor=page.next_cursor, limit=1)
    assert [e.type for e in page.entries] == ["pause.approved"]


# --- export -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("plan", ["free", "starter"])
def test_export_is_for_pro_only(store, log, plan):
    who = team(store, plan)
    with pytest.raises(PlanRequired) as refused:
        log.export(who.tenant_id, plan, "jsonl")
    assert "Pro plan" in refused.value.message


def test_the_jsonl_export_is_oldest_first_with_hashes_and_a_summary_it_verifies_by(store, service, log, clock):
    who = team(store)
    decided_pause(service, who, clock)
    key_created(log, who.tenant_id, clock)
    lines = list(log.export(who.tenant_id, "pro", "jsonl"))
    entries = [json.loads(line) for line in lines[:-1]]
    assert [e["type"] for e in entries] == ["pause.created", "pause.approved", "team.key_created"]
    assert all(e["hash"] and e["prevHash"] for e in entries)
    assert json.loads(lines[-1])["summary"]["entries"] == 3
    assert verify_export(lines)["ok"]


def test_the_csv_export_has_a_header_and_one_row_per_entry(store, service, log, clock):
    who = team(store)
    decided_pause(service, who, clock)
    rows = list(log.export(who.tenant_id, "pro", "csv"))
    assert rows[0].startswith("auditId,at,type,watchId,actor,channel,ip,details")
    assert len(rows) == 3 and "pause.created" in rows[1]


def test_the_csv_export_defuses_spreadsheet_formulas(store, log, clock):
    who = team(store)
    log.record_team_event(who.tenant_id, team_events.MEMBER_INVITED, actor="=HYPERLINK(1)", channel="dashboard")
    assert ",'=HYPERLINK(1)," in list(log.export(who.tenant_id, "pro", "csv"))[1]


def test_an_unknown_export_format_is_refused(store, log):
    with pytest.raises(BadRequest):
        log.export(team(store).tenant_id, "pro", "xml")


# --- verification -----------------------------------------------------------------------------------


def chain_of(n: int, *, keep: str = "2099-01-01T00:00:00.000Z") -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        base = AuditEntry(
            auditId=f"aud_{i}",
            tenantId="t_1",
            watchId="w_1",
            type="pause.created" if i == 0 else "pause.approval_recorded",
            at=f"2026-12-01T09:00:0{i}.000Z",
            actor="a@x.test",
            channel="email",
            keepUntil=keep,
        )
        previous = entries[-1] if entries else None
        entries.append(chained(base, ChainHead(previous.hash, previous.keepUntil) if previous else None))
    return entries


NOW = "2026-12-02T00:00:00.000Z"


def head_of(entries: list[AuditEntry]):
    return ChainHead(entries[-1].hash, entries[-1].keepUntil)


def test_an_intact_chain_verifies():
    entries = chain_of(4)
    assert verify_chain("w_1", entries, head_of(entries), now=NOW).status == "intact"


def test_an_edited_entry_is_named():
    entries = chain_of(3)
    entries[1] = entries[1].model_copy(update={"actor": "mallory@x.test"})
    report = verify_chain("w_1", entries, head_of(entries), now=NOW)
    assert report.status == "broken"
    assert report.problems == (
        "pause.approval_recorded aud_1 at 2026-12-01T09:00:01.000Z was edited: its content does not match its hash",
    )


def test_a_deleted_entry_in_the_middle_is_a_gap():
    entries = chain_of(3)
    report = verify_chain("w_1", [entries[0], entries[2]], head_of(entries), now=NOW)
    assert report.status == "broken"
    assert report.problems == (
        "the chain is broken before pause.approval_recorded aud_2 at 2026-12-01T09:00:02.000Z: "
        "the entry before it is missing or altered",
    )


def test_a_deleted_newest_entry_is_seen_by_the_head():
    entries = chain_of(3)
    report = verify_chain("w_1", entries[:2], head_of(entries), now=NOW)
    assert report.problems == (
        "the newest entries are missing: the head names an entry after "
        "pause.approval_recorded aud_1 at 2026-12-01T09:00:01.000Z",
    )


def test_reordering_entries_is_detected_whether_or_not_their_hashes_are_recomputed():
    a, b, c = chain_of(3)
    # c moved before b: the links rewritten, the hashes not
    c_moved = c.model_copy(update={"prevHash": a.hash})
    b_moved = b.model_copy(update={"prevHash": c.hash})
    report = verify_chain("w_1", [a, b_moved, c_moved], head_of([a, b, c]), now=NOW)
    assert report.status == "broken" and any("was edited" in p for p in report.problems)
    # the hashes recomputed too: the head still names the old newest entry
    c_re = chained(c.model_copy(update={"prevHash": None, "hash": None}), head_of([a]))
    b_re = chained(b.model_copy(update={"prevHash": None, "hash": None}), head_of([c_re]))
    report = verify_chain("w_1", [a, c_re, b_re], head_of([a, b, c]), now=NOW)
    assert report.status == "broken" and any("newest entries are missing" in p for p in report.problems)


def test_the_stored_time_order_does_not_matter_only_the_links():
    a, b, c = chain_of(3)
    assert verify_chain("w_1", [c, a, b], head_of([a, b, c]), now=NOW).status == "intact"


def test_entries_dropped_by_retention_are_not_tampering():
    entries = chain_of(4, keep="2026-12-01T12:00:00.000Z")
    # TTL deletes in any order once keepUntil has passed: the oldest, one in the middle, the head
    report = verify_chain("w_1", [entries[1], entries[3]], None, now=NOW)
    assert report.status == "intact"
    # before keepUntil the same gaps are tampering
    report = verify_chain("w_1", [entries[1], entries[3]], None, now="2026-12-01T11:00:00.000Z")
    assert report.status == "broken"
    assert len(report.problems) == 3  # two gaps and the missing head


def test_a_tenant_s_log_verifies_and_an_edit_in_the_table_is_reported(store, service, log, clock):
    who = team(store)
    watch_id = decided_pause(service, who, clock)
    key_created(log, who.tenant_id, clock)
    assert log.verify(who.tenant_id) | {"broken": []} == {
        "tenantId": who.tenant_id,
        "entries": 3,
        "ok": True,
        "chains": 2,
        "intact": 2,
        "unchained": 0,
        "broken": [],
    }
    index = next(i for i, e in enumerate(store.pauses.audit) if e.watchId == watch_id and e.type == "pause.approved")
    store.pauses.audit[index] = store.pauses.audit[index].model_copy(update={"details": {"comment": "forged"}})
    report = log.verify(who.tenant_id)
    assert not report["ok"]
    assert [b["chain"] for b in report["broken"]] == [watch_id]


def test_an_export_file_with_an_edited_or_deleted_line_fails_its_check(store, service, log, clock):
    who = team(store)
    decided_pause(service, who, clock)
    decided_pause(service, who, clock)
    lines = list(log.export(who.tenant_id, "pro", "jsonl"))
    edited = [*lines]
    approved = next(i for i, line in enumerate(lines) if "pause.approved" in line)
    edited[approved] = lines[approved].replace("pause.approved", "pause.rejected")
    report = verify_export(edited)
    assert not report["ok"] and report["broken"][0]["problems"][0].endswith("does not match its hash")
    dropped = [lines[0], *lines[2:]]
    report = verify_export(dropped)
    assert not report["ok"]
    assert "the summary counts 4 entries; the file holds 3" in report["problems"]
    assert verify_export(lines[:-1])["problems"] == ["the summary line is missing: the file is cut short"]


def test_details_are_hashed_as_they_read_back_from_the_table(store, log):
    who = team(store)
    entry = log.record_team_event(
        who.tenant_id, team_events.POLICY_CHANGED, actor="o@x.test", channel="dashboard", details={"min": 2.0}
    )
    stored = entry.model_copy(update={"details": {"min": 2}})  # DynamoDB's number 2.0 reads back as 2
    assert entry_hash(stored) == entry.hash
