"""Approval policies on create, decided by the named approvers, under the owners' floor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hitl import runtime, timeutil
from hitl.domain.errors import NotFound
from hitl_admin import cli


@pytest.fixture
def team(team, admin):
    """The shared team and a third approver, cy@x.test (added confirmed)."""
    admin.add_approver(team["tenantId"], "cy@x.test")
    return {**team, "approvers": [*team["approvers"], "cy@x.test"]}


def test_two_of_three_needs_two_approvals_and_says_so_on_the_way(api, cloud, team, pause_request):
    created = pause_request(team, approvers=["ann@x.test", "bob@x.test", "cy@x.test"], requiredApprovals=2)
    assert created.status == 201
    watch_id = created.json()["watchId"]
    pauses = runtime.services().pauses
    assert pauses.decide(watch_id, "ann@x.test", "approved", None, "email").status == "pending"
    halfway = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert halfway["status"] == "pending" and [a["by"] for a in halfway["approvals"]] == ["ann@x.test"]
    assert pauses.decide(watch_id, "cy@x.test", "approved", "fine", "email").status == "approved"
    decided = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert decided["decision"]["by"] == "cy@x.test"
    assert [a["by"] for a in decided["approvals"]] == ["ann@x.test", "cy@x.test"]
    types = [e["detail-type"] for e in cloud.events()]
    assert types == ["pause.created", "pause.approval_recorded", "pause.approved"]


def test_only_named_approvers_are_emailed_and_may_decide(api, cloud, team, pause_request):
    created = pause_request(team, approvers=["bob@x.test"])
    watch_id = created.json()["watchId"]
    cloud.run_queue("notify")
    cloud.run_queue("email")
    assert [str(e["To"]) for e in cloud.sent_emails()] == ["bob@x.test"]
    with pytest.raises(NotFound):
        runtime.services().pauses.decide(watch_id, "ann@x.test", "approved", None, "email")


def test_unknown_approvers_and_impossible_counts_are_422(api, team, pause_request):
    unknown = pause_request(team, approvers=["ann@x.test", "eve@x.test"])
    assert unknown.status == 422 and unknown.json()["error"]["code"] == "unknown_approver"
    impossible = pause_request(team, approvers=["ann@x.test"], requiredApprovals=2)
    assert impossible.status == 422
    assert api.get("/api/pause", key=team["apiKey"]).json()["items"] == []


def test_auto_approve_is_refused_under_the_default_floor_and_works_once_allowed(
    api, cloud, team, monkeypatch, pause_request
):
    refused = pause_request(team, onTimeout="approve", timeoutSeconds=600)
    assert refused.status == 422
    assert refused.json()["error"]["code"] == "policy_violation"

    monkeypatch.setattr(cli, "connect", lambda args: cloud.store)
    assert cli.main(["--table", "x", "set-policy", team["tenantId"], "--allow-auto-approve"]) == 0
    # the key was used a moment ago (its lookup is cached): the new floor counts at once all the same
    allowed = pause_request(team, onTimeout="approve", timeoutSeconds=600)
    assert allowed.status == 201
    watch_id = allowed.json()["watchId"]
    later = timeutil.now() + timedelta(minutes=11)
    monkeypatch.setattr(runtime.services().pauses, "clock", lambda: later)
    shown = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert shown["status"] == "approved"
    assert shown["decision"]["by"] == "timeout" and shown["decidedAt"] == shown["expiresAt"]
    assert runtime.services().pauses.sweep()["expired"] == 1
    assert cloud.store.pauses.get_head(watch_id).status == "approved"
    assert [e["detail-type"] for e in cloud.events()][-1] == "pause.approved"


def test_the_floor_sets_a_minimum_of_approvals(api, cloud, team, monkeypatch, pause_request):
    monkeypatch.setattr(cli, "connect", lambda args: cloud.store)
    assert cli.main(["--table", "x", "set-policy", team["tenantId"], "--min-approvals", "2"]) == 0
    assert pause_request(team).json()["error"]["code"] == "policy_violation"
    assert pause_request(team, requiredApprovals=3).status == 201  # asking for more is always fine


def test_an_approver_added_a_moment_ago_can_be_named_at_once(api, cloud, team, monkeypatch, pause_request):
    # Given a warm function that has just served this key (its lookup is cached)
    assert pause_request(team).status == 201
    assert pause_request(team, approvers=["dee@x.test"]).json()["error"]["code"] == "unknown_approver"
    # When the operator adds an approver, Then the very next create may name them
    monkeypatch.setattr(cli, "connect", lambda args: cloud.store)
    assert cli.main(["--table", "x", "add-approver", team["tenantId"], "dee@x.test"]) == 0
    named = pause_request(team, approvers=["dee@x.test"])
    assert named.status == 201, named.body
    # and one removed a moment ago can no longer be named
    assert cli.main(["--table", "x", "remove-approver", team["tenantId"], "dee@x.test"]) == 0
    assert pause_request(team, approvers=["dee@x.test"]).json()["error"]["code"] == "unknown_approver"
