"""My account: my Slack link and notification preferences (``/app/account``), my sessions (sign
out one, or everywhere) and the team switcher."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl.domain import errors, team_events
from hitl.http import web
from hitl.http.dashboard.guard import SESSION_COOKIE, PageRequest, page
from hitl.http.dashboard.slack import actor
from hitl.http.dashboard.views import refusal_status, render
from hitl.runtime import people, services, slack_connect

router = Router()
ACCOUNT = "/app/account"
#: what a ``303`` back to the account page says (``?done=<key>``)
NOTICES = {
    "linked": "Your account is linked to Slack: pauses that name you arrive as a direct message.",
    "unlinked": "Your account is no longer linked to Slack; pauses are emailed to you.",
    "email_on": "Pauses that name you are emailed to you.",
    "email_off": "Pauses that name you are no longer emailed to you: they arrive in Slack only.",
}


def _account_page(request: PageRequest, *, status: int = 200, **values: Any) -> Response[str]:
    who = request.signed_in
    member = services().store.tenants.member(who.tenant_id, who.email) or who.member
    done = request.query("done")
    return render(
        who,
        "app_account.html.j2",
        status=status,
        title="Your account",
        current=ACCOUNT,
        me=member,
        slack=slack_connect().status(who.tenant_id),
        notice=NOTICES.get(done or "") if "error" not in values else None,
        **values,
    )


def _refused(request: PageRequest, refused: errors.DomainError, **values: Any) -> Response[str]:
    return _account_page(request, status=refusal_status(refused), error=refused.message, **values)


@page(router, "GET", ACCOUNT, "member")
def account(request: PageRequest) -> Response[str]:
    return _account_page(request)


@page(router, "POST", "/app/account/slack/link", "member")
def link_slack(request: PageRequest) -> Response[str]:
    """Link my Slack user: the one with the email I type (my sign-in email when I leave it empty)."""
    who = request.signed_in
    slack_email = request.form.get("slackEmail", "").strip()
    try:
        slack_connect().link(who.tenant_id, who.email, slack_email or who.email, actor(request))
    except errors.DomainError as refused:
        return _refused(request, refused, slack_email=slack_email)
    return web.redirect(f"{ACCOUNT}?done=linked")


@page(router, "POST", "/app/account/slack/unlink", "member")
def unlink_slack(request: PageRequest) -> Response[str]:
    who = request.signed_in
    try:
        slack_connect().unlink(who.tenant_id, who.email, actor(request))
    except errors.DomainError as refused:
        return _refused(request, refused)
    return web.redirect(f"{ACCOUNT}?done=unlinked")


@page(router, "POST", "/app/account/notifications", "member")
def notifications(request: PageRequest) -> Response[str]:
    """Email on or off (the form's ``email`` checkbox); off only while linked to Slack."""
    who = request.signed_in
    on = request.form.get("email") == "on"
    try:
        slack_connect().set_email_notifications(who.tenant_id, who.email, on)
    except errors.DomainError as refused:
        return _refused(request, refused)
    return web.redirect(f"{ACCOUNT}?done={'email_on' if on else 'email_off'}")


@page(router, "GET", "/app/sessions", "member")
def sessions(request: PageRequest) -> Response[str]:
    who = request.signed_in
    return render(
        who,
        "app_sessions.html.j2",
        title="Your sessions",
        current="/app/sessions",
        sessions=people().sessions.listing(who),
    )


@page(router, "POST", "/app/sessions/{sessionId}/end", "member")
def end_session(request: PageRequest, sessionId: str) -> Response[str]:
    who = request.signed_in
    people().sessions.end_one(who, sessionId)
    if sessionId == who.session.sessionId:
        return web.redirect("/login", cookies=[web.clear_cookie(SESSION_COOKIE)])
    return web.redirect("/app/sessions")


@page(router, "POST", "/app/sessions/end-all", "member")
def end_everywhere(request: PageRequest) -> Response[str]:
    who = request.signed_in
    ended = people().sessions.end_everywhere(who)
    services().audit.record_team_event(
        who.tenant_id,
        team_events.SIGNED_OUT_EVERYWHERE,
        actor=who.email,
        channel="dashboard",
        ip=request.ip,
        details={"sessions": ended},
    )
    return web.redirect("/login", cookies=[web.clear_cookie(SESSION_COOKIE)])


@page(router, "POST", "/app/switch", "member")
def switch_team(request: PageRequest) -> Response[str]:
    who = request.signed_in
    if not people().sessions.switch(who, request.form.get("tenant", "")):
        return render(
            who, "app_message.html.j2", status=404, title="No such team", message="You are not a member of that team."
        )
    return web.redirect("/app")
