"""Approvers on Slack (Pro): a DM per (event, approver), and every DM of a pause updated as it goes.

``recipients`` says, at fan-out, which named approvers get a DM (a Pro team with a connected
workspace, a confirmed member linked to a Slack user) and which of them get no email (they turned
email off while linked).  ``deliver`` sends one approver's DM: it re-reads the pause (nothing for
a pause no longer pending, or an approver who decided), checks the member and the workspace again,
claims the (event, approver) pair as the email's work item does (a redelivered message never
posts twice), opens the DM (``conversations.open``), posts the Block Kit request and records the
message (channel, ts) so it can be updated.  ``attempt`` retries a failure: ``ratelimited`` after
Slack's ``Retry-After``, others with the email's growing delays; an error that no retry can cure
(the user is gone, the token revoked) and the last attempt are recorded on the pause
(``notifications`` with ``channel: "slack"``, ``pause.notification_failed``).

``update`` answers a decision event (an approval recorded, approved, rejected, expired, cancelled,
by any channel): every DM of the pause is rewritten with ``chat.update`` as the pause now stands
(the tally of an N of M, the outcome, no buttons once it is over).  It reads the pause each time,
so events arriving out of order or twice end in the same message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hitl import timeutil
from hitl.domain import rules
from hitl.domain.models import Approver, Channel, PauseBody, PauseHead, Tenant, pause_view
from hitl.domain.notify import GaveUp, RetryLater
from hitl.domain.ports import (
    PauseRepository,
    SecretCipher,
    SlackApi,
    SlackApiError,
    SlackMessage,
    SlackWorkspaces,
    TokenRepository,
)
from hitl.observability import logger
from hitl.slack import blocks

#: the work item's ``channel``
SLACK: Channel = "slack"
#: the events after which every DM of the pause is updated (``slack-updates``)
UPDATE_EVENTS = ("pause.approval_recorded", "pause.approved", "pause.rejected", "pause.expired", "pause.cancelled")
#: seconds before the n-th retry of a failed DM (as the email's: 10 s, 40 s, 90 s …)
RETRY_DELAY_S = 10
#: Slack's errors that no retry cures: the DM is recorded as failed at once
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "cannot_dm_bot",
        "channel_not_found",
        "invalid_auth",
        "is_archived",
        "missing_scope",
        "not_authed",
        "not_in_channel",
        "no_permission",
        "restricted_action",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
        "user_disabled",
        "user_not_found",
        "user_not_visible",
        "users_not_found",
    }
)


class Members(Protocol):
    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def member(self, tenant_id: str, email: str) -> Approver | None: ...

    def approvers(self, tenant_id: str) -> list[Approver]: ...


@dataclass(frozen=True)
class Recipients:
    """At fan-out: who of the named approvers gets a DM, and who of them gets no email."""

    dm: frozenset[str] = frozenset()
    no_email: frozenset[str] = frozenset()


def slack_key(email: str) -> str:
    """What the (event, approver) claim of a DM is keyed by (the email's claim is the bare address)."""
    return f"{SLACK}:{email}"


class SlackDms:
    def __init__(
        self,
        pauses: PauseRepository,
        tokens: TokenRepository,
        workspaces: SlackWorkspaces,
        members: Members,
        cipher: SecretCipher,
        api: SlackApi,
        base_url: str,
        *,
        record_failure: Callable[[str, str, Channel], bool],
        max_attempts: int,
    ) -> None:
        self.pauses = pauses
        self.tokens = tokens
        self.workspaces = workspaces
        self.members = members
        self.cipher = cipher
        self.api = api
        self.base_url = base_url.rstrip("/")
        #: ``PauseService.record_notification_failure(watch_id, to, channel)``
        self.record_failure = record_failure
        self.max_attempts = max_attempts

    # --- fan-out ------------------------------------------------------------------------------

    def recipients(self, tenant_id: str, approvers: list[str]) -> Recipients:
        """Which of ``approvers`` get a DM: on a plan with Slack, a workspace connected, a confirmed
        member linked to a Slack user; and which of those asked for no email."""
        tenant = self.members.get_tenant(tenant_id)
        if tenant is None or not rules.PLANS[tenant.plan].slack or self.workspaces.get(tenant_id) is None:
            return Recipients()
        linked = {m.email: m for m in self.members.approvers(tenant_id) if m.status == "confirmed" and m.slackUserId}
        dm = frozenset(a for a in approvers if a in linked)
        return Recipients(dm=dm, no_email=frozenset(a for a in dm if not linked[a].emailed()))

    # --- one DM -------------------------------------------------------------------------------

    def attempt(self, work: dict[str, Any], attempt: int) -> str:
        """Attempt ``attempt`` of one approver's DM; its outcome (sent, skipped, duplicate, busy)."""
        try:
            return self.deliver(work)
        except SlackApiError as failed:
            logger.warning(
                "Slack DM not sent",
                extra={"watch_id": work.get("watchId"), "attempt": attempt, "slack_error": failed.error},
            )
            if failed.error in PERMANENT_ERRORS or attempt >= self.max_attempts:
                self.record_failure(work["watchId"], work["to"], SLACK)
                raise GaveUp(f"no Slack DM to an approver of {work.get('watchId')}: {failed.error}", SLACK) from None
            if failed.error == "ratelimited" and failed.retry_after_s is not None:
                raise RetryLater(max(1, math.ceil(failed.retry_after_s))) from None
            raise RetryLater(RETRY_DELAY_S * attempt * attempt) from None
        except Exception as error:
            logger.exception("Slack DM not sent", extra={"watch_id": work.get("watchId"), "attempt": attempt})
            if attempt >= self.max_attempts:
                self.record_failure(work["watchId"], work["to"], SLACK)
                raise GaveUp(f"no Slack DM to an approver of {work.get('watchId')}", SLACK) from error
            raise RetryLater(RETRY_DELAY_S * attempt * attempt) from error

    def deliver(self, work: dict[str, Any]) -> str:
        found = self.pauses.get(work["watchId"])
        if found is None:
            return "skipped"
        head, body = found
        head = rules.effective(head, timeutil.now())
        to = work["to"]
        if head.status != "pending" or any(a.by == to for a in head.approvals) or to not in head.policy.approvers:
            return "skipped"
        tenant = self.members.get_tenant(head.tenantId)
        member = self.members.member(head.tenantId, to)
        workspace = self.workspaces.get(head.tenantId)
        if tenant is None or not rules.PLANS[tenant.plan].slack or workspace is None:
            return "skipped"  # downgraded or disconnected since the fan-out
        if member is None or member.status != "confirmed" or not member.slackUserId:
            return "skipped"  # removed or unlinked since
        claim = self.tokens.claim_notification(work["eventId"], slack_key(to), timeutil.epoch(timeutil.now()), 120)
        if claim != "claimed":
            return claim
        try:
            token = self.cipher.decrypt(head.tenantId, workspace.botTokenCipher)
            channel = self.api.open_dm(token, member.slackUserId)
            message = blocks.request_message(
                pause_view(head, body), base_url=self.base_url, reminder=work.get("kind") == "reminder"
            )
            ts = self.api.post_message(token, channel, message.text, message.blocks)
        except Exception:
            self.tokens.finish_notification(work["eventId"], slack_key(to), "retry")
            raise
        self._remember(SlackMessage(head.tenantId, head.watchId, to, channel, ts))
        self.tokens.finish_notification(work["eventId"], slack_key(to), "sent")
        logger.info("Slack DM sent", extra={"watch_id": head.watchId})
        self._catch_up(head, token, channel, ts)
        return "sent"

    def _remember(self, message: SlackMessage) -> None:
        """The DM is posted: a failure to record it must not post it again (logged, not raised);
        it then keeps its buttons, and a click on them answers with the pause's state."""
        try:
            self.workspaces.record_message(message)
        except Exception:
            logger.exception("could not record the Slack DM", extra={"watch_id": message.watchId})

    def _catch_up(self, sent: PauseHead, token: str, channel: str, ts: str) -> None:
        """A decision made while the DM was being posted may have been handled (``update``) before
        the DM was recorded: if the pause changed since it was read, the DM is updated now."""
        try:
            found = self.pauses.get(sent.watchId)
            if found is None or found[0].version == sent.version:
                return
            self._rewrite(token, channel, ts, rules.effective(found[0], timeutil.now()), found[1])
        except Exception:
            logger.exception(
                "could not update a Slack DM posted as the pause changed", extra={"watch_id": sent.watchId}
            )

    # --- updates ------------------------------------------------------------------------------

    def update(self, envelope: dict[str, Any]) -> int:
        """Rewrite every DM of the pause an event is about as the pause now stands; how many.  A
        DM Slack no longer has is skipped; ``ratelimited`` (or Slack out of reach) raises, so the
        event comes back."""
        if envelope.get("type") not in UPDATE_EVENTS:
            return 0
        tenant_id = envelope["tenantId"]
        watch_id = envelope["data"]["watchId"]
        sent = self.workspaces.messages(tenant_id, watch_id)
        if not sent:
            return 0
        workspace = self.workspaces.get(tenant_id)
        found = self.pauses.get(watch_id)
        if workspace is None or found is None:
            return 0  # disconnected since: its token is gone
        head, body = found
        head = rules.effective(head, timeutil.now())
        token = self.cipher.decrypt(tenant_id, workspace.botTokenCipher)
        updated = 0
        for message in sent:
            try:
                self._rewrite(token, message.channel, message.ts, head, body)
                updated += 1
            except SlackApiError as failed:
                if failed.error in PERMANENT_ERRORS or failed.error in ("message_not_found", "cant_update_message"):
                    logger.warning("Slack DM not updated", extra={"watch_id": watch_id, "slack_error": failed.error})
                    continue
                raise
        return updated

    def _rewrite(self, token: str, channel: str, ts: str, head: PauseHead, body: PauseBody) -> None:
        message = blocks.status_message(pause_view(head, body), base_url=self.base_url)
        self.api.update_message(token, channel, ts, message.text, message.blocks)
