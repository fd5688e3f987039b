"""Tenants made with ``hitl-admin --local`` against the running local stack: a month's quota under
concurrent creates through the stack's worker processes, what ``local.json`` advertises, and the
operator's listings.  (That a tenant never sees another's pause is tested in-process, in
``tests/integration/test_pause_api.py``.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e


def test_a_free_tenant_cannot_create_a_51st_pause_in_a_month(stack, agent):
    # Given a free tenant that created its 50 pauses of the month
    tenant = stack.admin("create-tenant", "tenant-free", "--plan", "free", "--approver", "free@example.com")
    free = agent.as_tenant(tenant["apiKey"])

    def create(n: int) -> int:
        return free.post("/api/pause", {"action": f"Action {n}", "context": {"n": n}}).status

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(create, range(50)))
    assert statuses == [201] * 50

    # When it creates one more
    refused = free.post("/api/pause", {"action": "Action 51", "context": {}})

    # Then it is refused with 402 quota_exceeded, and nothing of it was written
    assert refused.status == 402, refused.body
    assert refused.error_code == "quota_exceeded"
    listed = free.get("/api/pause", query={"limit": 100}).json()
    assert len(listed["items"]) == 50
    assert "Action 51" not in [item["action"] for item in listed["items"]]
    audit = free.get("/api/audit", query={"limit": 100}).json()["items"]
    assert len(audit) == 50


def test_local_json_advertises_only_urls_that_answer_and_the_banner_shows_the_outbox(stack):
    # Given the running stack's local.json
    urls = {name: value for name, value in stack.config.items() if name.endswith("Url")}

    # Then it names no dashboard (there is none yet), and every URL it names answers
    assert "dashboardUrl" not in stack.config
    assert {"apiUrl", "outboxUrl"} <= set(urls)
    client = stack.http()
    for name, url in urls.items():
        if name != "apiUrl":
            assert client.get(url).status == 200, name
    # and the banner printed at start shows where the emails are
    assert f"outbox            {stack.config['outboxUrl']}" in stack.output()


def test_the_operator_lists_tenants_and_finds_a_lost_key_id_to_revoke(stack, agent):
    # Given a tenant with a second key whose id nobody wrote down
    tenant = stack.admin("create-tenant", "tenant-lost-key", "--plan", "starter", "--approver", "k@example.com")
    assert tenant["name"] == "tenant-lost-key" and tenant["keyName"] == "default"
    lost = stack.admin("create-key", "tenant-lost-key", "--name", "ci")
    ci = agent.as_tenant(lost["apiKey"])
    assert ci.get("/api/pause").status == 200

    # When the operator lists the tenants and the tenant's keys
    names = [t["name"] for t in stack.admin("list-tenants")["tenants"]]
    keys = stack.admin("list-keys", "tenant-lost-key")["keys"]

    # Then the tenant is there (with the local one), and its keys show ids and last 4, never a key
    assert {"local", "tenant-lost-key"} <= set(names)
    found = next(k for k in keys if k["name"] == "ci" and k["last4"] == lost["apiKey"][-4:])
    assert lost["apiKey"] not in str(keys) and tenant["apiKey"] not in str(keys)
    # and revoking by that id locks the key out
    assert stack.admin("revoke-key", found["keyId"])["revoked"] is True
    assert [k["revoked"] for k in stack.admin("list-keys", "tenant-lost-key")["keys"] if k["name"] == "ci"] == [True]
