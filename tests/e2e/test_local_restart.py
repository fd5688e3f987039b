"""``make dev`` stopped with Ctrl-C and started again keeps what it had."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_restart_keeps_the_tenant_its_key_and_its_pauses(launch, tmp_path):
    # Given a local stack where the agent created a pause and cancelled another
    state_dir = tmp_path / "state"
    first = launch(state_dir)
    agent = first.http(first.config["apiKey"])
    kept = agent.post("/api/pause", {"action": "Keep me", "context": {"n": 1}}).json()["watchId"]
    done = agent.post("/api/pause", {"action": "Cancel me", "context": {}}).json()["watchId"]
    assert agent.post(f"/api/pause/{done}/cancel").status == 200
    workers = [pid for f in first.http().get("/_local/health").json()["functions"].values() for pid in f["pids"]]
    assert workers

    # When it is stopped with Ctrl-C
    first.stop()
    # Then it exited cleanly (exit 0, checked by stop) and left no worker process behind
    assert not [pid for pid in workers if _alive(pid)]

    # When it is started again on the same state directory
    second = launch(state_dir)

    # Then the same tenant and API key work, and the pauses are as they were
    assert second.config["tenantId"] == first.config["tenantId"]
    assert second.config["apiKey"] == first.config["apiKey"]
    again = second.http(second.config["apiKey"])
    assert again.get(f"/api/pause/{kept}").json()["status"] == "pending"
    assert again.get(f"/api/pause/{done}").json()["status"] == "cancelled"
    audit = again.get("/api/audit", query={"watchId": done}).json()["items"]
    assert [entry["type"] for entry in audit] == ["pause.cancelled", "pause.created"]
    # and the restored pause can still be acted on
    assert again.post(f"/api/pause/{kept}/cancel").status == 200
