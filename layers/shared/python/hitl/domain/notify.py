"""Approvers are emailed: one work item per (event, approver), each sent at most once.

``fan_out`` turns a ``pause.created`` event into one message per approver; ``deliver`` sends
one approver's email: it re-reads the pause (a pause no longer pending sends nothing), claims
the (event, approver) pair so a redelivered message never sends twice, mints that approver's
single-use link token, renders and sends.  A send that keeps failing ends, on its last
attempt, in ``notifications`` on the pause and a ``pause.notification_failed`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from hitl import ids, timeutil
from hitl.domain import rules
from hitl.domain.models import pause_view
from hitl.notify.render import Links, approval_email
from hitl.observability import logger


class Mailer(Protocol):
    def send(self, to: str, message: EmailMessage) -> str: ...


class WorkQueue(Protocol):
    def send(self, messages: list[dict[str, Any]]) -> None: ...


class NotifyStore(Protocol):
    def get_pause(self, watch_id: str) -> Any: ...

    def claim_notification(self, event_id: str, to: str, now_epoch: int, lease_s: int) -> str: ...

    def finish_notification(self, event_id: str, to: str, status: str) -> None: ...

    def put_token(self, token_hash: str, watch_id: str, tenant_id: str, approver: str, expires_at: str) -> None: ...


@dataclass
class Outcome:
    status: str  # sent | skipped | duplicate | busy


class Notifier:
    def __init__(self, store: NotifyStore, mailer: Mailer, queue: WorkQueue, base_url: str, sender: str) -> None:
        self.store = store
        self.mailer = mailer
        self.queue = queue
        self.base_url = base_url.rstrip("/")
        self.sender = sender

    def fan_out(self, envelope: dict[str, Any]) -> int:
        """One work item per named approver of the pause the event is about."""
        data = envelope["data"]
        messages = [
            {"eventId": envelope["eventId"], "watchId": data["watchId"], "to": approver, "kind": "request"}
            for approver in data.get("policy", {}).get("approvers", [])
        ]
        if messages:
            self.queue.send(messages)
        return len(messages)

    def deliver(self, work: dict[str, Any]) -> Outcome:
        """Send one approver's email (raises to have the message retried)."""
        found = self.store.get_pause(work["watchId"])
        if found is None:
            return Outcome("skipped")
        head, body = found
        head = rules.effective(head, timeutil.now())
        if head.status != "pending" or any(a.by == work["to"] for a in head.approvals):
            return Outcome("skipped")
        claim = self.store.claim_notification(work["eventId"], work["to"], timeutil.epoch(timeutil.now()), 120)
        if claim != "claimed":
            return Outcome(claim)  # "duplicate": sent already; "busy": another attempt is sending now
        try:
            token = ids.new_link_token()
            self.store.put_token(ids.sha256_hex(token), head.watchId, head.tenantId, work["to"], head.expiresAt)
            links = Links(
                approve=f"{self.base_url}/a/{token}/approve",
                reject=f"{self.base_url}/a/{token}/reject",
                page=f"{self.base_url}/a/{token}/view",
            )
            message = approval_email(
                sender=self.sender,
                to=work["to"],
                pause=pause_view(head, body),
                links=links,
                reminder=work.get("kind") == "reminder",
            )
            self.mailer.send(work["to"], message)
        except Exception:
            self.store.finish_notification(work["eventId"], work["to"], "retry")
            raise
        self.store.finish_notification(work["eventId"], work["to"], "sent")
        logger.info("approval email sent", extra={"watch_id": head.watchId})
        return Outcome("sent")
