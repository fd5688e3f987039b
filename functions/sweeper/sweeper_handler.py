"""The scheduled sweeper: times out overdue pauses, republishes unsent events."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl.observability import logger, metrics, tracer
from hitl.runtime import services


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    swept = services().pauses.sweep()
    metrics.add_metric(name="PausesExpired", unit="Count", value=swept["expired"])
    metrics.add_metric(name="EventsRepublished", unit="Count", value=swept["republished"])
    metrics.add_metric(name="RemindersDue", unit="Count", value=swept["reminded"])
    if any(swept.values()):
        logger.info("swept", extra=swept)
    return swept
