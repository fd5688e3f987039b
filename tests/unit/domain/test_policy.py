import pytest

from hitl.domain import rules
from hitl.domain.errors import Unprocessable
from hitl.domain.models import PolicyFloor

TEAM = ("ann@x.test", "bob@x.test", "cy@x.test")
OPEN = PolicyFloor()


def policy(approvers=None, required=None, on_timeout=None, timeout=3600, floor=OPEN):
    return rules.policy_for(approvers, required, on_timeout, timeout, TEAM, floor)


def test_defaults_are_every_confirmed_approver_one_approval_and_a_refusal_on_timeout():
    shown = policy()
    assert (shown.approvers, shown.requiredApprovals, shown.onTimeout) == (list(TEAM), 1, "reject")


def test_named_approvers_two_of_three():
    shown = policy(["Ann@x.test", "bob@x.test", "cy@x.test"], 2)
    assert shown.approvers == ["ann@x.test", "bob@x.test", "cy@x.test"]
    assert shown.requiredApprovals == 2


def test_unknown_approvers_are_422():
    with pytest.raises(Unprocessable) as refused:
        policy(["ann@x.test", "mallory@x.test"])
    assert refused.value.code == "unknown_approver"
    assert refused.value.details == {"approvers": ["mallory@x.test"]}


def test_more_required_than_named_is_422():
    with pytest.raises(Unprocessable) as refused:
        policy(["ann@x.test"], 2)
    assert refused.value.code == "validation_error"


def test_auto_approve_is_refused_under_the_default_floor():
    with pytest.raises(Unprocessable) as refused:
        policy(on_timeout="approve")
    assert refused.value.code == "policy_violation"


def test_auto_approve_works_once_the_floor_allows_it_and_the_timeout_is_long_enough():
    floor = PolicyFloor(allowAutoApprove=True, minAutoApproveTimeoutSeconds=600)
    assert policy(on_timeout="approve", timeout=600, floor=floor).onTimeout == "approve"
    with pytest.raises(Unprocessable) as refused:
        policy(on_timeout="approve", timeout=599, floor=floor)
    assert "at least 600" in refused.value.message


def test_the_agent_cannot_ask_for_fewer_approvals_than_the_floor_but_may_ask_for_more():
    floor = PolicyFloor(minRequiredApprovals=2)
    with pytest.raises(Unprocessable) as refused:
        policy(required=1, floor=floor)
    assert refused.value.code == "policy_violation"
    with pytest.raises(Unprocessable):
        policy(floor=floor)  # the default of 1 is less than the floor too
    assert policy(required=3, floor=floor).requiredApprovals == 3
    assert policy(on_timeout="reject", required=2, floor=floor).onTimeout == "reject"
