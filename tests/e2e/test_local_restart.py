"""``make dev`` stopped with Ctrl-C and started again keeps what it had."""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from hitl_local import state
from hitl_local.receiver import receiver
from tests.e2e.conftest import Stack, start_stack, stop_stack

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


# --- what is in flight at the stop (issue 7, A9) ----------------------------------------------

#: how long an email or a delivery may take after a restart before a test gives up (not a target)
AFTER_RESTART_S = 30


def _outbox(stack: Stack) -> list[dict[str, Any]]:
    answer = stack.http().get("/_local/outbox.json")
    assert answer.status == 200, answer.body
    emails: list[dict[str, Any]] = answer.json()
    return emails


def _saved(state_dir: Path, name: str) -> str:
    """A saved state file's text ('' when there is none)."""
    path = state_dir / name
    return path.read_text() if path.exists() else ""


def test_pauses_created_just_before_ctrl_c_are_emailed_after_the_restart(launch, tmp_path, eventually):
    # Given pauses created a moment before the developer presses Ctrl-C (their emails still on their
    # way through the queues, or just sent)
    state_dir = tmp_path / "state"
    first = launch(state_dir)
    agent = first.http(first.config["apiKey"])
    approver = first.config["approverEmail"]
    tag = secrets.token_hex(4)
    actions = [f"Restart probe {tag} {n}" for n in range(3)]
    watch_ids = []
    for action in actions:
        created = agent.post("/api/pause", {"action": action, "context": {}})
        assert created.status == 201, created.body
        watch_ids.append(created.json()["watchId"])

    # When it is stopped at once
    first.stop()

    # Then every pause's email was kept: sent (in the saved outbox) or still queued (in the saved queues)
    outbox_saved, queues_saved = _saved(state_dir, state.OUTBOX_FILE), _saved(state_dir, state.QUEUES_FILE)
    for action, watch_id in zip(actions, watch_ids, strict=True):
        assert action in outbox_saved or watch_id in queues_saved, f"{action}: neither sent nor queued at the stop"

    # When it is started again
    second = launch(state_dir)

    # Then each pause's email reaches the outbox, exactly once, to the approver
    def emailed() -> list[list[dict[str, Any]]] | None:
        found = [[e for e in _outbox(second) if action in e["subject"]] for action in actions]
        return found if all(found) else None

    found = eventually(emailed, timeout_s=AFTER_RESTART_S)
    time.sleep(2)  # a second copy would come within the sweeper's period or a poller's retry
    found = emailed()
    assert found is not None and [len(emails) for emails in found] == [1, 1, 1], second.output()[-3000:]
    assert all(emails[0]["to"] == [approver] for emails in found)
    # and nobody's pause is marked undeliverable
    for watch_id in watch_ids:
        assert not second.http(second.config["apiKey"]).get(f"/api/pause/{watch_id}").json().get("notifications")


def test_the_outbox_survives_a_restart(launch, tmp_path, eventually):
    # Given a local stack that sent an email
    state_dir = tmp_path / "state"
    first = launch(state_dir)
    action = f"Outbox probe {secrets.token_hex(4)}"
    assert first.http(first.config["apiKey"]).post("/api/pause", {"action": action, "context": {}}).status == 201
    eventually(lambda: any(action in e["subject"] for e in _outbox(first)), timeout_s=AFTER_RESTART_S)
    before = _outbox(first)
    page_before = first.http().get("/_local/outbox")

    # When it is stopped and started again
    first.stop()
    second = launch(state_dir)

    # Then the outbox shows the same emails, links and all (as JSON and as the page)
    assert _outbox(second) == before
    page_after = second.http().get("/_local/outbox")
    assert page_after.status == 200 and action.encode() in page_after.body
    assert page_before.body.count(b"<article>") == page_after.body.count(b"<article>")


def test_a_retrying_webhook_delivery_completes_after_the_restart(tmp_path):
    # Given a local stack on the real retry schedule (a first retry 10 s after the first attempt) and
    # an endpoint that fails once, then answers 200
    state_dir = tmp_path / "state"
    log_path = tmp_path / "stack.log"
    settings = {"HITL_WEBHOOK_RETRY_SCALE": "1"}
    running: list[Stack] = [start_stack(state_dir, log_path, **settings)]
    try:
        with receiver(answers=[500, 200]) as hook:
            agent = running[0].http(running[0].config["apiKey"])
            endpoint = agent.post("/api/webhooks", {"url": hook.url, "events": ["pause.cancelled"]}).json()
            watch_id = agent.post("/api/pause", {"action": "Retry across a restart", "context": {}}).json()["watchId"]
            assert agent.post(f"/api/pause/{watch_id}/cancel").status == 200
            assert hook.wait_for(1, AFTER_RESTART_S) is not None, running[0].output()[-3000:]
            deadline = time.monotonic() + AFTER_RESTART_S
            while [d["outcome"] for d in agent.get(f"/api/pause/{watch_id}/deliveries").json()["items"]] != [
                "retrying"
            ]:
                assert time.monotonic() < deadline, "the failed attempt was never logged"
                time.sleep(0.2)

            # When the stack is stopped while the delivery waits for its retry
            stop_stack(running[0])
            assert len(hook.received) == 1
            # (the retry was queued at the stop, its receive count and the time it had left kept)
            saved = json.loads((state_dir / state.QUEUES_FILE).read_text())["queues"]
            waiting = [m for messages in saved.values() for m in messages if watch_id in m["body"]]
            assert [(m["receiveCount"], m["hiddenLeftMs"] > 0) for m in waiting] == [(1, True)], waiting

            # and started again
            running.append(start_stack(state_dir, log_path, **settings))
            again = running[1].http(running[1].config["apiKey"])

            # Then the retry happens, is answered 200, and the delivery is delivered
            retried = hook.wait_for(2, AFTER_RESTART_S)
            assert retried is not None, running[1].output()[-3000:]
            deadline = time.monotonic() + AFTER_RESTART_S
            while True:
                log = again.get(f"/api/pause/{watch_id}/deliveries").json()["items"]
                if [d["outcome"] for d in log] == ["delivered", "retrying"]:
                    break
                assert time.monotonic() < deadline, log
                time.sleep(0.2)
        assert [(d["attempt"], d["statusCode"]) for d in log] == [(2, 200), (1, 500)]
        # signed with the secret shown at registration, as the first attempt was, under the same webhook-id
        first_try, second_try = hook.received
        assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"]
        assert Webhook(endpoint["secret"]).verify(second_try.body, second_try.headers)["data"]["watchId"] == watch_id
    finally:
        for stack in running:
            if stack.process.poll() is None:
                stop_stack(stack)


def test_every_saved_state_file_is_the_owners_only(launch, tmp_path):
    # Given a local stack that ran and was stopped (it holds an API key, the cursor secret, key material)
    state_dir = tmp_path / "state"
    first = launch(state_dir)
    assert first.http(first.config["apiKey"]).post("/api/pause", {"action": "x", "context": {}}).status == 201
    first.stop()

    # Then every file it wrote is readable and writable by its owner only
    names = {path.name for path in state_dir.iterdir()}
    expected = {state.CONFIG_FILE, state.DUMP_FILE, state.KMS_FILE, state.QUEUES_FILE, state.OUTBOX_FILE}
    assert expected <= names, names
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in state_dir.iterdir()}
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    assert not [name for name in names if name.endswith(".tmp")]  # no temporary file left behind
