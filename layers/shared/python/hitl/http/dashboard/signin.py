"""Sign-in, sign-up and sign-out pages (DESIGN.md "The dashboard").

``POST /login`` and ``POST /signup`` always answer the same "check your email" page; ``GET
/login/{token}`` only shows a page (mail scanners fetch every link, some run JavaScript);
``POST /login/{token}`` signs in, asking for the emailed code when this browser is not the one
that asked (its ``__Host-hitl_login`` cookie is missing or another's).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl import ids
from hitl.domain.errors import Gone, TooManyRequests, Unprocessable
from hitl.domain.signin import CodeNeeded
from hitl.http import web
from hitl.http.dashboard.guard import LOGIN_COOKIE, SESSION_COOKIE, PageRequest, page
from hitl.http.dashboard.views import render
from hitl.runtime import people
from hitl.settings import get_settings

router = Router()
#: the binding cookie lives as long as the link
LOGIN_COOKIE_SECONDS = 15 * 60
LOGIN_CSRF = "login-form"


def _form_csrf(token: str) -> str:
    """The sign-in form's CSRF value: bound to the link (the page that shows it knows the token)."""
    return ids.keyed_hash(token, LOGIN_CSRF)


def _sent(request: PageRequest, email: str, binding: str | None) -> Response[str]:
    cookies = [web.set_cookie(LOGIN_COOKIE, binding, LOGIN_COOKIE_SECONDS)] if binding else None
    response = render(None, "login_sent.html.j2", title="Check your email", email=email)
    response.cookies = cookies or []
    return response


def _ask(request: PageRequest, purpose: str) -> Response[str]:
    """Send the link (or not, for an unknown email) and answer the same page either way."""
    email = request.form.get("email", "").strip()
    team = request.form.get("team", "").strip() if purpose == "signup" else None
    template = "signup.html.j2" if purpose == "signup" else "login.html.j2"
    try:
        binding = people().signin.request(email, ip=request.ip, purpose=purpose, team_name=team)  # type: ignore[arg-type]
    except TooManyRequests as limited:
        retry = str((limited.details or {}).get("retryAfterSeconds", 60))
        return render(
            None,
            template,
            status=429,
            title="Too many requests",
            error=limited.message,
            email=email,
            team=team,
            headers={"Retry-After": retry},
            signup_open=_signup_open(),
        )
    except Unprocessable as wrong:
        return render(
            None,
            template,
            status=422,
            title="Sign in" if purpose == "login" else "Create a team",
            error=wrong.message,
            email=email,
            team=team,
            signup_open=_signup_open(),
        )
    return _sent(request, email, binding)


def _signup_open() -> bool:
    return get_settings().signup == "open"


@page(router, "GET", "/login", "public")
def login_form(request: PageRequest) -> Response[str]:
    return render(None, "login.html.j2", title="Sign in", signup_open=_signup_open())


@page(router, "POST", "/login", "public")
def login_request(request: PageRequest) -> Response[str]:
    return _ask(request, "login")


@page(router, "GET", "/signup", "public")
def signup_form(request: PageRequest) -> Response[str]:
    if not _signup_open():
        return render(
            None,
            "app_message.html.j2",
            status=404,
            title="Sign-up is closed",
            message="Teams are created by the operator; ask for an invitation.",
        )
    return render(None, "signup.html.j2", title="Create a team", signup_open=True)


@page(router, "POST", "/signup", "public")
def signup_request(request: PageRequest) -> Response[str]:
    return _ask(request, "signup")


def _link_page(token: str, request: PageRequest, status: int = 200, error: str | None = None) -> Response[str]:
    try:
        view = people().signin.link(token, request.cookie(LOGIN_COOKIE))
    except Gone as unusable:
        return render(
            None,
            "app_message.html.j2",
            status=410,
            title="This link cannot be used",
            message=unusable.message,
            link_to_login=True,
        )
    values: dict[str, Any] = {"view": view, "csrf": _form_csrf(token), "action": f"/login/{token}", "error": error}
    return render(None, "login_confirm.html.j2", status=status, title="Sign in", **values)


@page(router, "GET", "/login/{token}", "public")
def login_link(request: PageRequest, token: str) -> Response[str]:
    """Shows a page, changes nothing, whoever fetches it and however often."""
    return _link_page(token, request)


@page(router, "POST", "/login/{token}", "public")
def login_confirm(request: PageRequest, token: str) -> Response[str]:
    sent = request.form.get("csrf", "")
    if not ids.is_secret_token(token) or not web.constant_time_equal(sent, _form_csrf(token)):
        return render(
            None,
            "app_message.html.j2",
            status=403,
            title="Not allowed",
            message="The form was not ours: open the link from the email again.",
        )
    try:
        started = people().signin.confirm(
            token, request.cookie(LOGIN_COOKIE), request.form.get("code"), ip=request.ip, user_agent=request.user_agent
        )
    except CodeNeeded as needed:
        return _link_page(token, request, status=422, error=needed.message)
    except Gone as unusable:
        return render(
            None,
            "app_message.html.j2",
            status=410,
            title="This link cannot be used",
            message=unusable.message,
            link_to_login=True,
        )
    max_age = get_settings().session_max_seconds
    return web.redirect(
        "/app", cookies=[web.set_cookie(SESSION_COOKIE, started.secret, max_age), web.clear_cookie(LOGIN_COOKIE)]
    )


@page(router, "POST", "/logout", "member")
def logout(request: PageRequest) -> Response[str]:
    people().sessions.end(request.signed_in)
    return web.redirect("/login", cookies=[web.clear_cookie(SESSION_COOKIE)])
