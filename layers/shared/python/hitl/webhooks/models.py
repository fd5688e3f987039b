"""Webhook endpoints, deliveries and the retry schedule."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hitl.domain.models import Record
from hitl.wiring import WEBHOOK_ATTEMPTS

EVENT_TYPES = (
    "pause.created",
    "pause.approved",
    "pause.rejected",
    "pause.expired",
    "pause.cancelled",
    "pause.approval_recorded",
    "pause.notification_failed",
)
#: what a per-pause callbackUrl receives
TERMINAL_EVENTS = ("pause.approved", "pause.rejected", "pause.expired", "pause.cancelled")
#: seconds after the first attempt's failure before each retry; then the dead-letter queue.
#: 8 attempts over about 8.5 hours.
RETRY_SCHEDULE_S = (10, 60, 300, 1800, 3600, 7200, 18000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_S) + 1
assert MAX_ATTEMPTS == WEBHOOK_ATTEMPTS, "the wiring's maxReceiveCount follows the schedule"


class Endpoint(Record):
    webhookId: str
    tenantId: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool = True
    createdAt: str

    def wants(self, event_type: str) -> bool:
        return self.enabled and event_type in self.events


class Delivery(Record):
    """One attempt to deliver one event to one endpoint (or a pause's callbackUrl).  Field
    names are those the ``byTenant`` index projects (decided with the table, never changed)."""

    deliveryId: str
    tenantId: str
    webhookId: str  # "callback" for a pause's callbackUrl
    eventId: str
    type: str  # the event type
    watchId: str
    attempt: int
    at: str
    url: str
    statusCode: int | None = None
    latencyMs: int
    errorClass: str | None = None
    responseSnippet: str = ""
    status: Literal["delivered", "retrying", "failed"]

    def view(self) -> dict[str, Any]:
        shown = self.to_json()
        shown.pop("tenantId")
        shown["eventType"] = shown.pop("type")
        shown["outcome"] = shown.pop("status")
        shown["messageId"] = message_id(self.eventId, self.webhookId)
        return shown


class RegisterWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built by the first request of its route

    url: str = Field(min_length=8, max_length=2048)
    events: list[str] = Field(default_factory=lambda: list(EVENT_TYPES), min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
        return list(dict.fromkeys(events))


class UpdateWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built by the first request of its route

    enabled: bool | None = None
    events: list[str] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str] | None) -> list[str] | None:
        return None if events is None else RegisterWebhook._known(events)


def message_id(event_id: str, webhook_id: str) -> str:
    """The ``webhook-id``: derived from the event and the endpoint, so retries and
    re-publishes of one event to one endpoint always carry the same id."""
    return "msg_" + hashlib.sha256(f"{event_id}:{webhook_id}".encode()).hexdigest()[:32]


def retry_delay(attempt: int, scale: float = 1.0) -> int:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    base = RETRY_SCHEDULE_S[min(attempt, len(RETRY_SCHEDULE_S)) - 1]
    return max(0, round(base * scale))


def endpoint_view(endpoint: Endpoint) -> dict[str, Any]:
    shown = endpoint.to_json()
    shown.pop("tenantId")
    shown["id"] = shown.pop("webhookId")
    return shown
