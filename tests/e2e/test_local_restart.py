"""``make dev`` stopped with Ctrl-C and started again keeps what it had and finishes what was in flight.

One local stack, one Ctrl-C, one start again on the same state directory (each costs seconds):
before the stop it gets a tenant's pauses, a webhook whose secret is KMS-encrypted in the table,
a sent email, a webhook delivery waiting for its retry and pauses whose emails are still on their
way; each test below checks one of these after the restart (issue 7, A9).  The restart is a module
fixture: ``make test`` (``--dist loadfile``) runs the module on one worker, so it happens once.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from hitl import wiring
from hitl_local import state
from hitl_local.receiver import Received, Receiver, receiver
from tests.client import Answer, Client
from tests.e2e.conftest import Stack, _eventually, start_stack, stop_stack

pytestmark = pytest.mark.e2e

#: how long an email or a delivery may take after a restart before a test gives up (not a target)
AFTER_RESTART_S = 30
#: an email whose sending the Ctrl-C cut short (the stop ends busy function instances) keeps its
#: claim: after the restart its message comes back at once, finds the claim taken ("busy") and is
#: retried after the queue's visibility timeout, as in AWS after a killed invocation
AFTER_AN_INTERRUPTED_SEND_S = wiring.visibility_timeout_s(wiring.subscription("email")) + AFTER_RESTART_S
#: the real retry schedule: a failed delivery's first retry comes 10 s after it, so the stop
#: below falls while it waits
REAL_RETRIES = {"HITL_WEBHOOK_RETRY_SCALE": "1"}


@dataclass(repr=False)
class Restart:
    """What the stack had at the Ctrl-C, and the stack started again on the same state directory."""

    first: Stack
    second: Stack
    state_dir: Path
    kept: str  # a pending pause
    cancelled: str  # a cancelled pause, whose webhook delivery failed once and waits for its retry
    workers: list[int]  # the function worker processes of the first stack
    endpoint: dict[str, Any]  # the webhook, as registered (with its secret)
    hook: Receiver  # its endpoint: 500 to the first request, 200 to every other
    callback_secret: str
    outbox_probe: str  # the action of a pause whose email was sent before the stop
    outbox_before: list[dict[str, Any]]
    page_before: Answer
    last_moment: dict[str, str]  # action -> watchId of pauses created just before the Ctrl-C
    saved: dict[str, str]  # state file -> its text, right after the stop
    modes: dict[str, int]  # state file -> its permission bits, right after the stop
    key_id: str  # the KMS key's id, right after the stop
    requests_at_stop: int  # how many requests the webhook endpoint had had at the stop

    def __repr__(self) -> str:
        return f"<the restart in {self.state_dir}>"

    @property
    def stack(self) -> Stack:
        """The running stack (a failed test shows its output)."""
        return self.second

    def agent(self) -> Client:
        return self.second.http(self.second.config["apiKey"])

    def emailed(self) -> list[list[dict[str, Any]]] | None:
        """The outbox's emails of each pause created just before the stop; None until each has one."""
        outbox = _outbox(self.second)
        found = [[e for e in outbox if action in e["subject"]] for action in self.last_moment]
        return found if all(found) else None


def _outbox(stack: Stack) -> list[dict[str, Any]]:
    answer = stack.http().get("/_local/outbox.json")
    assert answer.status == 200, answer.body
    emails: list[dict[str, Any]] = answer.json()
    return emails


def _subjects_with(stack: Stack, *texts: str) -> bool:
    """Whether the outbox has an email about each of ``texts``."""
    subjects = [e["subject"] for e in _outbox(stack)]
    return all(any(text in subject for subject in subjects) for text in texts)


def _create(agent: Client, action: str) -> str:
    created = agent.post("/api/pause", {"action": action, "context": {}})
    assert created.status == 201, created.body
    watch_id: str = created.json()["watchId"]
    return watch_id


def _outcomes(agent: Client, watch_id: str) -> list[dict[str, Any]]:
    """The pause's webhook deliveries, newest first."""
    answer = agent.get(f"/api/pause/{watch_id}/deliveries")
    assert answer.status == 200, answer.body
    deliveries: list[dict[str, Any]] = answer.json()["items"]
    return deliveries


def _requests_about(hook: Receiver, watch_id: str) -> list[Received]:
    return [r for r in hook.received if json.loads(r.body)["data"]["watchId"] == watch_id]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def restart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restart]:
    base = tmp_path_factory.mktemp("restart")
    state_dir, log_path = base / "state", base / "stack.log"
    started: list[Stack] = []
    tag = secrets.token_hex(4)
    try:
        with receiver(answers=[500, 200]) as hook:
            first = start_stack(state_dir, log_path, **REAL_RETRIES)
            started.append(first)
            agent = first.http(first.config["apiKey"])

            # a pending pause, and sent emails (nothing else on its way: the outbox is read as it stays)
            kept = _create(agent, f"Keep me {tag}")
            probe = f"Outbox probe {tag}"
            _create(agent, probe)
            _eventually(lambda: _subjects_with(first, f"Keep me {tag}", probe), timeout_s=AFTER_RESTART_S)
            outbox_before, page_before = _outbox(first), first.http().get("/_local/outbox")

            # a webhook (its secret KMS-encrypted in the table) and the tenant's callback secret
            registered = agent.post("/api/webhooks", {"url": hook.url, "events": ["pause.cancelled"]})
            assert registered.status == 201, registered.body
            callback_secret = agent.get("/api/callback-secret").json()["secret"]

            # a cancelled pause whose delivery failed once: it waits for its retry at the stop
            cancelled = _create(agent, f"Cancel me {tag}")
            assert agent.post(f"/api/pause/{cancelled}/cancel").status == 200
            assert hook.wait_for(1, AFTER_RESTART_S) is not None, first.output()[-3000:]
            _eventually(
                lambda: [d["outcome"] for d in _outcomes(agent, cancelled)] == ["retrying"], timeout_s=AFTER_RESTART_S
            )
            functions = first.http().get("/_local/health").json()["functions"].values()
            workers = [pid for function in functions for pid in function["pids"]]

            # pauses created a moment before Ctrl-C (their emails still on their way, or just sent)
            last_moment = {action: _create(agent, action) for action in (f"Restart probe {tag} {n}" for n in range(3))}

            # When it is stopped with Ctrl-C (stop fails unless it exits 0, soon)
            stop_stack(first)
            requests_at_stop = len(hook.received)
            names = sorted(path.name for path in state_dir.iterdir())
            saved = {name: (state_dir / name).read_text() for name in names}
            modes = {name: stat.S_IMODE((state_dir / name).stat().st_mode) for name in names}
            key_id = json.loads(saved[state.KMS_FILE])["keyId"]

            # and started again on the same state directory
            second = start_stack(state_dir, log_path, **REAL_RETRIES)
            started.append(second)
            yield Restart(
                first=first,
                second=second,
                state_dir=state_dir,
                kept=kept,
                cancelled=cancelled,
                workers=workers,
                endpoint=registered.json(),
                hook=hook,
                callback_secret=callback_secret,
                outbox_probe=probe,
                outbox_before=outbox_before,
                page_before=page_before,
                last_moment=last_moment,
                saved=saved,
                modes=modes,
                key_id=key_id,
                requests_at_stop=requests_at_stop,
            )
    finally:
        for running in started:
            if running.process.poll() is None:
                stop_stack(running)


def test_the_stop_is_clean_and_every_saved_state_file_is_the_owners_only(restart: Restart):
    # no worker process left behind (the exit code 0 is checked by the stop itself)
    assert restart.workers
    assert not [pid for pid in restart.workers if _alive(pid)]
    # every file it wrote (an API key, the cursor secret, key material) is its owner's only
    expected = {state.CONFIG_FILE, state.DUMP_FILE, state.KMS_FILE, state.QUEUES_FILE, state.OUTBOX_FILE}
    assert expected <= set(restart.saved), restart.saved.keys()
    assert {name: mode for name, mode in restart.modes.items() if mode != 0o600} == {}
    assert not [name for name in restart.saved if name.endswith(".tmp")]  # no temporary file left behind


def test_a_restart_keeps_the_tenant_its_key_and_its_pauses(restart: Restart):
    assert restart.second.config["tenantId"] == restart.first.config["tenantId"]
    assert restart.second.config["apiKey"] == restart.first.config["apiKey"]
    agent = restart.agent()
    assert agent.get(f"/api/pause/{restart.kept}").json()["status"] == "pending"
    assert agent.get(f"/api/pause/{restart.cancelled}").json()["status"] == "cancelled"
    audit = agent.get("/api/audit", query={"watchId": restart.cancelled}).json()["items"]
    assert [entry["type"] for entry in audit] == ["pause.cancelled", "pause.created"]
    # and the restored pause can still be acted on
    assert agent.post(f"/api/pause/{restart.kept}/cancel").status == 200
    assert agent.get(f"/api/pause/{restart.kept}").json()["status"] == "cancelled"


def test_a_restart_keeps_the_kms_key_so_webhook_secrets_still_sign(restart: Restart):
    assert json.loads((restart.state_dir / state.KMS_FILE).read_text())["keyId"] == restart.key_id
    assert restart.modes[state.KMS_FILE] == 0o600  # key material: the owner's only
    # the secrets of the restored table still decrypt: a new event reaches the endpoint signed with
    # the secret shown at registration, and the callback secret is the same
    agent = restart.agent()
    watch_id = _create(agent, "After the restart")
    assert agent.post(f"/api/pause/{watch_id}/cancel").status == 200
    arrived = _eventually(lambda: _requests_about(restart.hook, watch_id), timeout_s=AFTER_RESTART_S)
    envelope = Webhook(restart.endpoint["secret"]).verify(arrived[0].body, arrived[0].headers)
    assert envelope["type"] == "pause.cancelled" and envelope["data"]["watchId"] == watch_id
    assert agent.get("/api/callback-secret").json()["secret"] == restart.callback_secret
    assert [e["id"] for e in agent.get("/api/webhooks").json()["items"]] == [restart.endpoint["id"]]


def test_pauses_created_just_before_ctrl_c_are_emailed_after_the_restart(restart: Restart):
    # every pause's email was kept at the stop: sent (in the saved outbox) or still queued (in the saved queues)
    outbox_saved, queues_saved = restart.saved[state.OUTBOX_FILE], restart.saved[state.QUEUES_FILE]
    for action, watch_id in restart.last_moment.items():
        assert action in outbox_saved or watch_id in queues_saved, f"{action}: neither sent nor queued at the stop"

    # each one's email reaches the outbox after the restart, exactly once, to the approver
    _eventually(restart.emailed, timeout_s=AFTER_AN_INTERRUPTED_SEND_S)
    time.sleep(2)  # a second copy would come within the sweeper's period or a poller's retry
    found = restart.emailed()
    assert found is not None and [len(emails) for emails in found] == [1, 1, 1], restart.second.output()[-3000:]
    assert all(emails[0]["to"] == [restart.first.config["approverEmail"]] for emails in found)
    # and nobody's pause is marked undeliverable
    agent = restart.agent()
    for watch_id in restart.last_moment.values():
        assert not agent.get(f"/api/pause/{watch_id}").json().get("notifications")


def test_the_outbox_survives_a_restart(restart: Restart):
    # (once the emails of the pauses created just before the stop are in too: nothing else is on its way)
    _eventually(restart.emailed, timeout_s=AFTER_AN_INTERRUPTED_SEND_S)
    after = _outbox(restart.second)
    # every email sent before the stop is still there, unchanged (links and all), in its order
    assert any(restart.outbox_probe in e["subject"] for e in restart.outbox_before)
    assert [e for e in after if e in restart.outbox_before] == restart.outbox_before
    # and the page shows every one of them, as it did before the stop
    page_after = restart.second.http().get("/_local/outbox")
    assert restart.page_before.body.count(b"<article>") == len(restart.outbox_before)
    assert page_after.status == 200 and restart.outbox_probe.encode() in page_after.body
    assert page_after.body.count(b"<article>") == len(after)


def test_a_retrying_webhook_delivery_completes_after_the_restart(restart: Restart):
    # at the stop, the failed attempt had not been retried yet, and the retry was queued with its
    # receive count and the time it had left
    assert restart.requests_at_stop == 1
    saved = json.loads(restart.saved[state.QUEUES_FILE])["queues"]
    waiting = [m for messages in saved.values() for m in messages if restart.cancelled in m["body"]]
    assert [(m["receiveCount"], m["hiddenLeftMs"] > 0) for m in waiting] == [(1, True)], waiting
    # after the restart the retry happens, is answered 200, and the delivery is delivered
    agent = restart.agent()

    def completed() -> list[dict[str, Any]] | None:
        log = _outcomes(agent, restart.cancelled)
        return log if [d["outcome"] for d in log] == ["delivered", "retrying"] else None

    log = _eventually(completed, timeout_s=AFTER_RESTART_S)
    assert [(d["attempt"], d["statusCode"]) for d in log] == [(2, 200), (1, 500)]
    # signed with the secret shown at registration, as the first attempt was, under the same webhook-id
    first_try, second_try = _requests_about(restart.hook, restart.cancelled)
    assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"]
    verified = Webhook(restart.endpoint["secret"]).verify(second_try.body, second_try.headers)
    assert verified["data"]["watchId"] == restart.cancelled


def test_an_unreadable_key_file_is_refused_never_replaced(tmp_path):
    # a new key would leave every secret of the saved table undecryptable: the stack says so instead
    (tmp_path / state.KMS_FILE).write_text('{"keyId": "k", "keyMaterial": "not base64!"}')

    with pytest.raises(state.StateCorrupt, match="cannot be decrypted"):
        state.load_kms_key(tmp_path)
    assert state.load_kms_key(tmp_path / "nothing-saved") is None
