"""Approvers' link tokens, the sending of each email (claimed once), and which pause and
approver an SES message was for, in the single table."""

from __future__ import annotations

from typing import Literal

from hitl import wiring
from hitl.adapters import keys
from hitl.adapters.pause_repository import retention_ttl
from hitl.adapters.table import Table
from hitl.domain.ports import ClaimResult, LinkToken, SentMessage

#: how long a used or expired link token is kept after its pause's expiry (its page says why)
TOKEN_KEEP_DAYS = 30
#: how long the record of one email's sending is kept
NOTIFICATION_KEEP_S = 40 * 86400


class DynamoTokens:
    def __init__(self, table: Table) -> None:
        self.table = table

    def put_token(self, token_hash: str, token: LinkToken) -> None:
        """Only the token's hash is stored, with what it may decide and until when."""
        item = {**token.to_json(), "ttl": retention_ttl(token.expiresAt, TOKEN_KEEP_DAYS)}
        if not self.table.put(keys.link_token(token_hash), item, "attribute_not_exists(pk)"):
            raise RuntimeError("a link token collided with an existing one")

    def get_token(self, token_hash: str) -> LinkToken | None:
        item = self.table.get(keys.link_token(token_hash))
        return LinkToken.from_item(item) if item else None

    def claim_notification(self, event_id: str, to: str, now_epoch: int, lease_s: int) -> ClaimResult:
        """Claim the sending of ``event_id`` to ``to``: "claimed", or "duplicate" if it was sent,
        or "busy" if another attempt holds a live claim."""
        key = keys.notification(event_id, to)
        claimed = self._claim(key, now_epoch, lease_s)
        if claimed:
            return "claimed"
        current = self.table.get(key) or {}
        return "duplicate" if current.get("status") in ("sent", "failed") else "busy"

    def _claim(self, key: keys.Key, now_epoch: int, lease_s: int) -> bool:
        written = self.table.update(
            key,
            "SET #st = :sending, leaseUntil = :until, #ttl = :ttl",
            condition="attribute_not_exists(pk) OR #st = :retry OR (#st = :sending AND leaseUntil < :now)",
            names={"#st": "status", "#ttl": wiring.TTL_ATTRIBUTE},
            sending="sending",
            retry="retry",
            until=now_epoch + lease_s,
            ttl=now_epoch + NOTIFICATION_KEEP_S,
            now=now_epoch,
        )
        return written is not None

    def finish_notification(self, event_id: str, to: str, status: Literal["sent", "retry", "failed"]) -> None:
        self.table.update(keys.notification(event_id, to), "SET #st = :status", names={"#st": "status"}, status=status)

    def put_sent_message(self, message_id: str, sent: SentMessage, sent_epoch: int, keep_s: int) -> None:
        """Remember which pause and approver the SES message ``message_id`` was for."""
        self.table.put(
            keys.sent_message(message_id), {**sent.to_json(), "sentEpoch": sent_epoch, "ttl": sent_epoch + keep_s}
        )

    def get_sent_message(self, message_id: str) -> SentMessage | None:
        item = self.table.get(keys.sent_message(message_id))
        return SentMessage.from_item(item) if item else None
