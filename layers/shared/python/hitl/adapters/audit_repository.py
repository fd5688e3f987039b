"""The audit log in the single table: every entry of a tenant by time through the ``auditLog``
index (pause entries are written by ``pause_repository``'s transactions), and the team's entries
with the head of their hash chain (key formats: ``hitl.adapters.keys``)."""

from __future__ import annotations

from typing import Any

from hitl import timeutil, wiring
from hitl.adapters import keys
from hitl.adapters.pause_repository import audit_item
from hitl.adapters.table import Table
from hitl.domain.audit_log import ChainHead
from hitl.domain.models import AuditEntry
from hitl.domain.ports import InvalidPosition, ListPage, Position


class DynamoAudit:
    def __init__(self, table: Table) -> None:
        self.table = table

    def list_entries(
        self,
        tenant_id: str,
        *,
        since: str | None,
        type_: str | None,
        pause_only: bool,
        oldest_first: bool,
        start: Position | None,
        page_size: int,
    ) -> ListPage[AuditEntry]:
        """One page of the tenant's log (one Query): entries at or after ``since``, of ``type_``
        (exact), only ``pause.*`` ones when ``pause_only``."""
        partition = keys.audit_log_of(tenant_id)
        if start is not None and start.get(wiring.AUDIT_LOG.pk) != partition:
            raise InvalidPosition(partition)
        condition = "auditPk = :apk"
        query: dict[str, Any] = {"apk": partition}
        if since is not None:
            condition += " AND auditSk >= :since"
            query["since"] = since
        filters = []
        if type_ is not None:
            filters.append("#ty = :type")
            query["type"] = type_
        if pause_only:
            filters.append("begins_with(#ty, :pause)")
            query["pause"] = "pause."
        if filters:
            query["filter_expression"] = " AND ".join(filters)
            query["names"] = {"#ty": "type"}
        page = self.table.query(
            index=wiring.AUDIT_LOG.name,
            key_condition=condition,
            start_key=start,
            limit=page_size,
            forward=oldest_first,
            **query,
        )
        items = [(AuditEntry.model_validate(i), keys.audit_log_position(i)) for i in page.items]
        return ListPage(items=items, next=page.last_key)

    def team_chain_head(self, tenant_id: str) -> ChainHead | None:
        item = self.table.get(keys.team_chain_head(tenant_id))
        if not item:
            return None
        return ChainHead(hash=item["hash"], keepUntil=item.get("keepUntil"), at=item.get("at"))

    def append_team_entry(self, entry: AuditEntry, previous: ChainHead | None) -> None:
        """The entry and the chain head in one transaction, only if the head is still
        ``previous``: ``TransactionRefused(["chainHead"])`` when another entry came first."""
        ttl = timeutil.epoch(timeutil.parse(entry.keepUntil or entry.at))
        head = {"hash": entry.hash, "keepUntil": entry.keepUntil, "at": entry.at, "auditId": entry.auditId}
        if previous is None:
            head_op = self.table.put_op(keys.team_chain_head(entry.tenantId), head, "attribute_not_exists(pk)")
        else:
            head_op = self.table.put_op(keys.team_chain_head(entry.tenantId), head, "#h = :prev", prev=previous.hash)
            head_op["Put"]["ExpressionAttributeNames"] = {"#h": "hash"}
        self.table.transact(
            [
                ("chainHead", head_op),
                (
                    "entry",
                    self.table.put_op(
                        keys.team_audit(entry.tenantId, entry.at, entry.auditId),
                        audit_item(entry, ttl),
                        "attribute_not_exists(pk)",
                    ),
                ),
            ]
        )

    def team_entries(self, tenant_id: str) -> list[AuditEntry]:
        """Every team entry of the tenant, oldest first (consistent)."""
        items = self.table.items_of(keys.team_log_pk(tenant_id), keys.AUDIT_PREFIX)
        return [AuditEntry.model_validate(i) for i in items]


__all__ = ["DynamoAudit"]
