"""GET /api/audit: the tenant's audit entries, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from hitl.http.app import json_response, principal
from hitl.runtime import services

router = Router()


@router.get("/api/audit", summary="Audit entries, newest first")
def list_audit(
    watchId: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[dict[str, Any]]:
    return json_response(200, services().pauses.list_audit(principal(router), watchId, limit, offset, cursor))
