"""Transitions of a pending pause: the agent cancels, an approver decides (from an emailed link
or elsewhere), a notification is recorded as failed.  Each is one conditional transaction with
its audit entry and outbox event; races settle in DynamoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from hitl import ids, timeutil
from hitl.domain import rules
from hitl.domain.auth import Principal
from hitl.domain.base import UseCase, not_found, refusal
from hitl.domain.errors import Conflict, Gone, NotAMember, NotFound
from hitl.domain.models import Channel, Decision, Notification, PauseBody, PauseHead, pause_view
from hitl.domain.ports import LinkToken, TransactionRefused
from hitl.observability import logger

#: how often a transition re-reads a head that changed under it before giving up
ATTEMPTS = 8


class Deciding(UseCase):
    def cancel(self, principal: Principal, watch_id: str, reason: str | None) -> dict[str, Any]:
        """The agent withdraws its own pending pause."""
        actor = principal.key.name
        for _ in range(ATTEMPTS):
            current = self._owned_head(principal, watch_id)
            now = self.clock()
            shown = rules.effective(current, now)
            if shown.status != "pending":
                raise refusal(shown)
            at = timeutil.iso(now)
            decision = Decision(outcome="cancelled", by=actor, channel="api", comment=reason, at=at)
            new = current.model_copy(
                update={"status": "cancelled", "decidedAt": at, "decision": decision, "version": current.version + 1}
            )
            if self._transition(current, new, actor, "api", now, overdue=False, reason=reason):
                return pause_view(new, None)
        raise Conflict("The pause kept changing; retry.", code="conflict")

    def decide(
        self,
        watch_id: str,
        approver: str,
        decision: Literal["approved", "rejected"],
        comment: str | None,
        channel: Channel,
        *,
        token_hash: str | None = None,
        current: PauseHead | None = None,
    ) -> PauseHead:
        """One approver's decision; with ``token_hash``, the link's token is used up in the same
        transaction.  ``current`` is the head the caller just read (else it is read here).  Races
        settle in DynamoDB: each approval counts once, the last decides once."""
        for _ in range(ATTEMPTS):
            if current is None:
                current = self.pauses.get_head(watch_id)
                if current is None:
                    raise not_found(watch_id)
            now = self.clock()
            shown = rules.effective(current, now)
            if shown.status != "pending":
                raise refusal(shown)
            new = rules.with_decision(current, approver, decision, comment, channel, timeutil.iso(now))
            stored = self._transition(
                current, new, approver, channel, now, overdue=False, token_hash=token_hash, comment=comment
            )
            if stored is not None:
                return stored
            current = None
        raise Conflict("The pause kept changing; retry.", code="conflict")

    def link(self, token: str) -> tuple[LinkToken, PauseHead, PauseBody]:
        """What an approver's emailed link stands for: its token record, the pause as it reads
        now, and what was asked.  Changes nothing (mail scanners fetch every link)."""
        found_token = self.tokens.get_token(ids.sha256_hex(token)) if ids.is_link_token(token) else None
        found = self.pauses.get(found_token.watchId) if found_token else None
        if found_token is None or found is None:
            raise NotFound("This link is not valid.", code="unknown_link")
        head, body = found
        # a removed member's links stop working at once (one consistent read)
        member = self.tenants.member(head.tenantId, found_token.approver)
        if member is None or member.status != "confirmed":
            raise NotAMember(
                f"{found_token.approver} is no longer a member of this team: the link no longer works.",
                details={"approver": found_token.approver},
            )
        return found_token, rules.effective(head, self.clock()), body

    def decide_by_link(self, token: str, decision: Literal["approved", "rejected"], comment: str | None) -> PauseHead:
        """The decision of the approver whose link this is: the token and the pause are read once."""
        link, shown, _ = self.link(token)
        if link.usedAt:
            raise Gone("This link was used already.", code="link_used", details={"pause": pause_view(shown, None)})
        # a pending head reads as stored; one past its expiry reads as its timeout and is refused
        return self.decide(
            link.watchId, link.approver, decision, comment, "email", token_hash=ids.sha256_hex(token), current=shown
        )

    def record_notification_failure(self, watch_id: str, to: str, channel: Channel = "email") -> bool:
        """A notification that will not arrive: on the pause (``notifications``) and as a
        ``pause.notification_failed`` event, so the agent need not wait for the timeout."""
        for _ in range(ATTEMPTS):
            current = self.pauses.get_head(watch_id)
            if current is None:
                return False
            now = self.clock()
            if rules.effective(current, now).status != "pending":
                return False
            notice = Notification(to=to, channel=channel, status="failed")
            if notice in current.notifications:
                return False
            new = current.model_copy(
                update={"notifications": [*current.notifications, notice], "version": current.version + 1}
            )
            if self._transition(
                current, new, "system", channel, now, overdue=False, event_type="pause.notification_failed", to=to
            ):
                return True
        return False

    def _transition(
        self,
        old: PauseHead,
        new: PauseHead,
        actor: str,
        channel: Channel,
        now: datetime,
        *,
        overdue: bool,
        token_hash: str | None = None,
        event_type: str | None = None,
        **details: Any,
    ) -> PauseHead | None:
        """One conditional transaction: the new head, its audit entry, its outbox event; then the
        event goes out.  The head as stored (with the chain's new ``auditHash``); ``None`` when the
        head changed first (the caller re-reads).  A pending
        pause may stay pending while an approval, a reminder or a failed notification is recorded."""
        recording = new.status == "pending" and len(new.approvals) > len(old.approvals)
        noted = new.status == "pending" and (
            len(new.notifications) > len(old.notifications) or (new.reminded and not old.reminded)
        )
        assert recording or noted or rules.can_transition(old.status, new.status), (old.status, new.status)
        at = timeutil.iso(now)
        type_ = event_type or ("pause.approval_recorded" if recording else f"pause.{new.status}")
        event = self._event(type_, new, new.decidedAt or at)
        audit = self._audit(type_, new, at, actor, channel, old, **{k: v for k, v in details.items() if v is not None})
        new = new.model_copy(update={"auditHash": audit.hash})  # the chain's head moves with the transition
        try:
            self.pauses.transition(old, new, audit, event, overdue=overdue, now=at, token_hash=token_hash)
        except TransactionRefused as refused:
            if "token" in refused.reasons and "head" not in refused.reasons:
                raise Gone("This link was used already.", code="link_used") from refused
            return None
        logger.info("pause transition", extra={"watch_id": old.watchId, "status": new.status})
        self._publish(event)
        return new
