"""Webhooks: endpoints per tenant, the per-pause callbackUrl, signed deliveries with retries.

``fan_out`` turns one event into one work item per (event, endpoint) — plus the pause's
``callbackUrl`` for terminal events — so one failing endpoint never makes another receive
twice.  ``deliver`` makes one attempt: it checks the URL again (SSRF), signs with a fresh
timestamp, posts to the checked address and logs the attempt; a failure raises
``RetryLater`` with the schedule's delay.

Every change of an endpoint or of the callback secret is recorded here, once, as a team event
(``audit``) with who made it — ``actor``, ``channel``, ``ip``: an API key's name through the
API, an owner's email on the dashboard — and never a secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from hitl import ids, timeutil
from hitl.domain import team_events
from hitl.domain.errors import BadRequest, Conflict, NotFound, Unprocessable
from hitl.observability import logger
from hitl.webhooks import signing, ssrf, transport
from hitl.webhooks.models import (
    MAX_ATTEMPTS,
    TERMINAL_EVENTS,
    Delivery,
    Endpoint,
    RegisterWebhook,
    UpdateWebhook,
    endpoint_view,
    message_id,
    retry_delay,
)

if TYPE_CHECKING:  # the adapter is injected; the domain only names its type
    from hitl.adapters.webhook_store import WebhookStore
    from hitl.domain.models import Channel
    from hitl.domain.ports import TeamAudit

CALLBACK = "callback"
ROTATION_OVERLAP = timedelta(hours=24)
LOG_RETENTION_S = 30 * 86400


class Crypto(Protocol):
    def encrypt(self, tenant_id: str, plaintext: str) -> str: ...

    def decrypt(self, tenant_id: str, ciphertext: str) -> str: ...


class Queue(Protocol):
    def send(self, messages: list[dict[str, Any]]) -> None: ...


class RetryLater(Exception):
    def __init__(self, delay_s: int, delivery: Delivery) -> None:
        super().__init__(f"retry in {delay_s} s")
        self.delay_s = delay_s
        self.delivery = delivery


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        crypto: Crypto,
        queue: Queue,
        *,
        allow_loopback_http: bool = False,
        retry_scale: float = 1.0,
        resolve: ssrf.Resolver = ssrf.system_resolver,
        post: Callable[..., transport.Attempt] = transport.post,
        clock: Callable[[], datetime] = timeutil.now,
        timeout_s: float = transport.TIMEOUT_S,
        audit: TeamAudit | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        #: where endpoint and secret changes are recorded (None: nowhere, as in bare tests)
        self.audit = audit
        self.store = store
        self.crypto = crypto
        self.queue = queue
        self.allow_loopback_http = allow_loopback_http
        self.retry_scale = retry_scale
        self.resolve = resolve
        self.post = post
        self.clock = clock

    def check_url(self, url: str) -> ssrf.Target:
        try:
            return ssrf.check(url, allow_loopback_http=self.allow_loopback_http, resolve=self.resolve)
        except ssrf.UnsafeUrl as unsafe:
            raise Unprocessable(unsafe.reason, code="unsafe_url", details={"url": url}) from unsafe

    # --- endpoints ---------------------------------------------------------------------

    def _record(
        self,
        tenant_id: str,
        type_: str,
        *,
        actor: str,
        channel: Channel,
        ip: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if self.audit is not None:
            self.audit.record_team_event(tenant_id, type_, actor=actor, channel=channel, ip=ip, details=details)

    def register(
        self, tenant_id: str, request: RegisterWebhook, *, actor: str, channel: Channel, ip: str | None = None
    ) -> dict[str, Any]:
        self.check_url(request.url)
        secret = signing.new_secret()
        endpoint = Endpoint(
            webhookId="wh_" + ids.random_base62(20),
            tenantId=tenant_id,
            url=request.url,
            events=request.events,
            description=request.description,
            createdAt=timeutil.iso(self.clock()),
        )
        self.store.put_endpoint(endpoint, self.crypto.encrypt(tenant_id, secret))
        self._record(
            tenant_id,
            team_events.WEBHOOK_CREATED,
            actor=actor,
            channel=channel,
            ip=ip,
            details={"webhookId": endpoint.webhookId, "url": endpoint.url, "events": endpoint.events},
        )
        return {**endpoint_view(endpoint), "secret": secret}

    def endpoints(self, tenant_id: str) -> list[dict[str, Any]]:
        endpoints = sorted((e for e, _ in self.store.endpoints(tenant_id)), key=lambda e: e.createdAt, reverse=True)
        return [endpoint_view(e) for e in endpoints]

    def endpoint(self, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        """One endpoint (no secret); another tenant's is as missing as an unknown one."""
        return endpoint_view(self._owned(tenant_id, webhook_id)[0])

    def _owned(self, tenant_id: str, webhook_id: str) -> tuple[Endpoint, str]:
        found = self.store.endpoint(tenant_id, webhook_id)
        if found is None:
            raise NotFound(f"No webhook {webhook_id}.", code="webhook_not_found")
        return found

    def update(
        self,
        tenant_id: str,
        webhook_id: str,
        request: UpdateWebhook,
        *,
        actor: str,
        channel: Channel,
        ip: str | None = None,
    ) -> dict[str, Any]:
        before, _ = self._owned(tenant_id, webhook_id)
        changes = request.model_dump(exclude_unset=True)
        if not changes:
            raise BadRequest("Nothing to change: send enabled, events or description.", code="empty_update")
        updated = self.store.update_endpoint(tenant_id, webhook_id, changes)
        if updated is None:
            raise NotFound(f"No webhook {webhook_id}.", code="webhook_not_found")
        changed = {k: v for k, v in changes.items() if getattr(before, k) != v}
        if changed:
            self._record(
                tenant_id,
                team_events.WEBHOOK_CHANGED,
                actor=actor,
                channel=channel,
                ip=ip,
                details={"webhookId": webhook_id, "url": updated.url, "changes": changed},
            )
        return endpoint_view(updated)

    def delete(self, tenant_id: str, webhook_id: str, *, actor: str, channel: Channel, ip: str | None = None) -> None:
        found = self.store.endpoint(tenant_id, webhook_id)
        if found is None or not self.store.delete_endpoint(tenant_id, webhook_id):
            raise NotFound(f"No webhook {webhook_id}.", code="webhook_not_found")
        self._record(
            tenant_id,
            team_events.WEBHOOK_DELETED,
            actor=actor,
            channel=channel,
            ip=ip,
            details={"webhookId": webhook_id, "url": found[0].url},
        )

    # --- the callback secret --------------------------------------------------------------

    def callback_secret(self, tenant_id: str) -> dict[str, Any]:
        stored = self.store.callback_secret(tenant_id)
        if stored is None:
            secret = signing.new_secret()
            now = timeutil.iso(self.clock())
            self.store.put_callback_secret(
                tenant_id, {"currentCipher": self.crypto.encrypt(tenant_id, secret), "createdAt": now}, None
            )
            stored = self.store.callback_secret(tenant_id)
            assert stored is not None
        return self._secret_view(tenant_id, stored)

    def rotate_callback_secret(
        self, tenant_id: str, *, actor: str, channel: Channel, ip: str | None = None
    ) -> dict[str, Any]:
        """A new secret now; the old one keeps signing beside it for 24 hours."""
        for _ in range(5):
            current = self.store.callback_secret(tenant_id)
            now = self.clock()
            fresh = {
                "currentCipher": self.crypto.encrypt(tenant_id, signing.new_secret()),
                "createdAt": timeutil.iso(now),
            }
            if current is not None:
                fresh["previousCipher"] = current["currentCipher"]
                fresh["previousValidUntil"] = timeutil.iso(now + ROTATION_OVERLAP)
            if self.store.put_callback_secret(tenant_id, fresh, current["currentCipher"] if current else None):
                stored = self.store.callback_secret(tenant_id)
                assert stored is not None
                shown = self._secret_view(tenant_id, stored)
                self._record(
                    tenant_id,
                    team_events.CALLBACK_SECRET_ROTATED,
                    actor=actor,
                    channel=channel,
                    ip=ip,
                    details={"createdAt": shown["createdAt"], "previousValidUntil": shown["previousValidUntil"]},
                )
                return shown
        raise Conflict("The secret was rotated concurrently; read it again.", code="conflict")

    def _secret_view(self, tenant_id: str, stored: dict[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "secret": self.crypto.decrypt(tenant_id, stored["currentCipher"]),
            "createdAt": stored["createdAt"],
            "previousSecret": None,
            "previousValidUntil": None,
        }
        if stored.get("previousCipher") and stored["previousValidUntil"] > timeutil.iso(self.clock()):
            shown["previousSecret"] = self.crypto.decrypt(tenant_id, stored["previousCipher"])
            shown["previousValidUntil"] = stored["previousValidUntil"]
        return shown

    def _callback_secrets(self, tenant_id: str) -> list[str]:
        shown = self.callback_secret(tenant_id)
        return [s for s in (shown["secret"], shown["previousSecret"]) if s]

    # --- fan-out and delivery ----------------------------------------------------------------

    def fan_out(self, envelope: dict[str, Any]) -> int:
        tenant_id, event_type = envelope["tenantId"], envelope["type"]
        work = [
            {"envelope": envelope, "webhookId": endpoint.webhookId}
            for endpoint, _ in self.store.endpoints(tenant_id)
            if endpoint.wants(event_type)
        ]
        callback_url = envelope["data"].get("callbackUrl")
        if callback_url and event_type in TERMINAL_EVENTS:
            work.append({"envelope": envelope, "webhookId": CALLBACK, "url": callback_url})
        if work:
            self.queue.send(work)
        return len(work)

    def deliver(self, work: dict[str, Any], attempt: int) -> Delivery:
        """One attempt.  Returns the logged delivery when it is done (delivered, or nothing to
        do); raises ``RetryLater`` when it failed and another attempt is due."""
        envelope = work["envelope"]
        tenant_id = envelope["tenantId"]
        key = work["webhookId"]
        msg_id = message_id(envelope["eventId"], key)
        if key == CALLBACK:
            url, secrets_ = work["url"], self._callback_secrets(tenant_id)
        else:
            found = self.store.endpoint(tenant_id, key)
            if found is None or not found[0].enabled:
                raise Dropped()
            url, secrets_ = found[0].url, [self.crypto.decrypt(tenant_id, found[1])]
        if not work.get("manual") and self.store.was_delivered(msg_id):
            raise Dropped()
        body = json.dumps(envelope, separators=(",", ":")).encode()
        stamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HITL-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signing.header(secrets_, msg_id, stamp, body),
        }
        try:
            target = ssrf.check(url, allow_loopback_http=self.allow_loopback_http, resolve=self.resolve)
            result = self.post(target, body, headers, timeout_s=self.timeout_s)
        except ssrf.UnsafeUrl as unsafe:
            result = transport.Attempt(None, 0, "unsafe_url", unsafe.reason[:200])
        done = result.delivered
        last = attempt >= MAX_ATTEMPTS or result.error_class == "unsafe_url"
        delivery = Delivery(
            deliveryId="dlv_" + ids.random_base62(20),
            tenantId=tenant_id,
            webhookId=key,
            eventId=envelope["eventId"],
            type=envelope["type"],
            watchId=envelope["data"]["watchId"],
            attempt=attempt,
            at=timeutil.iso(self.clock()),
            url=url,
            statusCode=result.status,
            latencyMs=result.latency_ms,
            errorClass=result.error_class,
            responseSnippet=result.snippet,
            status="delivered" if done else ("failed" if last else "retrying"),
        )
        ttl = int(time.time()) + LOG_RETENTION_S
        self.store.log_delivery(delivery, ttl)
        if done:
            self.store.mark_delivered(msg_id, ttl)
            return delivery
        if last:
            logger.warning("webhook delivery failed for good", extra={"delivery": delivery.deliveryId})
            return delivery
        raise RetryLater(retry_delay(attempt, self.retry_scale), delivery)

    # --- the delivery log ------------------------------------------------------------------------

    def deliveries_of_endpoint(self, tenant_id: str, webhook_id: str, limit: int) -> dict[str, Any]:
        self._owned(tenant_id, webhook_id)
        shown = [d.view() for d in self.store.deliveries_of_endpoint(tenant_id, webhook_id, limit)]
        return {"items": shown, "limit": limit}

    def deliveries_of_pause(self, tenant_id: str, watch_id: str) -> dict[str, Any]:
        head = self.store.pauses.get_head(watch_id)
        if head is None or head.tenantId != tenant_id:
            raise NotFound(f"No pause {watch_id}.", code="pause_not_found")
        return {"items": [d.view() for d in self.store.deliveries_of_pause(watch_id) if d.tenantId == tenant_id]}

    def retry(self, tenant_id: str, webhook_id: str, delivery_id: str) -> dict[str, Any]:
        """Send one delivery's event to its endpoint again (also how a dead-lettered one is
        redriven).  The webhook-id stays the same."""
        self._owned(tenant_id, webhook_id)
        delivery = self.store.delivery(delivery_id)
        if delivery is None or delivery.tenantId != tenant_id or delivery.webhookId != webhook_id:
            raise NotFound(f"No delivery {delivery_id} of {webhook_id}.", code="delivery_not_found")
        event = self.store.pauses.get_event(delivery.watchId, delivery.eventId)
        if event is None:
            raise NotFound("The event is no longer kept.", code="event_not_found")
        self.queue.send([{"envelope": event.to_json(), "webhookId": webhook_id, "manual": True}])
        return {"queued": True, "eventId": delivery.eventId, "webhookId": webhook_id}


class Dropped(Exception):
    """Nothing to deliver: the endpoint is gone or disabled, or this event reached it already."""
