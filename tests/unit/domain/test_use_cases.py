"""The pause use cases on in-memory fakes of their ports: fast, no sockets, no moto."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hitl import ids, timeutil
from hitl.domain.audit_log import AuditLog
from hitl.domain.auth import Authenticator, Principal
from hitl.domain.errors import BadRequest, Conflict, Gone, NotFound, QuotaExceeded, TooManyWaits, Unprocessable
from hitl.domain.models import ApiKeyRecord, Approver, PolicyFloor, Tenant
from hitl.domain.ports import LinkToken
from hitl.domain.requests import CreatePauseRequest
from hitl.domain.service import PauseService
from tests.fakes import Clock, MemoryPublisher, MemoryStore

#: the service's clock starts now: claims and quota counters compare with the real time, as in AWS
START = timeutil.now().replace(microsecond=0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def service(store: MemoryStore, publisher: MemoryPublisher, clock: Clock) -> PauseService:
    return PauseService(store, publisher, "https://hitl.example.test/", clock=clock, sleep=lambda _: None)


def team(
    store: MemoryStore, plan: str = "pro", approvers: tuple[str, ...] = ("a@x.test",), name: str = "acme"
) -> Principal:
    tenant_id = f"t_{name}"
    store.tenants.tenants[tenant_id] = Tenant(tenantId=tenant_id, name=name, plan=plan, createdAt=timeutil.iso(START))  # type: ignore[arg-type]
    for email in approvers:
        add_approver(store, tenant_id, email)
    key = ApiKeyRecord(
        keyId=f"key_{name}", tenantId=tenant_id, name="agent", last4="abcd", createdAt=timeutil.iso(START)
    )
    return Principal(tenant_id=tenant_id, key=key)


def add_approver(store: MemoryStore, tenant_id: str, email: str) -> None:
    store.tenants.approver_records[(tenant_id, email)] = Approver(
        tenantId=tenant_id, email=email, status="confirmed", createdAt=timeutil.iso(START)
    )


def ask(**fields: Any) -> CreatePauseRequest:
    return CreatePauseRequest.model_validate({"action": "Deploy", **fields})


# --- create ------------------------------------------------------------------------------


def test_create_writes_the_pause_and_publishes_pause_created(service, store, publisher):
    who = team(store)
    created = service.create(who, ask(context={"env": "prod"}), None)
    assert not created.replayed
    view = service.view(who, created.pause.watchId)
    assert (view["status"], view["context"], view["policy"]["approvers"]) == ("pending", {"env": "prod"}, ["a@x.test"])
    assert [e.type for e in publisher.published] == ["pause.created"]
    assert service.created_view(created.pause)["statusUrl"] == f"https://hitl.example.test/api/pause/{view['watchId']}"


def test_an_approver_added_after_a_create_can_be_named_by_the_next_one(service, store):
    # Given a key that has been used (a warm function would have cached it)
    who = team(store)
    service.create(who, ask(), None)
    # When the operator adds an approver, Then the very next create may name them
    with pytest.raises(Unprocessable) as unknown:
        service.create(who, ask(approvers=["b@x.test"]), None)
    assert unknown.value.code == "unknown_approver"
    add_approver(store, who.tenant_id, "b@x.test")
    assert service.create(who, ask(approvers=["b@x.test"]), None).pause.policy.approvers == ["b@x.test"]


def test_a_changed_floor_counts_at_the_next_create(service, store):
    who = team(store, approvers=("a@x.test", "b@x.test"))
    tenant = store.tenants.tenants[who.tenant_id]
    store.tenants.tenants[who.tenant_id] = tenant.model_copy(update={"floor": PolicyFloor(minRequiredApprovals=2)})
    with pytest.raises(Unprocessable) as refused:
        service.create(who, ask(), None)
    assert refused.value.code == "policy_violation"
    store.tenants.tenants[who.tenant_id] = tenant
    assert service.create(who, ask(), None).pause.status == "pending"


def test_a_create_reads_the_tenant_once(service, store):
    who = team(store)
    store.tenants.reads = 0
    service.create(who, ask(), None)
    assert store.tenants.reads == 1


def test_the_pause_carries_its_plans_retention(service, store):
    who = team(store, plan="starter")
    assert service.create(who, ask(), None).pause.retentionDays == 90


def test_over_quota_is_refused_and_writes_nothing(service, store, publisher):
    who = team(store, plan="free")
    for _ in range(50):
        service.create(who, ask(), None)
    before = (len(store.pauses.heads), len(publisher.published))
    with pytest.raises(QuotaExceeded) as refused:
        service.create(who, ask(), None)
    assert refused.value.details == {"plan": "free", "limit": 50}
    assert (len(store.pauses.heads), len(publisher.published)) == before


def test_an_idempotency_key_replays_the_same_pause_and_refuses_another_body(service, store):
    who = team(store)
    first = service.create(who, ask(), "retry-1")
    again = service.create(who, ask(), "retry-1")
    assert again.replayed and again.pause.watchId == first.pause.watchId
    with pytest.raises(Conflict) as other:
        service.create(who, ask(action="Something else"), "retry-1")
    assert other.value.code == "idempotency_conflict"
    assert len(store.pauses.heads) == 1


def test_no_confirmed_approver_is_refused(service, store):
    with pytest.raises(Unprocessable) as refused:
        service.create(team(store, approvers=()), ask(), None)
    assert refused.value.code == "no_approvers"


# --- read and wait ----------------------------------------------------------------------------


def test_another_tenants_pause_is_not_found(service, store):
    mine = service.create(team(store), ask(), None).pause.watchId
    with pytest.raises(NotFound):
        service.view(team(store, name="other"), mine)


def test_a_pending_pause_past_its_expiry_reads_expired(service, store, clock):
    who = team(store)
    watch_id = service.create(who, ask(timeoutSeconds=60), None).pause.watchId
    clock.now = START + timedelta(seconds=61)
    view = service.view(who, watch_id)
    assert (view["status"], view["decidedAt"], view["decision"]["by"]) == ("expired", view["expiresAt"], "timeout")


def test_a_wait_returns_once_decided(service, store):
    who = team(store)
    watch_id = service.create(who, ask(), None).pause.watchId
    sleeps = []

    def decide_while_waiting(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            service.decide(watch_id, "a@x.test", "approved", None, "email")

    service.sleep = decide_while_waiting
    assert service.wait(who, watch_id, 25)["status"] == "approved"
    assert len(sleeps) == 2
    assert store.waits.leases[who.tenant_id] == {}  # the slot is given back


def test_waits_beyond_the_plans_cap_are_refused(service, store):
    who = team(store, plan="free")
    watch_id = service.create(who, ask(), None).pause.watchId
    now = timeutil.epoch(START)
    for n in range(5):
        assert store.waits.acquire(who.tenant_id, f"w{n}", 5, now + 30, now)
    with pytest.raises(TooManyWaits):
        service.wait(who, watch_id, 10)


# --- lists ------------------------------------------------------------------------------------------


def test_cursor_paging_shows_each_pause_once_newest_first(service, store, clock):
    who = team(store)
    made = []
    for n in range(7):
        clock.now = START + timedelta(seconds=n)
        made.append(service.create(who, ask(action=f"a{n}"), None).pause.watchId)
    seen, cursor = [], None
    while True:
        page = service.list_pauses(who, None, 3, 0, cursor)
        seen += [p["watchId"] for p in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


def test_a_cursor_is_valid_for_its_own_list_only(service, store):
    who = team(store)
    for _ in range(3):
        service.create(who, ask(), None)
    cursor = service.list_pauses(who, None, 1, 0, None)["nextCursor"]
    with pytest.raises(BadRequest) as wrong:
        service.list_pauses(team(store, name="other"), None, 1, 0, cursor)
    assert wrong.value.code == "invalid_cursor"
    with pytest.raises(BadRequest):
        service.list_pauses(who, "pending", 1, 0, cursor)


def test_the_status_filter_agrees_with_read_time_expiry(service, store, clock):
    who = team(store)
    service.create(who, ask(timeoutSeconds=60), None)
    clock.now = START + timedelta(minutes=2)
    assert [p["status"] for p in service.list_pauses(who, "expired", 10, 0, None)["items"]] == ["expired"]
    assert service.list_pauses(who, "pending", 10, 0, None)["items"] == []


def test_the_audit_of_a_pause_lists_its_transitions(service, store, clock):
    who = team(store)
    watch_id = service.create(who, ask(), None).pause.watchId
    clock.now += timedelta(seconds=1)
    service.cancel(who, watch_id, "not needed")
    log = AuditLog(store.audit, store.pauses, store.tenants, clock=clock)
    entries = log.api_page(who.tenant_id, watch_id=watch_id, type_=None, limit=10, offset=0, cursor_text=None)["items"]
    assert [e["type"] for e in entries] == ["pause.cancelled", "pause.created"]
    assert "tenantId" not in entries[0]


# --- transitions --------------------------------------------------------------------------------


def test_a_second_cancel_is_gone_with_the_pause(service, store):
    who = team(store)
    watch_id = service.create(who, ask(), None).pause.watchId
    assert service.cancel(who, watch_id, None)["status"] == "cancelled"
    with pytest.raises(Gone) as again:
        service.cancel(who, watch_id, None)
    assert again.value.code == "pause_cancelled"
    assert again.value.details["pause"]["status"] == "cancelled"


def test_a_link_decides_once_reading_the_token_and_the_pause_once(service, store, monkeypatch):
    who = team(store)
    head = service.create(who, ask(), None).pause
    token = ids.new_link_token()
    store.tokens.put_token(
        ids.sha256_hex(token),
        LinkToken(watchId=head.watchId, tenantId=head.tenantId, approver="a@x.test", expiresAt=head.expiresAt),
    )
    reads: list[str] = []
    for name in ("get", "get_head"):
        real = getattr(store.pauses, name)
        monkeypatch.setattr(store.pauses, name, lambda w, real=real, name=name: reads.append(name) or real(w))
    decided = service.decide_by_link(token, "approved", "ship it")
    assert (decided.status, decided.decision.by, decided.decision.channel) == ("approved", "a@x.test", "email")
    assert reads == ["get"]
    with pytest.raises(Gone) as used:
        service.decide_by_link(token, "rejected", None)
    assert used.value.code == "link_used"


def test_nothing_decides_after_the_expiry(service, store, clock):
    who = team(store)
    watch_id = service.create(who, ask(timeoutSeconds=60), None).pause.watchId
    clock.now = START + timedelta(seconds=60)
    with pytest.raises(Gone) as late:
        service.decide(watch_id, "a@x.test", "approved", None, "email")
    assert late.value.code == "pause_expired"


def test_a_failed_notification_is_recorded_once(service, store, publisher):
    who = team(store)
    watch_id = service.create(who, ask(), None).pause.watchId
    assert service.record_notification_failure(watch_id, "a@x.test")
    assert not service.record_notification_failure(watch_id, "a@x.test")
    assert service.view(who, watch_id)["notifications"] == [{"to": "a@x.test", "channel": "email", "status": "failed"}]
    assert [e.type for e in publisher.published].count("pause.notification_failed") == 1


# --- the sweeper ------------------------------------------------------------------------------------


def test_the_sweeper_expires_reminds_and_republishes(service, store, publisher, clock):
    who = team(store)
    publisher.fail = True
    lost = service.create(who, ask(timeoutSeconds=120), None).pause.watchId
    publisher.fail = False
    reminded = service.create(who, ask(timeoutSeconds=3600, remindAfterSeconds=60), None).pause.watchId
    clock.now = START + timedelta(seconds=121)
    assert service.sweep() == {"expired": 1, "republished": 1, "reminded": 1}
    assert store.pauses.heads[lost].status == "expired"
    assert store.pauses.heads[reminded].reminded
    assert service.sweep() == {"expired": 0, "republished": 0, "reminded": 0}


# --- who is calling --------------------------------------------------------------------------------------


def test_a_key_lookup_is_cached_for_its_time_and_a_revocation_then_counts(store):
    team(store)
    key = ids.new_api_key()
    record = ApiKeyRecord(keyId="key_1", tenantId="t_acme", name="agent", last4=key[-4:], createdAt=timeutil.iso(START))
    store.tenants.keys[ids.sha256_hex(key)] = record
    ticks = [0.0]
    auth = Authenticator(store.tenants, cache_seconds=60, clock=lambda: ticks[0])
    assert auth.authenticate(f"Bearer {key}").tenant_id == "t_acme"
    store.tenants.keys[ids.sha256_hex(key)] = record.model_copy(update={"revoked": True})
    assert auth.authenticate(f"Bearer {key}").tenant_id == "t_acme"  # cached: within the documented minute
    ticks[0] = 61
    with pytest.raises(Exception) as refused:
        auth.authenticate(f"Bearer {key}")
    assert getattr(refused.value, "code", None) == "invalid_api_key"


def test_by_default_every_request_reads_its_key_so_a_revocation_counts_at_the_next_one(store):
    team(store)
    key = ids.new_api_key()
    record = ApiKeyRecord(keyId="key_2", tenantId="t_acme", name="agent", last4=key[-4:], createdAt=timeutil.iso(START))
    store.tenants.keys[ids.sha256_hex(key)] = record
    auth = Authenticator(store.tenants, clock=lambda: 0.0)  # the clock never moves: no cache could expire
    assert auth.authenticate(f"Bearer {key}").tenant_id == "t_acme"
    store.tenants.keys[ids.sha256_hex(key)] = record.model_copy(update={"revoked": True})
    with pytest.raises(Exception) as refused:
        auth.authenticate(f"Bearer {key}")
    assert getattr(refused.value, "code", None) == "invalid_api_key"
