"""SES's mailbox simulator, faked: what SES reports about mail to its simulator addresses.

In AWS, an email to ``bounce@simulator.amazonses.com`` bounces, one to
``complaint@simulator.amazonses.com`` is complained about (and one to
``suppressionlist@simulator.amazonses.com`` bounces as if the address were on the suppression
list); SES then puts an ``Email Bounced`` / ``Email Complaint Received`` event on the account's
default bus (the configuration set's event destination).  moto accepts every email and never
reports anything, so ``MailboxSimulator`` does it: it watches moto's sent messages (moto runs in
this process, as for the outbox) and, a short delivery time after a message to a simulator
address (``+label`` allowed) was sent, puts the event SES would, shaped as SES's, on moto's
default bus.  From there the rule → queue → function path is the same as in AWS.

Every event carries the local configuration set as its ``ses:configuration-set`` tag: the local
stack sends every email with it (as the deployed stack does; its SES identity defaults to it
too), and moto does not keep which set a message named.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_string, policy
from email.utils import getaddresses, parseaddr
from typing import Any

from moto.ses.models import ses_backends

from hitl import wiring
from hitl_local.outbox import ACCOUNT, REGION
from hitl_local.pollers import _Loop
from hitl_local.resources import DEFAULT_BUS, SENDER_DOMAIN

log = logging.getLogger("hitl_local.ses_simulator")

SIMULATOR_DOMAIN = "simulator.amazonses.com"
#: how long after the send SES's report arrives (SES takes a second or so; the notifier has long
#: written down which pause the message is for by then)
DELIVERY_S = 0.3
#: how often the sent messages are looked at
PERIOD_S = 0.1


@dataclass(frozen=True)
class Outcome:
    """What SES reports about mail to one simulator mailbox."""

    event_type: str  # the detail's eventType
    detail_type: str  # the EventBridge detail-type
    section: dict[str, Any]  # the bounce / complaint object, but its recipients and times


BOUNCED = "Email Bounced"
COMPLAINED = "Email Complaint Received"

#: simulator mailbox (the local part, before any ``+label``) -> what SES reports
MAILBOXES: dict[str, Outcome] = {
    "bounce": Outcome(
        "Bounce",
        BOUNCED,
        {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        },
    ),
    "suppressionlist": Outcome(
        "Bounce",
        BOUNCED,
        {
            "bounceType": "Permanent",
            "bounceSubType": "Suppressed",
            "status": "5.1.1",
            "diagnosticCode": "Amazon SES has suppressed sending to this address because it has a recent history "
            "of bouncing as an invalid address.",
        },
    ),
    "complaint": Outcome("Complaint", COMPLAINED, {"complaintFeedbackType": "abuse"}),
}


def mailbox_of(address: str) -> Outcome | None:
    """What SES reports about mail to ``address``: ``None`` unless a simulator mailbox."""
    _, bare = parseaddr(address)
    local, _, domain = (bare or address).rpartition("@")
    if domain.lower() != SIMULATOR_DOMAIN:
        return None
    return MAILBOXES.get(local.split("+", 1)[0].lower())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def recipients_of(message: Any) -> list[str]:
    """A moto sent message's envelope recipients, bare and each once."""
    destinations = message.destinations
    if isinstance(destinations, dict):
        destinations = [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(key, [])]
    bare = [address for _, address in getaddresses([str(d) for d in destinations]) if address]
    return list(dict.fromkeys(bare))


def ses_detail(
    outcome: Outcome,
    message: Any,
    recipients: list[str],
    *,
    configuration_set: str | None,
    sent_at: datetime,
    reported_at: datetime,
) -> dict[str, Any]:
    """The ``detail`` of the EventBridge event SES publishes for ``outcome`` (its event
    publishing record: ``eventType``, ``mail``, and ``bounce`` or ``complaint``)."""
    raw = getattr(message, "raw_data", None) or ""
    parsed = message_from_string(raw, policy=policy.default) if raw else None
    headers = [{"name": name, "value": str(value)} for name, value in parsed.items()] if parsed else []
    source = str(message.source or "")
    _, source_address = parseaddr(source)
    common: dict[str, Any] = {"messageId": message.id}
    if parsed is not None:
        for header, key in (("From", "from"), ("To", "to")):
            if parsed[header]:
                common[key] = [str(a) for a in parsed[header].addresses]
        for header, key in (("Subject", "subject"), ("Date", "date")):
            if parsed[header]:
                common[key] = str(parsed[header])
    tags: dict[str, list[str]] = {
        "ses:source-ip": ["127.0.0.1"],
        "ses:from-domain": [source_address.rpartition("@")[2] or SENDER_DOMAIN],
        "ses:caller-identity": ["local"],
    }
    if configuration_set:
        tags[wiring.SES_CONFIGURATION_SET_TAG] = [configuration_set]
    mail = {
        "timestamp": _iso(sent_at),
        "source": source,
        "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{SENDER_DOMAIN}",
        "sendingAccountId": ACCOUNT,
        "messageId": message.id,
        "destination": list(recipients_of(message)),
        "headersTruncated": False,
        "headers": headers,
        "commonHeaders": common,
        "tags": tags,
    }
    feedback_id = f"{secrets.token_hex(8)}-{secrets.token_hex(4)}-local-000000"
    section = dict(outcome.section)
    if outcome.event_type == "Bounce":
        status, diagnostic = section.pop("status"), section.pop("diagnosticCode")
        section.update(
            bouncedRecipients=[
                {"emailAddress": r, "action": "failed", "status": status, "diagnosticCode": diagnostic}
                for r in recipients
            ],
            timestamp=_iso(reported_at),
            feedbackId=feedback_id,
            reportingMTA="dns; local.smtp-out.amazonses.com",
        )
        return {"eventType": "Bounce", "bounce": section, "mail": mail}
    section.update(
        complainedRecipients=[{"emailAddress": r} for r in recipients],
        timestamp=_iso(reported_at),
        feedbackId=feedback_id,
        userAgent="Amazon SES Mailbox Simulator",
        arrivalDate=_iso(sent_at),
    )
    return {"eventType": "Complaint", "complaint": section, "mail": mail}


def reports_for(
    message: Any, *, configuration_set: str | None, sent_at: datetime, reported_at: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """``(detail-type, detail)`` of every event SES would publish about ``message``: one per
    kind of simulator mailbox among its recipients."""
    grouped: dict[str, tuple[Outcome, list[str]]] = {}
    for recipient in recipients_of(message):
        outcome = mailbox_of(recipient)
        if outcome is not None:
            key = f"{outcome.detail_type}/{outcome.section.get('bounceSubType', '')}"
            grouped.setdefault(key, (outcome, []))[1].append(recipient)
    return [
        (
            outcome.detail_type,
            ses_detail(
                outcome,
                message,
                recipients,
                configuration_set=configuration_set,
                sent_at=sent_at,
                reported_at=reported_at,
            ),
        )
        for outcome, recipients in grouped.values()
    ]


def moto_sent_messages() -> list[Any]:
    return list(ses_backends[ACCOUNT][REGION].sent_messages)


class MailboxSimulator(_Loop):
    """Puts SES's report of each message sent to a simulator mailbox on the default bus,
    ``delivery_s`` after it was sent (first seen)."""

    name = "ses-simulator"

    def __init__(
        self,
        events: Any,
        configuration_set: str | None,
        *,
        delivery_s: float = DELIVERY_S,
        period_s: float = PERIOD_S,
        sent_messages: Callable[[], list[Any]] = moto_sent_messages,
    ) -> None:
        super().__init__()
        self.events = events
        self.configuration_set = configuration_set
        self.delivery_s = delivery_s
        self.period_s = period_s
        self.sent_messages = sent_messages
        #: messages looked at so far (moto only ever appends)
        self._seen = 0
        #: (due, sent at, message) waiting for their delivery time
        self._waiting: list[tuple[float, datetime, Any]] = []
        self._lock = threading.Lock()
        self.reported = 0

    def step(self) -> None:
        if not self._stop.wait(self.period_s):
            self.scan()

    def scan(self, now: float | None = None) -> int:
        """Look at the messages sent since the last scan; report those now due.  How many events
        were put on the bus."""
        with self._lock:
            now = time.monotonic() if now is None else now
            sent = self.sent_messages()
            for message in sent[self._seen :]:
                if any(mailbox_of(r) for r in recipients_of(message)):
                    self._waiting.append((now + self.delivery_s, datetime.now(UTC), message))
            self._seen = len(sent)
            due = [entry for entry in self._waiting if entry[0] <= now]
            self._waiting = [entry for entry in self._waiting if entry[0] > now]
            put = 0
            for _, sent_at, message in due:
                put += self._report(message, sent_at)
            self.reported += put
            return put

    def _report(self, message: Any, sent_at: datetime) -> int:
        reports = reports_for(
            message, configuration_set=self.configuration_set, sent_at=sent_at, reported_at=datetime.now(UTC)
        )
        if not reports:
            return 0
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": wiring.SES_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": [],
                    "EventBusName": DEFAULT_BUS,
                }
                for detail_type, detail in reports
            ]
        )
        if answer.get("FailedEntryCount"):
            log.warning("SES simulator: %d events not put: %s", answer["FailedEntryCount"], answer.get("Entries"))
        for detail_type, _ in reports:
            log.info("SES simulator: %s for message %s", detail_type, message.id)
        return len(reports) - int(answer.get("FailedEntryCount", 0))
