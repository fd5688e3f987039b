"""GET /api/audit: the tenant's audit entries, newest first."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from hitl.http.app import json_response, principal
from hitl.http.responses import MISMATCH, AuditPage, errors, ok
from hitl.runtime import services

router = Router()


@router.get(
    "/api/audit",
    summary="Audit entries, newest first",
    responses=ok(200, "A page of audit entries")
    | errors(
        (400, "A malformed query, a bad cursor (or any cursor with watchId), or offset over 1000"),
        401,
        (404, "No pause watchId, or another tenant's"),
        422,
    ),
    custom_response_validation_http_code=MISMATCH,
)
def list_audit(
    watchId: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[AuditPage]:
    return json_response(200, services().pauses.list_audit(principal(router), watchId, limit, offset, cursor))
