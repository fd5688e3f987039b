"""GET /api/pause/{watchId}: read a pause, or wait for its decision (``?wait=N``)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from hitl.http.app import json_response, principal
from hitl.http.responses import MISMATCH, Pause, errors, ok
from hitl.runtime import services

MAX_WAIT_S = 25


def make_router() -> Router:
    """The route on a router of its own: the wait function serves ``router``; the API function's
    OpenAPI document includes another one, so that neither resolver takes the other's router
    (a router reads its request from the one resolver that included it last)."""
    router = Router()

    @router.get(
        "/api/pause/<watchId>",
        summary="Read a pause; ?wait=N long-polls for its decision",
        responses=ok(200, "The pause (with wait: as soon as it is decided, else after N seconds)")
        | errors(400, 401, (404, "No such pause, or another tenant's"), (422, "wait is not 0 to 25"), 429),
        custom_response_validation_http_code=MISMATCH,
    )
    def get_pause(watchId: str, wait: Annotated[int, Query(ge=0, le=MAX_WAIT_S)] = 0) -> Response[Pause]:
        who = principal(router)
        if wait:
            return json_response(200, services().pauses.wait(who, watchId, wait))
        return json_response(200, services().pauses.view(who, watchId))

    return router


router = make_router()
