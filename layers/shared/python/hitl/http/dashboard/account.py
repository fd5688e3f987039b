"""My account: my sessions (sign out one, or everywhere) and the team switcher."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl.domain import team_events
from hitl.http import web
from hitl.http.dashboard.guard import SESSION_COOKIE, PageRequest, page
from hitl.http.dashboard.views import render
from hitl.runtime import people, services

router = Router()


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
