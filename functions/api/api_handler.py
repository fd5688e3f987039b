"""The agent API function: create, list, cancel, decide, audit, the OpenAPI document."""

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl.http import audit, pause_read, pauses, webhooks
from hitl.http.app import build_app, json_response
from hitl.observability import logger, metrics, tracer

#: GET /api/pause/{watchId} is the wait function's (wiring.ROUTES): documented here, not served
app = build_app([pauses.router, audit.router, webhooks.router])


@app.get("/api/openapi.json", summary="This document", include_in_schema=False)
def openapi() -> Response[dict[str, Any]]:
    return json_response(200, openapi_document())


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    # imported here: the OpenAPI models cost every cold start ~40 ms, and only this route needs them
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    document = build_app([pauses.router, pause_read.router, audit.router, webhooks.router])
    schema = document.get_openapi_schema(
        title="HITL API",
        version="1",
        description="Pause an AI agent until a human approves. Authenticate with `Authorization: Bearer hitl_…`.",
        security_schemes={"apiKey": HTTPBearer(description="An API key: hitl_ and 36 base62 characters")},
        security=[{"apiKey": []}],
    )
    return schema.model_dump(mode="json", by_alias=True, exclude_none=True)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
