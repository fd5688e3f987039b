"""Pauses in the single table: head and body, audit entries, outbox events, Idempotency-Key
claims, the tenant lists and the sweeper's due index (key formats: ``hitl.adapters.keys``)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hitl import timeutil, wiring
from hitl.adapters import keys
from hitl.adapters.table import Table
from hitl.domain.models import AuditEntry, Event, PauseBody, PauseHead, Status
from hitl.domain.ports import (
    Idempotency,
    IdempotencyClaim,
    InvalidPosition,
    ListPage,
    Position,
    Quota,
    TransactionRefused,
)

T = TypeVar("T")
#: how long the month's quota counter is kept
QUOTA_KEEP_S = 400 * 86400


def audit_item(entry: AuditEntry, ttl: int) -> dict[str, Any]:
    """An audit entry as stored: in the tenant's audit log index, deleted by TTL at its
    ``keepUntil`` (``ttl`` for an entry without one)."""
    item = entry.to_json()
    item.update(
        auditPk=keys.audit_log_of(entry.tenantId),
        auditSk=keys.audit_log_sort(entry.at, entry.auditId),
        ttl=timeutil.epoch(timeutil.parse(entry.keepUntil)) if entry.keepUntil else ttl,
    )
    return item


def retention_ttl(expires_at: str, retention_days: int) -> int:
    """When a decided pause's items may go: its expiry plus the plan's retention."""
    return timeutil.epoch(timeutil.parse(expires_at)) + retention_days * 86400


class DynamoPauses:
    def __init__(self, table: Table) -> None:
        self.table = table
        self._cursor_secret: bytes | None = None

    # --- items -------------------------------------------------------------------------

    @staticmethod
    def _head_attributes(head: PauseHead) -> dict[str, Any]:
        item = head.to_json()
        item.update(gsi1pk=keys.pauses_of(head.tenantId), gsi1sk=keys.list_sort(head.createdAt, head.watchId))
        if head.status == "pending":
            item.update(
                duePk=keys.due_shard(keys.EXPIRY_SHARDS, head.watchId),
                dueSk=keys.due_sort(head.next_due(), head.watchId),
            )
        else:
            item[wiring.TTL_ATTRIBUTE] = retention_ttl(head.expiresAt, head.retentionDays)
        return item

    def _audit_op(self, entry: AuditEntry, ttl: int) -> dict[str, Any]:
        assert entry.watchId is not None, "a pause's entry names its pause"
        return self.table.put_op(keys.audit(entry.watchId, entry.at, entry.auditId), audit_item(entry, ttl))

    def _event_op(self, watch_id: str, event: Event, ttl: int) -> dict[str, Any]:
        item = {
            "eventId": event.eventId,
            "watchId": watch_id,
            "type": event.type,
            "detail": json.dumps(event.to_json(), separators=(",", ":")),
            "sent": False,
            "duePk": keys.due_shard(keys.OUTBOX_SHARDS, event.eventId),
            "dueSk": keys.due_sort(event.occurredAt, event.eventId),
            "ttl": ttl,
        }
        return self.table.put_op(keys.event(watch_id, event.eventId), item)

    # --- create and read ------------------------------------------------------------------

    def create(
        self,
        head: PauseHead,
        body: PauseBody,
        audit: AuditEntry,
        event: Event,
        *,
        quota: Quota | None,
        idempotency: Idempotency | None,
    ) -> None:
        """One transaction: head, body, audit entry, outbox event, the month's quota unit and the
        Idempotency-Key claim.  Refusals raise ``TransactionRefused`` naming ``quota`` /
        ``idempotency``."""
        ttl = retention_ttl(head.expiresAt, head.retentionDays)
        body_item = {
            "contextJson": json.dumps(body.context, separators=(",", ":"), ensure_ascii=False),
            "metadata": body.metadata,
        }
        new = "attribute_not_exists(pk)"
        ops: list[tuple[str, dict[str, Any]]] = [
            ("head", self.table.put_op(keys.head(head.watchId), self._head_attributes(head), new)),
            ("body", self.table.put_op(keys.body(head.watchId), body_item, new)),
            ("audit", self._audit_op(audit, ttl)),
            ("event", self._event_op(head.watchId, event, ttl)),
        ]
        if quota is not None:
            update = self.table.update_op(
                keys.quota(head.tenantId, quota.month),
                "SET used = if_not_exists(used, :zero) + :one, #ttl = :ttl",
                condition="attribute_not_exists(used) OR used < :limit",
                names={"#ttl": wiring.TTL_ATTRIBUTE},
                zero=0,
                one=1,
                limit=quota.limit,
                ttl=timeutil.epoch(timeutil.now()) + QUOTA_KEEP_S,
            )
            ops.append(("quota", update))
        if idempotency is not None:
            claim = {
                "bodyHash": idempotency.body_hash,
                "watchId": head.watchId,
                "expiresEpoch": idempotency.expires_epoch,
                "ttl": idempotency.expires_epoch,
            }
            put = self.table.put_op(
                keys.idempotency(head.tenantId, idempotency.key_hash),
                claim,
                "attribute_not_exists(pk) OR expiresEpoch < :now",
                now=timeutil.epoch(timeutil.now()),
            )
            ops.append(("idempotency", put))
        self.table.transact(ops)

    def idempotency_claim(self, tenant_id: str, key_hash: str) -> IdempotencyClaim | None:
        item = self.table.get(keys.idempotency(tenant_id, key_hash))
        return IdempotencyClaim.from_item(item) if item else None

    def get(self, watch_id: str) -> tuple[PauseHead, PauseBody] | None:
        """Head and body in one Query."""
        page = self.table.query(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            consistent=True,
            pk=keys.pause_pk(watch_id),
            prefix=keys.PAUSE_PREFIX,
        )
        found = {item["sk"]: item for item in page.items}
        if keys.HEAD not in found or keys.BODY not in found:
            return None
        body = found[keys.BODY]
        return PauseHead.model_validate(found[keys.HEAD]), PauseBody(
            context=json.loads(body["contextJson"]), metadata=body.get("metadata", {})
        )

    def get_head(self, watch_id: str) -> PauseHead | None:
        item = self.table.get(keys.head(watch_id))
        return PauseHead.model_validate(item) if item else None

    # --- transitions ---------------------------------------------------------------------

    def transition(
        self,
        old: PauseHead,
        new: PauseHead,
        audit: AuditEntry,
        event: Event,
        *,
        overdue: bool,
        now: str,
        token_hash: str | None = None,
    ) -> None:
        """Replace the head only if it is still ``old`` (same version, pending) and the clock
        agrees (``overdue``: only after ``expiresAt``; otherwise only before it), with the audit
        entry and the outbox event in the same transaction, and the approver's link token
        marked used (only if unused: ``TransactionRefused(["token"])`` otherwise)."""
        ttl = retention_ttl(old.expiresAt, old.retentionDays)
        clock = "expiresAt <= :now" if overdue else "expiresAt > :now"
        head_op = self.table.put_op(
            keys.head(old.watchId),
            self._head_attributes(new),
            f"#st = :pending AND version = :version AND {clock}",
            pending="pending",
            version=old.version,
            now=now,
        )
        head_op["Put"]["ExpressionAttributeNames"] = {"#st": "status"}
        ops: list[tuple[str, dict[str, Any]]] = [("head", head_op)]
        if new.status != "pending":
            ops.append(
                (
                    "body",
                    self.table.update_op(
                        keys.body(old.watchId), "SET #ttl = :ttl", names={"#ttl": wiring.TTL_ATTRIBUTE}, ttl=ttl
                    ),
                )
            )
        ops += [("audit", self._audit_op(audit, ttl)), ("event", self._event_op(old.watchId, event, ttl))]
        if token_hash is not None:
            use = self.table.update_op(
                keys.link_token(token_hash),
                "SET usedAt = :now",
                condition="attribute_exists(pk) AND attribute_not_exists(usedAt)",
                now=now,
            )
            ops.append(("token", use))
        self.table.transact(ops)

    # --- lists -------------------------------------------------------------------------------

    def _list(
        self,
        index_pk: str,
        start: Position | None,
        page_size: int,
        parse: Callable[[dict[str, Any]], T],
        **query: Any,
    ) -> ListPage[T]:
        """One page of a per-tenant list, newest first."""
        if start is not None and start.get(wiring.BY_TENANT.pk) != index_pk:
            raise InvalidPosition(index_pk)
        page = self.table.query(
            index=wiring.BY_TENANT.name,
            key_condition="gsi1pk = :gpk",
            start_key=start,
            limit=page_size,
            forward=False,
            gpk=index_pk,
            **query,
        )
        return ListPage(items=[(parse(i), keys.list_position(i)) for i in page.items], next=page.last_key)

    def list_pauses(
        self, tenant_id: str, statuses: Sequence[Status], start: Position | None, page_size: int
    ) -> ListPage[PauseHead]:
        """Pauses of the tenant whose stored status is one of ``statuses`` (all when empty)."""
        query: dict[str, Any] = {}
        if statuses:
            query["filter_expression"] = " OR ".join(f"#st = :s{i}" for i in range(len(statuses)))
            query["names"] = {"#st": "status"}
            query.update({f"s{i}": s for i, s in enumerate(statuses)})

        def parse(item: dict[str, Any]) -> PauseHead:
            return PauseHead.model_validate({"actionDigest": "", **item})  # the index projects no digest

        return self._list(keys.pauses_of(tenant_id), start, page_size, parse, **query)

    def audit_of_pause(self, watch_id: str) -> list[AuditEntry]:
        items = self.table.items_of(keys.pause_pk(watch_id), keys.AUDIT_PREFIX, forward=False)
        return [AuditEntry.model_validate(i) for i in items]

    # --- the outbox and the due index ------------------------------------------------------------

    def mark_event_sent(self, watch_id: str, event_id: str) -> None:
        self.table.update(
            keys.event(watch_id, event_id),
            "SET sent = :yes REMOVE duePk, dueSk",
            condition="attribute_exists(pk)",
            yes=True,
        )

    def get_event(self, watch_id: str, event_id: str) -> Event | None:
        stored = self.table.get(keys.event(watch_id, event_id))
        return Event.model_validate(json.loads(stored["detail"])) if stored else None

    def _due(self, prefix: str, until: str) -> list[dict[str, Any]]:
        """Everything in the due index's shards ``prefix#0…`` due at or before ``until``."""
        items: list[dict[str, Any]] = []
        for shard in range(wiring.DUE_SHARDS):
            items += self.table.query_all(
                index=wiring.DUE.name,
                key_condition="duePk = :dpk AND dueSk < :bound",
                dpk=f"{prefix}#{shard}",
                bound=keys.due_bound(until),
            )
        return items

    def due_pauses(self, until: str) -> list[str]:
        """The watch ids of pending pauses with something due (expiry, a reminder) by ``until``."""
        return [item["watchId"] for item in self._due(keys.EXPIRY_SHARDS, until)]

    def unsent_events(self, before: str) -> list[Event]:
        """Outbox events written before ``before`` and not yet marked sent."""
        events = []
        for item in self._due(keys.OUTBOX_SHARDS, before):
            stored = self.table.get(keys.event(item["watchId"], item["eventId"]))
            if stored is not None and not stored.get("sent"):  # the index may lag the table
                events.append(Event.model_validate(json.loads(stored["detail"])))
        return events

    # --- configuration ---------------------------------------------------------------------------

    def cursor_secret(self) -> bytes:
        """The deployment's cursor-signing secret, made on first use, kept by a warm function."""
        if self._cursor_secret is None:
            self._cursor_secret = self._load_cursor_secret()
        return self._cursor_secret

    def _load_cursor_secret(self) -> bytes:
        item = self.table.get(keys.CURSOR_SECRET)
        if item:
            return bytes.fromhex(item["secret"])
        fresh = secrets.token_hex(32)
        if self.table.put(keys.CURSOR_SECRET, {"secret": fresh}, "attribute_not_exists(pk)"):
            return bytes.fromhex(fresh)
        return self._load_cursor_secret()


__all__ = ["DynamoPauses", "TransactionRefused", "audit_item", "retention_ttl"]
