"""Accepting an invitation from its link (``POST /invite/{token}``): the invitation is used up and
the member confirmed (``Teams.accept``, which records ``team.member_joined``), then the invitee
is signed in to that team (a session, recorded as ``team.signed_in``); when the team has a Slack
workspace, the new member is linked to the Slack user of their email (``team.slack_linked``).  Showing the invitation
(``GET``) is ``Teams.invitation`` and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hitl.domain import team_events
from hitl.domain.ports import TeamAudit
from hitl.domain.sessions import Sessions, StartedSession
from hitl.domain.slack_connect import Actor, SlackConnect
from hitl.domain.teams import Teams


@dataclass
class Joining:
    teams: Teams
    sessions: Sessions
    audit: TeamAudit
    #: the team's Slack connection, built only when a member joins (most requests never need it)
    slack: Callable[[], SlackConnect] | None = None

    def join(self, token: str, *, ip: str | None, user_agent: str | None) -> StartedSession:
        """Accept the invitation behind ``token`` and start a session for its team;
        ``InvitationNotValid`` says why a link cannot be accepted."""
        member = self.teams.accept(token, ip=ip)
        started = self.sessions.start(member.email, member.tenantId, ip=ip, user_agent=user_agent)
        self.audit.record_team_event(
            member.tenantId,
            team_events.SIGNED_IN,
            actor=member.email,
            channel="dashboard",
            ip=ip,
            details={"sessionId": started.session.sessionId, "invitation": True},
        )
        if self.slack is not None:
            self.slack().member_joined(member.tenantId, member.email, Actor(member.email, "dashboard", ip))
        return started
