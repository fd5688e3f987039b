"""GET /api/pause/{watchId}: read a pause, or wait for its decision (``?wait=N``)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from hitl.http.app import json_response, principal
from hitl.runtime import services

MAX_WAIT_S = 25
router = Router()


@router.get("/api/pause/<watchId>", summary="Read a pause; ?wait=N long-polls for its decision")
def get_pause(watchId: str, wait: Annotated[int, Query(ge=0, le=MAX_WAIT_S)] = 0) -> Response[dict[str, Any]]:
    who = principal(router)
    if wait:
        return json_response(200, services().pauses.wait(who, watchId, wait))
    return json_response(200, services().pauses.view(who, watchId))
