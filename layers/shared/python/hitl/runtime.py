"""The adapters a warm function builds once and reuses: built lazily, reset in tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from hitl import wiring
from hitl.adapters import aws
from hitl.adapters.audit_repository import DynamoAudit
from hitl.adapters.dynamo import DynamoStore
from hitl.adapters.events import EventBridgePublisher
from hitl.adapters.messaging import SesMailer, SqsWorkQueue
from hitl.domain.audit_log import AuditLog
from hitl.domain.auth import Authenticator
from hitl.domain.service import PauseService
from hitl.settings import get_settings

if TYPE_CHECKING:
    from hitl.adapters.kms import KmsCrypto
    from hitl.domain.joining import Joining
    from hitl.domain.notify import Notifier
    from hitl.domain.sessions import Sessions
    from hitl.domain.signin import SignIn
    from hitl.domain.slack_clicks import SlackClicks
    from hitl.domain.slack_connect import SlackConnect
    from hitl.domain.slack_notify import SlackDms
    from hitl.domain.teams import Teams
    from hitl.domain.tenants import TenantAdmin
    from hitl.slack.client import SlackWebApi
    from hitl.webhooks.service import WebhookService


@dataclass
class Services:
    store: DynamoStore
    pauses: PauseService
    auth: Authenticator
    #: the audit log: ``record_team_event`` (``hitl.domain.ports.TeamAudit``), listing, export
    audit: AuditLog


@lru_cache(maxsize=1)
def services() -> Services:
    settings = get_settings()
    store = DynamoStore(aws.dynamodb(), settings.table_name)
    publisher = EventBridgePublisher(aws.events(), settings.event_bus_name)
    return Services(
        store=store,
        pauses=PauseService(store, publisher, settings.base_url, check_url=check_callback_url),
        auth=Authenticator(store.tenants, cache_seconds=settings.key_cache_seconds),
        audit=audit_log(store),
    )


def audit_log(store: DynamoStore) -> AuditLog:
    """The audit log of ``store``'s table (every team change is recorded through it)."""
    return AuditLog(DynamoAudit(store.table), store.pauses, store.tenants)


def tenant_admin(store: DynamoStore) -> TenantAdmin:
    """The operator's use cases over ``store``, recording into its audit log (``hitl-admin``, the
    local stack, tests)."""
    from hitl.domain.tenants import TenantAdmin

    return TenantAdmin(store.tenants, audit_log(store))


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
        slack=slack_dms() if settings.slack_enabled else None,
    )


def slack_dms() -> SlackDms:
    """The approvers' Slack DMs and their updates (only when the deployment has a Slack app)."""
    from hitl.domain.slack_notify import SlackDms

    settings = get_settings()
    store = services().store
    return SlackDms(
        store.pauses,
        store.tokens,
        store.slack,
        store.tenants,
        slack_tokens(),
        slack_api(),
        settings.base_url,
        record_failure=services().pauses.record_notification_failure,
        max_attempts=wiring.subscription("email").max_receive_count,
    )


@dataclass
class People:
    sessions: Sessions
    signin: SignIn
    #: the owners' ``/app/team`` (members, invitations by email, roles, removal)
    teams: Teams
    #: the invitee's ``/invite/{token}``: accept and sign in
    joining: Joining


@lru_cache(maxsize=1)
def people() -> People:
    """Sessions, sign-in and teams: only the dashboard builds them."""
    from hitl.adapters.people_repository import DynamoPeople
    from hitl.domain.joining import Joining
    from hitl.domain.sessions import Sessions
    from hitl.domain.signin import SignIn, SignInRules
    from hitl.domain.teams import Teams
    from hitl.notify.invitation import InvitationEmails

    settings = get_settings()
    store = services().store
    repository = DynamoPeople(store.table)
    sessions = Sessions(
        repository, store.tenants, idle_s=settings.session_idle_seconds, max_s=settings.session_max_seconds
    )
    rules = SignInRules(
        base_url=settings.base_url,
        sender=settings.sender,
        signup_open=settings.signup == "open",
        per_email=settings.login_limit_per_email,
        per_ip=settings.login_limit_per_ip,
        window_s=settings.login_window_seconds,
    )
    mailer = SesMailer(aws.sesv2(), settings.sender, settings.ses_configuration_set)
    audit = services().audit
    teams = Teams(store.tenants, audit, base_url=settings.base_url, mailer=InvitationEmails(mailer, settings.sender))
    return People(
        sessions,
        SignIn(repository, store.tenants, sessions, mailer, audit, rules),
        teams,
        Joining(teams, sessions, audit, slack=slack_connect),
    )


@lru_cache(maxsize=1)
def slack_connect() -> SlackConnect:
    """Connecting the team's Slack workspace and linking members (the dashboard).  With no Slack
    app configured (``Deployment.slack`` None) it only answers that Slack is off."""
    from hitl.domain.slack_connect import SlackAppConfig, SlackConnect
    from hitl.slack.secrets import client_secret

    settings = get_settings()
    store = services().store
    app = None
    if settings.slack_enabled and settings.slack_client_id:
        app = SlackAppConfig(
            client_id=settings.slack_client_id,
            authorize_url=settings.slack_authorize_url,
            client_secret=client_secret,
        )
    return SlackConnect(
        store.slack,
        store.tenants,
        services().audit,
        slack_tokens(),
        slack_api,
        app=app,
        base_url=settings.base_url,
    )


@lru_cache(maxsize=1)
def email_queue() -> SqsWorkQueue:
    return SqsWorkQueue(aws.sqs(), get_settings().email_queue_url or "")


@lru_cache(maxsize=1)
def deliveries_queue() -> SqsWorkQueue:
    return SqsWorkQueue(aws.sqs(), get_settings().deliveries_queue_url or "")


@lru_cache(maxsize=1)
def webhooks() -> WebhookService:
    from hitl.adapters.kms import KmsCrypto
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
        audit=services().audit,
    )


@lru_cache(maxsize=1)
def slack_tokens() -> KmsCrypto:
    """Encrypts and decrypts Slack bot tokens (KMS, bound to the tenant and to being a bot token)."""
    from hitl.adapters.kms import SLACK_BOT_TOKEN, KmsCrypto

    settings = get_settings()
    if not settings.kms_key_id:
        raise RuntimeError(f"{wiring.ENV_KMS_KEY} is not set: Slack bot tokens need the service's KMS key")
    return KmsCrypto(aws.kms(), settings.kms_key_id, purpose=SLACK_BOT_TOKEN)


@lru_cache(maxsize=1)
def slack_api() -> SlackWebApi:
    """Slack's Web API at the deployment's ``HITL_SLACK_API_URL`` (the local stack: its fake)."""
    from hitl.slack.client import SlackWebApi
    from hitl.slack.secrets import SlackNotConfigured

    settings = get_settings()
    if not settings.slack_api_url:
        raise SlackNotConfigured(f"{wiring.ENV_SLACK_API_URL} is not set: this deployment has no Slack app")
    return SlackWebApi(settings.slack_api_url)


@lru_cache(maxsize=1)
def slack_clicks() -> SlackClicks:
    """The clicks in Slack DMs (``POST /slack/interactivity``): decided through the pauses' one
    ``decide``; the Slack client and the token cipher are built only when a note is posted."""
    from hitl.domain.slack_clicks import SlackClicks

    store, pauses = services().store, services().pauses
    return SlackClicks(store.slack, store.tenants, store.pauses, pauses.decide, slack_api, slack_tokens, pauses.clock)


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
    people.cache_clear()
    slack_connect.cache_clear()
    email_queue.cache_clear()
    deliveries_queue.cache_clear()
    webhooks.cache_clear()
    slack_tokens.cache_clear()
    slack_api.cache_clear()
    slack_clicks.cache_clear()
    get_settings.cache_clear()
    from hitl.slack import secrets  # no slack_sdk in it

    secrets.reset()
    aws.reset()
