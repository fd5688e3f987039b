"""Ports: the side effects the domain needs, as Protocols.  Adapters implement them."""

from __future__ import annotations

from typing import Any, Protocol

from hitl.domain.models import ApiKeyRecord, Approver, AuditEntry, Event, PauseBody, PauseHead, Tenant


class TransactionRefused(Exception):
    """A condition in a transaction failed; ``reasons`` names which of its items."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class PageLike(Protocol):
    items: list[dict[str, Any]]
    last_key: dict[str, str] | None


class EventPublisher(Protocol):
    def publish(self, events: list[Event]) -> list[bool]: ...


class PauseStore(Protocol):
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
    ) -> None: ...

    def idempotency_claim(self, tenant_id: str, key_hash: str) -> dict[str, Any] | None: ...

    def get_pause(self, watch_id: str) -> tuple[PauseHead, PauseBody] | None: ...

    def get_head(self, watch_id: str) -> PauseHead | None: ...

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
    ) -> None: ...

    def get_token(self, token_hash: str) -> dict[str, Any] | None: ...

    def put_token(self, token_hash: str, watch_id: str, tenant_id: str, approver: str, expires_at: str) -> None: ...

    def approvers(self, tenant_id: str) -> list[Approver]: ...

    def list_index(
        self,
        index_pk: str,
        *,
        start_key: dict[str, str] | None,
        page_size: int,
        filter_expression: str | None = None,
        names: dict[str, str] | None = None,
        **filter_values: Any,
    ) -> Any: ...

    def audit_of_pause(self, watch_id: str) -> list[dict[str, Any]]: ...

    def mark_event_sent(self, watch_id: str, event_id: str) -> None: ...

    def get_event(self, watch_id: str, event_id: str) -> dict[str, Any] | None: ...

    def due(self, prefix: str, shard: int, until: str) -> list[dict[str, Any]]: ...

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None: ...

    def touch_key(self, key_hash: str, now: str, older_than: str) -> None: ...

    def acquire_wait(self, tenant_id: str, lease_id: str, cap: int, until_epoch: int, now_epoch: int) -> bool: ...

    def release_wait(self, tenant_id: str, lease_id: str) -> None: ...

    def cursor_secret(self) -> bytes: ...
