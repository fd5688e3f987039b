"""Webhook endpoints, their delivery log, and the callback secret.  Changes are recorded in the
team's audit log (by the service) with the key's name as the actor, channel ``api``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from hitl.domain.auth import Principal
from hitl.http.app import json_response, principal
from hitl.http.responses import (
    MISMATCH,
    CallbackSecret,
    Deleted,
    EndpointDeliveries,
    PauseDeliveries,
    RegisteredWebhook,
    RetryQueued,
    Webhook,
    WebhookList,
    errors,
    ok,
)
from hitl.runtime import webhooks
from hitl.webhooks.models import RegisterWebhook, UpdateWebhook

router = Router()


def tenant() -> str:
    return principal(router).tenant_id


def caller() -> tuple[str, dict[str, Any]]:
    """The tenant, and who is changing something (for its audit entry): the key's name."""
    who: Principal = principal(router)
    source = router.current_event.raw_event.get("requestContext", {}).get("http", {}).get("sourceIp")
    return who.tenant_id, {"actor": who.key.name, "channel": "api", "ip": source or None}


@router.post(
    "/api/webhooks",
    summary="Register a webhook endpoint (its secret is shown once)",
    responses=ok(201, "Registered: the endpoint and its signing secret")
    | errors(400, 401, 415, (422, "Not the schema, an unknown event type, or an unsafe url (`unsafe_url`)")),
    custom_response_validation_http_code=MISMATCH,
)
def register(body: RegisterWebhook) -> Response[RegisteredWebhook]:
    tenant_id, by = caller()
    return json_response(201, webhooks().register(tenant_id, body, **by))


@router.get(
    "/api/webhooks",
    summary="The tenant's webhook endpoints (no secrets)",
    responses=ok(200, "Every endpoint, newest first") | errors(401),
    custom_response_validation_http_code=MISMATCH,
)
def list_webhooks() -> Response[WebhookList]:
    return json_response(200, {"items": webhooks().endpoints(tenant())})


@router.patch(
    "/api/webhooks/<webhookId>",
    summary="Enable, disable, or change the events of an endpoint",
    responses=ok(200, "The endpoint as changed")
    | errors(
        (400, "Malformed JSON, or nothing to change (`empty_update`)"),
        401,
        (404, "No such webhook, or another tenant's"),
        415,
        422,
    ),
    custom_response_validation_http_code=MISMATCH,
)
def update(webhookId: str, body: UpdateWebhook) -> Response[Webhook]:
    tenant_id, by = caller()
    return json_response(200, webhooks().update(tenant_id, webhookId, body, **by))


@router.delete(
    "/api/webhooks/<webhookId>",
    summary="Remove an endpoint",
    responses=ok(200, "Removed") | errors(401, (404, "No such webhook, or another tenant's")),
    custom_response_validation_http_code=MISMATCH,
)
def delete(webhookId: str) -> Response[Deleted]:
    tenant_id, by = caller()
    webhooks().delete(tenant_id, webhookId, **by)
    return json_response(200, {"deleted": webhookId})


@router.get(
    "/api/webhooks/<webhookId>/deliveries",
    summary="Delivery attempts to an endpoint, newest first",
    responses=ok(200, "The latest attempts")
    | errors(400, 401, (404, "No such webhook, or another tenant's"), (422, "limit is not 1 to 100")),
    custom_response_validation_http_code=MISMATCH,
)
def endpoint_deliveries(
    webhookId: str, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> Response[EndpointDeliveries]:
    return json_response(200, webhooks().deliveries_of_endpoint(tenant(), webhookId, limit))


@router.post(
    "/api/webhooks/<webhookId>/deliveries/<deliveryId>/retry",
    summary="Send a delivery's event again (also redrives a dead-lettered one)",
    responses=ok(202, "Queued: the event goes to the endpoint again, with the same webhook-id")
    | errors(401, (404, "No such webhook or delivery (or another tenant's), or the event is no longer kept")),
    custom_response_validation_http_code=MISMATCH,
)
def retry(webhookId: str, deliveryId: str) -> Response[RetryQueued]:
    return json_response(202, webhooks().retry(tenant(), webhookId, deliveryId))


@router.get(
    "/api/pause/<watchId>/deliveries",
    summary="Delivery attempts of one pause's events, newest first",
    responses=ok(200, "Every attempt kept") | errors(401, (404, "No such pause, or another tenant's")),
    custom_response_validation_http_code=MISMATCH,
)
def pause_deliveries(watchId: str) -> Response[PauseDeliveries]:
    return json_response(200, webhooks().deliveries_of_pause(tenant(), watchId))


@router.get(
    "/api/callback-secret",
    summary="The secret that signs callbackUrl deliveries",
    responses=ok(200, "The secret (created on first read)") | errors(401),
    custom_response_validation_http_code=MISMATCH,
)
def callback_secret() -> Response[CallbackSecret]:
    return json_response(200, webhooks().callback_secret(tenant()))


@router.post(
    "/api/callback-secret/rotate",
    summary="A new callback secret; the old one signs too for 24 h",
    responses=ok(200, "The new secret, and the previous one")
    | errors(401, (409, "Rotated concurrently: read it again")),
    custom_response_validation_http_code=MISMATCH,
)
def rotate_callback_secret() -> Response[CallbackSecret]:
    tenant_id, by = caller()
    return json_response(200, webhooks().rotate_callback_secret(tenant_id, **by))
