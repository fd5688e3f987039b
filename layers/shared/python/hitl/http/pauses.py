"""Routes of the agent API that change or list pauses."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from hitl.domain.models import Status
from hitl.domain.requests import CancelRequest, CreatePauseRequest
from hitl.http.app import json_response, principal
from hitl.http.responses import MISMATCH, Created, PausePage, PauseState, errors, ok
from hitl.observability import metrics
from hitl.runtime import services

router = Router()


@router.post(
    "/api/pause",
    summary="Create a pause",
    responses=ok(201, "Created: pending, its approvers are notified", {"Location": "The statusUrl"})
    | ok(
        200,
        "Replayed: this Idempotency-Key and body created it before",
        {"Idempotent-Replayed": "`true`: nothing new was created, no quota used"},
    )
    | errors(
        400,
        401,
        402,
        (409, "This Idempotency-Key was used with another body (`idempotency_conflict`)"),
        (413, "context is over 64 KiB as JSON (`context_too_large`)"),
        415,
        (422, "Not the schema, or a policy below the tenant's floor, an unknown approver, an unsafe callbackUrl"),
    ),
    custom_response_validation_http_code=MISMATCH,
)
def create_pause(
    body: CreatePauseRequest,
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=255)] = None,
) -> Response[Created]:
    created = services().pauses.create(principal(router), body, idempotency_key)
    shown = services().pauses.created_view(created.pause)
    if created.replayed:
        return json_response(200, shown, {"Idempotent-Replayed": "true"})
    metrics.add_metric(name="PauseCreated", unit="Count", value=1)
    return json_response(201, shown, {"Location": shown["statusUrl"]})


@router.get(
    "/api/pause",
    summary="List pauses, newest first",
    responses=ok(200, "A page of pause summaries")
    | errors((400, "A malformed query, a bad cursor, cursor with offset, or offset over 1000"), 401, 422),
    custom_response_validation_http_code=MISMATCH,
)
def list_pauses(
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[PausePage]:
    return json_response(200, services().pauses.list_pauses(principal(router), status, limit, offset, cursor))


@router.post(
    "/api/pause/<watchId>/cancel",
    summary="Withdraw a pending pause",
    responses=ok(200, "Cancelled: the pause, without its context")
    | errors(
        400,
        401,
        (404, "No such pause, or another tenant's"),
        (409, "Already approved or rejected (`already_decided`; `details.pause` holds it)"),
        410,
        415,
        422,
    ),
    custom_response_validation_http_code=MISMATCH,
)
def cancel_pause(watchId: str, body: Annotated[CancelRequest | None, Body()] = None) -> Response[PauseState]:
    cancelled = services().pauses.cancel(principal(router), watchId, body.reason if body else None)
    metrics.add_metric(name="PauseCancelled", unit="Count", value=1)
    return json_response(200, cancelled)
