"""Webhook endpoints, their delivery log, and the callback secret."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from hitl.http.app import json_response, principal
from hitl.runtime import webhooks
from hitl.webhooks.models import RegisterWebhook, UpdateWebhook

router = Router()


def tenant() -> str:
    return principal(router).tenant_id


@router.post("/api/webhooks", summary="Register a webhook endpoint (its secret is shown once)")
def register(body: RegisterWebhook) -> Response[dict[str, Any]]:
    return json_response(201, webhooks().register(tenant(), body))


@router.get("/api/webhooks", summary="The tenant's webhook endpoints (no secrets)")
def list_webhooks() -> Response[dict[str, Any]]:
    return json_response(200, {"items": webhooks().endpoints(tenant())})


@router.patch("/api/webhooks/<webhookId>", summary="Enable, disable, or change the events of an endpoint")
def update(webhookId: str, body: UpdateWebhook) -> Response[dict[str, Any]]:
    return json_response(200, webhooks().update(tenant(), webhookId, body))


@router.delete("/api/webhooks/<webhookId>", summary="Remove an endpoint")
def delete(webhookId: str) -> Response[dict[str, Any]]:
    webhooks().delete(tenant(), webhookId)
    return json_response(200, {"deleted": webhookId})


@router.get("/api/webhooks/<webhookId>/deliveries", summary="Delivery attempts to an endpoint, newest first")
def endpoint_deliveries(webhookId: str, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response[dict[str, Any]]:
    return json_response(200, webhooks().deliveries_of_endpoint(tenant(), webhookId, limit))


@router.post(
    "/api/webhooks/<webhookId>/deliveries/<deliveryId>/retry",
    summary="Send a delivery's event again (also redrives a dead-lettered one)",
)
def retry(webhookId: str, deliveryId: str) -> Response[dict[str, Any]]:
    return json_response(202, webhooks().retry(tenant(), webhookId, deliveryId))


@router.get("/api/pause/<watchId>/deliveries", summary="Delivery attempts of one pause's events, newest first")
def pause_deliveries(watchId: str) -> Response[dict[str, Any]]:
    return json_response(200, webhooks().deliveries_of_pause(tenant(), watchId))


@router.get("/api/callback-secret", summary="The secret that signs callbackUrl deliveries")
def callback_secret() -> Response[dict[str, Any]]:
    return json_response(200, webhooks().callback_secret(tenant()))


@router.post("/api/callback-secret/rotate", summary="A new callback secret; the old one signs too for 24 h")
def rotate_callback_secret() -> Response[dict[str, Any]]:
    return json_response(200, webhooks().rotate_callback_secret(tenant()))
