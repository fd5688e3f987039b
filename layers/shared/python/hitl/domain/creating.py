"""Creating a pause: checks, the policy within the tenant's floor, one transaction with the
quota unit and the Idempotency-Key claim, then the ``pause.created`` event."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hitl import ids, timeutil
from hitl.domain import rules
from hitl.domain.auth import Principal
from hitl.domain.base import UseCase
from hitl.domain.errors import Conflict, PayloadTooLarge, QuotaExceeded, Unauthorized, Unprocessable
from hitl.domain.models import PauseBody, PauseHead
from hitl.domain.ports import Idempotency, Quota, TransactionRefused
from hitl.observability import logger

if TYPE_CHECKING:
    # the request models load where requests are parsed (the API function), not in every function
    from hitl.domain.requests import CreatePauseRequest

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Created:
    pause: PauseHead
    replayed: bool


class Creating(UseCase):
    def created_view(self, head: PauseHead) -> dict[str, Any]:
        shown = rules.effective(head, self.clock())
        return {
            "watchId": shown.watchId,
            "status": shown.status,
            "statusUrl": self.status_url(shown.watchId),
            "createdAt": shown.createdAt,
            "expiresAt": shown.expiresAt,
        }

    def create(self, principal: Principal, request: CreatePauseRequest, idempotency_key: str | None) -> Created:
        from hitl.domain.requests import MAX_CONTEXT_BYTES  # loaded already: ``request`` is one of them

        context_size = len(json.dumps(request.context, separators=(",", ":"), ensure_ascii=False).encode())
        if context_size > MAX_CONTEXT_BYTES:
            raise PayloadTooLarge(
                f"context is {context_size} bytes as JSON; the limit is {MAX_CONTEXT_BYTES}.",
                code="context_too_large",
                details={"limit": MAX_CONTEXT_BYTES, "size": context_size},
            )
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
            raise Unprocessable("Idempotency-Key must be 1 to 255 characters.", code="invalid_idempotency_key")
        # read fresh (one Query): a plan, approver or floor change counts at the next create
        profile = self.tenants.profile(principal.tenant_id)
        if profile is None:
            raise Unauthorized("The API key is not valid.", code="invalid_api_key")
        tenant, approvers = profile.tenant, profile.confirmed
        if not approvers:
            raise Unprocessable(
                "This tenant has no confirmed approvers, so nobody could decide; add one first.",
                code="no_approvers",
            )
        policy = rules.policy_for(
            request.approvers,
            request.requiredApprovals,
            request.onTimeout,
            request.timeoutSeconds,
            approvers,
            tenant.floor,
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
        limits = rules.PLANS[tenant.plan]
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
            retentionDays=limits.retention_days,
        )
        body = PauseBody(context=request.context, metadata=request.metadata)
        event = self._event("pause.created", head, at)
        audit = self._audit("pause.created", head, at, head.requestedBy, "api", None, keyId=principal.key.keyId)
        head = head.model_copy(update={"auditHash": audit.hash})
        quota = None if limits.monthly_pauses is None else Quota(timeutil.month_key(now), limits.monthly_pauses)
        claim = None
        if idempotency_key is not None:
            body_hash = ids.sha256_hex(rules.canonical_json(request.model_dump(mode="json", exclude_unset=True)))
            claim = Idempotency(ids.sha256_hex(idempotency_key), body_hash, timeutil.epoch(now + IDEMPOTENCY_WINDOW))
        try:
            self.pauses.create(head, body, audit, event, quota=quota, idempotency=claim)
        except TransactionRefused as refused:
            if "idempotency" in refused.reasons and claim is not None:
                return self._replay(principal, claim)
            if "quota" in refused.reasons:
                raise QuotaExceeded(
                    f"The {tenant.plan} plan allows {limits.monthly_pauses} pauses a month; this month's are used.",
                    details={"plan": tenant.plan, "limit": limits.monthly_pauses},
                ) from refused
            raise
        logger.append_keys(watch_id=head.watchId)
        logger.info("pause created")
        self._publish(event)
        return Created(pause=head, replayed=False)

    def _replay(self, principal: Principal, claim: Idempotency) -> Created:
        stored = self.pauses.idempotency_claim(principal.tenant_id, claim.key_hash)
        if stored is None:  # the claim expired between our write and this read: treat as a conflict
            raise Conflict("Retry the request.", code="idempotency_conflict")
        if stored.bodyHash != claim.body_hash:
            raise Conflict(
                "This Idempotency-Key was used with a different request body.",
                code="idempotency_conflict",
                details={"watchId": stored.watchId},
            )
        head = self.pauses.get_head(stored.watchId)
        if head is None:
            raise Conflict("The original request is still being written; retry.", code="idempotency_conflict")
        return Created(pause=head, replayed=True)
