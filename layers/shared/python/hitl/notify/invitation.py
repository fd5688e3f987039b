"""The invitation email: who invites you to which team, as what, the link and its expiry.

``InvitationEmails`` implements the domain's ``InvitationMailer`` port over any ``Mailer`` (the
SES one in AWS and on the local stack).  The token is in the link only: it is never logged.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from hitl import timeutil
from hitl.domain.models import Role
from hitl.domain.notify import Mailer
from hitl.notify.render import environment, one_line
from hitl.observability import logger

SUBJECT_TEAM_CHARS = 80
ROLE_PHRASES: dict[str, tuple[str, str]] = {
    "owner": (
        "an owner",
        "Owners decide the pauses that name them and manage the team: members, API keys, webhooks and settings.",
    ),
    "approver": ("an approver", "Approvers decide the pauses (requests from AI agents) that name them."),
}


def invitation_email(
    *, sender: str, to: str, team_name: str, inviter: str, url: str, role: Role, expires_at: str
) -> EmailMessage:
    """The MIME message (plain text + HTML) inviting ``to`` into ``team_name``."""
    phrase, role_help = ROLE_PHRASES[role]
    values = {
        "team": team_name,
        "inviter": inviter,
        "url": url,
        "role_phrase": phrase,
        "role_help": role_help,
        "expires_at": expires_at,
    }
    env = environment()
    message = EmailMessage()
    message["Subject"] = f"You are invited to {one_line(team_name, SUBJECT_TEAM_CHARS)} on HITL"
    message["From"] = sender
    message["To"] = Address(addr_spec=to)
    message["Date"] = format_datetime(timeutil.now())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or "hitl.local")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template("invitation.txt.j2").render(values))
    message.add_alternative(env.get_template("invitation.html.j2").render(values), subtype="html")
    return message


class InvitationEmails:
    """``InvitationMailer`` over a ``Mailer`` (``hitl.adapters.messaging.SesMailer``)."""

    def __init__(self, mailer: Mailer, sender: str) -> None:
        self.mailer = mailer
        self.sender = sender

    def send_invitation(self, to: str, team_name: str, inviter: str, url: str, *, role: Role, expires_at: str) -> None:
        message = invitation_email(
            sender=self.sender, to=to, team_name=team_name, inviter=inviter, url=url, role=role, expires_at=expires_at
        )
        message_id = self.mailer.send(to, message)
        logger.info("invitation email sent", extra={"ses_message_id": message_id, "role": role})
