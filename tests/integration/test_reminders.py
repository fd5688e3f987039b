"""remindAfterSeconds: one reminder to the approvers who have not decided, driven by the sweeper."""

from __future__ import annotations

from datetime import timedelta

from hitl import runtime, timeutil


def emails_to(cloud):
    return sorted((str(e["To"]), str(e["Subject"])) for e in cloud.sent_emails())


def test_a_reminder_goes_once_to_who_has_not_decided(api, cloud, team, monkeypatch, make_notified_pause):
    watch_id = make_notified_pause(team, requiredApprovals=2, remindAfterSeconds=600, timeoutSeconds=3600)
    pause = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert pause["remindAt"] > pause["createdAt"]
    pauses = runtime.services().pauses
    pauses.decide(watch_id, "ann@x.test", "approved", None, "email")

    assert pauses.sweep()["reminded"] == 0  # not yet due
    later = timeutil.now() + timedelta(minutes=11)
    monkeypatch.setattr(pauses, "clock", lambda: later)
    assert pauses.sweep()["reminded"] == 1
    assert pauses.sweep()["reminded"] == 0  # never twice
    cloud.run_queue("notify")
    cloud.run_queue("email")
    reminders = [e for e in emails_to(cloud) if e[1].startswith("Reminder")]
    assert reminders == [("bob@x.test", "Reminder: approval needed: Deploy")]
    assert cloud.store.pauses.get_head(watch_id).status == "pending"  # a reminder decides nothing


def test_the_reminder_must_come_before_the_timeout(api, team, pause_request):
    refused = pause_request(team, remindAfterSeconds=600, timeoutSeconds=600)
    assert refused.status == 422
    too_soon = pause_request(team, remindAfterSeconds=5)
    assert too_soon.status == 422


def test_an_expired_pause_gets_no_reminder(api, cloud, team, monkeypatch, make_pause):
    watch_id = make_pause(team, remindAfterSeconds=60, timeoutSeconds=120)["watchId"]
    pauses = runtime.services().pauses
    later = timeutil.now() + timedelta(minutes=3)
    monkeypatch.setattr(pauses, "clock", lambda: later)
    swept = pauses.sweep()
    assert (swept["expired"], swept["reminded"]) == (1, 0)
    assert cloud.store.pauses.get_head(watch_id).status == "expired"
