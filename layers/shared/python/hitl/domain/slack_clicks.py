"""An Approve or Reject click in a Slack DM (``POST /slack/interactivity``, signature verified).

The click names a Slack team, a Slack user and a pause (the button's value is its watchId).  It
decides only when the team's workspace is connected to the pause's tenant, the tenant is on Pro,
and the Slack user is linked to a confirmed member whom the pause's policy names; then it is the
same decision as from an email or the dashboard (``Deciding.decide``: N of M, each approver once,
nothing after expiry) with ``channel: "slack"`` and ``by`` = the member's email.  Anything else
changes nothing and is answered with a note only the clicker sees (``chat.postEphemeral``): not an
approver, already decided (by whom), expired, withdrawn.  Slack's retries and a replayed request
are the same click again: the approver has decided already, so they get the current state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from hitl.domain import rules
from hitl.domain.errors import Conflict, Gone
from hitl.domain.models import Approver, PauseHead, SlackWorkspace
from hitl.domain.ports import PauseRepository, SecretCipher, SlackApi, SlackApiError, SlackWorkspaces, TenantRepository
from hitl.observability import logger

Choice = Literal["approved", "rejected"]
#: what became of a click
Kind = Literal[
    "decided",  # recorded: the pause is decided, or one approval of N is
    "unknown_team",  # no tenant has connected this Slack team
    "plan_required",  # the tenant is not on Pro (any more)
    "unknown_pause",  # no such pause, or another tenant's
    "not_an_approver",  # the Slack user is not linked to a member the pause names
    "already_decided_by_you",  # this approver decided already (a second click, a retry, a replay)
    "closed",  # the pause is decided, expired or cancelled
]

NOT_AN_APPROVER = "You are not an approver of this pause."
PRO_ONLY = "Slack approvals are part of the Pro plan; nothing was recorded. Decide from the email or the dashboard."
UNKNOWN_PAUSE = "This pause no longer exists; nothing was recorded."


@dataclass(frozen=True)
class Click:
    team_id: str
    user_id: str
    watch_id: str
    decision: Choice
    #: the DM the click came from: where the ephemeral note goes
    channel_id: str | None


@dataclass(frozen=True)
class ClickResult:
    kind: Kind
    #: the pause after the click (as time reads it); ``None`` when none was found
    pause: PauseHead | None = None
    #: the note shown to the clicker only; ``None`` when the message update says it all
    notice: str | None = None
    #: the member who clicked, when linked and named
    approver: str | None = None


class SlackClicks:
    def __init__(
        self,
        workspaces: SlackWorkspaces,
        tenants: TenantRepository,
        pauses: PauseRepository,
        decide: Callable[..., PauseHead],
        slack: Callable[[], SlackApi],
        cipher: Callable[[], SecretCipher],
        clock: Callable[[], datetime],
    ) -> None:
        """``decide``: ``Deciding.decide`` (the one decision of every channel); ``slack`` and
        ``cipher`` are built only when a note must be posted (most clicks decide)."""
        self.workspaces = workspaces
        self.tenants = tenants
        self.pauses = pauses
        self.decide = decide
        self.slack = slack
        self.cipher = cipher
        self.clock = clock

    def click(self, click: Click) -> ClickResult:
        result = self._judge(click)
        logger.info("slack click", extra={"watch_id": click.watch_id, "outcome": result.kind})
        return result

    def _judge(self, click: Click) -> ClickResult:
        workspace = self.workspaces.by_team(click.team_id)
        if workspace is None:
            return ClickResult("unknown_team")  # no token to answer with: the ack is all
        profile = self.tenants.profile(workspace.tenantId)
        if profile is None or profile.tenant.plan != "pro":
            return self._noted(workspace, click, ClickResult("plan_required", notice=PRO_ONLY))
        head = self.pauses.get_head(click.watch_id)
        if head is None or head.tenantId != workspace.tenantId:
            return self._noted(workspace, click, ClickResult("unknown_pause", notice=UNKNOWN_PAUSE))
        shown = rules.effective(head, self.clock())
        member = linked_member(profile.approvers, click.user_id, shown)
        if member is None:
            return self._noted(workspace, click, ClickResult("not_an_approver", shown, NOT_AN_APPROVER))
        mine = next((a for a in shown.approvals if a.by == member.email), None)
        if mine is not None:
            notice = f"You already {mine.decision} this pause. {state_of(shown)}"
            return self._noted(workspace, click, ClickResult("already_decided_by_you", shown, notice, member.email))
        if shown.status != "pending":
            return self._noted(workspace, click, ClickResult("closed", shown, state_of(shown), member.email))
        try:
            decided = self.decide(shown.watchId, member.email, click.decision, None, "slack", current=head)
        except (Conflict, Gone):
            # decided, expired or cancelled meanwhile (or this approver's other click won the race)
            now = self.pauses.get_head(click.watch_id) or head
            current = rules.effective(now, self.clock())
            kind: Kind = "already_decided_by_you" if any(a.by == member.email for a in current.approvals) else "closed"
            return self._noted(workspace, click, ClickResult(kind, current, state_of(current), member.email))
        return ClickResult("decided", decided, None, member.email)

    def _noted(self, workspace: SlackWorkspace, click: Click, result: ClickResult) -> ClickResult:
        """Post ``result.notice`` to the clicker only; a failure to post is logged, never raised
        (the click was judged, and Slack must have its answer)."""
        if result.notice is None or not click.channel_id:
            return result
        try:
            token = self.cipher().decrypt(workspace.tenantId, workspace.botTokenCipher)
            self.slack().post_ephemeral(token, click.channel_id, click.user_id, result.notice)
        except SlackApiError as failed:
            logger.warning("slack ephemeral failed", extra={"watch_id": click.watch_id, "error": failed.error})
        except Exception as failed:  # the token would not decrypt (KMS), or Slack could not be reached
            logger.warning("slack ephemeral failed", extra={"watch_id": click.watch_id, "error": type(failed).__name__})
        return result


def linked_member(members: tuple[Approver, ...], slack_user_id: str, head: PauseHead) -> Approver | None:
    """The confirmed member linked to ``slack_user_id`` whom ``head``'s policy names, if any."""
    return next(
        (
            m
            for m in members
            if m.slackUserId == slack_user_id and m.status == "confirmed" and m.email in head.policy.approvers
        ),
        None,
    )


def state_of(head: PauseHead) -> str:
    """The pause's state in one sentence, for a click that cannot decide."""
    decision = head.decision
    if head.status == "pending":
        approved = sum(1 for a in head.approvals if a.decision == "approved")
        return f"{approved} of {head.policy.requiredApprovals} approvals so far; others still have to decide."
    if head.status == "expired":
        return f"This pause expired at {head.expiresAt}; nothing can be decided now."
    if head.status == "cancelled":
        return "The agent withdrew this pause; nothing to decide."
    if decision is not None and decision.by == "timeout":
        return f"This pause was {head.status} on timeout at {head.expiresAt}."
    by = decision.by if decision is not None else "someone"
    return f"This pause was already {head.status} by {by}."
