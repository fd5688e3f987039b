"""The notifier: ``pause.created`` → one work item per approver → one email each.

Both of its queues feed it (batch item failures reported, so one bad record never retries
the others).  A failed record is retried with growing delays; on its last attempt the
failure is recorded on the pause before the message goes to the dead-letter queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl import wiring
from hitl.observability import logger, metrics, tracer
from hitl.runtime import email_queue, notifier, services

processor = BatchProcessor(event_type=EventType.SQS)
EMAIL = next(s for s in wiring.SUBSCRIPTIONS if s.name == "email")
#: seconds before the n-th retry: 10 s, 40 s, 90 s, 160 s, 250 s …
RETRY_DELAY_S = 10


def handle(record: SQSRecord) -> None:
    body: dict[str, Any] = record.json_body
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


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
