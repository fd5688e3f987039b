"""The messages moto holds in this process, out and back in: the SQS queues and SES's sent mail.

What the local stack keeps across a restart besides its table (``state``): every message of
every queue — waiting, delayed (with the delay it had left), received and not yet deleted — with
its receive count (the handlers count their attempts by it, and the redrive policy dead-letters
by it), and every email SES accepted (the local outbox).  moto runs in this process
(``moto_server``), so they are read from and put back into its in-process backends, as the KMS
key is; its API could not put a message back as it was (its id, receive count, first receive).

A message received but not yet deleted is of two kinds.  Either a function is (or was, when the
stack stopped) working on it: its batch was interrupted, so it is visible at once after the
restart (``interrupted``).  Or a function hid it on purpose — a retry later
(``ChangeMessageVisibility``) or a failed record waiting out its visibility timeout: it keeps the
time it had left, as a delayed message keeps its delay.  The clock stops while the stack is down.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Collection
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import RawMessage, ses_backends
from moto.sqs.models import Message, sqs_backends

REGION = "us-east-1"
VERSION = 1


def _now_ms() -> float:
    return time.time() * 1000


def _plain(value: Any) -> Any:
    """Message attributes as JSON (binary values as base64)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"__b64__": base64.b64encode(bytes(value)).decode()}
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


# --- SQS -------------------------------------------------------------------------------------


def export_queues(interrupted: Collection[str] = (), region: str = REGION) -> dict[str, Any]:
    """Every queue's messages, oldest first; ``interrupted``: ids of messages whose processing
    the stop cut short (visible at once after the restart)."""
    now = _now_ms()
    queues: dict[str, list[dict[str, Any]]] = {}
    for name, queue in sqs_backends[DEFAULT_ACCOUNT_ID][region].queues.items():
        with queue._messages_lock:
            messages = list(queue._messages)
        queues[name] = [_export_message(message, now, message.id in interrupted) for message in messages]
    return {"version": VERSION, "queues": queues}


def _export_message(message: Message, now: float, interrupted: bool) -> dict[str, Any]:
    return {
        "id": message.id,
        "body": message.body,
        "messageAttributes": _plain(message.message_attributes),
        "systemAttributes": _plain(message.system_attributes),
        "sentTimestamp": message.sent_timestamp,
        "receiveCount": message.approximate_receive_count,
        "firstReceiveTimestamp": message.approximate_first_receive_timestamp,
        "groupId": message.group_id,
        "deduplicationId": message.deduplication_id,
        "sequenceNumber": message.sequence_number,
        #: what was left of its delay (DelaySeconds) and of its invisibility, in milliseconds
        "delayLeftMs": max(0.0, message.delayed_until - now),
        "hiddenLeftMs": 0.0 if interrupted else max(0.0, message.visible_at - now),
    }


def import_queues(saved: Any, region: str = REGION) -> int:
    """Put saved messages back into the queues of the same names (those that exist; a queue
    that is gone takes its messages with it).  The number of messages put back."""
    if not isinstance(saved, dict) or not isinstance(saved.get("queues"), dict):
        return 0
    backend = sqs_backends[DEFAULT_ACCOUNT_ID][region]
    now = _now_ms()
    restored = 0
    for name, messages in saved["queues"].items():
        queue = backend.queues.get(name)
        if queue is None or not isinstance(messages, list):
            continue
        present = {m.id for m in queue._messages}
        for entry in messages:
            if entry["id"] in present:
                continue
            message = Message(entry["id"], entry["body"], _unplain(entry.get("systemAttributes") or {}))
            message.message_attributes = _unplain(entry.get("messageAttributes") or {})
            message.sent_timestamp = entry.get("sentTimestamp")
            message.approximate_receive_count = int(entry.get("receiveCount") or 0)
            message.approximate_first_receive_timestamp = entry.get("firstReceiveTimestamp")
            message.group_id = entry.get("groupId")
            message.deduplication_id = entry.get("deduplicationId")
            message.sequence_number = entry.get("sequenceNumber")
            message.delayed_until = now + float(entry.get("delayLeftMs") or 0)
            message.visible_at = now + float(entry.get("hiddenLeftMs") or 0)
            with queue._messages_lock:
                queue._messages.append(message)
                queue._messages_lock.notify_all()
            restored += 1
    return restored


# --- SES: the outbox ---------------------------------------------------------------------------


def export_outbox(region: str = REGION) -> dict[str, Any]:
    """Every raw email SES accepted, in the order it accepted them."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID][region]
    emails = [
        {
            "id": message.id,
            "source": message.source,
            "destinations": list(message.destinations),
            "raw": message.raw_data.decode() if isinstance(message.raw_data, bytes) else message.raw_data,
        }
        for message in list(backend.sent_messages)
        if isinstance(message, RawMessage)
    ]
    return {"version": VERSION, "emails": emails}


def import_outbox(saved: Any, region: str = REGION) -> int:
    """Put saved emails back, before any new one (the outbox shows them as it did); how many."""
    if not isinstance(saved, dict) or not isinstance(saved.get("emails"), list):
        return 0
    backend = ses_backends[DEFAULT_ACCOUNT_ID][region]
    present = {getattr(m, "id", None) for m in backend.sent_messages}
    restored = [
        RawMessage(entry["id"], entry["source"], list(entry["destinations"]), entry["raw"])
        for entry in saved["emails"]
        if entry["id"] not in present
    ]
    backend.sent_messages[:0] = restored
    backend.sent_message_count += sum(len(m.destinations) for m in restored)
    return len(restored)
