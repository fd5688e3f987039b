"""What every pause use case shares: its ports, the clock, and the few helpers that build an
event, an audit entry and a refusal."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from hitl import ids, timeutil
from hitl.domain.auth import Principal
from hitl.domain.errors import Conflict, Gone, NotFound
from hitl.domain.models import AuditEntry, Channel, Event, PauseHead, pause_view
from hitl.domain.ports import EventPublisher, PauseRepository, TenantRepository, TokenRepository, WaitLeases


class Stores(Protocol):
    """The repositories the use cases need (``hitl.adapters.dynamo.DynamoStore``, or the fakes)."""

    @property
    def pauses(self) -> PauseRepository: ...

    @property
    def tenants(self) -> TenantRepository: ...

    @property
    def tokens(self) -> TokenRepository: ...

    @property
    def waits(self) -> WaitLeases: ...


class UseCase:
    def __init__(
        self,
        store: Stores,
        publisher: EventPublisher,
        base_url: str,
        clock: Callable[[], datetime] = timeutil.now,
        sleep: Callable[[float], None] = time.sleep,
        check_url: Callable[[str], object] | None = None,
    ) -> None:
        self.pauses: PauseRepository = store.pauses
        self.tenants: TenantRepository = store.tenants
        self.tokens: TokenRepository = store.tokens
        self.waits: WaitLeases = store.waits
        self.publisher = publisher
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.sleep = sleep
        #: refuses a callbackUrl the webhook deliverer would refuse to call (SSRF guard)
        self.check_url = check_url

    def status_url(self, watch_id: str) -> str:
        return f"{self.base_url}/api/pause/{watch_id}"

    def _event(self, type_: str, head: PauseHead, at: str) -> Event:
        return Event(
            type=type_, eventId=ids.new_event_id(), occurredAt=at, tenantId=head.tenantId, data=pause_view(head, None)
        )

    @staticmethod
    def _audit(
        type_: str, head: PauseHead, at: str, actor: str, channel: Channel, previous: PauseHead | None, **details: Any
    ) -> AuditEntry:
        """The pause's next audit entry, chained after ``previous``'s newest (``None``: the first).
        The caller stores its ``hash`` on the new head (``auditHash``) in the same transaction."""
        from hitl.domain.audit_log import chained, pause_chain_head, pause_keep_until

        entry = AuditEntry(
            auditId=ids.new_audit_id(),
            tenantId=head.tenantId,
            watchId=head.watchId,
            type=type_,
            at=at,
            actor=actor,
            channel=channel,
            details=details,
            keepUntil=pause_keep_until(head),
        )
        return chained(entry, pause_chain_head(previous) if previous else None)

    def _publish(self, event: Event) -> None:
        """Put the event on the bus now and mark it sent; if that fails the sweeper will."""
        if self.publisher.publish([event])[0]:
            self.pauses.mark_event_sent(event.data["watchId"], event.eventId)

    def _owned_head(self, principal: Principal, watch_id: str) -> PauseHead:
        head = self.pauses.get_head(watch_id)
        if head is None or head.tenantId != principal.tenant_id:
            raise not_found(watch_id)
        return head


def not_found(watch_id: str) -> NotFound:
    return NotFound(f"No pause {watch_id}.", code="pause_not_found")


def refusal(head: PauseHead) -> Exception:
    """The error for acting on a pause that is no longer pending; carries the pause."""
    details = {"pause": pause_view(head, None)}
    if head.status in ("expired", "cancelled"):
        return Gone(f"The pause is {head.status}.", code=f"pause_{head.status}", details=details)
    return Conflict(f"The pause was already {head.status}.", code="already_decided", details=details)
