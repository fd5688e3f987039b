"""Who may open each dashboard route, in one table (``ACCESS``), and the guard that enforces it.

Every route is registered through ``page``, which records its access level — ``public`` (sign-in,
sign-up), ``member`` or ``owner`` — so the role × route tests are generated from this table and a
new route cannot skip them.  The guard, before any handler runs:

* refuses an API key (``Authorization``) on every route: agents never use the dashboard;
* ``member``/``owner``: finds the session (cookie ``__Host-hitl_session``), the person's membership
  of the session's team (so a removed member is out at once), and the role; a signed-out GET is
  sent to ``/login``;
* every POST: refused (403) when the browser says it came from another site, and, with a
  session, when the CSRF token (form field ``csrf`` or header ``X-CSRF-Token``) is not the
  session's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from hitl.domain.sessions import SignedIn
from hitl.http import web
from hitl.http.dashboard.views import refused_page
from hitl.runtime import people

Access = Literal["public", "member", "owner"]
SESSION_COOKIE = "hitl_session"
LOGIN_COOKIE = "hitl_login"
#: (method, API Gateway path) → who may use it; filled by ``page``
ACCESS: dict[tuple[str, str], Access] = {}


@dataclass
class PageRequest:
    """What a handler gets: the event, the form (POST), the caller's IP and, on member and owner
    routes, who is signed in."""

    event: APIGatewayProxyEventV2
    form: dict[str, str] = field(default_factory=dict)
    who: SignedIn | None = None

    @property
    def ip(self) -> str | None:
        return web.client_ip(self.event)

    @property
    def by(self) -> dict[str, Any]:
        """Who is changing something, as a use case records it in the team's audit log: the
        signed-in member's email, channel ``dashboard``, the client's IP."""
        return {"actor": self.signed_in.email, "channel": "dashboard", "ip": self.ip}

    @property
    def user_agent(self) -> str | None:
        return self.event.headers.get("user-agent")

    @property
    def signed_in(self) -> SignedIn:
        assert self.who is not None, "a member route always has a session"
        return self.who

    def query(self, name: str) -> str | None:
        value = (self.event.query_string_parameters or {}).get(name)
        return value.strip() if value and value.strip() else None

    def cookie(self, name: str) -> str | None:
        return web.cookie_value(self.event, web.cookie_name(name))

    @property
    def wants_json(self) -> bool:
        return (self.event.headers.get("content-type") or "").split(";")[0].strip() == "application/json"


Handler = Callable[..., Response[Any]]
#: how a refusal is answered: an HTML page, or (the approve route's JSON callers) our error shape
Refuse = Callable[[PageRequest, int, str, str], Response[Any]]


def html_refusal(request: PageRequest, status: int, code: str, message: str) -> Response[Any]:
    return refused_page(status, message, request.who)


def page(
    router: Router, method: str, path: str, access: Access, *, refuse: Refuse = html_refusal
) -> Callable[[Handler], Handler]:
    """Register ``path`` (API Gateway syntax, ``{name}``) for ``method`` behind the guard; GET
    routes answer HEAD too."""
    ACCESS[(method, path)] = access
    if method == "GET":
        ACCESS[("HEAD", path)] = access
    powertools_path = path.replace("{", "<").replace("}", ">")

    def register(handler: Handler) -> Handler:
        def guarded(**params: str) -> Response[Any]:
            event = APIGatewayProxyEventV2(router.current_event.raw_event)
            request = PageRequest(event)
            if event.headers.get("authorization"):
                return refuse(request, 401, "api_key_not_allowed", "API keys cannot be used here: sign in instead.")
            if method == "POST":
                if not web.same_origin(event.headers):
                    return refuse(request, 403, "cross_site", "This form can only be sent from this site's own pages.")
                if not request.wants_json:
                    form = web.form_of(event)
                    if form is None:
                        return refuse(request, 400, "bad_form", "The form could not be read.")
                    request.form = form
            if access != "public":
                request.who = people().sessions.resolve(request.cookie(SESSION_COOKIE))
                if request.who is None:
                    if method in ("GET", "HEAD"):
                        return web.redirect("/login")
                    return refuse(request, 401, "signed_out", "You are signed out: sign in again.")
                sent = request.form.get("csrf") or event.headers.get("x-csrf-token")
                if method == "POST" and not request.who.csrf_matches(sent):
                    return refuse(request, 403, "csrf_failed", "The form was stale or not ours: reload and try again.")
                if access == "owner" and not request.who.is_owner:
                    return refuse(request, 403, "owner_only", "Only the team's owners can open this page.")
            return handler(request, **params)

        methods = ["GET", "HEAD"] if method == "GET" else [method]
        router.route(powertools_path, method=methods)(guarded)
        return handler

    return register
