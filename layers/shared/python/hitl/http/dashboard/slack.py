"""Connecting Slack (owners, Pro): the OAuth v2 install (``GET /slack/install`` → Slack →
``GET /slack/oauth/callback``), a pasted bot token, disconnecting — each answered with the
settings page (its Slack section) or a ``303`` back to it.

The callback's query holds the OAuth ``code`` and ``state``: neither is logged, shown or kept
(the state is stored only as its hash, and used up).  A bot token is never shown again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl.domain import errors
from hitl.http import web
from hitl.http.dashboard.guard import PageRequest, page
from hitl.http.dashboard.team_settings import settings_page_with
from hitl.http.dashboard.views import refusal_status
from hitl.runtime import slack_connect

if TYPE_CHECKING:  # the use cases are imported by the first Slack request, not every cold start
    from hitl.domain.slack_connect import Actor, Connected

router = Router()
SETTINGS = "/app/settings"


def actor(request: PageRequest) -> Actor:
    from hitl.domain.slack_connect import Actor

    return Actor(email=request.signed_in.email, channel="dashboard", ip=request.ip)


def _refused(request: PageRequest, refused: errors.DomainError) -> Response[str]:
    return settings_page_with(request, status=refusal_status(refused), slack_error=refused.message)


def _connected(done: Connected) -> Response[str]:
    query = {"done": "slack", "linked": str(len(done.linked)), "unmatched": str(len(done.unmatched))}
    return web.redirect(f"{SETTINGS}?{urlencode(query)}#slack")


@page(router, "GET", "/slack/install", "owner")
def install(request: PageRequest) -> Response[str]:
    """Off to Slack's authorize page with a fresh state bound to this session."""
    who = request.signed_in
    try:
        started = slack_connect().start_install(who.tenant_id, who.secret_hash, actor(request))
    except errors.DomainError as refused:
        return _refused(request, refused)
    return web.redirect(started.url)


@page(router, "GET", "/slack/oauth/callback", "owner")
def callback(request: PageRequest) -> Response[str]:
    """Slack sends the owner back with ``code`` and ``state`` (or ``error`` when they cancelled)."""
    who = request.signed_in
    if request.query("error"):
        return settings_page_with(
            request,
            status=400,
            slack_error="The Slack install was cancelled in Slack; nothing was connected.",
        )
    try:
        done = slack_connect().finish_install(
            who.tenant_id, who.secret_hash, request.query("code") or "", request.query("state") or "", actor(request)
        )
    except errors.DomainError as refused:
        return _refused(request, refused)
    return _connected(done)


@page(router, "POST", "/app/settings/slack/token", "owner")
def paste_token(request: PageRequest) -> Response[str]:
    """A pasted bot token: validated with ``auth.test``; the form never shows it back."""
    try:
        done = slack_connect().connect_token(request.signed_in.tenant_id, request.form.get("token", ""), actor(request))
    except errors.DomainError as refused:
        return _refused(request, refused)
    return _connected(done)


@page(router, "POST", "/app/settings/slack/disconnect", "owner")
def disconnect(request: PageRequest) -> Response[str]:
    try:
        slack_connect().disconnect(request.signed_in.tenant_id, actor(request))
    except errors.DomainError as refused:
        return _refused(request, refused)
    return web.redirect(f"{SETTINGS}?done=slack_disconnected#slack")
