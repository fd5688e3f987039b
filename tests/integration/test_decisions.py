"""Human decisions through the domain and the real store (the email and dashboard channels
that call them come with the approvers' step)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from hitl import ids, runtime, timeutil
from hitl.domain.errors import Conflict, Gone, NotFound
from hitl.domain.ports import LinkToken


def test_an_approval_is_what_the_agent_sees(api, cloud, team, make_pause):
    watch_id = make_pause(team)["watchId"]
    runtime.services().pauses.decide(watch_id, "bob@x.test", "approved", "ship it", "email")
    pause = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert pause["status"] == "approved"
    assert pause["decision"]["by"] == "bob@x.test"
    assert pause["decision"]["comment"] == "ship it"
    assert pause["approvals"][0]["decision"] == "approved"
    assert [e["detail-type"] for e in cloud.events()] == ["pause.created", "pause.approved"]


def test_a_link_token_decides_once(api, cloud, team, make_pause):
    watch_id = make_pause(team)["watchId"]
    pauses = runtime.services().pauses
    token = ids.new_link_token()
    head = cloud.store.pauses.get_head(watch_id)
    link = LinkToken(watchId=watch_id, tenantId=head.tenantId, approver="ann@x.test", expiresAt=head.expiresAt)
    cloud.store.tokens.put_token(ids.sha256_hex(token), link)
    item, shown, body = pauses.link(token)
    assert shown.status == "pending" and item.approver == "ann@x.test" and body.context == {}
    assert pauses.decide_by_link(token, "rejected", None).status == "rejected"
    with pytest.raises(Gone) as used:
        pauses.decide_by_link(token, "approved", None)
    assert used.value.code == "link_used"
    with pytest.raises(NotFound):
        pauses.link(ids.new_link_token())
    with pytest.raises(NotFound):
        pauses.link("../../etc/passwd")


def test_concurrent_decisions_decide_exactly_once(api, cloud, team, make_pause):
    watch_id = make_pause(team)["watchId"]
    pauses = runtime.services().pauses

    def decide(n):
        try:
            return pauses.decide(
                watch_id, ("ann@x.test", "bob@x.test")[n % 2], ("approved", "rejected")[n % 2], None, "email"
            ).status
        except (Conflict, Gone) as refused:
            return refused.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(decide, range(16)))
    decided = [o for o in outcomes if o in ("approved", "rejected")]
    assert len(decided) == 1, outcomes
    audit = api.get("/api/audit", query={"watchId": watch_id}, key=team["apiKey"]).json()["items"]
    assert [a["type"] for a in audit].count(f"pause.{decided[0]}") == 1
    assert api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()["status"] == decided[0]


def test_no_decision_after_expiry(api, cloud, team, monkeypatch, make_pause):
    watch_id = make_pause(team)["watchId"]
    pauses = runtime.services().pauses
    later = timeutil.parse(cloud.store.pauses.get_head(watch_id).expiresAt)
    monkeypatch.setattr(pauses, "clock", lambda: later)
    with pytest.raises(Gone) as refused:
        pauses.decide(watch_id, "ann@x.test", "approved", None, "email")
    assert refused.value.code == "pause_expired"
