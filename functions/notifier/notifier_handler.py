"""The notifier: ``pause.created`` → one work item per approver → one email each; and what SES
reports about those emails.

Its three queues feed it (batch item failures reported, so one bad record never retries the
others): ``notify`` (``pause.created``, fanned out), ``email`` (one work item per approver) and
``bounces`` (SES's events from the default bus).  A failed send is retried with growing delays;
on its last attempt the failure is recorded on the pause before the message goes to the
dead-letter queue.  An email SES reports as bounced, complained about or rejected is recorded
on its pause the same way (once per approver, however often SES reports it).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl import wiring
from hitl.observability import logger, metrics, tracer
from hitl.runtime import email_queue, notifier, services

# a batch whose every record failed is reported like any other (no Lambda error, no traceback):
# the event source mapping retries exactly the failed records
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
EMAIL = next(s for s in wiring.SUBSCRIPTIONS if s.name == "email")
#: seconds before the n-th retry: 10 s, 40 s, 90 s, 160 s, 250 s …
RETRY_DELAY_S = 10


def handle(record: SQSRecord) -> None:
    body: dict[str, Any] = record.json_body
    if body.get("source") == wiring.SES_SOURCE:  # from the default bus: SES's word on an email
        undeliverable(body)
        return
    if "detail-type" in body:  # from the bus: fan out
        fanned = notifier().fan_out(body["detail"])
        logger.info("fanned out", extra={"watch_id": body["detail"]["data"]["watchId"], "approvers": fanned})
        return
    attempt = int(record.attributes.approximate_receive_count)
    try:
        outcome = notifier().deliver(body)
    except Exception:
        logger.exception("email not sent", extra={"watch_id": body.get("watchId"), "attempt": attempt})
        if attempt >= EMAIL.max_receive_count:
            services().pauses.record_notification_failure(body["watchId"], body["to"])
            metrics.add_metric(name="NotificationFailed", unit="Count", value=1)
        else:
            email_queue().delay(record.receipt_handle, RETRY_DELAY_S * attempt * attempt)
        raise
    if outcome.status == "busy":
        raise RuntimeError("another attempt is sending this email; retry later")
    if outcome.status == "sent":
        metrics.add_metric(name="EmailSent", unit="Count", value=1)


def undeliverable(event: dict[str, Any]) -> None:
    found = notifier().undeliverable(event.get("detail") or {})
    if found is None:
        return
    recorded = services().pauses.record_notification_failure(found.watch_id, found.to)
    logger.info(
        "approval email undeliverable",
        extra={
            "watch_id": found.watch_id,
            "ses_event": found.kind,
            "ses_message_id": found.message_id,
            "recorded": recorded,
        },
    )
    if recorded:
        metrics.add_metric(name="NotificationFailed", unit="Count", value=1)
        metrics.add_metric(name=f"Email{found.kind}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
