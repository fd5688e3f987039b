"""Pure rules: statuses, transitions, read-time expiry, digests, plans."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from hitl import timeutil
from hitl.domain.errors import Conflict, NotFound, Unprocessable
from hitl.domain.models import Approval, Channel, Decision, Outcome, PauseHead, PlanName, Policy, PolicyFloor, Status

TERMINAL: frozenset[Status] = frozenset({"approved", "rejected", "expired", "cancelled"})


def can_transition(old: Status, new: Status) -> bool:
    """``pending`` moves to exactly one terminal status; a decided pause never changes again.
    (A pending pause may also stay pending while approvals are recorded one by one.)"""
    return old == "pending" and new in TERMINAL


def timeout_outcome(policy: Policy) -> Outcome:
    return "approved" if policy.onTimeout == "approve" else "expired"


def is_overdue(head: PauseHead, now: datetime) -> bool:
    return head.status == "pending" and now >= timeutil.parse(head.expiresAt)


def timed_out(head: PauseHead) -> PauseHead:
    """The pause as its timeout decides it, at ``expiresAt``."""
    outcome = timeout_outcome(head.policy)
    decision = Decision(outcome=outcome, by="timeout", channel="timeout", at=head.expiresAt)
    return head.model_copy(
        update={"status": outcome, "decidedAt": head.expiresAt, "decision": decision, "version": head.version + 1}
    )


def effective(head: PauseHead, now: datetime) -> PauseHead:
    """Time decides before any sweeper does: an overdue pending pause reads as its timeout outcome."""
    return timed_out(head) if is_overdue(head, now) else head


def with_decision(
    head: PauseHead,
    approver: str,
    decision: Literal["approved", "rejected"],
    comment: str | None,
    channel: Channel,
    at: str,
) -> PauseHead:
    """The pause after one approver's decision: any rejection rejects, ``requiredApprovals``
    approvals approve, fewer leave it pending with the approval recorded.  Each named approver
    decides once."""
    if approver not in head.policy.approvers:
        raise NotFound("You are not an approver of this pause.", code="not_an_approver")
    if any(a.by == approver for a in head.approvals):
        raise Conflict("You have already decided on this pause.", code="already_decided_by_you")
    approvals = [*head.approvals, Approval(by=approver, channel=channel, decision=decision, comment=comment, at=at)]
    approved = sum(1 for a in approvals if a.decision == "approved")
    status: Status = "pending"
    if decision == "rejected":
        status = "rejected"
    elif approved >= head.policy.requiredApprovals:
        status = "approved"
    changes: dict[str, Any] = {"approvals": approvals, "version": head.version + 1, "status": status}
    if status != "pending":
        changes["decidedAt"] = at
        changes["decision"] = Decision(outcome=status, by=approver, channel=channel, comment=comment, at=at)
    return head.model_copy(update=changes)


def policy_for(
    approvers: list[str] | None,
    required: int | None,
    on_timeout: Literal["reject", "approve"] | None,
    timeout_seconds: int,
    confirmed: tuple[str, ...],
    floor: PolicyFloor,
) -> Policy:
    """The pause's policy from what the agent asked, checked against the tenant's confirmed
    approvers and the owners' floor.  An agent may always ask for more; never for less."""
    named = confirmed if approvers is None else tuple(dict.fromkeys(a.strip().lower() for a in approvers))
    unknown = sorted(set(named) - set(confirmed))
    if unknown:
        raise Unprocessable(
            "Every approver must be a confirmed approver of this tenant.",
            code="unknown_approver",
            details={"approvers": unknown},
        )
    needed = required or 1
    if needed > len(named):
        raise Unprocessable(
            f"requiredApprovals is {needed} but only {len(named)} approver(s) are named.",
            code="validation_error",
            details={"errors": [{"field": "requiredApprovals", "in": "body", "problem": "more than the approvers"}]},
        )
    violations = []
    if needed < floor.minRequiredApprovals:
        violations.append(f"requiredApprovals must be at least {floor.minRequiredApprovals}")
    if on_timeout == "approve":
        if not floor.allowAutoApprove:
            violations.append("onTimeout 'approve' is not allowed for this tenant")
        elif timeout_seconds < floor.minAutoApproveTimeoutSeconds:
            violations.append(
                f"onTimeout 'approve' needs timeoutSeconds of at least {floor.minAutoApproveTimeoutSeconds}"
            )
    if violations:
        raise Unprocessable(
            "The request asks for less than this tenant's policy floor: " + "; ".join(violations) + ".",
            code="policy_violation",
            details={"violations": violations, "floor": floor.to_json()},
        )
    return Policy(approvers=list(named), requiredApprovals=needed, onTimeout=on_timeout or "reject")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def action_digest(action: str, context: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"action": action, "context": context}).encode()).hexdigest()


@dataclass(frozen=True)
class PlanLimits:
    monthly_pauses: int | None  # None: unlimited, no counter
    approvers: int | None
    retention_days: int
    concurrent_waits: int
    #: Slack approvals (a connected workspace, DMs, clicks): Pro's "Email + Slack notifications"
    slack: bool = False


PLANS: dict[PlanName, PlanLimits] = {
    "free": PlanLimits(monthly_pauses=50, approvers=1, retention_days=30, concurrent_waits=5),
    "starter": PlanLimits(monthly_pauses=500, approvers=3, retention_days=90, concurrent_waits=20),
    "pro": PlanLimits(monthly_pauses=None, approvers=None, retention_days=365, concurrent_waits=100, slack=True),
}
