"""Routes of the agent API that change or list pauses."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from hitl.domain.errors import Unauthorized
from hitl.domain.models import Status
from hitl.domain.requests import CancelRequest, CreatePauseRequest
from hitl.http.app import json_response, principal
from hitl.observability import metrics
from hitl.runtime import services

router = Router()


@router.post("/api/pause", summary="Create a pause", responses={201: {"description": "Created"}})
def create_pause(
    body: CreatePauseRequest,
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=255)] = None,
) -> Response[dict[str, Any]]:
    created = services().pauses.create(principal(router), body, idempotency_key)
    shown = services().pauses.created_view(created.pause)
    if created.replayed:
        return json_response(200, shown, {"Idempotent-Replayed": "true"})
    metrics.add_metric(name="PauseCreated", unit="Count", value=1)
    return json_response(201, shown, {"Location": shown["statusUrl"]})


@router.get("/api/pause", summary="List pauses, newest first")
def list_pauses(
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[dict[str, Any]]:
    return json_response(200, services().pauses.list_pauses(principal(router), status, limit, offset, cursor))


@router.post("/api/pause/<watchId>/cancel", summary="Withdraw a pending pause")
def cancel_pause(watchId: str, body: Annotated[CancelRequest | None, Body()] = None) -> Response[dict[str, Any]]:
    cancelled = services().pauses.cancel(principal(router), watchId, body.reason if body else None)
    metrics.add_metric(name="PauseCancelled", unit="Count", value=1)
    return json_response(200, cancelled)


@router.post(
    "/api/pause/<watchId>/approve",
    summary="A human decides (dashboard session only); with an API key always 401",
    responses={401: {"description": "An API key, or no session: deciding needs a dashboard session"}},
)
def decide_pause(watchId: str) -> Response[dict[str, Any]]:
    """Never with an API key: an agent must not approve itself.  The dashboard brings sessions
    (and reads ``DecideRequest`` then); until it does, no body is even read: whoever calls and
    whatever they send, the answer is 401."""
    raise Unauthorized(
        "Deciding needs a dashboard session; API keys cannot approve or reject.",
        code="dashboard_session_required",
    )
