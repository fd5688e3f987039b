"""What a signed-in member sees and does on the dashboard: the pauses waiting for them, one pause
with its timeline, the team's history, and a decision (``channel: "dashboard"``).

Every read is a bounded number of Queries of the tenant's pause list (``MAX_PAGES`` at most per
page shown): filters the index cannot apply are applied to what was read, and a page that ran
out of reads says where to go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hitl.domain import cursor, rules
from hitl.domain.base import not_found
from hitl.domain.deciding import Deciding
from hitl.domain.errors import BadRequest, Forbidden
from hitl.domain.listing import stored_statuses_for
from hitl.domain.models import AuditEntry, PauseBody, PauseHead, Status
from hitl.domain.ports import InvalidPosition, Position

#: list pages read at most for one page shown
MAX_PAGES = 5
PAGE_ITEMS = 100


@dataclass(frozen=True)
class HistoryFilter:
    status: Status | None = None
    approver: str | None = None
    #: text in the action (case-insensitive)
    text: str | None = None
    #: created on or after / before (RFC 3339 UTC)
    created_from: str | None = None
    created_before: str | None = None

    def scope(self, tenant_id: str) -> str:
        return "|".join(
            (
                "history",
                tenant_id,
                self.status or "",
                self.approver or "",
                self.text or "",
                self.created_from or "",
                self.created_before or "",
            )
        )

    def keeps(self, head: PauseHead) -> bool:
        if self.status and head.status != self.status:
            return False
        if self.approver and self.approver not in head.policy.approvers:
            return False
        if self.text and self.text.lower() not in head.action.lower():
            return False
        if self.created_before and head.createdAt >= self.created_before:
            return False
        return not (self.created_from and head.createdAt < self.created_from)


@dataclass(frozen=True)
class HistoryPage:
    items: list[PauseHead]
    #: where the next page starts (signed); None at the end
    next_cursor: str | None


class Reviewing(Deciding):
    def waiting_for(self, tenant_id: str, email: str, limit: int = 50) -> list[PauseHead]:
        """Pending pauses that name ``email`` and that they have not decided yet, newest first."""
        now = self.clock()
        found: list[PauseHead] = []
        start: Position | None = None
        for _ in range(MAX_PAGES):
            page = self.pauses.list_pauses(tenant_id, ["pending"], start, PAGE_ITEMS)
            for head, _position in page.items:
                shown = rules.effective(head, now)
                if shown.status == "pending" and may_decide(shown, email):
                    found.append(shown)
            start = page.next
            if start is None or len(found) >= limit:
                break
        return found[:limit]

    def pause_of_team(self, tenant_id: str, watch_id: str) -> tuple[PauseHead, PauseBody, list[AuditEntry]]:
        """One pause of the team, as time reads it, with its timeline; another team's is not found."""
        found = self.pauses.get(watch_id)
        if found is None or found[0].tenantId != tenant_id:
            raise not_found(watch_id)
        head, body = found
        return rules.effective(head, self.clock()), body, self.pauses.audit_of_pause(watch_id)

    def history(self, tenant_id: str, wanted: HistoryFilter, cursor_text: str | None, limit: int = 25) -> HistoryPage:
        now = self.clock()
        secret = self.pauses.cursor_secret()
        scope = wanted.scope(tenant_id)
        start: Position | None = cursor.decode(secret, scope, cursor_text) if cursor_text else None
        statuses = stored_statuses_for(wanted.status)
        kept: list[tuple[PauseHead, Position]] = []
        for _ in range(MAX_PAGES):
            try:
                page = self.pauses.list_pauses(tenant_id, statuses, start, PAGE_ITEMS)
            except InvalidPosition as wrong:
                raise BadRequest("The cursor is not valid for this list.", code="invalid_cursor") from wrong
            passed_from = False
            for head, position in page.items:
                shown = rules.effective(head, now)
                if wanted.created_from and shown.createdAt < wanted.created_from:
                    passed_from = True  # newest first: nothing further can match
                    break
                if wanted.keeps(shown):
                    kept.append((shown, position))
                if len(kept) == limit:
                    return HistoryPage([h for h, _ in kept], cursor.encode(secret, scope, position))
            if passed_from or page.next is None:
                return HistoryPage([h for h, _ in kept], None)
            start = page.next
        # out of reads for this page: go on from where the reading stopped
        return HistoryPage([h for h, _ in kept], cursor.encode(secret, scope, start) if start else None)

    def decide_as_member(
        self,
        tenant_id: str,
        watch_id: str,
        email: str,
        decision: Literal["approved", "rejected"],
        comment: str | None,
    ) -> PauseHead:
        """A member's decision from the dashboard: only on their team's pauses (another team's is
        not found, exactly like a missing one), only when the pause's policy names them."""
        head = self.pauses.get_head(watch_id)
        if head is None or head.tenantId != tenant_id:
            raise not_found(watch_id)
        if email not in head.policy.approvers:
            raise Forbidden("The pause's policy does not name you as an approver.", code="not_an_approver")
        return self.decide(watch_id, email, decision, comment, "dashboard", current=head)


def may_decide(head: PauseHead, email: str) -> bool:
    """Whether ``email`` may still decide ``head`` (named, not decided by them, pending)."""
    return (
        head.status == "pending" and email in head.policy.approvers and not any(a.by == email for a in head.approvals)
    )
