"""What SES reports about an approval email: its event on the default bus → the "bounces" rule →
queue → the notifier → ``notifications`` on the pause and one ``pause.notification_failed``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from hitl import runtime, timeutil
from hitl.adapters import keys
from hitl_local import ses_simulator

ACCOUNT = "123456789012"


@pytest.fixture
def configuration_set(cloud, monkeypatch) -> str:
    """The notifier sends with the configuration set, as in AWS (its events carry it as a tag)."""
    monkeypatch.setenv("SES_CONFIGURATION_SET", cloud.names.configuration_set)
    runtime.reset()
    return cloud.names.configuration_set


@pytest.fixture
def team(team, configuration_set):
    """The shared team, its emails sent with the configuration set."""
    return team


def sent_message_ids(cloud) -> dict[str, str]:
    """approver -> the SES message id of the email sent to them (moto keeps them in memory)."""
    from moto.ses.models import ses_backends

    return {ses_simulator.recipients_of(m)[0]: m.id for m in ses_backends[ACCOUNT]["us-east-1"].sent_messages}


def ses_event(
    cloud,
    detail_type: str,
    message_id: str,
    recipient: str,
    *,
    configuration_set: str | None = None,
) -> dict[str, Any]:
    """An SES event-publishing record as SES puts it on the default bus (the shapes of AWS's
    documented examples)."""
    mail = {
        "timestamp": "2026-11-24T10:00:00.000Z",
        "source": "HITL <approvals@hitl.local>",
        "sourceArn": f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/hitl.local",
        "sendingAccountId": ACCOUNT,
        "messageId": message_id,
        "destination": [recipient],
        "headersTruncated": False,
        "headers": [{"name": "To", "value": recipient}],
        "commonHeaders": {"to": [recipient], "messageId": message_id, "subject": "Approval needed: Deploy"},
        "tags": {"ses:configuration-set": [configuration_set or cloud.names.configuration_set]},
    }
    if detail_type == "Email Bounced":
        return {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {
                        "emailAddress": recipient,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                ],
                "timestamp": "2026-11-24T10:00:01.000Z",
                "feedbackId": "0100-feedback-000000",
                "reportingMTA": "dsn; mta.example.com",
            },
            "mail": mail,
        }
    if detail_type == "Email Complaint Received":
        return {
            "eventType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": recipient}],
                "timestamp": "2026-11-24T10:05:00.000Z",
                "feedbackId": "0100-feedback-000001",
                "complaintFeedbackType": "abuse",
            },
            "mail": mail,
        }
    if detail_type == "Email Rejected":
        return {"eventType": "Reject", "reject": {"reason": "Bad content"}, "mail": mail}
    if detail_type == "Email Delivery Delayed":
        return {
            "eventType": "DeliveryDelay",
            "deliveryDelay": {
                "delayType": "TransientCommunicationFailure",
                "delayedRecipients": [{"emailAddress": recipient, "status": "4.4.1"}],
                "timestamp": "2026-11-24T10:30:00.000Z",
            },
            "mail": mail,
        }
    raise ValueError(detail_type)


def put_ses_event(cloud, detail_type: str, detail: dict[str, Any]) -> None:
    answer = cloud.client("events").put_events(
        Entries=[
            {
                "Source": "aws.ses",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "Resources": [],
                "EventBusName": "default",
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0


def pause_of(api, team, watch_id) -> dict[str, Any]:
    answer = api.get(f"/api/pause/{watch_id}", key=team["apiKey"])
    assert answer.status == 200
    return answer.json()


def failed_events(cloud) -> list[dict[str, Any]]:
    return [e for e in cloud.events() if e["detail-type"] == "pause.notification_failed"]


def test_each_sent_email_remembers_its_pause_and_approver_for_30_days(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)

    for to, message_id in sent_message_ids(cloud).items():
        item = cloud.store.table.get(keys.sent_message(message_id))
        assert item is not None
        assert (item["watchId"], item["to"]) == (watch_id, to)
        assert item["ttl"] - timeutil.epoch(timeutil.now()) == pytest.approx(30 * 86400, abs=60)


def test_a_bounce_puts_the_failed_notification_on_the_pause_and_emits_one_event(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    cloud.events()  # pause.created: not what this test is about
    message_id = sent_message_ids(cloud)["ann@x.test"]

    put_ses_event(cloud, "Email Bounced", ses_event(cloud, "Email Bounced", message_id, "ann@x.test"))
    assert cloud.run_queue("bounces") == 1

    pause = pause_of(api, team, watch_id)
    assert pause["status"] == "pending"  # the other approver may still decide
    assert pause["notifications"] == [{"to": "ann@x.test", "channel": "email", "status": "failed"}]
    (event,) = failed_events(cloud)
    assert event["source"] == "hitl"
    assert event["detail"]["data"]["watchId"] == watch_id
    assert event["detail"]["data"]["notifications"] == pause["notifications"]
    audit = api.get("/api/audit", query={"watchId": watch_id}, key=team["apiKey"]).json()["items"]
    assert [e["type"] for e in audit].count("pause.notification_failed") == 1


def test_a_second_bounce_of_the_same_email_adds_nothing(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    message_id = sent_message_ids(cloud)["ann@x.test"]
    put_ses_event(cloud, "Email Bounced", ses_event(cloud, "Email Bounced", message_id, "ann@x.test"))
    assert cloud.run_queue("bounces") == 1
    cloud.events()
    before = pause_of(api, team, watch_id)

    # SES may report twice, and a complaint may follow the bounce of the same email
    put_ses_event(cloud, "Email Bounced", ses_event(cloud, "Email Bounced", message_id, "ann@x.test"))
    put_ses_event(
        cloud, "Email Complaint Received", ses_event(cloud, "Email Complaint Received", message_id, "ann@x.test")
    )
    assert cloud.run_queue("bounces") == 2

    assert pause_of(api, team, watch_id) == before
    assert failed_events(cloud) == []


@pytest.mark.parametrize("detail_type", ["Email Complaint Received", "Email Rejected"])
def test_a_complaint_or_a_reject_is_a_failed_notification_too(api, cloud, team, detail_type, make_notified_pause):
    watch_id = make_notified_pause(team)
    cloud.events()
    message_id = sent_message_ids(cloud)["bob@x.test"]

    put_ses_event(cloud, detail_type, ses_event(cloud, detail_type, message_id, "bob@x.test"))
    assert cloud.run_queue("bounces") == 1

    assert pause_of(api, team, watch_id)["notifications"] == [
        {"to": "bob@x.test", "channel": "email", "status": "failed"}
    ]
    assert len(failed_events(cloud)) == 1


def test_each_approvers_bounce_counts_once(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    cloud.events()
    for to, message_id in sent_message_ids(cloud).items():
        put_ses_event(cloud, "Email Bounced", ses_event(cloud, "Email Bounced", message_id, to))
    assert cloud.run_queue("bounces") == 2

    notifications = pause_of(api, team, watch_id)["notifications"]
    assert sorted(n["to"] for n in notifications) == ["ann@x.test", "bob@x.test"]
    assert len(failed_events(cloud)) == 2


def test_an_unknown_message_id_is_ignored(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    cloud.events()

    put_ses_event(cloud, "Email Bounced", ses_event(cloud, "Email Bounced", "0100-not-ours-000000", "ann@x.test"))
    assert cloud.run_queue("bounces") == 1  # settled, not retried

    assert "notifications" not in pause_of(api, team, watch_id)
    assert failed_events(cloud) == []


def test_a_delay_or_another_configuration_sets_bounce_never_reaches_the_queue(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    message_id = sent_message_ids(cloud)["ann@x.test"]

    put_ses_event(cloud, "Email Delivery Delayed", ses_event(cloud, "Email Delivery Delayed", message_id, "ann@x.test"))
    put_ses_event(
        cloud,
        "Email Bounced",
        ses_event(cloud, "Email Bounced", message_id, "ann@x.test", configuration_set="someone-elses"),
    )

    assert cloud.run_queue("bounces") == 0
    assert "notifications" not in pause_of(api, team, watch_id)


def test_a_bounce_after_the_decision_changes_nothing(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    message_id = sent_message_ids(cloud)["ann@x.test"]
    api.post(f"/api/pause/{watch_id}/cancel", key=team["apiKey"])
    cloud.events()

    put_ses_event(cloud, "Email Bounced", ses_event(cloud, "Email Bounced", message_id, "ann@x.test"))
    assert cloud.run_queue("bounces") == 1

    pause = pause_of(api, team, watch_id)
    assert pause["status"] == "cancelled" and "notifications" not in pause
    assert failed_events(cloud) == []


def test_an_email_whose_id_cannot_be_remembered_is_still_sent_once(api, cloud, team, monkeypatch, make_notified_pause):
    def unavailable(*args, **kwargs):
        raise ConnectionError("DynamoDB is having a moment")

    monkeypatch.setattr(runtime.services().store.tokens, "put_sent_message", unavailable)

    make_notified_pause(team)  # both work items settled: no retry, no second email

    assert len(cloud.sent_emails()) == 2


# --- the local stack's SES mailbox simulator -----------------------------------------------------


@pytest.mark.parametrize(
    ("address", "detail_type"),
    [
        ("bounce@simulator.amazonses.com", "Email Bounced"),
        ("complaint+approvals@simulator.amazonses.com", "Email Complaint Received"),
        ("suppressionlist@simulator.amazonses.com", "Email Bounced"),
    ],
)
def test_the_simulator_reports_what_ses_would_and_the_same_path_records_it(
    api, cloud, make_tenant, configuration_set, make_notified_pause, address, detail_type
):
    tenant = make_tenant(plan="pro", approvers=[address, "ann@x.test"])
    watch_id = make_notified_pause(tenant)
    cloud.events()
    simulator = ses_simulator.MailboxSimulator(cloud.client("events"), configuration_set)

    assert simulator.scan(now=0) == 0  # not yet: SES takes a moment to report
    assert simulator.scan(now=ses_simulator.DELIVERY_S) == 1  # only the simulator's mailbox is reported
    assert simulator.scan(now=10) == 0  # each message once

    sqs = cloud.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=cloud.names.queues["bounces"], WaitTimeSeconds=0)["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("aws.ses", detail_type)
    sqs.change_message_visibility(
        QueueUrl=cloud.names.queues["bounces"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert cloud.run_queue("bounces") == 1
    pause = pause_of(api, tenant, watch_id)
    assert pause["notifications"] == [{"to": address, "channel": "email", "status": "failed"}]
    assert len(failed_events(cloud)) == 1


def sent(*destinations: str) -> SimpleNamespace:
    """A message as moto keeps it (SES v2 raw send: the envelope recipient and the To header's)."""
    return SimpleNamespace(
        id="0100-local-000000",
        source="HITL <approvals@hitl.local>",
        destinations=list(destinations),
        raw_data=f"From: HITL <approvals@hitl.local>\nTo: {destinations[0]}\nSubject: Hi\n\nbody\n",
    )


def test_the_simulators_events_have_ses_s_shape():
    moment = datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=UTC)
    ((detail_type, detail),) = ses_simulator.reports_for(
        sent(*["bounce@simulator.amazonses.com"] * 2),
        configuration_set="hitl-local",
        sent_at=moment,
        reported_at=moment,
    )

    assert detail_type == "Email Bounced"
    assert detail["eventType"] == "Bounce"
    assert detail["bounce"]["bounceType"] == "Permanent"
    assert detail["bounce"]["bouncedRecipients"] == [
        {
            "emailAddress": "bounce@simulator.amazonses.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        }
    ]
    mail = detail["mail"]
    assert mail["messageId"] == "0100-local-000000"
    assert mail["destination"] == ["bounce@simulator.amazonses.com"]
    assert mail["timestamp"] == "2026-11-24T10:00:00.123Z"
    assert mail["tags"]["ses:configuration-set"] == ["hitl-local"]
    assert mail["commonHeaders"]["subject"] == "Hi"
    assert (
        ses_simulator.reports_for(
            sent("ann@x.test"),
            configuration_set=None,
            sent_at=moment,
            reported_at=moment,
        )
        == []
    )
