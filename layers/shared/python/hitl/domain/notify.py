"""Approvers are emailed: one work item per (event, approver), each sent at most once.

``fan_out`` turns a ``pause.created`` event into one message per approver; ``deliver`` sends
one approver's email: it re-reads the pause (a pause no longer pending sends nothing, nor does
an email to someone removed from the team since), claims
the (event, approver) pair so a redelivered message never sends twice, mints that approver's
single-use link token, renders and sends, and remembers which pause and approver the SES
message id stands for.  A send that keeps failing ends, on its last attempt, in
``notifications`` on the pause and a ``pause.notification_failed`` event; so does an email SES
reports as bounced, complained about or rejected (``undeliverable`` reads SES's event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Protocol

from hitl import ids, timeutil
from hitl.domain import rules
from hitl.domain.models import Approver, pause_view
from hitl.domain.ports import LinkToken, PauseRepository, SentMessage, TokenRepository
from hitl.notify.render import Links, approval_email
from hitl.observability import logger

if TYPE_CHECKING:
    from hitl.domain.slack_notify import SlackDms


class Mailer(Protocol):
    def send(self, to: str, message: EmailMessage) -> str: ...


class Members(Protocol):
    def member(self, tenant_id: str, email: str) -> Approver | None: ...


class WorkQueue(Protocol):
    def send(self, messages: list[dict[str, Any]]) -> None: ...


#: seconds before the n-th retry of a failed send: 10 s, 40 s, 90 s, 160 s, 250 s …
RETRY_DELAY_S = 10

#: How long a sent email's message id is remembered: bounces come within minutes, complaints
#: may take days.
SENT_MESSAGE_KEEP_S = 30 * 86400

#: SES's event types (``detail.eventType``) that mean the approver will not read the email, and
#: where each lists its recipients (a rejected email was never sent: ``mail.destination``).
UNDELIVERABLE = {
    "Bounce": ("bounce", "bouncedRecipients"),
    "Complaint": ("complaint", "complainedRecipients"),
    "Reject": ("reject", None),
}


class RetryLater(Exception):
    """The send failed; the work item should come back after ``delay_s``."""

    def __init__(self, delay_s: int) -> None:
        super().__init__(f"retry in {delay_s} s")
        self.delay_s = delay_s


class GaveUp(Exception):
    """The send failed on its last attempt (or for good): the failure is on the pause; dead-letter
    the item.  ``channel``: the email's, or the Slack DM's."""

    def __init__(self, message: str, channel: str = "email") -> None:
        super().__init__(message)
        self.channel = channel


@dataclass
class Outcome:
    status: str  # sent | skipped | duplicate | busy
    channel: str = "email"


@dataclass(frozen=True)
class Undeliverable:
    """An approval email SES reports as not (or not to be) read: by whom, for which pause."""

    watch_id: str
    to: str
    kind: str  # Bounce | Complaint | Reject
    message_id: str


class Notifier:
    def __init__(
        self,
        pauses: PauseRepository,
        tokens: TokenRepository,
        mailer: Mailer,
        queue: WorkQueue,
        base_url: str,
        sender: str,
        *,
        record_failure: Callable[[str, str], bool],
        max_attempts: int,
        members: Members | None = None,
        slack: SlackDms | None = None,
    ) -> None:
        #: Slack DMs (``hitl.domain.slack_notify``); ``None``: the deployment has no Slack app
        self.slack = slack
        #: who is still a confirmed member (a member removed since the pause was created is not emailed)
        self.members = members
        #: puts a failed notification on its pause (``PauseService.record_notification_failure``)
        self.record_failure = record_failure
        self.max_attempts = max_attempts
        self.pauses = pauses
        self.tokens = tokens
        self.mailer = mailer
        self.queue = queue
        self.base_url = base_url.rstrip("/")
        self.sender = sender

    def fan_out(self, envelope: dict[str, Any]) -> int:
        """One work item per named approver of the pause the event is about and per channel: the
        request when it is created, a reminder to those who have not decided yet when one is due.
        An email to each, unless they are sent a Slack DM and turned email off; a DM to each one
        linked to Slack, when the team has Slack."""
        data = envelope["data"]
        kind = "reminder" if envelope["type"] == "pause.reminder_due" else "request"
        decided = {a["by"] for a in data.get("approvals", [])}
        approvers = [a for a in data.get("policy", {}).get("approvers", []) if a not in decided]
        on_slack = self.slack.recipients(envelope["tenantId"], approvers) if self.slack and approvers else None
        item = {"eventId": envelope["eventId"], "watchId": data["watchId"], "kind": kind}
        messages = [
            {**item, "to": approver, "channel": "email"}
            for approver in approvers
            if on_slack is None or approver not in on_slack.no_email
        ]
        if on_slack is not None:
            messages += [
                {**item, "to": approver, "channel": "slack"} for approver in approvers if approver in on_slack.dm
            ]
        if messages:
            self.queue.send(messages)
        return len(messages)

    def attempt(self, work: dict[str, Any], attempt: int) -> Outcome:
        """Attempt ``attempt`` of one approver's email (or Slack DM): a failure is retried later with
        growing delays (``RetryLater``); the last one is recorded on the pause (``GaveUp``)."""
        if work.get("channel") == "slack":
            if self.slack is None:
                logger.warning("a Slack DM to send, but no Slack app: dropped", extra={"watch_id": work.get("watchId")})
                return Outcome("skipped", "slack")
            return Outcome(self.slack.attempt(work, attempt), "slack")
        try:
            return self.deliver(work)
        except Exception as error:
            logger.exception("email not sent", extra={"watch_id": work.get("watchId"), "attempt": attempt})
            if attempt >= self.max_attempts:
                self.record_failure(work["watchId"], work["to"])
                raise GaveUp(f"no email to an approver of {work.get('watchId')} after {attempt} attempts") from error
            raise RetryLater(RETRY_DELAY_S * attempt * attempt) from error

    def deliver(self, work: dict[str, Any]) -> Outcome:
        """Send one approver's email (raises to have the message retried)."""
        found = self.pauses.get(work["watchId"])
        if found is None:
            return Outcome("skipped")
        head, body = found
        head = rules.effective(head, timeutil.now())
        if head.status != "pending" or any(a.by == work["to"] for a in head.approvals):
            return Outcome("skipped")
        if self.members is not None:
            member = self.members.member(head.tenantId, work["to"])
            if member is None or member.status != "confirmed":
                return Outcome("skipped")  # removed from the team since: their link would not work
        claim = self.tokens.claim_notification(work["eventId"], work["to"], timeutil.epoch(timeutil.now()), 120)
        if claim != "claimed":
            return Outcome(claim)  # "duplicate": sent already; "busy": another attempt is sending now
        try:
            token = ids.new_link_token()
            link = LinkToken(
                watchId=head.watchId, tenantId=head.tenantId, approver=work["to"], expiresAt=head.expiresAt
            )
            self.tokens.put_token(ids.sha256_hex(token), link)
            links = Links(
                approve=f"{self.base_url}/a/{token}/approve",
                reject=f"{self.base_url}/a/{token}/reject",
                page=f"{self.base_url}/a/{token}/view",
            )
            message = approval_email(
                sender=self.sender,
                to=work["to"],
                pause=pause_view(head, body),
                links=links,
                reminder=work.get("kind") == "reminder",
            )
            message_id = self.mailer.send(work["to"], message)
        except Exception:
            self.tokens.finish_notification(work["eventId"], work["to"], "retry")
            raise
        self._remember(message_id, head.watchId, work["to"])
        self.tokens.finish_notification(work["eventId"], work["to"], "sent")
        logger.info("approval email sent", extra={"watch_id": head.watchId, "ses_message_id": message_id})
        return Outcome("sent")

    def update_slack(self, envelope: dict[str, Any]) -> int:
        """After a decision event: every Slack DM of the pause shows how it now stands; how many."""
        return self.slack.update(envelope) if self.slack is not None else 0

    def _remember(self, message_id: str, watch_id: str, to: str) -> None:
        """Which pause and approver ``message_id`` is for, so that its bounce can say so.  The email
        is sent: a failure here must not have it sent again, so it is logged, not raised."""
        if not message_id:
            logger.warning(
                "SES gave no message id: a bounce of this email cannot be traced", extra={"watch_id": watch_id}
            )
            return
        try:
            sent = SentMessage(watchId=watch_id, to=to)
            self.tokens.put_sent_message(message_id, sent, timeutil.epoch(timeutil.now()), SENT_MESSAGE_KEEP_S)
        except Exception:
            logger.exception("could not remember the SES message id", extra={"watch_id": watch_id})

    def report_undeliverable(self, detail: dict[str, Any]) -> Undeliverable | None:
        """Record on its pause an approval email SES reports as not read (once per approver);
        what it was, when it was ours and newly recorded."""
        found = self.undeliverable(detail)
        if found is None:
            return None
        recorded = self.record_failure(found.watch_id, found.to)
        logger.info(
            "approval email undeliverable",
            extra={"watch_id": found.watch_id, "ses_event": found.kind, "ses_message_id": found.message_id},
        )
        return found if recorded else None

    def undeliverable(self, detail: dict[str, Any]) -> Undeliverable | None:
        """The approval email an SES event (``detail`` of its EventBridge event) reports as bounced,
        complained about or rejected; ``None`` for any other event, or an email we did not send
        (or no longer remember).  Each email has one recipient, the approver it was sent to."""
        kind = str(detail.get("eventType") or "")
        mail = detail.get("mail") or {}
        message_id = str(mail.get("messageId") or "")
        if kind not in UNDELIVERABLE or not message_id:
            logger.info("SES event ignored", extra={"event_type": kind, "ses_message_id": message_id})
            return None
        section, recipients_key = UNDELIVERABLE[kind]
        if recipients_key is None:
            recipients = [str(a) for a in mail.get("destination", [])]
        else:
            listed = (detail.get(section) or {}).get(recipients_key) or []
            recipients = [str(r.get("emailAddress", "")) for r in listed if isinstance(r, dict)]
        sent = self.tokens.get_sent_message(message_id)
        if sent is None:
            logger.warning(
                "SES event for an email we do not know", extra={"event_type": kind, "ses_message_id": message_id}
            )
            return None
        if recipients and not any(_same_address(r, sent.to) for r in recipients):
            logger.warning(
                "SES event names other recipients than the approver the email was sent to",
                extra={"event_type": kind, "ses_message_id": message_id, "watch_id": sent.watchId},
            )
        return Undeliverable(watch_id=sent.watchId, to=sent.to, kind=kind, message_id=message_id)


def _same_address(reported: str, sent_to: str) -> bool:
    """SES reports a bare address (``bob@x.test``); compare without case."""
    _, address = parseaddr(reported)
    return (address or reported).strip().lower() == sent_to.strip().lower()
