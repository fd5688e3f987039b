"""The owners' webhooks page: endpoints (a new one's signing secret shown once, on the answer to
its form), enable / disable / delete, each endpoint's recent deliveries with retry, and the
callback secret (shown only on a POST: reveal or rotate, never on a GET).  The URL rules (SSRF)
and the audit entries are the webhook service's, as for the API."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from hitl.domain import errors
from hitl.http import web
from hitl.http.dashboard.guard import PageRequest, page
from hitl.http.dashboard.views import refusal_status, render
from hitl.runtime import webhooks
from hitl.webhooks.models import EVENT_TYPES, RegisterWebhook, UpdateWebhook

router = Router()
#: the deliveries an endpoint's page lists (newest first)
RECENT_DELIVERIES = 25
#: the checkbox of each event type in the create form
EVENT_FIELD = "event."


def _list(request: PageRequest, *, status: int = 200, **values: Any) -> Response[str]:
    who = request.signed_in
    return render(
        who,
        "app_webhooks.html.j2",
        status=status,
        title="Webhooks",
        current="/app/webhooks",
        endpoints=webhooks().endpoints(who.tenant_id),
        event_types=EVENT_TYPES,
        done=request.query("done"),
        **values,
    )


@page(router, "GET", "/app/webhooks", "owner")
def webhooks_page(request: PageRequest) -> Response[str]:
    return _list(request)


@page(router, "POST", "/app/webhooks", "owner")
def create_webhook(request: PageRequest) -> Response[str]:
    form = request.form
    chosen = [t for t in EVENT_TYPES if form.get(EVENT_FIELD + t)]
    wanted = {"url": form.get("url", "").strip(), "events": chosen}
    description = form.get("description", "").strip()
    if description:
        wanted["description"] = description
    try:
        body = RegisterWebhook.model_validate(wanted)
        created = webhooks().register(request.signed_in.tenant_id, body, **request.by)
    except ValidationError as invalid:
        return _list(request, status=422, error=_explain(invalid), form=wanted)
    except errors.DomainError as refused:
        return _list(request, status=refusal_status(refused), error=refused.message, form=wanted)
    return _list(request, created=created)


def _explain(invalid: ValidationError) -> str:
    fields = {str(problem["loc"][0]) for problem in invalid.errors() if problem.get("loc")}
    if "events" in fields:
        return "Choose at least one event to send."
    if "url" in fields:
        return "Give the endpoint's URL (https://…, at most 2048 characters)."
    return "The description is longer than 500 characters."


@page(router, "GET", "/app/webhooks/{webhookId}", "owner")
def endpoint_page(request: PageRequest, webhookId: str) -> Response[str]:
    who = request.signed_in
    try:
        endpoint = webhooks().endpoint(who.tenant_id, webhookId)
        deliveries = webhooks().deliveries_of_endpoint(who.tenant_id, webhookId, RECENT_DELIVERIES)["items"]
    except errors.NotFound:
        return _missing(request)
    return render(
        who,
        "app_webhook.html.j2",
        title=f"Webhook {endpoint['url']}"[:80],
        current="/app/webhooks",
        endpoint=endpoint,
        deliveries=deliveries,
        retried=request.query("retried"),
        done=request.query("done"),
    )


def _missing(request: PageRequest) -> Response[str]:
    return render(
        request.signed_in,
        "app_message.html.j2",
        status=404,
        title="No such webhook",
        message="It does not exist (it may have been deleted), or belongs to another team.",
        back="/app/webhooks",
    )


def _switch(request: PageRequest, webhook_id: str, enabled: bool) -> Response[str]:
    try:
        webhooks().update(request.signed_in.tenant_id, webhook_id, UpdateWebhook(enabled=enabled), **request.by)
    except errors.NotFound:
        return _missing(request)
    back = request.form.get("back")
    done = "enabled" if enabled else "disabled"
    if back == "endpoint":
        return web.redirect(f"/app/webhooks/{webhook_id}?done={done}")
    return web.redirect(f"/app/webhooks?done={done}")


@page(router, "POST", "/app/webhooks/{webhookId}/enable", "owner")
def enable(request: PageRequest, webhookId: str) -> Response[str]:
    return _switch(request, webhookId, True)


@page(router, "POST", "/app/webhooks/{webhookId}/disable", "owner")
def disable(request: PageRequest, webhookId: str) -> Response[str]:
    return _switch(request, webhookId, False)


@page(router, "POST", "/app/webhooks/{webhookId}/delete", "owner")
def delete(request: PageRequest, webhookId: str) -> Response[str]:
    try:
        webhooks().delete(request.signed_in.tenant_id, webhookId, **request.by)
    except errors.NotFound:
        return _missing(request)
    return web.redirect("/app/webhooks?done=deleted")


@page(router, "POST", "/app/webhooks/{webhookId}/deliveries/{deliveryId}/retry", "owner")
def retry(request: PageRequest, webhookId: str, deliveryId: str) -> Response[str]:
    try:
        webhooks().retry(request.signed_in.tenant_id, webhookId, deliveryId)
    except errors.NotFound as missing:
        return render(
            request.signed_in,
            "app_message.html.j2",
            status=404,
            title="Not sent again",
            message=missing.message,
            back=f"/app/webhooks/{webhookId}",
        )
    return web.redirect(f"/app/webhooks/{webhookId}?retried={deliveryId}")


@page(router, "POST", "/app/webhooks/callback-secret/reveal", "owner")
def reveal_callback_secret(request: PageRequest) -> Response[str]:
    """The secret on the answer to a POST (a GET never shows it, so no link, prefetch or
    history entry can)."""
    return _list(request, callback=webhooks().callback_secret(request.signed_in.tenant_id), rotated=False)


@page(router, "POST", "/app/webhooks/callback-secret/rotate", "owner")
def rotate_callback_secret(request: PageRequest) -> Response[str]:
    try:
        shown = webhooks().rotate_callback_secret(request.signed_in.tenant_id, **request.by)
    except errors.Conflict as refused:
        return _list(request, status=409, error=refused.message)
    return _list(request, callback=shown, rotated=True)
