"""The adapters a warm function builds once and reuses: built lazily, reset in tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from hitl import wiring
from hitl.adapters import aws
from hitl.adapters.dynamo import DynamoStore
from hitl.adapters.events import EventBridgePublisher
from hitl.adapters.messaging import SesMailer, SqsWorkQueue
from hitl.domain.auth import Authenticator
from hitl.domain.service import PauseService
from hitl.settings import get_settings

if TYPE_CHECKING:
    from hitl.domain.notify import Notifier
    from hitl.webhooks.service import WebhookService


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
        pauses=PauseService(store, publisher, settings.base_url, check_url=check_callback_url),
        auth=Authenticator(store.tenants, cache_seconds=settings.key_cache_seconds),
    )


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    from hitl.domain.notify import Notifier  # jinja2 and the templates: only the notifier pays for them

    settings = get_settings()
    if not settings.email_queue_url:
        raise RuntimeError(f"{wiring.queue_url_env('email')} is not set: the notifier needs its work queue")
    store = services().store
    return Notifier(
        store.pauses,
        store.tokens,
        SesMailer(aws.sesv2(), settings.sender, settings.ses_configuration_set),
        email_queue(),
        settings.base_url,
        settings.sender,
        record_failure=services().pauses.record_notification_failure,
        max_attempts=wiring.subscription("email").max_receive_count,
        members=store.tenants,
    )


@lru_cache(maxsize=1)
def email_queue() -> SqsWorkQueue:
    return SqsWorkQueue(aws.sqs(), get_settings().email_queue_url or "")


@lru_cache(maxsize=1)
def deliveries_queue() -> SqsWorkQueue:
    return SqsWorkQueue(aws.sqs(), get_settings().deliveries_queue_url or "")


@lru_cache(maxsize=1)
def webhooks() -> WebhookService:
    from hitl.adapters.webhook_store import KmsCrypto
    from hitl.webhooks.service import WebhookService

    settings = get_settings()
    if not settings.kms_key_id:
        raise RuntimeError(f"{wiring.ENV_KMS_KEY} is not set: webhook secrets need the service's KMS key")
    return WebhookService(
        services().store.webhooks,
        KmsCrypto(aws.kms(), settings.kms_key_id),
        deliveries_queue(),
        allow_loopback_http=settings.webhook_allow_loopback,
        retry_scale=settings.webhook_retry_scale,
    )


def check_callback_url(url: str) -> None:
    """The SSRF guard at create time (the deliverer checks again at connect time)."""
    from hitl.domain.errors import Unprocessable
    from hitl.webhooks import ssrf

    try:
        ssrf.check(url, allow_loopback_http=get_settings().webhook_allow_loopback)
    except ssrf.UnsafeUrl as unsafe:
        raise Unprocessable(unsafe.reason, code="unsafe_url", details={"url": url}) from unsafe


def reset() -> None:
    """Forget every cached client, setting and service (tests; the local stack's workers)."""
    services.cache_clear()
    notifier.cache_clear()
    email_queue.cache_clear()
    deliveries_queue.cache_clear()
    webhooks.cache_clear()
    get_settings.cache_clear()
    aws.reset()
