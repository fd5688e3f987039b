from datetime import timedelta

import pytest

from hitl import timeutil
from hitl.domain import rules
from hitl.domain.models import PauseHead, Policy

NOW = timeutil.parse("2026-11-24T12:00:00.000Z")


def head(**changes: object) -> PauseHead:
    values: dict[str, object] = {
        "watchId": "w_1",
        "tenantId": "t_1",
        "status": "pending",
        "action": "Deploy",
        "requestedBy": "agent",
        "createdAt": "2026-11-24T11:00:00.000Z",
        "expiresAt": "2026-11-24T12:00:00.000Z",
        "actionDigest": "x",
    }
    values.update(changes)
    return PauseHead.model_validate(values)


@pytest.mark.parametrize("new", ["approved", "rejected", "expired", "cancelled"])
def test_pending_moves_to_each_terminal_status(new):
    assert rules.can_transition("pending", new)


@pytest.mark.parametrize("old", ["approved", "rejected", "expired", "cancelled"])
@pytest.mark.parametrize("new", ["pending", "approved", "rejected", "expired", "cancelled"])
def test_a_decided_pause_never_changes_again(old, new):
    assert not rules.can_transition(old, new)


def test_pending_cannot_stay_pending():
    assert not rules.can_transition("pending", "pending")


def test_a_pending_pause_before_its_expiry_reads_pending():
    shown = rules.effective(head(), NOW - timedelta(milliseconds=1))
    assert shown.status == "pending"
    assert shown.decision is None


def test_time_decides_before_the_sweeper_at_expires_at():
    # Given a pause whose expiry has come, stored as pending (no sweeper ran yet)
    stored = head()
    # When it is read
    shown = rules.effective(stored, NOW)
    # Then it reads expired, decided by the timeout at expiresAt exactly
    assert shown.status == "expired"
    assert shown.decidedAt == stored.expiresAt
    assert shown.decision is not None
    assert (shown.decision.outcome, shown.decision.by, shown.decision.channel) == ("expired", "timeout", "timeout")
    assert shown.decision.at == stored.expiresAt


def test_on_timeout_approve_reads_approved_by_timeout():
    shown = rules.effective(head(policy=Policy(onTimeout="approve")), NOW + timedelta(days=3))
    assert shown.status == "approved"
    assert shown.decision is not None and shown.decision.by == "timeout"


def test_read_time_expiry_never_touches_a_decided_pause():
    decided = head(status="cancelled", decidedAt="2026-11-24T11:30:00.000Z")
    assert rules.effective(decided, NOW + timedelta(days=1)) == decided


def test_action_digest_is_the_canonical_json_hash():
    assert rules.action_digest("a", {"x": 1, "y": [1, 2]}) == rules.action_digest("a", {"y": [1, 2], "x": 1})
    assert rules.action_digest("a", {"x": 1}) != rules.action_digest("b", {"x": 1})
    assert rules.action_digest("a", {"x": 1}) != rules.action_digest("a", {"x": "1"})


def test_times_are_rfc3339_utc_with_milliseconds():
    assert timeutil.iso(NOW) == "2026-11-24T12:00:00.000Z"
