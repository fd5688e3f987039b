"""Connecting a team's Slack workspace, and linking its members to Slack users (Pro only).

Rules (DESIGN.md "Slack (Pro)", issue 9):

* only a team on Pro connects Slack: every other plan is refused ``plan_required`` (402) by
  every Slack use case, and only its owners connect or disconnect (the dashboard's guard);
* when the deployment has no Slack app (``Deployment.slack`` is None) nothing Slack runs:
  ``slack_not_configured``;
* the OAuth v2 install: ``start_install`` stores a random ``state`` (its hash only, 10 minutes,
  bound to the owner's session and team) and sends the browser to Slack; ``finish_install`` uses
  the state up (once, whatever happens next), checks it was this session's, then trades the code
  for the bot token (``oauth.v2.access``);
* or a bot token pasted by an owner: ``auth.test`` validates it and names the workspace and bot;
* one workspace per team and one team per workspace (``slack_team_taken``); the bot token is
  KMS-encrypted before it is stored and never shown, logged or recorded again;
* on connecting, and when a member joins, confirmed members are matched to Slack users by
  ``users.lookupByEmail``; a member links another Slack email, or unlinks, themselves; a member
  may turn email off only while linked (unlinking turns it back on);
* disconnecting removes the token and the workspace and clears every member's Slack link.

Every change is recorded as a team event (``team.slack_*``) with who, the channel and the IP;
never a token, an OAuth code or a state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import urlencode

from hitl import ids, timeutil
from hitl.domain import team_events
from hitl.domain.errors import BadRequest, Conflict, NotFound, PlanRequired, Unprocessable
from hitl.domain.models import Approver, Channel, SlackWorkspace, Tenant
from hitl.domain.ports import (
    SecretCipher,
    SlackApi,
    SlackApiError,
    SlackInstallState,
    SlackTeamTaken,
    SlackWorkspaces,
    TeamAudit,
)
from hitl.domain.teams import normal_email

#: what the bot asks of a workspace (the manifest's scopes)
SCOPES = ("chat:write", "users:read", "users:read.email", "im:write")
INSTALL_STATE_TTL = timedelta(minutes=10)
CALLBACK_PATH = "/slack/oauth/callback"
#: a bot token, as Slack issues them (``xoxb-`` and dash-separated digits and letters)
BOT_TOKEN = re.compile(r"xoxb-[0-9A-Za-z-]{8,250}")
#: the Slack errors that mean "no such user" (``users.lookupByEmail``)
NO_USER = frozenset({"users_not_found", "user_not_found"})
#: the Slack errors that mean the token is not (or no longer) good
BAD_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})


class SlackMembers(Protocol):
    """A team's members and their Slack links (``hitl.adapters.tenant_repository``)."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def approvers(self, tenant_id: str) -> list[Approver]: ...

    def member(self, tenant_id: str, email: str) -> Approver | None: ...

    def set_slack_user(self, tenant_id: str, email: str, slack_user_id: str | None) -> bool:
        """Link (or, ``None``, unlink: email turned back on); False when there is no such member."""
        ...

    def set_email_notifications(self, tenant_id: str, email: str, on: bool) -> bool:
        """False when there is no such member, or when turning off a member not linked."""
        ...


@dataclass(frozen=True)
class SlackAppConfig:
    """The deployment's Slack app, as the dashboard needs it (``wiring.SlackApp``, with the client
    secret read from SSM only when an install finishes)."""

    client_id: str
    authorize_url: str
    client_secret: Callable[[], str]


@dataclass(frozen=True)
class Actor:
    """Who changes something: their email, the channel, their IP."""

    email: str
    channel: Channel = "dashboard"
    ip: str | None = None


@dataclass(frozen=True)
class Connected:
    workspace: SlackWorkspace
    #: members matched to a Slack user by their email now
    linked: tuple[str, ...]
    #: confirmed members with no Slack user of that email
    unmatched: tuple[str, ...]


@dataclass(frozen=True)
class SlackStatus:
    """What ``/app/settings`` and ``/app/account`` show."""

    plan: str
    #: Pro: the plan allows Slack
    allowed: bool
    #: the deployment has a Slack app
    configured: bool
    workspace: SlackWorkspace | None
    #: confirmed members linked to a Slack user, and confirmed members (when connected)
    linked: int = 0
    members: int = 0

    @property
    def usable(self) -> bool:
        return self.allowed and self.configured and self.workspace is not None


@dataclass(frozen=True)
class InstallStart:
    url: str


class SlackConnect:
    def __init__(
        self,
        workspaces: SlackWorkspaces,
        members: SlackMembers,
        audit: TeamAudit,
        cipher: SecretCipher,
        api: Callable[[], SlackApi],
        *,
        app: SlackAppConfig | None,
        base_url: str,
        clock: Callable[[], datetime] = timeutil.now,
    ) -> None:
        self.workspaces = workspaces
        self.members = members
        self.audit = audit
        self.cipher = cipher
        #: Slack's Web API, built on first use (reading a page needs none)
        self.api = api
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    @property
    def redirect_uri(self) -> str:
        return self.base_url + CALLBACK_PATH

    # --- reading -----------------------------------------------------------------------------

    def status(self, tenant_id: str) -> SlackStatus:
        tenant = self._tenant(tenant_id)
        allowed = tenant.plan == "pro"
        workspace = self.workspaces.get(tenant_id)
        status = SlackStatus(plan=tenant.plan, allowed=allowed, configured=self.app is not None, workspace=workspace)
        if not status.usable:
            return status
        confirmed = [m for m in self.members.approvers(tenant_id) if m.status == "confirmed"]
        linked = sum(1 for m in confirmed if m.slackUserId is not None)
        return replace(status, linked=linked, members=len(confirmed))

    # --- connecting --------------------------------------------------------------------------

    def start_install(self, tenant_id: str, session_hash: str, by: Actor) -> InstallStart:
        """A new install state bound to this session and team, and Slack's authorize URL."""
        app = self._allowed(tenant_id)
        state = ids.new_secret_token()
        now = self.clock()
        self.workspaces.put_install_state(
            ids.sha256_hex(state),
            SlackInstallState(
                tenantId=tenant_id,
                sessionHash=session_hash,
                email=by.email,
                createdAt=timeutil.iso(now),
                expiresAt=timeutil.iso(now + INSTALL_STATE_TTL),
            ),
        )
        query = urlencode(
            {"client_id": app.client_id, "scope": ",".join(SCOPES), "state": state, "redirect_uri": self.redirect_uri}
        )
        separator = "&" if "?" in app.authorize_url else "?"
        return InstallStart(url=f"{app.authorize_url}{separator}{query}")

    def finish_install(self, tenant_id: str, session_hash: str, code: str, state: str, by: Actor) -> Connected:
        """Slack sent the owner back: the state is used up first (once, even when what follows
        fails), must be this session's and team's and unexpired; then the code is traded for the
        bot token."""
        app = self._allowed(tenant_id)
        taken = self.workspaces.take_install_state(ids.sha256_hex(state)) if ids.is_secret_token(state) else None
        if taken is None:
            raise BadRequest(
                "This Slack install link is not valid or was used already: start again from Settings.",
                code="slack_state_invalid",
            )
        if taken.expiresAt <= timeutil.iso(self.clock()):
            raise BadRequest(
                "This Slack install took more than 10 minutes: start again from Settings.", code="slack_state_expired"
            )
        if taken.sessionHash != session_hash or taken.tenantId != tenant_id:
            raise BadRequest(
                "This Slack install was started from another session: start again from Settings.",
                code="slack_state_mismatch",
            )
        if not code:
            raise BadRequest("Slack sent no authorization code: start again from Settings.", code="slack_no_code")
        try:
            granted = self.api().oauth_access(
                client_id=app.client_id,
                client_secret=app.client_secret(),
                code=code,
                redirect_uri=self.redirect_uri,
            )
        except SlackApiError as refused:
            raise Unprocessable(
                f"Slack did not complete the install ({refused.error}): start again from Settings.",
                code="slack_oauth_failed",
                details={"slackError": refused.error},
            ) from refused
        return self._connect(
            tenant_id,
            token=granted.botToken,
            team_id=granted.teamId,
            team_name=granted.teamName,
            bot_user_id=granted.botUserId,
            via="oauth",
            by=by,
        )

    def connect_token(self, tenant_id: str, token: str, by: Actor) -> Connected:
        """A bot token an owner pasted: ``auth.test`` says which workspace and bot it is."""
        self._allowed(tenant_id)
        token = token.strip()
        if not BOT_TOKEN.fullmatch(token):
            raise Unprocessable(
                "A Slack bot token starts with xoxb- (the app's OAuth & Permissions page).", code="slack_token_invalid"
            )
        try:
            found = self.api().auth_test(token)
        except SlackApiError as refused:
            raise Unprocessable(
                f"Slack refused this token ({refused.error}). Copy the Bot User OAuth Token again.",
                code="slack_token_refused",
                details={"slackError": refused.error},
            ) from refused
        return self._connect(
            tenant_id,
            token=token,
            team_id=found.teamId,
            team_name=found.teamName,
            bot_user_id=found.botUserId,
            via="token",
            by=by,
        )

    def disconnect(self, tenant_id: str, by: Actor) -> SlackWorkspace:
        """Forget the workspace and its token; every member's Slack link is cleared (and their
        email turned back on): nobody is left without notifications.  A workspace left connected
        by a team no longer on Pro (or after the Slack app was taken away) may still be removed."""
        self._tenant(tenant_id)
        workspace = self.workspaces.get(tenant_id)
        if workspace is None:
            self._allowed(tenant_id)
            raise NotFound("No Slack workspace is connected.", code="slack_not_connected")
        self.workspaces.disconnect(tenant_id)
        for member in self.members.approvers(tenant_id):
            if member.slackUserId is not None or not member.emailNotifications:
                self.members.set_slack_user(tenant_id, member.email, None)
        self._record(
            tenant_id,
            team_events.SLACK_DISCONNECTED,
            by,
            teamId=workspace.teamId,
            teamName=workspace.teamName,
        )
        return workspace

    # --- linking members ---------------------------------------------------------------------

    def member_joined(self, tenant_id: str, email: str, by: Actor) -> str | None:
        """A member just joined: link them when the workspace has a user with their email.  Never
        raises for Slack's sake (joining must not fail because Slack is down); the Slack user id, or
        None."""
        if self.app is None:
            return None
        tenant = self.members.get_tenant(tenant_id)
        if tenant is None or tenant.plan != "pro":
            return None
        workspace = self.workspaces.get(tenant_id)
        if workspace is None:
            return None
        try:
            user_id = self._lookup(workspace, email)
        except SlackApiError:
            return None
        if user_id is None:
            return None
        self._link(tenant_id, email, user_id, by, matched="email")
        return user_id

    def link(self, tenant_id: str, email: str, slack_email: str, by: Actor) -> str:
        """A member links their Slack account: the user with ``slack_email`` (which may differ from
        their sign-in email) in the team's workspace."""
        workspace = self._connected(tenant_id)
        member = self._member(tenant_id, email)
        wanted = normal_email(slack_email or email)
        try:
            user_id = self._lookup(workspace, wanted)
        except SlackApiError as refused:
            raise Unprocessable(
                f"Slack could not look {wanted} up ({refused.error}). Try again later.",
                code="slack_lookup_failed",
                details={"slackError": refused.error},
            ) from refused
        if user_id is None:
            raise NotFound(
                f"{workspace.teamName} has no Slack user with the email {wanted}.",
                code="slack_user_not_found",
                details={"email": wanted},
            )
        taken = next(
            (m for m in self.members.approvers(tenant_id) if m.slackUserId == user_id and m.email != member.email),
            None,
        )
        if taken is not None:
            raise Conflict(
                f"That Slack user is linked to another member ({taken.email}) already.", code="slack_user_taken"
            )
        self._link(tenant_id, member.email, user_id, by, matched="explicit", slackEmail=wanted)
        return user_id

    def unlink(self, tenant_id: str, email: str, by: Actor) -> None:
        """A member unlinks their Slack account; their email is turned back on (a link left from
        when the team was on Pro may still be removed)."""
        member = self._member(tenant_id, email)
        if member.slackUserId is None:
            self._allowed(tenant_id)
            raise NotFound("Your account is not linked to Slack.", code="slack_not_linked")
        self.members.set_slack_user(tenant_id, member.email, None)
        self._record(tenant_id, team_events.SLACK_UNLINKED, by, email=member.email, slackUserId=member.slackUserId)

    def set_email_notifications(self, tenant_id: str, email: str, on: bool) -> Approver:
        """Email on, or off — only while the member is linked to Slack (they would get nothing)."""
        member = self._member(tenant_id, email)
        if not on:
            status = self.status(tenant_id)
            if not status.allowed:
                raise _plan_required(status.plan)
            if member.slackUserId is None or not status.usable:
                raise Conflict(
                    "Email can only be turned off while your account is linked to Slack: you would get no "
                    "approval requests at all.",
                    code="email_needed",
                )
        if member.emailNotifications != on and not self.members.set_email_notifications(tenant_id, member.email, on):
            raise Conflict("Your Slack link changed meanwhile: reload the page.", code="email_needed")
        return member.model_copy(update={"emailNotifications": on})

    # --- helpers -----------------------------------------------------------------------------

    def _connect(
        self,
        tenant_id: str,
        *,
        token: str,
        team_id: str,
        team_name: str,
        bot_user_id: str,
        via: Literal["oauth", "token"],
        by: Actor,
    ) -> Connected:
        current = self.workspaces.get(tenant_id)
        if current is not None and current.teamId != team_id:
            raise Conflict(
                f"{current.teamName} is connected already: disconnect it first to connect another workspace.",
                code="slack_already_connected",
            )
        workspace = SlackWorkspace(
            tenantId=tenant_id,
            teamId=team_id,
            teamName=team_name,
            botUserId=bot_user_id,
            botTokenCipher=self.cipher.encrypt(tenant_id, token),
            connectedAt=timeutil.iso(self.clock()),
            connectedBy=by.email,
            via=via,
        )
        try:
            self.workspaces.connect(workspace)
        except SlackTeamTaken as taken:
            raise Conflict(
                f"The Slack workspace {team_name} is connected to another team. One workspace serves one team: "
                "disconnect it there first.",
                code="slack_team_taken",
            ) from taken
        self._record(tenant_id, team_events.SLACK_CONNECTED, by, teamId=team_id, teamName=team_name, via=via)
        linked, unmatched = self._link_everyone(tenant_id, token, by)
        return Connected(workspace=workspace, linked=linked, unmatched=unmatched)

    def _link_everyone(self, tenant_id: str, token: str, by: Actor) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Match every confirmed member not linked yet by their email (a Slack error leaves the
        rest unmatched: they can link themselves)."""
        linked: list[str] = []
        unmatched: list[str] = []
        members = self.members.approvers(tenant_id)
        taken = {m.slackUserId for m in members if m.slackUserId is not None}
        for member in members:
            if member.status != "confirmed" or member.slackUserId is not None:
                continue
            try:
                user_id = self.api().lookup_user_by_email(token, member.email)
            except SlackApiError:
                user_id = None
            if user_id is None or user_id in taken:
                unmatched.append(member.email)
                continue
            self._link(tenant_id, member.email, user_id, by, matched="email")
            taken.add(user_id)
            linked.append(member.email)
        return tuple(linked), tuple(unmatched)

    def _lookup(self, workspace: SlackWorkspace, email: str) -> str | None:
        token = self.cipher.decrypt(workspace.tenantId, workspace.botTokenCipher)
        return self.api().lookup_user_by_email(token, email)

    def _link(self, tenant_id: str, email: str, user_id: str, by: Actor, **details: str) -> None:
        if not self.members.set_slack_user(tenant_id, email, user_id):
            return
        self._record(tenant_id, team_events.SLACK_LINKED, by, email=email, slackUserId=user_id, **details)

    def _tenant(self, tenant_id: str) -> Tenant:
        tenant = self.members.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"No team {tenant_id}.", code="team_not_found")
        return tenant

    def _allowed(self, tenant_id: str) -> SlackAppConfig:
        tenant = self._tenant(tenant_id)
        if tenant.plan != "pro":
            raise _plan_required(tenant.plan)
        if self.app is None:
            raise NotFound("This HITL service has no Slack app configured.", code="slack_not_configured")
        return self.app

    def _connected(self, tenant_id: str) -> SlackWorkspace:
        self._allowed(tenant_id)
        workspace = self.workspaces.get(tenant_id)
        if workspace is None:
            raise NotFound("Your team has not connected a Slack workspace.", code="slack_not_connected")
        return workspace

    def _member(self, tenant_id: str, email: str) -> Approver:
        member = self.members.member(tenant_id, email)
        if member is None or member.status != "confirmed":
            raise NotFound(f"{email} is not a member of this team.", code="member_not_found")
        return member

    def _record(self, tenant_id: str, type_: str, by: Actor, **details: str) -> None:
        self.audit.record_team_event(
            tenant_id, type_, actor=by.email, channel=by.channel, ip=by.ip, details=dict(details)
        )


def _plan_required(plan: str) -> PlanRequired:
    return PlanRequired(
        f"Slack is part of the Pro plan; this team is on {plan}. Ask the operator to change the plan.",
        code="plan_required",
        details={"plan": plan, "needed": "pro"},
    )
