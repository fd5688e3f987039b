"""Pure rules: statuses, transitions, read-time expiry, digests, plans."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hitl import timeutil
from hitl.domain.models import Decision, Outcome, PauseHead, PlanName, Policy, Status

TERMINAL: frozenset[Status] = frozenset({"approved", "rejected", "expired", "cancelled"})


def can_transition(old: Status, new: Status) -> bool:
    """``pending`` moves to exactly one terminal status; a decided pause never changes again."""
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


PLANS: dict[PlanName, PlanLimits] = {
    "free": PlanLimits(monthly_pauses=50, approvers=1, retention_days=30, concurrent_waits=5),
    "starter": PlanLimits(monthly_pauses=500, approvers=3, retention_days=90, concurrent_waits=20),
    "pro": PlanLimits(monthly_pauses=None, approvers=None, retention_days=365, concurrent_waits=100),
}
