"""Use cases: what the handlers call.  No HTTP, no boto3: ports in, records out."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from hitl import ids, timeutil, wiring
from hitl.domain import cursor, rules
from hitl.domain.errors import (
    BadRequest,
    Conflict,
    Gone,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    TooManyWaits,
    Unauthorized,
    Unprocessable,
)
from hitl.domain.models import (
    STATUSES,
    ApiKeyRecord,
    AuditEntry,
    Channel,
    Decision,
    Event,
    Notification,
    PauseBody,
    PauseHead,
    Status,
    Tenant,
    pause_summary,
    pause_view,
)
from hitl.domain.ports import EventPublisher, PauseStore, TransactionRefused
from hitl.domain.requests import MAX_CONTEXT_BYTES, CreatePauseRequest
from hitl.observability import logger

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_OFFSET = 1000
#: the internal event that has the notifier remind approvers who have not decided (once)
REMINDER_EVENT = "pause.reminder_due"
#: how long an outbox event may stay unsent before the sweeper republishes it
REPUBLISH_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, through one of its API keys."""

    tenant: Tenant
    key: ApiKeyRecord
    #: the tenant's confirmed approvers when the key was looked up
    approvers: tuple[str, ...] = ()

    @property
    def limits(self) -> rules.PlanLimits:
        return rules.PLANS[self.tenant.plan]


@dataclass(frozen=True)
class Created:
    pause: PauseHead
    replayed: bool


@dataclass
class Authenticator:
    """Turns a bearer key into a Principal.  A malformed key or a bad checksum is refused with no
    database call; a warm function trusts a lookup for ``cache_seconds``."""

    store: PauseStore
    cache_seconds: int = 60
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, Principal | None]] = field(default_factory=dict)

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized("Send your API key as 'Authorization: Bearer hitl_…'.", code="missing_api_key")
        if not ids.is_well_formed_key(key):
            raise Unauthorized("The API key is not valid.", code="invalid_api_key")
        key_hash = ids.sha256_hex(key)
        cached = self._cache.get(key_hash)
        if cached and cached[0] > self.clock():
            principal = cached[1]
        else:
            principal = self._lookup(key_hash)
            self._cache[key_hash] = (self.clock() + self.cache_seconds, principal)
        if principal is None:
            raise Unauthorized("The API key is not valid.", code="invalid_api_key")
        return principal

    def _lookup(self, key_hash: str) -> Principal | None:
        record = self.store.get_api_key(key_hash)
        if record is None or record.revoked:
            return None
        tenant = self.store.get_tenant(record.tenantId)
        if tenant is None:
            return None
        now = timeutil.now()
        if record.lastUsedAt is None or timeutil.parse(record.lastUsedAt) < now - timedelta(hours=1):
            self.store.touch_key(key_hash, timeutil.iso(now), timeutil.iso(now - timedelta(hours=1)))
        approvers = tuple(sorted(a.email for a in self.store.approvers(tenant.tenantId) if a.status == "confirmed"))
        return Principal(tenant=tenant, key=record, approvers=approvers)


class PauseService:
    def __init__(
        self,
        store: PauseStore,
        publisher: EventPublisher,
        base_url: str,
        clock: Callable[[], datetime] = timeutil.now,
        sleep: Callable[[float], None] = time.sleep,
        check_url: Callable[[str], object] | None = None,
    ) -> None:
        #: refuses a callbackUrl the webhook deliverer would refuse to call (SSRF guard)
        self.check_url = check_url
        self.store = store
        self.publisher = publisher
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.sleep = sleep

    # --- helpers ------------------------------------------------------------------

    def status_url(self, watch_id: str) -> str:
        return f"{self.base_url}/api/pause/{watch_id}"

    def created_view(self, head: PauseHead) -> dict[str, Any]:
        shown = rules.effective(head, self.clock())
        return {
            "watchId": shown.watchId,
            "status": shown.status,
            "statusUrl": self.status_url(shown.watchId),
            "createdAt": shown.createdAt,
            "expiresAt": shown.expiresAt,
        }

    def _event(self, type_: str, head: PauseHead, at: str) -> Event:
        return Event(
            type=type_, eventId=ids.new_event_id(), occurredAt=at, tenantId=head.tenantId, data=pause_view(head, None)
        )

    def _audit(self, type_: str, head: PauseHead, at: str, actor: str, channel: Channel, **details: Any) -> AuditEntry:
        return AuditEntry(
            auditId=ids.new_audit_id(),
            tenantId=head.tenantId,
            watchId=head.watchId,
            type=type_,
            at=at,
            actor=actor,
            channel=channel,
            details=details,
        )

    def _publish(self, watch_id: str, event: Event) -> None:
        """Put the event on the bus now and mark it sent; if that fails the sweeper will."""
        if self.publisher.publish([event])[0]:
            self.store.mark_event_sent(watch_id, event.eventId)

    def _owned_head(self, principal: Principal, watch_id: str) -> PauseHead:
        head = self.store.get_head(watch_id)
        if head is None or head.tenantId != principal.tenant.tenantId:
            raise _not_found(watch_id)
        return head

    # --- create ---------------------------------------------------------------------

    def create(self, principal: Principal, request: CreatePauseRequest, idempotency_key: str | None) -> Created:
        context_size = len(json.dumps(request.context, separators=(",", ":"), ensure_ascii=False).encode())
        if context_size > MAX_CONTEXT_BYTES:
            raise PayloadTooLarge(
                f"context is {context_size} bytes as JSON; the limit is {MAX_CONTEXT_BYTES}.",
                code="context_too_large",
                details={"limit": MAX_CONTEXT_BYTES, "size": context_size},
            )
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
            raise Unprocessable("Idempotency-Key must be 1 to 255 characters.", code="invalid_idempotency_key")
        if not principal.approvers:
            raise Unprocessable(
                "This tenant has no confirmed approvers, so nobody could decide; add one first.",
                code="no_approvers",
            )
        policy = rules.policy_for(
            request.approvers,
            request.requiredApprovals,
            request.onTimeout,
            request.timeoutSeconds,
            principal.approvers,
            principal.tenant.floor,
        )
        if request.remindAfterSeconds is not None and request.remindAfterSeconds >= request.timeoutSeconds:
            raise Unprocessable(
                "remindAfterSeconds must be less than timeoutSeconds.",
                code="validation_error",
                details={
                    "errors": [{"field": "remindAfterSeconds", "in": "body", "problem": "not before the timeout"}]
                },
            )
        if request.callbackUrl is not None:
            if self.check_url is None:
                raise Unprocessable("callbackUrl is not available here.", code="unsupported_field")
            self.check_url(request.callbackUrl)
        tenant = principal.tenant
        limits = principal.limits
        now = self.clock()
        at = timeutil.iso(now)
        head = PauseHead(
            watchId=ids.new_watch_id(),
            tenantId=tenant.tenantId,
            status="pending",
            action=request.action,
            requestedBy=request.requestedBy or principal.key.name,
            createdAt=at,
            expiresAt=timeutil.iso(now + timedelta(seconds=request.timeoutSeconds)),
            actionDigest=rules.action_digest(request.action, request.context),
            policy=policy,
            callbackUrl=request.callbackUrl,
            remindAt=(
                timeutil.iso(now + timedelta(seconds=request.remindAfterSeconds))
                if request.remindAfterSeconds
                else None
            ),
        )
        body = PauseBody(context=request.context, metadata=request.metadata)
        event = self._event("pause.created", head, at)
        audit = self._audit("pause.created", head, at, head.requestedBy, "api", keyId=principal.key.keyId)
        quota = None if limits.monthly_pauses is None else (timeutil.month_key(now), limits.monthly_pauses)
        claim = None
        if idempotency_key is not None:
            body_hash = ids.sha256_hex(rules.canonical_json(request.model_dump(mode="json", exclude_unset=True)))
            claim = (ids.sha256_hex(idempotency_key), body_hash, timeutil.epoch(now + IDEMPOTENCY_WINDOW))
        try:
            self.store.create_pause(
                head, body, audit, event, retention_days=limits.retention_days, quota=quota, idempotency=claim
            )
        except TransactionRefused as refused:
            if "idempotency" in refused.reasons and claim is not None:
                return self._replay(principal, claim[0], claim[1])
            if "quota" in refused.reasons:
                raise QuotaExceeded(
                    f"The {tenant.plan} plan allows {limits.monthly_pauses} pauses a month; this month's are used.",
                    details={"plan": tenant.plan, "limit": limits.monthly_pauses},
                ) from refused
            raise
        logger.append_keys(watch_id=head.watchId)
        logger.info("pause created")
        self._publish(head.watchId, event)
        return Created(pause=head, replayed=False)

    def _replay(self, principal: Principal, key_hash: str, body_hash: str) -> Created:
        claim = self.store.idempotency_claim(principal.tenant.tenantId, key_hash)
        if claim is None:  # the claim expired between our write and this read: treat as a conflict
            raise Conflict("Retry the request.", code="idempotency_conflict")
        if claim["bodyHash"] != body_hash:
            raise Conflict(
                "This Idempotency-Key was used with a different request body.",
                code="idempotency_conflict",
                details={"watchId": claim["watchId"]},
            )
        head = self.store.get_head(claim["watchId"])
        if head is None:
            raise Conflict("The original request is still being written; retry.", code="idempotency_conflict")
        return Created(pause=head, replayed=True)

    # --- read -------------------------------------------------------------------------

    def get(self, principal: Principal, watch_id: str) -> tuple[PauseHead, PauseBody]:
        found = self.store.get_pause(watch_id)
        if found is None or found[0].tenantId != principal.tenant.tenantId:
            raise _not_found(watch_id)
        head, body = found
        return rules.effective(head, self.clock()), body

    def view(self, principal: Principal, watch_id: str) -> dict[str, Any]:
        return pause_view(*self.get(principal, watch_id))

    def wait(self, principal: Principal, watch_id: str, seconds: float) -> dict[str, Any]:
        """The pause as soon as it leaves ``pending``, or after ``seconds`` with the pending pause.
        Re-reads only the head: every 100 ms at first, slower as the wait goes on."""
        head, body = self.get(principal, watch_id)
        if head.status != "pending" or seconds <= 0:
            return pause_view(head, body)
        now = self.clock()
        lease_id = secrets.token_hex(8)
        deadline = time.monotonic() + seconds
        cap = principal.limits.concurrent_waits
        tenant_id = principal.tenant.tenantId
        if not self.store.acquire_wait(
            tenant_id, lease_id, cap, timeutil.epoch(now) + int(seconds) + 5, timeutil.epoch(now)
        ):
            raise TooManyWaits(
                f"This tenant already has {cap} waits open; poll without ?wait or use a webhook.",
                details={"limit": cap},
            )
        try:
            started = time.monotonic()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                elapsed = time.monotonic() - started
                self.sleep(min(_poll_interval(elapsed), remaining))
                latest = self.store.get_head(watch_id)
                if latest is None:
                    break
                head = rules.effective(latest, self.clock())
                if head.status != "pending":
                    break
        finally:
            self.store.release_wait(tenant_id, lease_id)
        return pause_view(head, body)

    # --- lists ------------------------------------------------------------------------

    def list_pauses(
        self, principal: Principal, status: Status | None, limit: int, offset: int, cursor_text: str | None
    ) -> dict[str, Any]:
        now = self.clock()
        scope = f"pauses:{principal.tenant.tenantId}:{status or ''}"
        raw = _raw_statuses_for(status)
        names = {"#st": "status"} if raw else None
        filter_expression = None
        filter_values: dict[str, Any] = {}
        if raw:
            filter_expression = " OR ".join(f"#st = :s{i}" for i in range(len(raw)))
            filter_values = {f"s{i}": s for i, s in enumerate(raw)}

        def keep(item: dict[str, Any]) -> dict[str, Any] | None:
            head = rules.effective(PauseHead.model_validate(_with_defaults(item)), now)
            if status and head.status != status:
                return None
            return pause_summary(head)

        return self._paged(
            f"TP#{principal.tenant.tenantId}",
            scope,
            limit,
            offset,
            cursor_text,
            keep,
            filter_expression=filter_expression,
            names=names,
            **filter_values,
        )

    def list_audit(
        self, principal: Principal, watch_id: str | None, limit: int, offset: int, cursor_text: str | None
    ) -> dict[str, Any]:
        if watch_id is None:
            return self._paged(
                f"TA#{principal.tenant.tenantId}",
                f"audit:{principal.tenant.tenantId}",
                limit,
                offset,
                cursor_text,
                _audit_view,
            )
        self._owned_head(principal, watch_id)
        if cursor_text:
            raise BadRequest("The audit of one pause fits one page; omit cursor.", code="invalid_cursor")
        entries = [_audit_view(item) for item in self.store.audit_of_pause(watch_id)]
        return {"items": entries[offset : offset + limit], "limit": limit, "offset": offset, "nextCursor": None}

    def _paged(
        self,
        index_pk: str,
        scope: str,
        limit: int,
        offset: int,
        cursor_text: str | None,
        keep: Callable[[dict[str, Any]], dict[str, Any] | None],
        **query: Any,
    ) -> dict[str, Any]:
        """``limit`` kept items after skipping ``offset`` (or starting after ``cursor``), newest
        first; ``nextCursor`` continues after the last item shown, so each item appears once."""
        if offset > MAX_OFFSET:
            raise BadRequest(
                f"offset may be at most {MAX_OFFSET}; page further with cursor (nextCursor).",
                code="offset_too_large",
                details={"maxOffset": MAX_OFFSET},
            )
        if cursor_text and offset:
            raise BadRequest("Use either cursor or offset, not both.", code="invalid_query")
        secret = self.store.cursor_secret()
        start = cursor.decode(secret, scope, cursor_text) if cursor_text else None
        if start is not None and start.get("gsi1pk") != index_pk:
            raise BadRequest("The cursor is not valid for this list.", code="invalid_cursor")
        wanted = offset + limit
        kept: list[tuple[dict[str, Any], dict[str, str]]] = []
        more = True
        while len(kept) < wanted + 1 and more:
            page = self.store.list_index(index_pk, start_key=start, page_size=min(100, wanted + 1), **query)
            for item in page.items:
                shown = keep(item)
                if shown is not None:
                    kept.append((shown, _index_key(item)))
            start = page.last_key
            more = start is not None
        window = kept[offset:wanted]
        next_cursor = None
        if len(kept) > wanted and window:
            next_cursor = cursor.encode(secret, scope, window[-1][1])
        return {"items": [shown for shown, _ in window], "limit": limit, "offset": offset, "nextCursor": next_cursor}

    # --- transitions -------------------------------------------------------------------

    def cancel(self, principal: Principal, watch_id: str, reason: str | None) -> dict[str, Any]:
        """The agent withdraws its own pending pause."""
        actor = principal.key.name
        for _ in range(5):
            current = self._owned_head(principal, watch_id)
            now = self.clock()
            shown = rules.effective(current, now)
            if shown.status != "pending":
                raise _refusal(shown)
            at = timeutil.iso(now)
            decision = Decision(outcome="cancelled", by=actor, channel="api", comment=reason, at=at)
            new = current.model_copy(
                update={"status": "cancelled", "decidedAt": at, "decision": decision, "version": current.version + 1}
            )
            retention = principal.limits.retention_days
            if self._transition(current, new, actor, "api", now, retention, overdue=False, reason=reason):
                return pause_view(new, None)
        raise Conflict("The pause kept changing; retry.", code="conflict")

    def decide(
        self,
        watch_id: str,
        approver: str,
        decision: Literal["approved", "rejected"],
        comment: str | None,
        channel: Channel,
        *,
        token_hash: str | None = None,
    ) -> PauseHead:
        """One approver's decision; with ``token_hash``, the link's token is used up in the same
        transaction.  Races settle in DynamoDB: each approval counts once, the last decides once."""
        for _ in range(8):
            current = self.store.get_head(watch_id)
            if current is None:
                raise _not_found(watch_id)
            now = self.clock()
            shown = rules.effective(current, now)
            if shown.status != "pending":
                raise _refusal(shown)
            new = rules.with_decision(current, approver, decision, comment, channel, timeutil.iso(now))
            tenant = self.store.get_tenant(current.tenantId)
            retention = rules.PLANS[tenant.plan if tenant else "pro"].retention_days
            if self._transition(
                current, new, approver, channel, now, retention, overdue=False, token_hash=token_hash, comment=comment
            ):
                return new
        raise Conflict("The pause kept changing; retry.", code="conflict")

    def link(self, token: str) -> tuple[dict[str, Any], PauseHead, PauseBody]:
        """What an approver's emailed link stands for: its token record, the pause as it reads
        now, and what was asked.  Changes nothing (mail scanners fetch every link)."""
        item = self.store.get_token(ids.sha256_hex(token)) if ids.is_link_token(token) else None
        found = self.store.get_pause(item["watchId"]) if item else None
        if item is None or found is None:
            raise NotFound("This link is not valid.", code="unknown_link")
        head, body = found
        return item, rules.effective(head, self.clock()), body

    def decide_by_link(self, token: str, decision: Literal["approved", "rejected"], comment: str | None) -> PauseHead:
        item, head, _ = self.link(token)
        if item.get("usedAt"):
            raise Gone("This link was used already.", code="link_used", details={"pause": pause_view(head, None)})
        return self.decide(
            item["watchId"], item["approver"], decision, comment, "email", token_hash=ids.sha256_hex(token)
        )

    def record_notification_failure(self, watch_id: str, to: str, channel: Channel = "email") -> bool:
        """A notification that will not arrive: on the pause (``notifications``) and as a
        ``pause.notification_failed`` event, so the agent need not wait for the timeout."""
        for _ in range(8):
            current = self.store.get_head(watch_id)
            if current is None:
                return False
            now = self.clock()
            if rules.effective(current, now).status != "pending":
                return False
            notice = Notification(to=to, channel=channel, status="failed")
            if notice in current.notifications:
                return False
            new = current.model_copy(
                update={"notifications": [*current.notifications, notice], "version": current.version + 1}
            )
            tenant = self.store.get_tenant(current.tenantId)
            retention = rules.PLANS[tenant.plan if tenant else "pro"].retention_days
            if self._transition(
                current,
                new,
                "system",
                channel,
                now,
                retention,
                overdue=False,
                event_type="pause.notification_failed",
                to=to,
            ):
                return True
        return False

    def _transition(
        self,
        old: PauseHead,
        new: PauseHead,
        actor: str,
        channel: Channel,
        now: datetime,
        retention_days: int,
        *,
        overdue: bool,
        token_hash: str | None = None,
        event_type: str | None = None,
        **details: Any,
    ) -> bool:
        """One conditional transaction: the new head, its audit entry, its outbox event; then the
        event goes out.  False when the head changed first (the caller re-reads).  A pending
        pause may stay pending while an approval or a failed notification is recorded."""
        recording = new.status == "pending" and len(new.approvals) > len(old.approvals)
        noted = new.status == "pending" and (
            len(new.notifications) > len(old.notifications) or (new.reminded and not old.reminded)
        )
        assert recording or noted or rules.can_transition(old.status, new.status), (old.status, new.status)
        at = timeutil.iso(now)
        type_ = event_type or ("pause.approval_recorded" if recording else f"pause.{new.status}")
        event = self._event(type_, new, new.decidedAt or at)
        audit = self._audit(type_, new, at, actor, channel, **{k: v for k, v in details.items() if v is not None})
        try:
            self.store.transition(
                old, new, audit, event, retention_days=retention_days, overdue=overdue, now=at, token_hash=token_hash
            )
        except TransactionRefused as refused:
            if "token" in refused.reasons and "head" not in refused.reasons:
                raise Gone("This link was used already.", code="link_used") from refused
            return False
        logger.info("pause transition", extra={"watch_id": old.watchId, "status": new.status})
        self._publish(old.watchId, event)
        return True

    # --- the sweeper ------------------------------------------------------------------

    def sweep(self) -> dict[str, int]:
        """Time out overdue pending pauses; republish events left unsent.  Reads only the
        sharded due index, never a Scan."""
        now = self.clock()
        expired = republished = 0
        retention: dict[str, int] = {}
        reminded = 0
        for shard in range(wiring.DUE_SHARDS):
            for item in self.store.due("EXP", shard, timeutil.iso(now)):
                head = self.store.get_head(item["watchId"])
                if head is None or head.status != "pending":
                    continue
                if head.tenantId not in retention:
                    tenant = self.store.get_tenant(head.tenantId)
                    retention[head.tenantId] = rules.PLANS[tenant.plan if tenant else "pro"].retention_days
                if not rules.is_overdue(head, now):
                    if head.remindAt and not head.reminded and head.remindAt <= timeutil.iso(now):
                        remind = head.model_copy(update={"reminded": True, "version": head.version + 1})
                        if self._transition(
                            head,
                            remind,
                            "system",
                            "email",
                            now,
                            retention[head.tenantId],
                            overdue=False,
                            event_type=REMINDER_EVENT,
                        ):
                            reminded += 1
                    continue
                timed_out = rules.timed_out(head)
                if self._transition(head, timed_out, "timeout", "timeout", now, retention[head.tenantId], overdue=True):
                    expired += 1
        cutoff = timeutil.iso(now - REPUBLISH_AFTER)
        for shard in range(wiring.DUE_SHARDS):
            for item in self.store.due("OUT", shard, cutoff):
                stored = self.store.get_event(item["watchId"], item["eventId"])
                if stored is None or stored.get("sent"):
                    continue
                event = Event.model_validate(json.loads(stored["detail"]))
                if self.publisher.publish([event])[0]:
                    self.store.mark_event_sent(item["watchId"], event.eventId)
                    republished += 1
        return {"expired": expired, "republished": republished, "reminded": reminded}


def _poll_interval(elapsed: float) -> float:
    """Every 100 ms for the first 10 s of a wait, then every 200 ms (a re-read is one small GetItem)."""
    return 0.1 if elapsed < 10 else 0.2


def _raw_statuses_for(status: Status | None) -> list[str]:
    """Stored statuses that may read as ``status`` once time has had its say."""
    if status is None:
        return []
    if status in ("expired", "approved"):
        return [status, "pending"]
    return [status]


def _with_defaults(item: dict[str, Any]) -> dict[str, Any]:
    return {"tenantId": "", "actionDigest": "", **item}


def _index_key(item: dict[str, Any]) -> dict[str, str]:
    return {name: item[name] for name in ("pk", "sk", "gsi1pk", "gsi1sk")}


def _audit_view(item: dict[str, Any]) -> dict[str, Any]:
    entry = AuditEntry.model_validate(item).to_json()
    entry.pop("tenantId")
    return entry


def _not_found(watch_id: str) -> NotFound:
    return NotFound(f"No pause {watch_id}.", code="pause_not_found")


def _refusal(head: PauseHead) -> Exception:
    """The error for acting on a pause that is no longer pending; carries the pause."""
    details = {"pause": pause_view(head, None)}
    if head.status in ("expired", "cancelled"):
        return Gone(f"The pause is {head.status}.", code=f"pause_{head.status}", details=details)
    return Conflict(f"The pause was already {head.status}.", code="already_decided", details=details)


__all__ = ["STATUSES", "Authenticator", "Created", "PauseService", "Principal"]
