"""Puts outbox events on the service's EventBridge bus."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hitl import wiring
from hitl.domain.models import Event
from hitl.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self.client = client
        self.bus = bus_name

    def publish(self, events: list[Event]) -> list[bool]:
        """Put the events; returns, per event, whether EventBridge took it (``FailedEntryCount``
        is checked entry by entry; a failed one stays unsent for the sweeper)."""
        if not events:
            return []
        try:
            answer = self.client.put_events(
                Entries=[
                    {
                        "Source": wiring.EVENT_SOURCE,
                        "DetailType": event.type,
                        "Detail": json.dumps(event.to_json(), separators=(",", ":")),
                        "EventBusName": self.bus,
                    }
                    for event in events
                ]
            )
        except Exception:  # the outbox keeps the event; the sweeper republishes it
            logger.exception("put_events failed", extra={"event_ids": [e.eventId for e in events]})
            return [False] * len(events)
        results = [not entry.get("ErrorCode") for entry in answer.get("Entries", [])]
        if answer.get("FailedEntryCount", 0):
            logger.warning("some events were not accepted", extra={"entries": answer.get("Entries")})
        return results + [False] * (len(events) - len(results))
