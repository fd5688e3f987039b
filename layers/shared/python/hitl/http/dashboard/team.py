"""The owners' team page and the invitee's invitation page (DESIGN.md "The dashboard").

``/app/team`` lists the members (role, status, last active, joined) and the plan's approver limit
(members and pending invitations count); every change is a form POST with the session's CSRF
token, answered ``303`` back to ``/app/team`` with a notice, or the team page again with the
refusal (``plan_limit``, ``last_owner``, …) and its status.  The member a form acts on is its
``email`` field, not a path segment: an address may hold characters a path would have to escape,
and access logs record paths.

``GET /invite/{token}`` only shows the invitation (mail scanners fetch every link, some run
JavaScript); its form's ``POST`` accepts it and signs the invitee in.
"""

from __future__ import annotations

from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl import ids, timeutil
from hitl.domain import errors
from hitl.domain.teams import INVITATION_DAYS, ROLES, InvitationNotValid
from hitl.http import web
from hitl.http.dashboard.guard import SESSION_COOKIE, PageRequest, page
from hitl.http.dashboard.pauses import STATUS_OF
from hitl.http.dashboard.views import render
from hitl.notify.invitation import ROLE_PHRASES
from hitl.runtime import people, services
from hitl.settings import get_settings

router = Router()
TEAM = "/app/team"
INVITE_CSRF = "invite-form"
#: what a ``303`` back to the team page says (``?done=<key>&email=…``)
NOTICES = {
    "invited": "Invitation sent to {email}.",
    "resent": "A new invitation was sent to {email}; the earlier link no longer works.",
    "revoked": "The invitation of {email} was withdrawn; its link no longer works.",
    "role": "{email} is now {role}.",
    "removed": "{email} was removed from the team; their sessions and emailed links stopped working.",
}
FLOOR_HINT = "lower the policy floor (Settings)"


def _done(kind: str, email: str, **more: str) -> Response[str]:
    return web.redirect(f"{TEAM}?{urlencode({'done': kind, 'email': email, **more})}")


def _team_page(
    request: PageRequest,
    *,
    status: int = 200,
    error: errors.DomainError | None = None,
    invite: dict[str, str] | None = None,
) -> Response[str]:
    who = request.signed_in
    teams = people().teams
    members = teams.members(who.tenant_id)
    seats = teams.seats(who.tenant_id)
    tenant = services().store.tenants.get_tenant(who.tenant_id)
    notice = None
    done, email = request.query("done"), request.query("email")
    if error is None and done in NOTICES and email:
        notice = NOTICES[done].format(email=email, role=_role_phrase(request.query("role") or ""))
    return render(
        who,
        "app_team.html.j2",
        status=status,
        title="Team",
        current=TEAM,
        team_name=tenant.name if tenant else "",
        members=members,
        seats=seats,
        full=seats["limit"] is not None and seats["used"] >= seats["limit"],
        roles=ROLES,
        error=error,
        notice=notice,
        invite=invite or {"email": "", "role": "approver"},
        invitation_days=INVITATION_DAYS,
        now=timeutil.iso(timeutil.now()),
    )


def _role_phrase(role: str) -> str:
    return ROLE_PHRASES[role][0] if role in ROLE_PHRASES else "a member"


def _refused(request: PageRequest, refused: errors.DomainError, invite: dict[str, str] | None = None) -> Response[str]:
    status = next((s for cls, s in STATUS_OF.items() if isinstance(refused, cls)), 400)
    return _team_page(request, status=status, error=refused, invite=invite)


@page(router, "GET", TEAM, "owner")
def team(request: PageRequest) -> Response[str]:
    return _team_page(request)


@page(router, "POST", "/app/team/invitations", "owner")
def invite(request: PageRequest) -> Response[str]:
    who = request.signed_in
    email, role = request.form.get("email", ""), request.form.get("role", "approver")
    try:
        invitation, _ = people().teams.invite(who.tenant_id, email, role, actor=who.email, ip=request.ip)
    except errors.DomainError as refused:
        return _refused(request, refused, invite={"email": email.strip(), "role": role})
    return _done("invited", invitation.email)


@page(router, "POST", "/app/team/invitations/resend", "owner")
def resend(request: PageRequest) -> Response[str]:
    who = request.signed_in
    try:
        invitation, _ = people().teams.resend(
            who.tenant_id, request.form.get("email", ""), actor=who.email, ip=request.ip
        )
    except errors.DomainError as refused:
        return _refused(request, refused)
    return _done("resent", invitation.email)


@page(router, "POST", "/app/team/invitations/revoke", "owner")
def revoke(request: PageRequest) -> Response[str]:
    who = request.signed_in
    try:
        member = people().teams.revoke_invitation(
            who.tenant_id, request.form.get("email", ""), actor=who.email, ip=request.ip
        )
    except errors.DomainError as refused:
        return _refused(request, refused)
    return _done("revoked", member.email)


@page(router, "POST", "/app/team/members/role", "owner")
def change_role(request: PageRequest) -> Response[str]:
    who = request.signed_in
    try:
        member = people().teams.change_role(
            who.tenant_id, request.form.get("email", ""), request.form.get("role", ""), actor=who.email, ip=request.ip
        )
    except errors.DomainError as refused:
        return _refused(request, refused)
    if member.email == who.email and member.role != "owner":
        return web.redirect("/app")  # no longer an owner: the team page is not theirs any more
    return _done("role", member.email, role=member.role)


@page(router, "POST", "/app/team/members/remove", "owner")
def remove(request: PageRequest) -> Response[str]:
    who = request.signed_in
    try:
        removed = people().teams.remove(
            who.tenant_id, request.form.get("email", ""), actor=who.email, ip=request.ip, floor_hint=FLOOR_HINT
        )
    except errors.DomainError as refused:
        return _refused(request, refused)
    if removed.member.email == who.email:
        return web.redirect("/app")  # they left: their session moves to another team, or ends
    return _done("removed", removed.member.email)


# --- the invitee's page -----------------------------------------------------------------------


def _form_csrf(token: str) -> str:
    """The invitation form's CSRF value: bound to the link (only who holds the link can show it)."""
    return ids.keyed_hash(token, INVITE_CSRF)


def _not_valid(unusable: InvitationNotValid) -> Response[str]:
    return render(
        None,
        "app_message.html.j2",
        status=410,
        title="This invitation cannot be used",
        message=unusable.message,
        link_to_login=unusable.reason == "used",
    )


@page(router, "GET", "/invite/{token}", "public")
def invitation(request: PageRequest, token: str) -> Response[str]:
    """Shows the invitation, changes nothing, whoever fetches it and however often."""
    try:
        view = people().teams.invitation(token)
    except InvitationNotValid as unusable:
        return _not_valid(unusable)
    phrase, role_help = ROLE_PHRASES[view.role]
    return render(
        None,
        "invite.html.j2",
        title=f"Join {view.teamName}",
        view=view,
        role_phrase=phrase,
        role_help=role_help,
        csrf=_form_csrf(token),
        action=f"/invite/{token}",
    )


@page(router, "POST", "/invite/{token}", "public")
def accept(request: PageRequest, token: str) -> Response[str]:
    sent = request.form.get("csrf", "")
    if not ids.is_invitation_token(token) or not web.constant_time_equal(sent, _form_csrf(token)):
        return render(
            None,
            "app_message.html.j2",
            status=403,
            title="Not allowed",
            message="The form was not ours: open the link from the invitation email again.",
        )
    try:
        started = people().joining.join(token, ip=request.ip, user_agent=request.user_agent)
    except InvitationNotValid as unusable:
        return _not_valid(unusable)
    except errors.Conflict as changed:
        return render(None, "app_message.html.j2", status=409, title="Try again", message=changed.message)
    cookie = web.set_cookie(SESSION_COOKIE, started.secret, get_settings().session_max_seconds)
    return web.redirect("/app", cookies=[cookie])
