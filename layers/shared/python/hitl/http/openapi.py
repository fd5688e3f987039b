"""GET /api/openapi.json: the OpenAPI document of the resolver that serves this route.

``document(app)`` is also what ``make openapi`` writes to ``docs/openapi.json`` (``python -m
infra.openapi``), so the committed copy and the served one are the same text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl.http.app import PUBLIC_PATHS, json_response
from hitl.http.responses import MISMATCH, ok

TITLE = "HITL API"
VERSION = "1"
DESCRIPTION = "Pause an AI agent until a human approves. Authenticate with `Authorization: Bearer hitl_…`."
#: powertools' own error shapes; this API never answers with them (every error is an ``ErrorBody``)
FOREIGN_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

router = Router()


@router.get(
    "/api/openapi.json",
    summary="This document (no API key needed)",
    responses=ok(200, "The OpenAPI document"),
    custom_response_validation_http_code=MISMATCH,
)
def openapi() -> Response[dict[str, Any]]:
    resolver = router.api_resolver
    assert isinstance(resolver, APIGatewayHttpResolver), "the router is included in a resolver"
    return json_response(200, document(resolver))


@lru_cache(maxsize=4)
def document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The document of the agent API: every route ``app`` serves, the wait function's read and
    long-poll (``GET /api/pause/{watchId}``) and the dashboard's decision (``POST
    /api/pause/{watchId}/approve``), served by functions of their own, with their real bodies
    and statuses."""
    from hitl.http import approve_doc, pause_read
    from hitl.http.app import build_app

    served = _schema(app)
    for elsewhere in (pause_read.make_router(), approve_doc.make_router()):
        described = _schema(build_app([elsewhere]))
        served["paths"].update(described["paths"])
        schemas = served.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(described.get("components", {}).get("schemas", {}))
    served["paths"] = dict(sorted(served["paths"].items()))
    return tidy(served)


def _schema(app: APIGatewayHttpResolver) -> dict[str, Any]:
    # imported here: the OpenAPI models cost every cold start ~40 ms, and only this route needs them
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    schema = app.get_openapi_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes={"apiKey": HTTPBearer(description="An API key: hitl_ and 36 base62 characters")},
        security=[{"apiKey": []}],
    )
    dumped: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def tidy(raw: dict[str, Any]) -> dict[str, Any]:
    """Drop what powertools adds for every route that this API never answers (its 422 and
    response-validation shapes: ours are listed per route), and mark the public paths as such."""
    for path, operations in raw["paths"].items():
        for operation in operations.values():
            operation["responses"] = {
                status: answer for status, answer in operation["responses"].items() if not _foreign(answer)
            }
            if path in PUBLIC_PATHS:
                operation["security"] = []
    schemas = raw.get("components", {}).get("schemas", {})
    for name in FOREIGN_SCHEMAS:
        schemas.pop(name, None)
    return raw


def _foreign(answer: dict[str, Any]) -> bool:
    ref = answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return any(ref.endswith(f"/{name}") for name in FOREIGN_SCHEMAS)
