"""``make dev`` stopped with Ctrl-C and started again keeps what it had."""

from __future__ import annotations

import json
import os

import pytest
from standardwebhooks.webhooks import Webhook

from hitl_local import state
from hitl_local.receiver import receiver

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


def test_a_restart_keeps_the_kms_key_so_webhook_secrets_still_sign(launch, tmp_path):
    # Given a local stack with a webhook registered (its secret KMS-encrypted in the table) and the
    # tenant's callback secret made
    state_dir = tmp_path / "state"
    first = launch(state_dir)
    agent = first.http(first.config["apiKey"])
    with receiver() as hook:
        registered = agent.post("/api/webhooks", {"url": hook.url, "events": ["pause.cancelled"]})
        assert registered.status == 201, registered.body
        endpoint = registered.json()
        callback_secret = agent.get("/api/callback-secret").json()["secret"]

        # When it is stopped and started again on the same state directory
        first.stop()
        key_file = state_dir / state.KMS_FILE
        assert key_file.stat().st_mode & 0o777 == 0o600  # key material: the owner's only
        key_id = json.loads(key_file.read_text())["keyId"]
        second = launch(state_dir)
        again = second.http(second.config["apiKey"])
        assert json.loads(key_file.read_text())["keyId"] == key_id

        # Then the secrets of the restored table still decrypt: a new event reaches the endpoint signed
        # with the secret shown at registration, and the callback secret is the same
        watch_id = again.post("/api/pause", {"action": "After the restart", "context": {}}).json()["watchId"]
        assert again.post(f"/api/pause/{watch_id}/cancel").status == 200
        assert hook.arrived.wait(20), second.output()[-3000:]
    envelope = Webhook(endpoint["secret"]).verify(hook.received[0].body, hook.received[0].headers)
    assert envelope["type"] == "pause.cancelled" and envelope["data"]["watchId"] == watch_id
    assert again.get("/api/callback-secret").json()["secret"] == callback_secret
    assert [e["id"] for e in again.get("/api/webhooks").json()["items"]] == [endpoint["id"]]


def test_an_unreadable_key_file_is_refused_never_replaced(tmp_path):
    # a new key would leave every secret of the saved table undecryptable: the stack says so instead
    (tmp_path / state.KMS_FILE).write_text('{"keyId": "k", "keyMaterial": "not base64!"}')

    with pytest.raises(state.StateCorrupt, match="cannot be decrypted"):
        state.load_kms_key(tmp_path)
    assert state.load_kms_key(tmp_path / "nothing-saved") is None
