"""The one wiring description of the service.

Both the CDK stack (``infra/``) and the local stack (``tools/hitl_local``) are
built from these tables, so they cannot drift: functions, HTTP routes, the
event rules that feed queues that feed functions, schedules, and the table's
indexes.  Nothing here touches AWS; it is plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# --- functions ---------------------------------------------------------------

#: What a function may touch.  The CDK stack turns each into a grant of exactly that on the
#: exact resource; the local stack ignores them (moto checks nothing).
#:
#: The table: one need per DynamoDB action the function's code calls (``table_access``).  IAM
#: judges a ``TransactWriteItems`` item by item (``Put`` → PutItem, ``Update`` → UpdateItem,
#: ``Delete`` → DeleteItem, ``ConditionCheck`` → ConditionCheckItem): a transaction needs those.
#: ``Scan`` is never granted: nothing reads the whole table (the local stack's dump is not a function).
GET_ITEM = "GetItem"
QUERY = "Query"
PUT_ITEM = "PutItem"
UPDATE_ITEM = "UpdateItem"
DELETE_ITEM = "DeleteItem"
CONDITION_CHECK_ITEM = "ConditionCheckItem"
BATCH_GET_ITEM = "BatchGetItem"
BATCH_WRITE_ITEM = "BatchWriteItem"
TABLE_ACTIONS = (
    GET_ITEM,
    QUERY,
    PUT_ITEM,
    UPDATE_ITEM,
    DELETE_ITEM,
    CONDITION_CHECK_ITEM,
    BATCH_GET_ITEM,
    BATCH_WRITE_ITEM,
)
TABLE_NEED_PREFIX = "table:"


def table_access(*actions: str) -> frozenset[str]:
    """The needs of calling exactly ``actions`` (``GET_ITEM``, ``QUERY``, …) on the table."""
    unknown = sorted(set(actions) - set(TABLE_ACTIONS))
    if unknown:
        raise ValueError(f"not a table action a function may be granted: {unknown}")
    return frozenset(TABLE_NEED_PREFIX + action for action in actions)


def table_actions_of(function: Function) -> tuple[str, ...]:
    """The DynamoDB actions ``function`` may call (``GetItem``, …), in ``TABLE_ACTIONS`` order."""
    return tuple(action for action in TABLE_ACTIONS if TABLE_NEED_PREFIX + action in function.needs)


#: what a create, a decision or any other transition writes (``TransactWriteItems`` of Put and Update)
TRANSACTION = (PUT_ITEM, UPDATE_ITEM)
BUS_PUT = "bus:put"
SES_SEND = "ses:send"
#: encrypt and decrypt with the service's KMS key (webhook secrets, Slack bot tokens); its id is in ENV_KMS_KEY
KMS_USE = "kms:use"
#: the deployment's Slack app (``Deployment.slack``): its settings in the environment (``ENV_SLACK_*``),
#: and ``ssm:GetParameter`` on its two SecureString parameters (signing secret, client secret)
SLACK_APP = "slack:app"


def sends_to(queue: str) -> str:
    """The need to send messages to the work queue of the subscription named ``queue``."""
    return f"queue:send:{queue}"


def queue_url_env(queue: str) -> str:
    """The environment variable holding the URL of the work queue named ``queue``."""
    return "QUEUE_URL_" + queue.upper().replace("-", "_")


@dataclass(frozen=True)
class Function:
    name: str
    #: folder holding the handler module, relative to the repository root
    asset: str
    #: ``module.function`` inside the asset folder
    handler: str
    description: str
    memory_mb: int = 256
    timeout_s: int = 29
    #: a cap on concurrent instances (Lambda reserved concurrency); ``None``: none
    reserved_concurrency: int | None = None
    needs: frozenset[str] = field(default_factory=frozenset)
    #: warm instances the local stack starts before serving
    local_warm: int = 1
    #: the most instances the local stack runs at once
    local_max: int = 8


API = Function(
    name="api",
    asset="functions/api",
    handler="api_handler.lambda_handler",
    description="The agent HTTP API: create, list, cancel, audit, webhooks, OpenAPI",
    memory_mb=512,
    # webhook endpoints are deleted; keys touched and revoked, leases, idempotency claims updated
    needs=frozenset({BUS_PUT, KMS_USE, sends_to("deliveries")})
    | table_access(GET_ITEM, QUERY, PUT_ITEM, UPDATE_ITEM, DELETE_ITEM),
    local_warm=2,
)
WAIT = Function(
    name="wait",
    asset="functions/wait",
    handler="wait_handler.lambda_handler",
    description="GET /api/pause/{watchId}, with ?wait=N long-polls",
    memory_mb=128,
    timeout_s=29,
    reserved_concurrency=50,
    # reads the pause; a long-poll takes and gives back a lease (updates); keys touched
    needs=table_access(GET_ITEM, QUERY, UPDATE_ITEM),
    local_warm=2,
    local_max=24,
)
SWEEPER = Function(
    name="sweeper",
    asset="functions/sweeper",
    handler="sweeper_handler.lambda_handler",
    description="Expires overdue pauses and republishes unsent events",
    memory_mb=256,
    timeout_s=55,
    reserved_concurrency=1,
    # the due index, then a transition (a transaction) or an outbox event marked sent
    needs=frozenset({BUS_PUT}) | table_access(GET_ITEM, QUERY, *TRANSACTION),
    local_max=1,
)

NOTIFIER = Function(
    name="notifier",
    asset="functions/notifier",
    handler="notifier_handler.lambda_handler",
    description="Emails approvers and sends them Slack DMs: fans pause.created out per approver, sends each "
    "once; updates the DMs once a pause is decided",
    memory_mb=256,
    timeout_s=30,
    # claims each (event, approver) once, stores tokens, SES message ids and Slack DMs, marks failures
    # (a transition); decrypts the tenant's Slack bot token
    needs=frozenset({BUS_PUT, SES_SEND, KMS_USE, SLACK_APP, sends_to("email")})
    | table_access(GET_ITEM, QUERY, *TRANSACTION),
    local_warm=2,  # both of its queues need it at once
    local_max=4,
)
PAGES = Function(
    name="pages",
    asset="functions/pages",
    handler="pages_handler.lambda_handler",
    description="The approvers' link pages: GET confirms, POST decides",
    memory_mb=256,
    # reads the link's token and the pause; a decision is a transition (a transaction)
    needs=frozenset({BUS_PUT}) | table_access(GET_ITEM, QUERY, *TRANSACTION),
)

WEBHOOKS = Function(
    name="webhooks",
    asset="functions/webhooks",
    handler="webhooks_handler.lambda_handler",
    description="Delivers signed webhooks: one work item per (event, endpoint), retried, then dead-lettered",
    memory_mb=256,
    timeout_s=30,
    # endpoints and the callback secret read (the latter created on first use), deliveries logged
    needs=frozenset({KMS_USE, sends_to("deliveries")}) | table_access(GET_ITEM, QUERY, PUT_ITEM),
    local_max=8,
)

DASHBOARD = Function(
    name="dashboard",
    asset="functions/dashboard",
    handler="dashboard_handler.lambda_handler",
    description="People: sign-in and sign-up, sessions, the dashboard's pages and its decisions",
    memory_mb=512,
    # sessions, sign-in links and rate counters written and deleted; a decision is a transition;
    # sign-in and invitation emails sent directly; an owner's webhook secrets encrypted and
    # decrypted, a delivery queued again (retry); the team page's role changes and removals
    # check, in the same transaction, that another owner remains (ConditionCheck); a Slack
    # workspace connected (its bot token encrypted, the client secret read) and disconnected
    needs=frozenset({BUS_PUT, SES_SEND, KMS_USE, SLACK_APP, sends_to("deliveries")})
    | table_access(GET_ITEM, QUERY, PUT_ITEM, UPDATE_ITEM, DELETE_ITEM, CONDITION_CHECK_ITEM, *TRANSACTION),
    local_warm=1,
    local_max=4,
)

SLACK = Function(
    name="slack",
    asset="functions/slack",
    handler="slack_handler.lambda_handler",
    description="Slack's interactivity calls: an approver's Approve or Reject click in a DM, verified, decided",
    memory_mb=256,
    # Slack waits 3 s for the answer: the click is judged and decided in the request
    timeout_s=10,
    # the team's workspace, the tenant and its members, the pause (GetItem, Query); a decision is a
    # transition (a transaction) whose event goes out; the signing secret read from SSM; the bot
    # token decrypted to answer a click that cannot decide (chat.postEphemeral)
    needs=frozenset({BUS_PUT, KMS_USE, SLACK_APP}) | table_access(GET_ITEM, QUERY, *TRANSACTION),
    local_warm=1,
    local_max=4,
)

FUNCTIONS: tuple[Function, ...] = (API, WAIT, SWEEPER, NOTIFIER, PAGES, WEBHOOKS, DASHBOARD, SLACK)
#: attempts of one webhook delivery before the dead-letter queue (hitl.webhooks.models schedule)
WEBHOOK_ATTEMPTS = 8

# --- HTTP routes ---------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, DELETE, ANY
    path: str  # API Gateway syntax: /api/pause/{watchId}; "$default" catches the rest
    function: str


DEFAULT_ROUTE = "$default"

#: the dashboard's pages (HTML; GET pages answer HEAD too, as API Gateway routes it to them)
DASHBOARD_PAGES: tuple[tuple[str, str], ...] = (
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/{token}"),
    ("POST", "/login/{token}"),
    ("GET", "/signup"),
    ("POST", "/signup"),
    ("POST", "/logout"),
    ("GET", "/app"),
    ("GET", "/app/refresh.js"),
    ("GET", "/app/pauses/{watchId}"),
    ("GET", "/app/history"),
    ("GET", "/app/audit"),
    ("GET", "/app/audit/export"),
    ("GET", "/app/sessions"),
    ("POST", "/app/sessions/{sessionId}/end"),
    ("POST", "/app/sessions/end-all"),
    ("POST", "/app/switch"),
    # the owners' keys, webhooks and settings
    ("GET", "/app/keys"),
    ("POST", "/app/keys"),
    ("POST", "/app/keys/{keyId}/revoke"),
    ("GET", "/app/webhooks"),
    ("POST", "/app/webhooks"),
    ("GET", "/app/webhooks/{webhookId}"),
    ("POST", "/app/webhooks/{webhookId}/enable"),
    ("POST", "/app/webhooks/{webhookId}/disable"),
    ("POST", "/app/webhooks/{webhookId}/delete"),
    ("POST", "/app/webhooks/{webhookId}/deliveries/{deliveryId}/retry"),
    ("POST", "/app/webhooks/callback-secret/reveal"),
    ("POST", "/app/webhooks/callback-secret/rotate"),
    ("GET", "/app/settings"),
    ("POST", "/app/settings/name"),
    ("POST", "/app/settings/policy"),
    # Slack (Pro): an owner connects the workspace (the OAuth install, or a pasted bot token) and
    # disconnects it; a member links their Slack user and chooses whether pauses are emailed
    ("POST", "/app/settings/slack/token"),
    ("POST", "/app/settings/slack/disconnect"),
    ("GET", "/slack/install"),
    ("GET", "/slack/oauth/callback"),
    ("GET", "/app/account"),
    ("POST", "/app/account/slack/link"),
    ("POST", "/app/account/slack/unlink"),
    ("POST", "/app/account/notifications"),
    # the owners' team page, and invitations
    ("GET", "/app/team"),
    ("POST", "/app/team/invitations"),
    ("POST", "/app/team/invitations/resend"),
    ("POST", "/app/team/invitations/revoke"),
    ("POST", "/app/team/members/role"),
    ("POST", "/app/team/members/remove"),
    ("GET", "/invite/{token}"),
    ("POST", "/invite/{token}"),
)
DASHBOARD_ROUTES: tuple[Route, ...] = tuple(
    Route(method, path, "dashboard") for method, path in DASHBOARD_PAGES
) + tuple(Route("HEAD", path, "dashboard") for method, path in DASHBOARD_PAGES if method == "GET")

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/pause", API.name),
    Route("GET", "/api/pause", API.name),
    Route("GET", "/api/pause/{watchId}", WAIT.name),
    Route("POST", "/api/pause/{watchId}/cancel", API.name),
    Route("POST", "/api/pause/{watchId}/approve", DASHBOARD.name),
    Route("GET", "/api/audit", API.name),
    Route("GET", "/api/openapi.json", API.name),
    Route("POST", "/api/webhooks", API.name),
    Route("GET", "/api/webhooks", API.name),
    Route("PATCH", "/api/webhooks/{webhookId}", API.name),
    Route("DELETE", "/api/webhooks/{webhookId}", API.name),
    Route("GET", "/api/webhooks/{webhookId}/deliveries", API.name),
    Route("POST", "/api/webhooks/{webhookId}/deliveries/{deliveryId}/retry", API.name),
    Route("GET", "/api/pause/{watchId}/deliveries", API.name),
    Route("GET", "/api/callback-secret", API.name),
    Route("POST", "/api/callback-secret/rotate", API.name),
    # approvers' emailed links: GET and HEAD only ever show a page; the form POSTs the decision
    Route("GET", "/a/{token}/{choice}", PAGES.name),
    Route("HEAD", "/a/{token}/{choice}", PAGES.name),
    Route("POST", "/a/{token}", PAGES.name),
    *DASHBOARD_ROUTES,
    # Slack's interactivity request URL (the app manifest's): every click in a DM, signed by Slack
    Route("POST", "/slack/interactivity", SLACK.name),
    # unknown paths and methods reach the API function, which answers 404/405 in our shape
    Route("ANY", DEFAULT_ROUTE, API.name),
)

# --- events: rule -> queue -> function -------------------------------------------


#: The source of the service's own events (on its own bus).
EVENT_SOURCE = "hitl"
#: The source of what SES reports (bounces, complaints, …), always on the account's default bus.
SES_SOURCE = "aws.ses"
#: The automatic tag SES puts on every event of a message sent with a configuration set.
SES_CONFIGURATION_SET_TAG = "ses:configuration-set"


@dataclass(frozen=True)
class Subscription:
    """An EventBridge rule that targets one SQS queue.

    ``function`` consumes the queue through an event source mapping with
    ``ReportBatchItemFailures``; ``None`` leaves the queue to be read by whoever
    needs it (tests).  ``test_only`` subscriptions exist in tests and on the
    local stack, never in the deployed stack.  ``from_bus=False`` makes a plain
    work queue with no rule, fed by functions that ``sends_to`` it (fan-out).
    The rule is on the service's own bus (``bus="service"``, events of ``source``
    "hitl"), or on the account's ``default`` bus, where AWS services put what they
    report (SES: ``source="aws.ses"``).
    """

    name: str
    detail_types: tuple[str, ...]  # empty: every event of ``source``
    function: str | None
    test_only: bool = False
    batch_size: int = 10
    max_receive_count: int = 5
    from_bus: bool = True
    bus: Literal["service", "default"] = "service"
    source: str = EVENT_SOURCE

    def event_pattern(self, ses_configuration_set: str | None = None) -> dict[str, Any]:
        """The rule's event pattern (EventBridge JSON).  SES events are narrowed to the mail sent
        with ``ses_configuration_set`` (the stack's own), when it is given."""
        pattern: dict[str, Any] = {"source": [self.source]}
        if self.detail_types:
            pattern["detail-type"] = list(self.detail_types)
        if self.source == SES_SOURCE and ses_configuration_set is not None:
            pattern["detail"] = {"mail": {"tags": {SES_CONFIGURATION_SET_TAG: [ses_configuration_set]}}}
        return pattern


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(name="all-events", detail_types=(), function=None, test_only=True),
    # one message per pause.created, fanned out by the notifier into one per (event, approver)
    Subscription(
        name="notify", detail_types=("pause.created", "pause.reminder_due"), function=NOTIFIER.name, batch_size=10
    ),
    Subscription(
        name="email", detail_types=(), function=NOTIFIER.name, batch_size=5, max_receive_count=6, from_bus=False
    ),
    # after a decision by any channel, an expiry or a cancel: every Slack DM of the pause is updated
    Subscription(
        name="slack-updates",
        detail_types=(
            "pause.approval_recorded",
            "pause.approved",
            "pause.rejected",
            "pause.expired",
            "pause.cancelled",
        ),
        function=NOTIFIER.name,
        batch_size=10,
    ),
    # what SES reports about our emails, on the default bus: an approval email that will not be read
    # ("Email Delivery Delayed" is not a failure: SES keeps trying)
    Subscription(
        name="bounces",
        detail_types=("Email Bounced", "Email Complaint Received", "Email Rejected"),
        function=NOTIFIER.name,
        bus="default",
        source=SES_SOURCE,
    ),
    # every pause event, fanned out by the deliverer into one work item per (event, endpoint);
    # each work item is its own batch, so a slow endpoint never holds up another's delivery
    Subscription(name="webhooks", detail_types=(), function=WEBHOOKS.name, batch_size=10),
    Subscription(
        name="deliveries",
        detail_types=(),
        function=WEBHOOKS.name,
        batch_size=1,
        max_receive_count=WEBHOOK_ATTEMPTS,
        from_bus=False,
    ),
)

# --- schedules ------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    function: str
    every_minutes: int
    #: environment variable setting the period, in seconds, on the local stack
    local_setting: str
    local_default_s: int


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(function=SWEEPER.name, every_minutes=1, local_setting="HITL_SWEEP_SECONDS", local_default_s=5),
)

# --- the table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str
    #: "ALL", "KEYS_ONLY" or "INCLUDE" (then ``include`` names the attributes)
    projection: str
    include: tuple[str, ...] = ()


TABLE_PK = "pk"
TABLE_SK = "sk"
TTL_ATTRIBUTE = "ttl"

#: Per-tenant lists, newest first: pauses (TP#tenant), audit (TA#tenant),
#: API keys (TK#tenant), webhooks (TW#tenant), deliveries (WD#webhook).
#: Every attribute any of those summaries shows is projected, decided once.
BY_TENANT = Index(
    name="byTenant",
    pk="gsi1pk",
    sk="gsi1sk",
    projection="INCLUDE",
    include=(
        "tenantId",
        "watchId",
        "status",
        "action",
        "requestedBy",
        "createdAt",
        "expiresAt",
        "decidedAt",
        "decision",
        "policy",
        "approvals",
        "notifications",
        "auditId",
        "at",
        "type",
        "actor",
        "channel",
        "details",
        "keyId",
        "name",
        "last4",
        "revoked",
        "lastUsedAt",
        "webhookId",
        "deliveryId",
        "eventId",
        "url",
        "events",
        "enabled",
        "description",
        "attempt",
        "statusCode",
        "latencyMs",
        "errorClass",
        "responseSnippet",
    ),
)

#: The sweeper's sparse, sharded index: EXP#0..15 for pauses with something due
#: (expiry, reminders; sort key = the next due time), OUT#0..15 for events not yet
#: published.  An item leaves it when nothing is due any more.
DUE = Index(
    name="due",
    pk="duePk",
    sk="dueSk",
    projection="INCLUDE",
    include=("tenantId", "watchId", "status", "expiresAt", "eventId"),
)

#: Lookups by a secondary identifier: an API key by its public id (KEYID#…),
#: deliveries of one pause (PD#watchId), and the like.
LOOKUP = Index(name="lookup", pk="lookupPk", sk="lookupSk", projection="ALL")

#: The tenant's audit log, by time (``AL#<tenant>``, sort ``<at>#<auditId>``): pause and team
#: entries together.  Everything projected (the chain's hashes, the client's IP, what a future
#: entry adds), since a projection never changes.  Step 5's one new index.
AUDIT_LOG = Index(name="auditLog", pk="auditPk", sk="auditSk", projection="ALL")

INDEXES: tuple[Index, ...] = (BY_TENANT, DUE, LOOKUP, AUDIT_LOG)
DUE_SHARDS = 16

# --- settings: every environment variable a function reads, named once ------------------------

ENV_TABLE = "TABLE_NAME"
ENV_BUS = "EVENT_BUS_NAME"
ENV_PUBLIC_BASE_URL = "PUBLIC_BASE_URL"
#: how long a warm function trusts a key lookup (seconds); unset: ``hitl.settings``' default
ENV_KEY_CACHE_SECONDS = "HITL_KEY_CACHE_SECONDS"
#: the From of approval emails, and the SES configuration set every email names (``ses:send``)
ENV_SENDER = "HITL_SENDER"
ENV_SES_CONFIGURATION_SET = "SES_CONFIGURATION_SET"
#: the KMS key that encrypts webhook and callback secrets (``kms:use``)
ENV_KMS_KEY = "HITL_KMS_KEY_ID"
#: the Slack app (``SLACK_APP``): Web API and OAuth authorize URLs, the app's client id, and the names
#: of the SSM SecureString parameters holding its signing secret and client secret
ENV_SLACK_API_URL = "HITL_SLACK_API_URL"
ENV_SLACK_AUTHORIZE_URL = "HITL_SLACK_AUTHORIZE_URL"
ENV_SLACK_CLIENT_ID = "HITL_SLACK_CLIENT_ID"
ENV_SLACK_SIGNING_SECRET_PARAMETER = "HITL_SLACK_SIGNING_SECRET_PARAMETER"  # noqa: S105 (a name)
ENV_SLACK_CLIENT_SECRET_PARAMETER = "HITL_SLACK_CLIENT_SECRET_PARAMETER"  # noqa: S105 (a name)
SLACK_API_URL = "https://slack.com/api/"
SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
#: whether anyone may create a team (``/signup``): ``open`` or ``closed`` (teams come from the
#: operator's ``hitl-admin``, which emails their owners an invitation)
ENV_SIGNUP = "HITL_SIGNUP"
SIGNUP_OPEN = "open"
SIGNUP_CLOSED = "closed"
SIGNUP_MODES = (SIGNUP_OPEN, SIGNUP_CLOSED)
#: a dashboard session ends after this long without a request, and this long after it began
ENV_SESSION_IDLE_SECONDS = "HITL_SESSION_IDLE_SECONDS"
ENV_SESSION_MAX_SECONDS = "HITL_SESSION_MAX_SECONDS"
#: sign-in requests allowed per email and per client IP in each window (seconds)
ENV_LOGIN_PER_EMAIL = "HITL_LOGIN_LIMIT_PER_EMAIL"
ENV_LOGIN_PER_IP = "HITL_LOGIN_LIMIT_PER_IP"
ENV_LOGIN_WINDOW_SECONDS = "HITL_LOGIN_WINDOW_SECONDS"
#: set only by the local stack and tests, never by the CDK stack
ENV_WEBHOOK_LOOPBACK = "HITL_WEBHOOK_ALLOW_LOOPBACK"
ENV_WEBHOOK_RETRY_SCALE = "HITL_WEBHOOK_RETRY_SCALE"
LOCAL_ONLY_SETTINGS = frozenset({ENV_WEBHOOK_LOOPBACK, ENV_WEBHOOK_RETRY_SCALE})
#: Powertools' own
ENV_SERVICE = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
ENV_TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"
ENV_METRICS_DISABLED = "POWERTOOLS_METRICS_DISABLED"
#: X-Ray never records a response or an error object (secrets, pause context): the default of any
#: ``capture_method``/``capture_lambda_handler`` that does not say so itself
ENV_TRACER_CAPTURE_RESPONSE = "POWERTOOLS_TRACER_CAPTURE_RESPONSE"
ENV_TRACER_CAPTURE_ERROR = "POWERTOOLS_TRACER_CAPTURE_ERROR"

SERVICE_NAME = "hitl"
METRICS_NAMESPACE = "HITL"
#: the account's default bus, where AWS services (SES) report; not a resource of the stack
DEFAULT_BUS_NAME = "default"
#: the description of the service's KMS key (the CDK stack's and the local stack's)
KMS_KEY_DESCRIPTION = "HITL: encrypts webhook endpoint secrets, callback secrets and Slack bot tokens"
#: the From header's display name and default local part: ``HITL <approvals@example.com>``
SENDER_DISPLAY_NAME = "HITL"
SENDER_LOCAL_PART = "approvals"
#: the domain the local stack and tests send from (an SES identity moto verifies)
LOCAL_SENDER_DOMAIN = "hitl.local"


def sender(address: str) -> str:
    """The From header of approval emails sent from ``address``."""
    return f"{SENDER_DISPLAY_NAME} <{address}>"


DEFAULT_SENDER = sender(f"{SENDER_LOCAL_PART}@{LOCAL_SENDER_DOMAIN}")


@dataclass(frozen=True)
class SlackApp:
    """A deployment's Slack app: its client id, and the SSM SecureString parameter names of its
    signing secret and client secret (never the secrets themselves)."""

    signing_secret_parameter: str
    client_id: str
    client_secret_parameter: str
    api_url: str = SLACK_API_URL
    authorize_url: str = SLACK_AUTHORIZE_URL


@dataclass(frozen=True)
class Deployment:
    """Where one deployment's resources are: what a function's environment names.  In the CDK stack
    the values are tokens (``table.table_name``, …); on the local stack and in tests, moto's names."""

    table: str
    bus: str
    public_base_url: str
    #: work queue (subscription) name -> URL, for the ``sends_to`` needs
    queue_urls: Mapping[str, str] = field(default_factory=dict)
    #: for ``ses:send``: the From header and the configuration set
    sender: str | None = None
    ses_configuration_set: str | None = None
    #: for ``kms:use``
    kms_key_id: str | None = None
    log_level: str = "INFO"
    #: ``HITL_SIGNUP``: closed unless the deployment opens it (the local stack's default is open)
    signup: str = SIGNUP_CLOSED
    session_idle_s: int = 12 * 3600
    session_max_s: int = 7 * 86400
    #: the Slack app; ``None``: no Slack app is configured, and nothing Slack runs
    slack: SlackApp | None = None


@dataclass(frozen=True)
class LocalSettings:
    """What only the local stack and tests set: never a deployed function."""

    #: multiplies the webhook retry schedule (1: AWS's own)
    webhook_retry_scale: float = 1.0
    #: webhooks may call http://127.0.0.1 (a receiver on this machine)
    webhook_allow_loopback: bool = True
    #: print each invocation's CloudWatch metrics (EMF)
    metrics: bool = False
    #: ``HITL_SIGNUP`` on the local stack: anyone may create a team there
    signup: str = SIGNUP_OPEN


def function_environment(
    function: Function, deployment: Deployment, local: LocalSettings | None = None
) -> dict[str, str]:
    """The whole environment of ``function``: what the CDK stack deploys, what the local stack's
    workers run with and what tests set, built here only.  A function gets the queue URLs, the
    mail settings, the KMS key and the Slack app its ``needs`` name, and nothing else; ``local`` adds what only
    the local stack sets (tracing off: no X-Ray daemon)."""
    environment = {
        ENV_TABLE: deployment.table,
        ENV_BUS: deployment.bus,
        ENV_PUBLIC_BASE_URL: deployment.public_base_url,
        ENV_SERVICE: SERVICE_NAME,
        ENV_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ENV_LOG_LEVEL: deployment.log_level,
        ENV_TRACER_CAPTURE_RESPONSE: "false",
        ENV_TRACER_CAPTURE_ERROR: "false",
        ENV_SIGNUP: _signup(local.signup if local is not None else deployment.signup),
    }
    if function.name == "dashboard":
        environment[ENV_SESSION_IDLE_SECONDS] = str(deployment.session_idle_s)
        environment[ENV_SESSION_MAX_SECONDS] = str(deployment.session_max_s)
    for queue in work_queues_of(function):
        if queue not in deployment.queue_urls:
            raise ValueError(f"function {function.name!r} sends to queue {queue!r}, which has no URL")
        environment[queue_url_env(queue)] = deployment.queue_urls[queue]
    if SES_SEND in function.needs:
        if deployment.sender is not None:
            environment[ENV_SENDER] = deployment.sender
        if deployment.ses_configuration_set is not None:
            environment[ENV_SES_CONFIGURATION_SET] = deployment.ses_configuration_set
    if KMS_USE in function.needs:
        if not deployment.kms_key_id:
            raise ValueError(f"function {function.name!r} uses the KMS key, which has no id")
        environment[ENV_KMS_KEY] = deployment.kms_key_id
    if SLACK_APP in function.needs and deployment.slack is not None:
        environment.update(slack_environment(deployment.slack))
    if local is not None:
        environment[ENV_TRACE_DISABLED] = "true"
        environment[ENV_WEBHOOK_LOOPBACK] = "true" if local.webhook_allow_loopback else "false"
        environment[ENV_WEBHOOK_RETRY_SCALE] = repr(local.webhook_retry_scale)
        if not local.metrics:
            environment[ENV_METRICS_DISABLED] = "true"
    return environment


def slack_environment(app: SlackApp) -> dict[str, str]:
    """The settings of a function with ``SLACK_APP`` (none of them a secret)."""
    return {
        ENV_SLACK_API_URL: app.api_url,
        ENV_SLACK_AUTHORIZE_URL: app.authorize_url,
        ENV_SLACK_CLIENT_ID: app.client_id,
        ENV_SLACK_SIGNING_SECRET_PARAMETER: app.signing_secret_parameter,
        ENV_SLACK_CLIENT_SECRET_PARAMETER: app.client_secret_parameter,
    }


def _signup(mode: str) -> str:
    if mode not in SIGNUP_MODES:
        raise ValueError(f"{ENV_SIGNUP} is one of {', '.join(SIGNUP_MODES)}, not {mode!r}")
    return mode


def shared_environment(deployment: Deployment, local: LocalSettings | None = None) -> dict[str, str]:
    """Every function's environment at once, for a process that runs them all (tests, the bench)."""
    merged: dict[str, str] = {}
    for candidate in FUNCTIONS:
        merged.update(function_environment(candidate, deployment, local))
    return merged


# --- queues -------------------------------------------------------------------------------------

#: SQS asks for a visibility timeout of at least 6x the consumer's timeout (retries within a batch).
VISIBILITY_TIMEOUT_FACTOR = 6
#: The visibility timeout of a queue nobody consumes through an event source mapping.
UNCONSUMED_VISIBILITY_TIMEOUT_S = 30


def visibility_timeout_s(subscription: Subscription) -> int:
    """The visibility timeout of ``subscription``'s queue, in AWS and on the local stack alike."""
    if subscription.function is None:
        return UNCONSUMED_VISIBILITY_TIMEOUT_S
    return VISIBILITY_TIMEOUT_FACTOR * function(subscription.function).timeout_s


def work_queues_of(function: Function) -> tuple[str, ...]:
    """The work queues ``function`` sends to (its ``sends_to`` needs)."""
    prefix = sends_to("")
    return tuple(sorted(need[len(prefix) :] for need in function.needs if need.startswith(prefix)))


def function(name: str) -> Function:
    for candidate in FUNCTIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def subscription(name: str) -> Subscription:
    for candidate in SUBSCRIPTIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def deployed_subscriptions() -> tuple[Subscription, ...]:
    return tuple(s for s in SUBSCRIPTIONS if not s.test_only)
