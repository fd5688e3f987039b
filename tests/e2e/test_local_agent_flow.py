"""An agent's side of the product, over HTTP against the local stack."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_the_whole_agent_flow(agent, new_pause):
    # Given an agent with the local tenant's key
    # When it creates a pause
    created = agent.post(
        "/api/pause", {"action": "Refund order 1042", "context": {"order": 1042, "amount": "129.00 EUR"}}
    )
    # Then it gets 201 with an absolute status URL it can fetch as is
    assert created.status == 201, created.body
    body = created.json()
    watch_id = body["watchId"]
    assert body["status"] == "pending"
    assert body["statusUrl"].startswith(agent.base_url + "/")
    fetched = agent.get(body["statusUrl"])
    assert fetched.status == 200, fetched.body
    pause = fetched.json()
    assert pause["watchId"] == watch_id
    assert pause["status"] == "pending"
    assert pause["action"] == "Refund order 1042"
    assert pause["context"] == {"order": 1042, "amount": "129.00 EUR"}

    # and the list of pending pauses holds it
    listed = agent.get("/api/pause", query={"status": "pending", "limit": 100})
    assert listed.status == 200, listed.body
    assert watch_id in [item["watchId"] for item in listed.json()["items"]]

    # When it cancels the pause
    cancelled = agent.post(f"/api/pause/{watch_id}/cancel")
    # Then the pause reads cancelled, decided by the agent's key over the API
    assert cancelled.status == 200, cancelled.body
    after = agent.get(f"/api/pause/{watch_id}").json()
    assert after["status"] == "cancelled"
    assert after["decision"]["outcome"] == "cancelled"
    assert after["decision"]["channel"] == "api"
    assert after["decidedAt"] is not None

    # and its audit trail shows what happened, newest first
    audit = agent.get("/api/audit", query={"watchId": watch_id})
    assert audit.status == 200, audit.body
    assert [entry["type"] for entry in audit.json()["items"]] == ["pause.cancelled", "pause.created"]


def test_a_long_poll_returns_when_the_pause_is_cancelled_elsewhere(agent, new_pause):
    # Given a pending pause and an agent long-polling it for up to 20 s
    watch_id = new_pause()["watchId"]
    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(agent.get(f"/api/pause/{watch_id}", query={"wait": 20})))
    waiter.start()
    waiter.join(1.5)
    assert waiter.is_alive(), "the long-poll returned while the pause was still pending"

    # When another request cancels it (served while the long-poll is still open)
    cancelled = agent.post(f"/api/pause/{watch_id}/cancel")
    assert cancelled.status == 200, cancelled.body

    # Then the long-poll returns, well before its 20 s, with the cancelled pause
    waiter.join(15)
    assert not waiter.is_alive(), "the long-poll did not return after the cancel"
    assert answers[0].status == 200, answers[0].body
    assert answers[0].json()["status"] == "cancelled"


def test_twenty_concurrent_cancels_have_exactly_one_winner(agent, new_pause):
    # Given a pending pause
    watch_id = new_pause()["watchId"]
    start = threading.Barrier(20)
    answers: list[Any] = []
    lock = threading.Lock()

    def cancel() -> None:
        start.wait()
        answer = agent.post(f"/api/pause/{watch_id}/cancel")
        with lock:
            answers.append(answer)

    # When 20 agents cancel it at the same moment
    threads = [threading.Thread(target=cancel) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # Then exactly one succeeds and every other one is told the pause is already cancelled
    statuses = Counter(answer.status for answer in answers)
    assert statuses == {200: 1, 410: 19}, [a.body for a in answers if a.status not in (200, 410)]
    for answer in answers:
        if answer.status == 410:
            assert answer.error_code == "pause_cancelled"
            assert answer.json()["error"]["details"]["pause"]["status"] == "cancelled"
    # and the audit trail holds one cancellation
    audit = agent.get("/api/audit", query={"watchId": watch_id}).json()["items"]
    assert [entry["type"] for entry in audit] == ["pause.cancelled", "pause.created"]


def test_a_pause_expires_after_its_timeout_and_emits_one_event(stack, agent, new_pause, eventually):
    # Given a pause with a 2 s timeout
    watch_id = new_pause(timeoutSeconds=2)["watchId"]

    # When its time is up, Then it reads expired, decided at its expiry, by "timeout"
    def expired() -> dict[str, Any] | None:
        pause = agent.get(f"/api/pause/{watch_id}").json()
        return pause if pause["status"] != "pending" else None

    pause = eventually(expired, timeout_s=10)
    assert pause["status"] == "expired"
    assert pause["decidedAt"] == pause["expiresAt"]
    assert pause["decision"]["by"] == "timeout"

    # and the sweeper (every second here) emits pause.expired for it, once
    def expiry_events() -> list[dict[str, Any]]:
        return [
            e
            for e in stack.events()
            if e["detail-type"] == "pause.expired" and e["detail"]["data"]["watchId"] == watch_id
        ]

    first = eventually(expiry_events, timeout_s=15)
    assert first[0]["source"] == "hitl"
    assert first[0]["detail"]["type"] == "pause.expired"
    assert first[0]["detail"]["version"] == 1
    assert first[0]["detail"]["tenantId"] == stack.config["tenantId"]
    assert "context" not in first[0]["detail"]["data"]
    # a few more sweeps change nothing
    threading.Event().wait(3.5)
    assert len(expiry_events()) == 1
    assert agent.get(f"/api/pause/{watch_id}").json()["status"] == "expired"


def test_unknown_paths_and_bad_keys_get_our_error_shape(stack, agent):
    # Given the local stack
    # When a client asks for a path that does not exist, Then it gets our 404, not a gateway's
    missing = agent.get("/no/such/path")
    assert missing.status == 404
    assert set(missing.json()["error"]) >= {"code", "message"}
    # When a client uses a bad key, or none, Then it gets 401 in our shape
    for key in ("hitl_notAKey", ""):
        refused = stack.http().get("/api/pause", headers={"Authorization": f"Bearer {key}"} if key else {})
        assert refused.status == 401, refused.body
        assert refused.json()["error"]["code"]
    # and a wrong-checksum key that looks right is refused as well
    real = stack.config["apiKey"]
    forged = real[:-1] + ("A" if real[-1] != "A" else "B")
    assert stack.http(forged).get("/api/pause").status == 401


def test_the_local_pages_exist(stack):
    health = stack.http().get("/_local/health")
    assert health.status == 200
    assert health.json()["status"] == "ok"
    assert stack.http().get("/_local/nothing-here").status == 404
