"""The single-table DynamoDB store.

Item layout (pk / sk):

* ``P#<watchId>`` / ``P#HEAD``: the pause head (status, version, decision, …), in the
  tenant list index (``TP#<tenant>``) and, while pending, in the due index (``EXP#n``).
* ``P#<watchId>`` / ``P#BODY``: action, context (as JSON text), metadata.
* ``P#<watchId>`` / ``A#<at>#<auditId>``: audit entries, listed per tenant via ``TA#<tenant>``.
* ``P#<watchId>`` / ``E#<eventId>``: outbox events, in the due index (``OUT#n``) until sent.
* ``T#<tenant>`` / ``TENANT``, ``APPROVER#<email>``, ``QUOTA#<yyyy-mm>``, ``WAITS``.
* ``KEY#<sha256>`` / ``KEY``: an API key, found by its public id via ``KEYID#<keyId>``.
* ``IDEM#<tenant>#<sha256>`` / ``IDEM``: an Idempotency-Key claim.
* ``CONFIG`` / ``CURSOR_SECRET``: the secret that signs list cursors.
* ``SESMSG#<SES message id>`` / ``SESMSG``: which pause and approver an email was for (its bounce
  or complaint names only the message id); kept 30 days.
"""

from __future__ import annotations

import json
import random
import secrets
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from hitl import timeutil, wiring
from hitl.domain.models import (
    ApiKeyRecord,
    Approver,
    AuditEntry,
    Event,
    PauseBody,
    PauseHead,
    Tenant,
)
from hitl.domain.ports import TransactionRefused

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
T = TypeVar("T")

HEAD = "P#HEAD"
BODY = "P#BODY"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_plain(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    return {f":{k}": _SERIALIZER.serialize(v) for k, v in named.items()}


def shard_of(identifier: str) -> int:
    return zlib.crc32(identifier.encode()) % wiring.DUE_SHARDS


def pause_pk(watch_id: str) -> str:
    return f"P#{watch_id}"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    last_key: dict[str, str] | None


def retry_conflicts(operation: Callable[[], T], attempts: int = 6) -> T:
    """Run ``operation``, retrying a ``TransactionConflict`` with jittered, growing delays."""
    for attempt in range(attempts):
        try:
            return operation()
        except ClientError as error:
            if not _is_conflict(error) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise AssertionError("unreachable")


def _is_conflict(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        return any(r.get("Code") == "TransactionConflict" for r in reasons)
    return False


def _failed_conditions(error: ClientError, names: list[str]) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [names[i] for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed" and i < len(names)]


class DynamoStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.table = table_name
        self._cursor_secret: bytes | None = None

    # --- plumbing -------------------------------------------------------------

    def _get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        answer = self.client.get_item(
            TableName=self.table, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        item = answer.get("Item")
        return from_item(item) if item else None

    def _delete(self, pk: str, sk: str) -> bool:
        """Delete one item; whether it was there."""
        answer = self.client.delete_item(
            TableName=self.table, Key=to_item({"pk": pk, "sk": sk}), ReturnValues="ALL_OLD"
        )
        return "Attributes" in answer

    def _put(self, values_: dict[str, Any]) -> None:
        self.client.put_item(TableName=self.table, Item=to_item(values_))

    def _transact(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Write ``(name, TransactItem)`` pairs in one transaction; a failed condition raises
        ``TransactionRefused`` naming the items, a conflict is retried."""
        names = [name for name, _ in items]

        def attempt() -> None:
            try:
                self.client.transact_write_items(TransactItems=[item for _, item in items])  # type: ignore[misc]
            except ClientError as error:
                failed = _failed_conditions(error, names)
                if failed:
                    raise TransactionRefused(failed) from error
                raise

        retry_conflicts(attempt)

    def _put_op(self, values_: dict[str, Any], condition: str | None = None, **cond_values: Any) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": to_item(values_)}
        if condition:
            put["ConditionExpression"] = condition
            if cond_values:
                put["ExpressionAttributeValues"] = values(**cond_values)
        return {"Put": put}

    def query(
        self,
        *,
        key_condition: str,
        names: dict[str, str] | None = None,
        index: str | None = None,
        start_key: dict[str, str] | None = None,
        limit: int | None = None,
        forward: bool = True,
        consistent: bool = False,
        filter_expression: str | None = None,
        **expression_values: Any,
    ) -> Page:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": values(**expression_values),
            "ScanIndexForward": forward,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if index:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = consistent
        if start_key:
            request["ExclusiveStartKey"] = to_item(start_key)
        if limit:
            request["Limit"] = limit
        if filter_expression:
            request["FilterExpression"] = filter_expression
        answer = self.client.query(**request)
        last = answer.get("LastEvaluatedKey")
        return Page(
            items=[from_item(i) for i in answer.get("Items", [])],
            last_key={k: str(v) for k, v in from_item(last).items()} if last else None,
        )

    # --- pauses ---------------------------------------------------------------

    @staticmethod
    def _head_values(head: PauseHead, retention_days: int) -> dict[str, Any]:
        item = head.to_json()
        item.update(
            pk=pause_pk(head.watchId),
            sk=HEAD,
            gsi1pk=f"TP#{head.tenantId}",
            gsi1sk=f"{head.createdAt}#{head.watchId}",
        )
        if head.status == "pending":
            item.update(duePk=f"EXP#{shard_of(head.watchId)}", dueSk=f"{head.next_due()}#{head.watchId}")
        else:
            item["ttl"] = _retention_ttl(head.expiresAt, retention_days)
        return item

    def _audit_op(self, entry: AuditEntry, ttl: int) -> dict[str, Any]:
        item = entry.to_json()
        item.update(
            pk=pause_pk(entry.watchId),
            sk=f"A#{entry.at}#{entry.auditId}",
            gsi1pk=f"TA#{entry.tenantId}",
            gsi1sk=f"{entry.at}#{entry.auditId}",
            ttl=ttl,
        )
        return self._put_op(item)

    def _event_op(self, watch_id: str, event: Event, ttl: int) -> dict[str, Any]:
        item = {
            "pk": pause_pk(watch_id),
            "sk": f"E#{event.eventId}",
            "eventId": event.eventId,
            "watchId": watch_id,
            "type": event.type,
            "detail": json.dumps(event.to_json(), separators=(",", ":")),
            "sent": False,
            "duePk": f"OUT#{shard_of(event.eventId)}",
            "dueSk": f"{event.occurredAt}#{event.eventId}",
            "ttl": ttl,
        }
        return self._put_op(item)

    def create_pause(
        self,
        head: PauseHead,
        body: PauseBody,
        audit: AuditEntry,
        event: Event,
        *,
        retention_days: int,
        quota: tuple[str, int] | None,
        idempotency: tuple[str, str, int] | None,
    ) -> None:
        """One transaction: head, body, audit entry, outbox event, the month's quota unit
        (``quota = (month, limit)``) and the Idempotency-Key claim (``(key hash, body hash,
        expiry epoch)``).  Refusals raise ``TransactionRefused`` naming ``quota`` / ``idempotency``."""
        ttl = _retention_ttl(head.expiresAt, retention_days)
        body_item = {
            "pk": pause_pk(head.watchId),
            "sk": BODY,
            "contextJson": json.dumps(body.context, separators=(",", ":"), ensure_ascii=False),
            "metadata": body.metadata,
        }
        ops: list[tuple[str, dict[str, Any]]] = [
            ("head", self._put_op(self._head_values(head, retention_days), "attribute_not_exists(pk)")),
            ("body", self._put_op(body_item, "attribute_not_exists(pk)")),
            ("audit", self._audit_op(audit, ttl)),
            ("event", self._event_op(head.watchId, event, ttl)),
        ]
        if quota is not None:
            month, limit = quota
            ops.append(
                (
                    "quota",
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_item({"pk": f"T#{head.tenantId}", "sk": f"QUOTA#{month}"}),
                            "UpdateExpression": "SET used = if_not_exists(used, :zero) + :one, #ttl = :ttl",
                            "ConditionExpression": "attribute_not_exists(used) OR used < :limit",
                            "ExpressionAttributeNames": {"#ttl": wiring.TTL_ATTRIBUTE},
                            "ExpressionAttributeValues": values(
                                zero=0, one=1, limit=limit, ttl=timeutil.epoch(timeutil.now()) + 400 * 86400
                            ),
                        }
                    },
                )
            )
        if idempotency is not None:
            key_hash, body_hash, expires = idempotency
            claim = {
                "pk": f"IDEM#{head.tenantId}#{key_hash}",
                "sk": "IDEM",
                "bodyHash": body_hash,
                "watchId": head.watchId,
                "expiresEpoch": expires,
                "ttl": expires,
            }
            ops.append(
                (
                    "idempotency",
                    self._put_op(
                        claim,
                        "attribute_not_exists(pk) OR expiresEpoch < :now",
                        now=timeutil.epoch(timeutil.now()),
                    ),
                )
            )
        self._transact(ops)

    def idempotency_claim(self, tenant_id: str, key_hash: str) -> dict[str, Any] | None:
        return self._get(f"IDEM#{tenant_id}#{key_hash}", "IDEM")

    def quota_used(self, tenant_id: str, month: str) -> int:
        item = self._get(f"T#{tenant_id}", f"QUOTA#{month}")
        return int(item["used"]) if item else 0

    def get_pause(self, watch_id: str) -> tuple[PauseHead, PauseBody] | None:
        """Head and body in one Query."""
        page = self.query(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            consistent=True,
            pk=pause_pk(watch_id),
            prefix="P#",
        )
        found = {item["sk"]: item for item in page.items}
        if HEAD not in found or BODY not in found:
            return None
        body = found[BODY]
        return PauseHead.model_validate(found[HEAD]), PauseBody(
            context=json.loads(body["contextJson"]), metadata=body.get("metadata", {})
        )

    def get_head(self, watch_id: str) -> PauseHead | None:
        item = self._get(pause_pk(watch_id), HEAD)
        return PauseHead.model_validate(item) if item else None

    def transition(
        self,
        old: PauseHead,
        new: PauseHead,
        audit: AuditEntry,
        event: Event,
        *,
        retention_days: int,
        overdue: bool,
        now: str,
        token_hash: str | None = None,
    ) -> None:
        """Replace the head only if it is still ``old`` (same version, pending) and the clock
        agrees (``overdue``: only after ``expiresAt``; otherwise only before it), with the audit
        entry and the outbox event in the same transaction, and the approver's link token
        marked used (only if unused: ``TransactionRefused(["token"])`` otherwise)."""
        ttl = _retention_ttl(old.expiresAt, retention_days)
        clock = "expiresAt <= :now" if overdue else "expiresAt > :now"
        head_op = self._put_op(
            self._head_values(new, retention_days),
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
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_item({"pk": pause_pk(old.watchId), "sk": BODY}),
                            "UpdateExpression": "SET #ttl = :ttl",
                            "ExpressionAttributeNames": {"#ttl": wiring.TTL_ATTRIBUTE},
                            "ExpressionAttributeValues": values(ttl=ttl),
                        }
                    },
                )
            )
        ops += [("audit", self._audit_op(audit, ttl)), ("event", self._event_op(old.watchId, event, ttl))]
        if token_hash is not None:
            ops.append(
                (
                    "token",
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_item({"pk": f"TOK#{token_hash}", "sk": "TOK"}),
                            "UpdateExpression": "SET usedAt = :now",
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(usedAt)",
                            "ExpressionAttributeValues": values(now=now),
                        }
                    },
                )
            )
        self._transact(ops)

    # --- notifications ------------------------------------------------------------------

    def claim_notification(self, event_id: str, to: str, now_epoch: int, lease_s: int) -> str:
        """Claim the sending of ``event_id`` to ``to``: "claimed", or "duplicate" if it was sent,
        or "busy" if another attempt holds a live claim."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        "pk": f"NOTIFY#{event_id}",
                        "sk": to,
                        "status": "sending",
                        "leaseUntil": now_epoch + lease_s,
                        "ttl": now_epoch + 40 * 86400,
                    }
                ),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR #st = :retry OR (#st = :sending AND leaseUntil < :now)"
                ),
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=values(retry="retry", sending="sending", now=now_epoch),
            )
            return "claimed"
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        current = self._get(f"NOTIFY#{event_id}", to) or {}
        return "duplicate" if current.get("status") in ("sent", "failed") else "busy"

    def finish_notification(self, event_id: str, to: str, status: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=to_item({"pk": f"NOTIFY#{event_id}", "sk": to}),
            UpdateExpression="SET #st = :status",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues=values(status=status),
        )

    def put_sent_message(self, message_id: str, watch_id: str, to: str, sent_epoch: int, keep_s: int) -> None:
        """Remember which pause and approver the SES message ``message_id`` was for."""
        self._put(
            {
                "pk": f"SESMSG#{message_id}",
                "sk": "SESMSG",
                "watchId": watch_id,
                "to": to,
                "sentEpoch": sent_epoch,
                "ttl": sent_epoch + keep_s,
            }
        )

    def get_sent_message(self, message_id: str) -> dict[str, Any] | None:
        """``{watchId, to, …}`` of an SES message we sent, or ``None``."""
        return self._get(f"SESMSG#{message_id}", "SESMSG")

    # --- approvers' link tokens ------------------------------------------------------

    def put_token(self, token_hash: str, watch_id: str, tenant_id: str, approver: str, expires_at: str) -> None:
        """Only the token's hash is stored, with what it may decide and until when."""
        self.client.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": f"TOK#{token_hash}",
                    "sk": "TOK",
                    "watchId": watch_id,
                    "tenantId": tenant_id,
                    "approver": approver,
                    "expiresAt": expires_at,
                    "ttl": _retention_ttl(expires_at, 30),
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_token(self, token_hash: str) -> dict[str, Any] | None:
        return self._get(f"TOK#{token_hash}", "TOK")

    def list_index(
        self,
        index_pk: str,
        *,
        start_key: dict[str, str] | None,
        page_size: int,
        filter_expression: str | None = None,
        names: dict[str, str] | None = None,
        **filter_values: Any,
    ) -> Page:
        """One page of a per-tenant list, newest first."""
        return self.query(
            index=wiring.BY_TENANT.name,
            key_condition="gsi1pk = :gpk",
            start_key=start_key,
            limit=page_size,
            forward=False,
            filter_expression=filter_expression,
            names=names,
            gpk=index_pk,
            **filter_values,
        )

    def audit_of_pause(self, watch_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, str] | None = None
        while True:
            page = self.query(
                key_condition="pk = :pk AND begins_with(sk, :prefix)",
                forward=False,
                start_key=start,
                pk=pause_pk(watch_id),
                prefix="A#",
            )
            items += page.items
            if not page.last_key:
                return items
            start = page.last_key

    # --- events ---------------------------------------------------------------

    def mark_event_sent(self, watch_id: str, event_id: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=to_item({"pk": pause_pk(watch_id), "sk": f"E#{event_id}"}),
            UpdateExpression="SET sent = :yes REMOVE duePk, dueSk",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values(yes=True),
        )

    def get_event(self, watch_id: str, event_id: str) -> dict[str, Any] | None:
        return self._get(pause_pk(watch_id), f"E#{event_id}")

    def due(self, prefix: str, shard: int, until: str) -> list[dict[str, Any]]:
        """Everything in the due index's shard ``prefix#shard`` due at or before ``until``."""
        items: list[dict[str, Any]] = []
        start: dict[str, str] | None = None
        while True:
            page = self.query(
                index=wiring.DUE.name,
                key_condition="duePk = :dpk AND dueSk < :bound",
                start_key=start,
                dpk=f"{prefix}#{shard}",
                bound=until + "$",  # "$" sorts just after the "#" that ends the time
            )
            items += page.items
            if not page.last_key:
                return items
            start = page.last_key

    # --- tenants, approvers, keys ------------------------------------------------

    def put_tenant(self, tenant: Tenant) -> None:
        self._put({**tenant.to_json(), "pk": f"T#{tenant.tenantId}", "sk": "TENANT"})

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._get(f"T#{tenant_id}", "TENANT")
        return Tenant.model_validate(item) if item else None

    def find_tenants(self, name: str) -> list[Tenant]:
        """Tenants by name (admin use only: a small, bounded lookup via the lookup index)."""
        page = self.query(index=wiring.LOOKUP.name, key_condition="lookupPk = :lpk", lpk=f"TENANTNAME#{name}")
        return [Tenant.model_validate(i) for i in page.items]

    def create_tenant(self, tenant: Tenant) -> None:
        item = {**tenant.to_json(), "pk": f"T#{tenant.tenantId}", "sk": "TENANT"}
        item.update(lookupPk=f"TENANTNAME#{tenant.name}", lookupSk=tenant.tenantId)
        self.client.put_item(TableName=self.table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)")

    def set_plan(self, tenant_id: str, plan: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=to_item({"pk": f"T#{tenant_id}", "sk": "TENANT"}),
            UpdateExpression="SET #plan = :plan",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#plan": "plan"},
            ExpressionAttributeValues=values(plan=plan),
        )

    def set_floor(self, tenant_id: str, floor: dict[str, Any]) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=to_item({"pk": f"T#{tenant_id}", "sk": "TENANT"}),
            UpdateExpression="SET floor = :floor",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values(floor=floor),
        )

    def put_approver(self, approver: Approver) -> None:
        self._put({**approver.to_json(), "pk": f"T#{approver.tenantId}", "sk": f"APPROVER#{approver.email}"})

    def delete_approver(self, tenant_id: str, email: str) -> bool:
        return self._delete(f"T#{tenant_id}", f"APPROVER#{email}")

    def approvers(self, tenant_id: str) -> list[Approver]:
        page = self.query(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            consistent=True,
            pk=f"T#{tenant_id}",
            prefix="APPROVER#",
        )
        return [Approver.model_validate(i) for i in page.items]

    def put_api_key(self, key_hash: str, record: ApiKeyRecord) -> None:
        item = record.to_json()
        item.update(
            pk=f"KEY#{key_hash}",
            sk="KEY",
            lookupPk=f"KEYID#{record.keyId}",
            lookupSk="KEY",
            gsi1pk=f"TK#{record.tenantId}",
            gsi1sk=f"{record.createdAt}#{record.keyId}",
        )
        self._put(item)

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        item = self._get(f"KEY#{key_hash}", "KEY", consistent=False)
        return ApiKeyRecord.model_validate(item) if item else None

    def revoke_key(self, key_id: str) -> ApiKeyRecord | None:
        page = self.query(index=wiring.LOOKUP.name, key_condition="lookupPk = :lpk", lpk=f"KEYID#{key_id}")
        if not page.items:
            return None
        pk = page.items[0]["pk"]
        answer = self.client.update_item(
            TableName=self.table,
            Key=to_item({"pk": pk, "sk": "KEY"}),
            UpdateExpression="SET revoked = :yes",
            ExpressionAttributeValues=values(yes=True),
            ReturnValues="ALL_NEW",
        )
        return ApiKeyRecord.model_validate(from_item(answer["Attributes"]))

    def touch_key(self, key_hash: str, now: str, older_than: str) -> None:
        """Record use at most once per period: only if the last use is older than ``older_than``."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"KEY#{key_hash}", "sk": "KEY"}),
                UpdateExpression="SET lastUsedAt = :now",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :old)",
                ExpressionAttributeValues=values(now=now, old=older_than),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # --- concurrent waits -----------------------------------------------------------

    def acquire_wait(self, tenant_id: str, lease_id: str, cap: int, until_epoch: int, now_epoch: int) -> bool:
        """Take one of the tenant's ``cap`` wait slots until ``until_epoch``.  Leases that
        outlived their time (a function that died mid-wait) are dropped on the way."""
        key = to_item({"pk": f"T#{tenant_id}", "sk": "WAITS"})
        for _ in range(20):
            current = self._get(f"T#{tenant_id}", "WAITS") or {}
            live = {k: v for k, v in current.get("leases", {}).items() if int(v) > now_epoch}
            if len(live) >= cap:
                return False
            live[lease_id] = until_epoch
            version = int(current.get("version", 0))
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="SET leases = :leases, version = :next",
                    ConditionExpression="attribute_not_exists(version) OR version = :version",
                    ExpressionAttributeValues=values(leases=live, next=version + 1, version=version),
                )
                return True
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                time.sleep(random.uniform(0, 0.02))
        return False

    def release_wait(self, tenant_id: str, lease_id: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"T#{tenant_id}", "sk": "WAITS"}),
                UpdateExpression="REMOVE leases.#lease SET version = version + :one",
                ConditionExpression="attribute_exists(leases)",
                ExpressionAttributeNames={"#lease": lease_id},
                ExpressionAttributeValues=values(one=1),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # --- configuration ---------------------------------------------------------------

    def cursor_secret(self) -> bytes:
        """The deployment's cursor-signing secret, made on first use, kept by a warm function."""
        if self._cursor_secret is None:
            self._cursor_secret = self._load_cursor_secret()
        return self._cursor_secret

    def _load_cursor_secret(self) -> bytes:
        item = self._get("CONFIG", "CURSOR_SECRET")
        if item:
            return bytes.fromhex(item["secret"])
        try:
            fresh = secrets.token_hex(32)
            self.client.put_item(
                TableName=self.table,
                Item=to_item({"pk": "CONFIG", "sk": "CURSOR_SECRET", "secret": fresh}),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return bytes.fromhex(fresh)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self._load_cursor_secret()

    def scan_all(self) -> Iterable[dict[str, Any]]:
        """Every item, raw (the local stack's snapshot; never used by a function)."""
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table):
            yield from page.get("Items", [])


def _retention_ttl(expires_at: str, retention_days: int) -> int:
    return timeutil.epoch(timeutil.parse(expires_at)) + retention_days * 86400
