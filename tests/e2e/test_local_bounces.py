"""On the local stack, an approval email to SES's mailbox simulator bounces (or is complained
about) as in AWS: the local SES simulator puts SES's event on the default bus, and the same rule →
queue → notifier path puts the failed notification on the pause (``make bench`` times it)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e

BOUNCE = "bounce@simulator.amazonses.com"
COMPLAINT = "complaint@simulator.amazonses.com"


def _failed_notifications(client, watch_id):
    pause = client.get(f"/api/pause/{watch_id}").json()
    return pause if pause.get("notifications") else None


def test_a_bounced_approval_email_shows_on_the_pause(stack, agent, eventually):
    # Given a tenant whose one approver's mailbox bounces
    tenant = stack.admin("create-tenant", "bouncing", "--plan", "pro", "--approver", BOUNCE)
    client = agent.as_tenant(tenant["apiKey"])

    # When its agent creates a pause
    created = client.post("/api/pause", {"action": "Rotate the database password", "context": {"db": "main"}})
    assert created.status == 201, created.body
    watch_id = created.json()["watchId"]

    # Then the pause soon says the approver will not get the email
    pause = eventually(lambda: _failed_notifications(client, watch_id), timeout_s=15, every_s=0.1)
    assert pause["notifications"] == [{"to": BOUNCE, "channel": "email", "status": "failed"}]
    assert pause["status"] == "pending"
    # with one pause.notification_failed event, and the email in the outbox (it was sent)
    failed = eventually(
        lambda: [
            e
            for e in stack.events()
            if e["detail-type"] == "pause.notification_failed" and e["detail"]["data"]["watchId"] == watch_id
        ]
    )
    assert len(failed) == 1
    assert failed[0]["detail"]["data"]["notifications"] == pause["notifications"]
    outbox = stack.http().get("/_local/outbox.json").json()
    assert [e["to"] for e in outbox if "Rotate the database password" in e["text"]] == [[BOUNCE]]


def test_only_the_approver_whose_email_fails_is_reported(stack, agent, eventually):
    # Given a tenant with a complaining approver and one whose mail is delivered
    tenant = stack.admin(
        "create-tenant", "complaining", "--plan", "pro", "--approver", COMPLAINT, "--approver", "fine@example.com"
    )
    client = agent.as_tenant(tenant["apiKey"])

    watch_id = client.post("/api/pause", {"action": "Delete the staging cluster", "context": {}}).json()["watchId"]

    pause = eventually(lambda: _failed_notifications(client, watch_id), timeout_s=15, every_s=0.1)
    assert pause["notifications"] == [{"to": COMPLAINT, "channel": "email", "status": "failed"}]
    # nothing more arrives later (SES's report is handled once)
    time.sleep(1.5)
    again = client.get(f"/api/pause/{watch_id}").json()
    assert again["notifications"] == pause["notifications"]
    failed = [
        e
        for e in stack.events()
        if e["detail-type"] == "pause.notification_failed" and e["detail"]["data"]["watchId"] == watch_id
    ]
    assert len(failed) == 1
