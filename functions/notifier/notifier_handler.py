"""The notifier: ``pause.created`` → one work item per (approver, channel) → one email or Slack DM
each; what SES reports about those emails; and, after each decision, the pause's Slack DMs updated.

Its four queues feed it (batch item failures reported, so one bad record never retries the
others): ``notify`` (``pause.created`` and reminders, fanned out), ``email`` (one work item per
approver and channel: its ``channel`` says email or slack), ``bounces`` (SES's events from the
default bus) and ``slack-updates`` (decisions, expiries, cancels: every DM of the pause rewritten).
A failed send is retried with growing delays (a DM Slack rate-limits: after its ``Retry-After``);
on its last attempt the failure is recorded on the pause before the message goes to the
dead-letter queue.  An email SES reports as bounced, complained about or rejected is recorded
on its pause the same way (once per approver, however often SES reports it).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl import wiring
from hitl.domain.notify import GaveUp, RetryLater
from hitl.domain.slack_notify import UPDATE_EVENTS
from hitl.observability import logger, metrics, tracer
from hitl.runtime import email_queue, notifier

# a batch whose every record failed is reported like any other (no Lambda error, no traceback):
# the event source mapping retries exactly the failed records
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def handle(record: SQSRecord) -> None:
    """A record of the ``email`` work queue is one approver's email; the other queues carry bus
    events: SES's word on an email (``aws.ses``, default bus) or a pause event to fan out."""
    if email_queue().holds(record.event_source_arn):
        send(record)
        return
    envelope: dict[str, Any] = record.json_body
    if envelope.get("source") == wiring.SES_SOURCE:
        recorded = notifier().report_undeliverable(envelope.get("detail") or {})
        if recorded is not None:
            metrics.add_metric(name="NotificationFailed", unit="Count", value=1)
            metrics.add_metric(name=f"Email{recorded.kind}", unit="Count", value=1)
        return
    detail = envelope["detail"]
    if detail.get("type") in UPDATE_EVENTS:
        updated = notifier().update_slack(detail)
        if updated:
            metrics.add_metric(name="SlackUpdated", unit="Count", value=updated)
        return
    fanned = notifier().fan_out(detail)
    logger.info("fanned out", extra={"watch_id": detail["data"]["watchId"], "work_items": fanned})


def send(record: SQSRecord) -> None:
    try:
        outcome = notifier().attempt(record.json_body, int(record.attributes.approximate_receive_count))
    except RetryLater as later:
        email_queue().delay(record.receipt_handle, later.delay_s)
        raise
    except GaveUp as gave_up:
        metrics.add_metric(name="NotificationFailed", unit="Count", value=1)
        if gave_up.channel == "slack":
            metrics.add_metric(name="SlackSendFailed", unit="Count", value=1)
        raise
    if outcome.status == "busy":
        raise RuntimeError(f"another attempt is sending this {outcome.channel} notification; retry later")
    if outcome.status == "sent":
        metrics.add_metric(name="SlackSent" if outcome.channel == "slack" else "EmailSent", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
