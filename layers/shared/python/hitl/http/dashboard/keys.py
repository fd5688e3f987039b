"""The owners' API keys page: the team's keys, a new key (shown once, on the answer to its form),
and revocation (the key is refused from the agent's next request on)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl.domain import errors
from hitl.http import web
from hitl.http.dashboard.guard import PageRequest, page
from hitl.http.dashboard.views import refusal_status, render
from hitl.runtime import services, tenant_admin

router = Router()


def _page(request: PageRequest, *, status: int = 200, **values: Any) -> Response[str]:
    who = request.signed_in
    keys = tenant_admin(services().store).list_keys(who.tenant_id)["keys"]
    revoked = request.query("revoked")
    return render(
        who,
        "app_keys.html.j2",
        status=status,
        title="API keys",
        current="/app/keys",
        keys=keys,
        revoked=next((k for k in keys if k["keyId"] == revoked), None),
        **values,
    )


@page(router, "GET", "/app/keys", "owner")
def keys_page(request: PageRequest) -> Response[str]:
    return _page(request)


@page(router, "POST", "/app/keys", "owner")
def create_key(request: PageRequest) -> Response[str]:
    """The new key is in this answer only: the page is not stored (``no-store``) and the key
    is never shown again."""
    name = request.form.get("name", "")
    try:
        created = tenant_admin(services().store).create_key(request.signed_in.tenant_id, name, **request.by)
    except errors.DomainError as refused:
        return _page(request, status=refusal_status(refused), error=refused.message, name=name)
    return _page(request, created=created)


@page(router, "POST", "/app/keys/{keyId}/revoke", "owner")
def revoke_key(request: PageRequest, keyId: str) -> Response[str]:
    who = request.signed_in
    try:
        tenant_admin(services().store).revoke_key(keyId, tenant_id=who.tenant_id, **request.by)
    except errors.DomainError as refused:
        return _page(request, status=refusal_status(refused), error=refused.message)
    return web.redirect(f"/app/keys?revoked={keyId}")
