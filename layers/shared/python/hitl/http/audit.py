"""GET /api/audit: the tenant's audit entries, newest first, as its plan shows them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from hitl.http.app import json_response, principal
from hitl.http.responses import MISMATCH, AuditPage, errors, ok
from hitl.runtime import services

router = Router()
#: an exact entry type: ``pause.approved``, ``team.key_created``, …
TYPE_PATTERN = r"^(pause|team)\.[a-z_]{1,60}$"


@router.get(
    "/api/audit",
    summary="Audit entries, newest first",
    description=(
        "What the plan shows: free, pause events of the last 30 days; starter, of the last 90 days; "
        "pro, pause and team events of the last year.  `type` is an exact type (`pause.approved`, "
        "`team.key_created`); a `team.*` type on another plan than pro answers 402 `plan_required`. "
        "A page may hold fewer than `limit` entries (the plan's filter skipped many): continue while "
        "`nextCursor` is not null."
    ),
    responses=ok(200, "A page of audit entries")
    | errors(
        (400, "A malformed query, a bad cursor (or any cursor with watchId), or offset over 1000"),
        401,
        (402, "A `team.*` type asked on a plan that does not show team events (`plan_required`)"),
        (404, "No pause watchId, or another tenant's"),
        422,
    ),
    custom_response_validation_http_code=MISMATCH,
)
def list_audit(
    watchId: Annotated[str | None, Query(max_length=100)] = None,
    type_: Annotated[str | None, Query(alias="type", pattern=TYPE_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[AuditPage]:
    page = services().audit.api_page(
        principal(router).tenant_id, watch_id=watchId, type_=type_, limit=limit, offset=offset, cursor_text=cursor
    )
    return json_response(200, page)
