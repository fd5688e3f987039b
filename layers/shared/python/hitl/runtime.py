"""The adapters a warm function builds once and reuses: built lazily, reset in tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from hitl.adapters import aws
from hitl.adapters.dynamo import DynamoStore
from hitl.adapters.events import EventBridgePublisher
from hitl.adapters.messaging import SesMailer, SqsWorkQueue
from hitl.domain.service import Authenticator, PauseService
from hitl.settings import get_settings

if TYPE_CHECKING:
    from hitl.domain.notify import Notifier


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


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    from hitl.domain.notify import Notifier  # jinja2 and the templates: only the notifier pays for them

    settings = get_settings()
    if not settings.email_queue_url:
        raise RuntimeError("QUEUE_URL_EMAIL is not set: the notifier needs its work queue")
    return Notifier(
        services().store,
        SesMailer(aws.sesv2(), settings.sender, settings.ses_configuration_set),
        email_queue(),
        settings.base_url,
        settings.sender,
    )


@lru_cache(maxsize=1)
def email_queue() -> SqsWorkQueue:
    return SqsWorkQueue(aws.sqs(), get_settings().email_queue_url or "")


def reset() -> None:
    """Forget every cached client, setting and service (tests; the local stack's workers)."""
    services.cache_clear()
    notifier.cache_clear()
    email_queue.cache_clear()
    get_settings.cache_clear()
    aws.reset()
