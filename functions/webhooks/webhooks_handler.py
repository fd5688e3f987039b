"""The webhook deliverer: every pause event → one work item per (event, endpoint) → one
signed POST per attempt, retried on the documented schedule, then the dead-letter queue.

Batches of one record: a slow endpoint never holds up another endpoint's delivery.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl.observability import logger, metrics, tracer
from hitl.runtime import deliveries_queue, webhooks
from hitl.webhooks.service import Dropped, RetryLater

# a batch whose every record failed is reported like any other (no Lambda error, no traceback):
# the event source mapping retries exactly the failed records
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def handle(record: SQSRecord) -> None:
    body: dict[str, Any] = record.json_body
    if "detail-type" in body:  # from the bus: fan out
        webhooks().fan_out(body["detail"])
        return
    attempt = int(record.attributes.approximate_receive_count)
    try:
        delivery = webhooks().deliver(body, attempt)
    except Dropped:
        return
    except RetryLater as later:
        logger.info("webhook attempt failed", extra={"delivery": later.delivery.view(), "retry_in": later.delay_s})
        deliveries_queue().delay(record.receipt_handle, later.delay_s)
        raise
    if delivery.status == "failed":  # out of attempts: fail the record so SQS dead-letters it
        metrics.add_metric(name="WebhookDeadLettered", unit="Count", value=1)
        deliveries_queue().delay(record.receipt_handle, 0)
        raise RuntimeError(f"delivery {delivery.deliveryId} failed for good; to the dead-letter queue")
    metrics.add_metric(name="WebhookDelivered", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
