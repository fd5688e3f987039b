"""The OpenAPI description of ``POST /api/pause/{watchId}/approve``, the product page's route.

The dashboard function serves it (``hitl.http.dashboard.pauses.decide``), with a session and its
CSRF token, never an API key; this router only describes it for the API's document, as the wait
function's route is described (``openapi.document``).  It is never included in a served resolver.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from pydantic import BaseModel, ConfigDict, Field

from hitl.http.responses import MISMATCH, PauseState, errors, ok


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "rejected"]
    comment: Annotated[str | None, Field(max_length=2000)] = None


def make_router() -> Router:
    router = Router()

    @router.post(
        "/api/pause/<watchId>/approve",
        summary="A member decides, with a dashboard session (never an API key)",
        description=(
            "Send the `__Host-hitl_session` cookie and its CSRF token (`X-CSRF-Token`, from the pages' "
            '`<meta name="csrf-token">`). The dashboard\'s own form posts `decision`, `comment` and `csrf` '
            'form-encoded and is answered `303` back to the pause\'s page. Records `channel: "dashboard"`, '
            "`by` = the member's email."
        ),
        responses=ok(200, "Recorded: the pause after this decision")
        | errors(
            (400, "A body that is not JSON, or a form that could not be read"),
            (401, "An API key (agents never decide), or no session"),
            (403, "Cross-site, a missing or wrong CSRF token, or the pause's policy does not name you"),
            (404, "No such pause, or another team's"),
            (409, "Already decided, or you decided it already (`details.pause`)"),
            (410, "Expired or cancelled (`details.pause`)"),
            (415, "Neither JSON nor the page's form"),
            (422, "Not the schema"),
        ),
        custom_response_validation_http_code=MISMATCH,
    )
    def decide_pause(
        watchId: str,
        body: Annotated[DecideRequest, Body()],
        x_csrf_token: Annotated[str, Header(alias="X-CSRF-Token")],
    ) -> Response[PauseState]:
        raise NotImplementedError("served by the dashboard function")  # pragma: no cover

    return router
