"""Atomicity, idempotency, quota, conflicts, paging, the sweeper and waits, under moto."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from hitl import ids, runtime, timeutil
from hitl.adapters import keys
from hitl.adapters.table import to_item
from hitl.domain import rules
from hitl.domain.models import Decision, PauseHead


def items_of(cloud):
    return cloud.items()


def pause_items(cloud):
    """Every stored item that belongs to a pause (head, body, audit, events) or a claim."""
    return [i for i in items_of(cloud) if i["pk"]["S"].startswith(("P#", "IDEM#"))]


@pytest.fixture
def free_tenant(make_tenant):
    return make_tenant(plan="free")


# --- quota ------------------------------------------------------------------------------


def test_the_51st_pause_of_a_free_month_is_402_and_writes_nothing(api, cloud, free_tenant, pause_request):
    key = free_tenant["apiKey"]
    for n in range(3):
        assert pause_request(free_tenant, action=f"a{n}").status == 201
    store = cloud.store
    month = timeutil.month_key(timeutil.now())
    assert store.tenants.quota_used(free_tenant["tenantId"], month) == 3
    # 47 more pauses were created this month (the e2e test makes all 50 for real)
    store.table.client.update_item(
        TableName=store.table.name,
        Key=to_item({"pk": f"T#{free_tenant['tenantId']}", "sk": f"QUOTA#{month}"}),
        UpdateExpression="SET used = :n",
        ExpressionAttributeValues={":n": {"N": "50"}},
    )
    cloud.events()  # drain
    before = pause_items(cloud)
    refused = pause_request(free_tenant, action="one too many", context={"x": 1})
    assert refused.status == 402
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"] == {"plan": "free", "limit": 50}
    assert pause_items(cloud) == before  # no head, body, audit entry or event
    assert cloud.events() == []
    assert len(api.get("/api/pause", query={"limit": "100"}, key=key).json()["items"]) == 3
    assert store.tenants.quota_used(free_tenant["tenantId"], month) == 50


def test_pro_tenants_keep_no_counter(api, cloud, make_tenant, pause_request):
    pro = make_tenant(plan="pro")
    assert pause_request(pro).status == 201
    counters = [i for i in items_of(cloud) if i["sk"]["S"].startswith("QUOTA#")]
    assert counters == []


def test_the_counter_is_per_calendar_month(api, cloud, free_tenant, pause_request):
    assert pause_request(free_tenant).status == 201
    month = timeutil.month_key(timeutil.now())
    assert cloud.store.tenants.quota_used(free_tenant["tenantId"], month) == 1


# --- idempotency --------------------------------------------------------------------------


def test_a_replay_returns_the_same_pause_once(api, cloud, free_tenant):
    key = free_tenant["apiKey"]
    headers = {"Idempotency-Key": "deploy-42"}
    first = api.post("/api/pause", {"action": "Deploy", "context": {"v": 1}}, key=key, headers=headers)
    again = api.post("/api/pause", {"context": {"v": 1}, "action": "Deploy"}, key=key, headers=headers)
    assert first.status == 201
    assert again.status == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["watchId"] == first.json()["watchId"]
    assert cloud.store.tenants.quota_used(free_tenant["tenantId"], timeutil.month_key(timeutil.now())) == 1
    assert len(api.get("/api/pause", key=key).json()["items"]) == 1


def test_the_same_key_with_another_body_is_409(api, free_tenant):
    key = free_tenant["apiKey"]
    headers = {"Idempotency-Key": "deploy-42"}
    api.post("/api/pause", {"action": "Deploy"}, key=key, headers=headers)
    other = api.post("/api/pause", {"action": "Delete everything"}, key=key, headers=headers)
    assert other.status == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert len(api.get("/api/pause", key=key).json()["items"]) == 1


def test_idempotency_keys_are_never_shared_between_tenants(api, make_tenant):
    one, two = make_tenant(), make_tenant()
    headers = {"Idempotency-Key": "same"}
    a = api.post("/api/pause", {"action": "Deploy"}, key=one["apiKey"], headers=headers)
    b = api.post("/api/pause", {"action": "Deploy"}, key=two["apiKey"], headers=headers)
    assert a.status == b.status == 201
    assert a.json()["watchId"] != b.json()["watchId"]


def test_an_overlong_idempotency_key_is_refused(api, free_tenant):
    response = api.post(
        "/api/pause", {"action": "x"}, key=free_tenant["apiKey"], headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status == 422


# --- transactions under conflict ----------------------------------------------------------------


class ConflictingClient:
    """Wraps the DynamoDB client; the first ``n`` transactions fail with TransactionConflict,
    as DynamoDB does on a hot item (moto never does)."""

    def __init__(self, real, n):
        self.real, self.left, self.calls = real, n, 0

    def transact_write_items(self, **kwargs):
        self.calls += 1
        if self.left:
            self.left -= 1
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * 5,
                },
                "TransactWriteItems",
            )
        return self.real.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_transaction_conflict_is_retried(api, cloud, free_tenant, pause_request):
    store = runtime.services().store
    store.table.client = ConflictingClient(store.table.client, 2)
    response = pause_request(free_tenant)
    assert response.status == 201
    assert store.table.client.calls == 3
    assert api.get(f"/api/pause/{response.json()['watchId']}", key=free_tenant["apiKey"]).json()["status"] == "pending"
    cancel = api.post(f"/api/pause/{response.json()['watchId']}/cancel", key=free_tenant["apiKey"])
    assert cancel.status == 200


# --- transitions ----------------------------------------------------------------------------------


def decide_directly(cloud, watch_id, outcome="approved"):
    """A human decision, written as the decide use case of a later step will."""
    services = runtime.services()
    head = services.store.pauses.get_head(watch_id)
    now = timeutil.now()
    new = head.model_copy(
        update={
            "status": outcome,
            "decidedAt": timeutil.iso(now),
            "version": head.version + 1,
            "decision": Decision(outcome=outcome, by="boss@example.com", channel="email", at=timeutil.iso(now)),
        }
    )
    assert services.pauses._transition(head, new, "boss@example.com", "email", now, overdue=False)


def test_cancel_of_a_decided_pause_is_409_with_the_pause(api, cloud, make_tenant, make_pause):
    tenant = make_tenant()
    watch_id = make_pause(tenant)["watchId"]
    decide_directly(cloud, watch_id)
    refused = api.post(f"/api/pause/{watch_id}/cancel", key=tenant["apiKey"])
    assert refused.status == 409
    error = refused.json()["error"]
    assert error["code"] == "already_decided"
    assert error["details"]["pause"]["status"] == "approved"
    assert error["details"]["pause"]["decision"]["by"] == "boss@example.com"


def test_a_refused_transition_writes_nothing(api, cloud, make_tenant, make_pause):
    tenant = make_tenant()
    watch_id = make_pause(tenant)["watchId"]
    services = runtime.services()
    stale = services.store.pauses.get_head(watch_id)
    decide_directly(cloud, watch_id)
    before = pause_items(cloud)
    now = timeutil.now()
    late = stale.model_copy(
        update={"status": "cancelled", "decidedAt": timeutil.iso(now), "version": stale.version + 1}
    )
    assert services.pauses._transition(stale, late, "agent", "api", now, overdue=False) is None
    assert pause_items(cloud) == before  # not even an audit entry or an event


def test_cancel_after_expiry_is_410_expired(api, cloud, make_tenant, monkeypatch, make_pause):
    tenant = make_tenant()
    watch_id = make_pause(tenant, timeoutSeconds=60)["watchId"]
    later = timeutil.now() + timedelta(minutes=2)
    monkeypatch.setattr(runtime.services().pauses, "clock", lambda: later)
    refused = api.post(f"/api/pause/{watch_id}/cancel", key=tenant["apiKey"])
    assert refused.status == 410
    assert refused.json()["error"]["details"]["pause"]["status"] == "expired"
    assert (
        refused.json()["error"]["details"]["pause"]["decidedAt"]
        == refused.json()["error"]["details"]["pause"]["expiresAt"]
    )


# --- paging -------------------------------------------------------------------------------------


def seed_pauses(cloud, tenant_id, count):
    """Write ``count`` pending pauses straight into the table, as the create transaction lays
    them out (moto copies the whole table for every transaction, so 250 real creates would
    take minutes here; the create path itself is tested above)."""
    store = cloud.store
    now = timeutil.now()
    made = []
    for n in range(count):
        at = timeutil.iso(now + timedelta(milliseconds=n))
        head = PauseHead(
            watchId=ids.new_watch_id(),
            tenantId=tenant_id,
            status="pending",
            action=f"n{n}",
            requestedBy="seed",
            createdAt=at,
            expiresAt=timeutil.iso(now + timedelta(hours=1)),
            actionDigest=rules.action_digest(f"n{n}", {}),
            retentionDays=30,
        )
        item = {**store.pauses._head_attributes(head), **keys.head(head.watchId).as_dict()}
        store.table.client.put_item(TableName=store.table.name, Item=to_item(item))
        made.append(head.watchId)
    return made


def test_cursor_paging_over_250_pauses_returns_each_exactly_once(api, cloud, make_tenant):
    tenant = make_tenant()
    key = tenant["apiKey"]
    made = seed_pauses(cloud, tenant["tenantId"], 250)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "37", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/pause", query=query, key=key).json()
        seen += [item["watchId"] for item in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert len(seen) == 250
    assert set(seen) == set(made)
    assert seen == list(reversed(made))  # newest first
    assert pages == 7


def test_offset_paging_and_its_limit(api, make_tenant, make_pause):
    tenant = make_tenant()
    key = tenant["apiKey"]
    ids_ = [make_pause(tenant, action=f"n{n}")["watchId"] for n in range(5)]
    page = api.get("/api/pause", query={"limit": "2", "offset": "1"}, key=key).json()
    assert [i["watchId"] for i in page["items"]] == [ids_[3], ids_[2]]
    assert (page["limit"], page["offset"]) == (2, 1)
    assert page["nextCursor"]
    beyond = api.get("/api/pause", query={"offset": "1001"}, key=key)
    assert beyond.status == 400
    assert beyond.json()["error"]["code"] == "offset_too_large"
    both = api.get("/api/pause", query={"offset": "1", "cursor": page["nextCursor"]}, key=key)
    assert both.status == 400
    assert api.get("/api/pause", query={"limit": "101"}, key=key).status == 422


def test_a_tampered_or_foreign_cursor_is_400(api, make_tenant, make_pause):
    one, two = make_tenant(), make_tenant()
    for n in range(3):
        make_pause(one, action=f"n{n}")
    cursor = api.get("/api/pause", query={"limit": "1"}, key=one["apiKey"]).json()["nextCursor"]
    forged = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for key, value in [(one["apiKey"], forged), (two["apiKey"], cursor), (one["apiKey"], "garbage")]:
        response = api.get("/api/pause", query={"cursor": value}, key=key)
        assert response.status == 400
        assert response.json()["error"]["code"] == "invalid_cursor"
    wrong_query = api.get("/api/pause", query={"cursor": cursor, "status": "pending"}, key=one["apiKey"])
    assert wrong_query.status == 400


def test_the_status_filter_agrees_with_read_time_expiry(api, cloud, make_tenant, monkeypatch, make_pause):
    tenant = make_tenant()
    key = tenant["apiKey"]
    short = make_pause(tenant, action="short", timeoutSeconds=60)["watchId"]
    long_ = make_pause(tenant, action="long", timeoutSeconds=3600)["watchId"]
    gone = make_pause(tenant, action="gone")["watchId"]
    api.post(f"/api/pause/{gone}/cancel", key=key)
    later = timeutil.now() + timedelta(minutes=5)
    monkeypatch.setattr(runtime.services().pauses, "clock", lambda: later)

    def listed(status):
        return [i["watchId"] for i in api.get("/api/pause", query={"status": status}, key=key).json()["items"]]

    assert listed("pending") == [long_]
    assert listed("expired") == [short]
    assert listed("cancelled") == [gone]
    assert listed("approved") == []
    everything = api.get("/api/pause", key=key).json()["items"]
    assert {i["watchId"]: i["status"] for i in everything} == {short: "expired", long_: "pending", gone: "cancelled"}
    assert api.get("/api/pause", query={"status": "sleeping"}, key=key).status == 422


# --- the sweeper ------------------------------------------------------------------------------


def test_the_sweeper_expires_exactly_the_overdue_pending_pauses(api, cloud, make_tenant, monkeypatch, make_pause):
    tenant = make_tenant()
    key = tenant["apiKey"]
    overdue = {make_pause(tenant, action=f"o{n}", timeoutSeconds=60)["watchId"] for n in range(3)}
    later_ones = {make_pause(tenant, action=f"l{n}", timeoutSeconds=3600)["watchId"] for n in range(2)}
    cancelled = make_pause(tenant, action="c", timeoutSeconds=60)["watchId"]
    api.post(f"/api/pause/{cancelled}/cancel", key=key)
    cloud.events()
    pauses = runtime.services().pauses
    later = timeutil.now() + timedelta(minutes=2)
    monkeypatch.setattr(pauses, "clock", lambda: later)

    assert pauses.sweep() == {"expired": 3, "republished": 0, "reminded": 0}
    assert pauses.sweep() == {"expired": 0, "republished": 0, "reminded": 0}

    for watch_id in overdue:
        head = cloud.store.pauses.get_head(watch_id)
        assert head.status == "expired"
        assert head.decidedAt == head.expiresAt
        assert head.decision.by == "timeout"
    for watch_id in later_ones:
        assert cloud.store.pauses.get_head(watch_id).status == "pending"
    assert cloud.store.pauses.get_head(cancelled).status == "cancelled"
    events = cloud.events()
    assert sorted(e["detail"]["data"]["watchId"] for e in events) == sorted(overdue)
    assert {e["detail-type"] for e in events} == {"pause.expired"}
    audit = api.get("/api/audit", query={"watchId": next(iter(overdue))}, key=key).json()["items"]
    newest = audit[0]
    assert (newest["type"], newest["actor"], newest["channel"]) == ("pause.expired", "timeout", "timeout")


def test_the_sweeper_republishes_exactly_the_unsent_events(api, cloud, make_tenant, monkeypatch, make_pause):
    tenant = make_tenant()
    pauses = runtime.services().pauses
    sent = make_pause(tenant, action="sent")["watchId"]
    working = pauses.publisher.publish
    pauses.publisher.publish = lambda events: [False] * len(events)  # the bus is down
    unsent = [make_pause(tenant, action=f"u{n}")["watchId"] for n in range(2)]
    pauses.publisher.publish = working
    assert [e["detail"]["data"]["watchId"] for e in cloud.events()] == [sent]  # the two never reached the bus

    assert pauses.sweep()["republished"] == 0  # younger than 30 s: the handler may still publish them
    later = timeutil.now() + timedelta(seconds=31)
    monkeypatch.setattr(pauses, "clock", lambda: later)
    assert pauses.sweep() == {"expired": 0, "republished": 2, "reminded": 0}
    assert pauses.sweep() == {"expired": 0, "republished": 0, "reminded": 0}
    events = cloud.events()
    assert sorted(e["detail"]["data"]["watchId"] for e in events) == sorted(unsent)
    assert sent not in [e["detail"]["data"]["watchId"] for e in events]


def test_the_sweeper_reads_the_due_index_never_a_scan(cloud, monkeypatch):
    store = runtime.services().store
    calls = []
    real_scan = store.table.client.scan

    def spy(**kwargs):
        calls.append(kwargs)
        return real_scan(**kwargs)

    monkeypatch.setattr(store.table.client, "scan", spy, raising=False)
    runtime.services().pauses.sweep()
    assert calls == []


# --- long-polls -------------------------------------------------------------------------------


def test_a_long_poll_returns_when_the_pause_is_cancelled(api, cloud, make_tenant, make_pause):
    tenant = make_tenant()
    key = tenant["apiKey"]
    watch_id = make_pause(tenant)["watchId"]
    pauses = runtime.services().pauses
    naps = []

    def nap(seconds):  # another request cancels while the wait sleeps
        naps.append(seconds)
        if len(naps) == 3:
            assert api.post(f"/api/pause/{watch_id}/cancel", key=key).status == 200

    pauses.sleep = nap
    answer = api.get(f"/api/pause/{watch_id}", query={"wait": "25"}, key=key)
    assert answer.status == 200
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["context"] == {}
    assert len(naps) == 3 and all(n <= 0.1 for n in naps)


def test_waits_beyond_the_plan_cap_are_429(api, cloud, free_tenant, make_pause):
    key = free_tenant["apiKey"]
    watch_id = make_pause(free_tenant)["watchId"]
    store = runtime.services().store
    now = timeutil.epoch(timeutil.now())
    for n in range(5):
        assert store.waits.acquire(free_tenant["tenantId"], f"other{n}", 5, now + 30, now)
    refused = api.get(f"/api/pause/{watch_id}", query={"wait": "5"}, key=key)
    assert refused.status == 429
    assert refused.json()["error"]["code"] == "too_many_waits"
    assert api.get(f"/api/pause/{watch_id}", key=key).status == 200  # a plain poll is never capped
    store.waits.release(free_tenant["tenantId"], "other0")
    runtime.services().pauses.sleep = lambda s: None
    assert api.get(f"/api/pause/{watch_id}", query={"wait": "1"}, key=key).status == 200


def test_a_dead_waits_lease_runs_out(cloud, free_tenant):
    store = runtime.services().store
    now = timeutil.epoch(timeutil.now())
    for n in range(5):
        assert store.waits.acquire(free_tenant["tenantId"], f"dead{n}", 5, now + 30, now)
    assert not store.waits.acquire(free_tenant["tenantId"], "new", 5, now + 30, now)
    assert store.waits.acquire(free_tenant["tenantId"], "new", 5, now + 90, now + 31)


def test_a_wait_on_a_decided_pause_returns_at_once(api, cloud, make_tenant, make_pause):
    tenant = make_tenant()
    watch_id = make_pause(tenant)["watchId"]
    api.post(f"/api/pause/{watch_id}/cancel", key=tenant["apiKey"])
    runtime.services().pauses.sleep = lambda s: (_ for _ in ()).throw(AssertionError("slept"))
    assert api.get(f"/api/pause/{watch_id}", query={"wait": "25"}, key=tenant["apiKey"]).json()["status"] == "cancelled"


def test_ttl_is_set_on_decided_pauses_only(api, cloud, make_tenant, make_pause):
    tenant = make_tenant(plan="free")
    key = tenant["apiKey"]
    pending = make_pause(tenant)
    done = make_pause(tenant)
    api.post(f"/api/pause/{done['watchId']}/cancel", key=key)
    items = {(i["pk"]["S"], i["sk"]["S"]): i for i in items_of(cloud)}
    assert "ttl" not in items[(f"P#{pending['watchId']}", "P#HEAD")]
    assert "ttl" not in items[(f"P#{pending['watchId']}", "P#BODY")]
    expected = timeutil.epoch(timeutil.parse(done["expiresAt"])) + 30 * 86400
    assert int(items[(f"P#{done['watchId']}", "P#HEAD")]["ttl"]["N"]) == expected
    assert int(items[(f"P#{done['watchId']}", "P#BODY")]["ttl"]["N"]) == expected
    assert json.loads(items[(f"P#{done['watchId']}", "P#BODY")]["contextJson"]["S"]) == {}
    assert rules.TERMINAL
