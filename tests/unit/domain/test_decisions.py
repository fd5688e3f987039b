import pytest

from hitl.domain import rules
from hitl.domain.errors import Conflict, NotFound
from hitl.domain.models import PauseHead, Policy

AT = "2026-11-24T12:00:00.000Z"


def pending(required=1, approvers=("a@x.test", "b@x.test", "c@x.test")) -> PauseHead:
    return PauseHead(
        watchId="w_1",
        tenantId="t_1",
        status="pending",
        action="Deploy",
        requestedBy="agent",
        createdAt="2026-11-24T11:00:00.000Z",
        expiresAt="2026-11-24T13:00:00.000Z",
        actionDigest="x",
        policy=Policy(approvers=list(approvers), requiredApprovals=required),
    )


def test_one_approval_decides_by_default():
    after = rules.with_decision(pending(), "a@x.test", "approved", "ok", "email", AT)
    assert after.status == "approved"
    assert after.decidedAt == AT
    assert after.decision is not None
    assert (after.decision.outcome, after.decision.by, after.decision.channel, after.decision.comment) == (
        "approved",
        "a@x.test",
        "email",
        "ok",
    )
    assert [a.by for a in after.approvals] == ["a@x.test"]
    assert after.version == 2


def test_n_of_m_stays_pending_until_the_nth_approval():
    one = rules.with_decision(pending(required=2), "a@x.test", "approved", None, "email", AT)
    assert one.status == "pending" and one.decision is None and len(one.approvals) == 1
    two = rules.with_decision(one, "c@x.test", "approved", None, "email", AT)
    assert two.status == "approved"
    assert two.decision is not None and two.decision.by == "c@x.test"


def test_any_rejection_rejects():
    one = rules.with_decision(pending(required=2), "a@x.test", "approved", None, "email", AT)
    rejected = rules.with_decision(one, "b@x.test", "rejected", "no", "email", AT)
    assert rejected.status == "rejected"
    assert rejected.decision is not None and rejected.decision.comment == "no"


def test_each_approver_decides_once():
    one = rules.with_decision(pending(required=2), "a@x.test", "approved", None, "email", AT)
    with pytest.raises(Conflict):
        rules.with_decision(one, "a@x.test", "approved", None, "email", AT)


def test_only_named_approvers_decide():
    with pytest.raises(NotFound):
        rules.with_decision(pending(), "mallory@x.test", "approved", None, "email", AT)
