"""The adapters a warm function builds once and reuses: built lazily, reset in tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hitl.adapters import aws
from hitl.adapters.dynamo import DynamoStore
from hitl.adapters.events import EventBridgePublisher
from hitl.domain.service import Authenticator, PauseService
from hitl.settings import get_settings


@dataclass
class Services:
    store: DynamoStore
    pauses: PauseService
    auth: Authenticator


@lru_cache(maxsize=1)
def services() -> Services:
    settings = get_settings()
    store = DynamoStore(aws.dynamodb(), settings.table_name)
    publisher = EventBridgePublisher(aws.events(), settings.event_bus_name)
    return Services(
        store=store,
        pauses=PauseService(store, publisher, settings.base_url),
        auth=Authenticator(store, cache_seconds=settings.key_cache_seconds),
    )


def reset() -> None:
    """Forget every cached client, setting and service (tests; the local stack's workers)."""
    services.cache_clear()
    get_settings.cache_clear()
    aws.reset()
