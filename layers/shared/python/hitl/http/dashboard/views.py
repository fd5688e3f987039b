"""Rendering a dashboard page: the header every page shares (who I am, the team switcher, the
owner's links, sign-out with its CSRF token) around the page's own template."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from hitl.domain import errors
from hitl.domain.sessions import SignedIn
from hitl.http import web
from hitl.runtime import people, services

#: the most teams the switcher lists (a person in more switches by the rest of the list)
SWITCHER_TEAMS = 20
NAV = (
    ("/app", "Waiting", "member"),
    ("/app/history", "History", "member"),
    ("/app/audit", "Audit log", "member"),
    ("/app/team", "Team", "owner"),
    ("/app/keys", "API keys", "owner"),
    ("/app/webhooks", "Webhooks", "owner"),
    ("/app/settings", "Settings", "owner"),
)


def header(who: SignedIn | None) -> dict[str, Any]:
    """What the shared header shows; nothing for a signed-out page."""
    if who is None:
        return {"who": None}
    tenants = services().store.tenants
    teams = []
    for member in people().sessions.teams(who.email)[:SWITCHER_TEAMS]:
        tenant = tenants.get_tenant(member.tenantId)
        if tenant is not None:
            teams.append({"tenantId": tenant.tenantId, "name": tenant.name, "role": member.role})
    current = next((t for t in teams if t["tenantId"] == who.tenant_id), None)
    return {
        "who": who,
        "csrf": who.csrf,
        "teams": teams,
        "team": current,
        "nav": [(href, label) for href, label, access in NAV if access == "member" or who.is_owner],
    }


def render(
    who: SignedIn | None, template: str, *, status: int = 200, current: str | None = None, **values: Any
) -> Response[str]:
    return web.html(status, template, current=current, **header(who), **values)


def refused_page(status: int, message: str, who: SignedIn | None = None) -> Response[str]:
    titles = {400: "The form could not be read", 401: "Sign in first", 403: "Not allowed", 404: "Not found"}
    return render(who, "app_message.html.j2", status=status, title=titles.get(status, "Not possible"), message=message)


#: a refused use case's status on the owners' pages (the one table: typed errors, no message text)
REFUSAL_STATUS: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.NotFound, 404),
    (errors.Forbidden, 403),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.Unprocessable, 422),
    (errors.BadRequest, 400),
    (errors.PlanRequired, 402),
)


def refusal_status(error: errors.DomainError) -> int:
    return next((status for kind, status in REFUSAL_STATUS if isinstance(error, kind)), 400)
