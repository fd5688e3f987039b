"""The agent API function: create, list, cancel, decide, audit, webhooks, the OpenAPI document."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl.http import audit, openapi, pauses, webhooks
from hitl.http.app import build_app
from hitl.observability import logger, metrics, tracer

#: GET /api/pause/{watchId} is the wait function's (wiring.ROUTES): documented here, not served
app = build_app([pauses.router, audit.router, webhooks.router, openapi.router])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
