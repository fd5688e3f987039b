"""What the agent API answers: one typed dict per body, and the statuses each route documents.

Routes annotate their return type with these types (``-> Response[Pause]``): powertools then
validates every answer against its type before it leaves (a mismatch is our bug: 500
``internal_error``, logged, never a silently different body) and the OpenAPI document shows the
real bodies.  Each route lists the statuses it can answer with ``ok(...) | errors(...)``.

The domain builds plain views (``hitl.domain.models.pause_view`` and friends); these types only
describe and check them, so the domain stays free of HTTP.  The bodies are dicts, so their types
are ``TypedDict``s that pydantic validates and documents as it does models (``with_config``): a
class statement costs the import next to nothing, and powertools builds a route's validator the
first time the route answers, so a function pays only for the bodies it sends (a model class
costs every cold start its field analysis, ~0.3 ms each, whether or not it is ever used).
Every type forbids unknown fields (``additionalProperties: false``): a field the domain adds
shows up here, in the document, first.  Fields the API leaves out when they are empty are
``NotRequired``: left out, never sent as ``null``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

from pydantic import Field, with_config
from typing_extensions import TypedDict

from hitl.domain.models import Channel, Outcome, Status

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

JSON = "application/json"
#: what powertools answers when a route's answer does not match its type (see the module doc)
MISMATCH = HTTPStatus.INTERNAL_SERVER_ERROR

Timestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
        description="RFC 3339, UTC, milliseconds",
        examples=["2026-12-01T09:30:00.000Z"],
    ),
]
WatchId = Annotated[str, Field(pattern=r"^w_[0-9A-Za-z]+$", description="The pause's id")]
EventType = Literal[
    "pause.created",
    "pause.approved",
    "pause.rejected",
    "pause.expired",
    "pause.cancelled",
    "pause.approval_recorded",
    "pause.notification_failed",
]


#: every body: no field beyond the declared ones (a ``TypedDict`` does not inherit its config)
closed = with_config(extra="forbid")


# --- errors ----------------------------------------------------------------------------------


@closed
class ErrorDetail(TypedDict):
    code: Annotated[
        str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable, snake_case", examples=["pause_not_found"])
    ]
    message: Annotated[str, Field(description="A human sentence")]
    details: NotRequired[
        Annotated[
            dict[str, Any],
            Field(description="Machine-readable specifics: `errors` (422), `pause` (409, 410), `limit`, …"),
        ]
    ]


@closed
class ErrorBody(TypedDict):
    """Every error, whatever its status."""

    error: ErrorDetail


# --- pauses ----------------------------------------------------------------------------------


@closed
class Decision(TypedDict):
    outcome: Outcome
    by: Annotated[str, Field(description="An approver's email, `timeout`, or the cancelling key's name")]
    channel: Channel
    comment: str | None
    at: Timestamp


@closed
class Approval(TypedDict):
    by: str
    channel: Channel
    decision: Literal["approved", "rejected"]
    comment: str | None
    at: Timestamp


@closed
class Policy(TypedDict):
    approvers: list[str]
    requiredApprovals: Annotated[int, Field(ge=1)]
    onTimeout: Literal["reject", "approve"]


@closed
class Notification(TypedDict):
    """A notification that could not be delivered (a bounce, a send that kept failing)."""

    to: str
    channel: Channel
    status: str


@closed
class PauseSummary(TypedDict):
    """A pause in a list: no context, no metadata."""

    watchId: WatchId
    status: Status
    action: str
    requestedBy: str
    createdAt: Timestamp
    expiresAt: Timestamp
    decidedAt: Timestamp | None
    decision: Decision | None


@closed
class PauseState(PauseSummary):
    """The pause without what was asked (`context`, `metadata`), as events carry it."""

    approvals: list[Approval]
    policy: Policy
    actionDigest: Annotated[
        str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the canonical JSON of {action, context}")
    ]
    notifications: NotRequired[Annotated[list[Notification], Field(description="Only when a notification failed")]]
    callbackUrl: NotRequired[Annotated[str, Field(description="Only when the pause has one")]]
    remindAt: NotRequired[Annotated[Timestamp, Field(description="Only with remindAfterSeconds")]]


@closed
class Pause(PauseState):
    """The whole pause, as `GET /api/pause/{watchId}` shows it."""

    context: dict[str, Any]
    metadata: dict[str, str]


@closed
class Created(TypedDict):
    watchId: WatchId
    status: Annotated[Status, Field(description="`pending`, unless a replay finds the pause decided")]
    statusUrl: Annotated[str, Field(description="Absolute: GET it as is")]
    createdAt: Timestamp
    expiresAt: Timestamp


@closed
class PausePage(TypedDict):
    items: list[PauseSummary]
    limit: int
    offset: int
    nextCursor: Annotated[str | None, Field(description="Pass as `cursor` for the next page; null on the last")]


# --- audit -----------------------------------------------------------------------------------


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


@closed
class AuditEntry(TypedDict):
    """A pause's entry (with `watchId`) or a team event (`team.*`, no `watchId`)."""

    auditId: str
    watchId: NotRequired[Annotated[WatchId, Field(description="Only on a pause's entries")]]
    type: Annotated[str, Field(examples=["pause.created", "team.key_created"])]
    at: Timestamp
    actor: Annotated[
        str, Field(description="An approver's or member's email, a key's name, `timeout`, `system` or `admin`")
    ]
    channel: Channel
    ip: NotRequired[Annotated[str, Field(description="The client's IP, where known")]]
    details: dict[str, Any]
    keepUntil: NotRequired[Annotated[Timestamp, Field(description="When retention may delete the entry")]]
    prevKeepUntil: NotRequired[
        Annotated[Timestamp, Field(description="When retention may delete the entry before it in its chain")]
    ]
    prevHash: NotRequired[
        Annotated[
            Sha256,
            Field(
                description="The `hash` of the entry before it in its chain (its pause's or the team's); 64 zeros first"
            ),
        ]
    ]
    hash: NotRequired[
        Annotated[
            Sha256,
            Field(description="SHA-256 of the canonical JSON of the entry's other non-null fields (README: Audit log)"),
        ]
    ]


@closed
class AuditPage(TypedDict):
    items: list[AuditEntry]
    limit: int
    offset: int
    nextCursor: Annotated[str | None, Field(description="Pass as `cursor` for the next page; null on the last")]


# --- webhooks --------------------------------------------------------------------------------


@closed
class Webhook(TypedDict):
    id: Annotated[str, Field(pattern=r"^wh_[0-9A-Za-z]+$")]
    url: str
    events: list[EventType]
    description: str | None
    enabled: bool
    createdAt: Timestamp


@closed
class RegisteredWebhook(Webhook):
    secret: Annotated[str, Field(pattern=r"^whsec_", description="Shown once, here: it signs every delivery")]


@closed
class WebhookList(TypedDict):
    items: list[Webhook]


@closed
class Deleted(TypedDict):
    deleted: Annotated[str, Field(description="The id of what was removed")]


@closed
class Delivery(TypedDict):
    deliveryId: str
    webhookId: Annotated[str, Field(description="The endpoint's id, or `callback` for a pause's callbackUrl")]
    eventId: str
    eventType: EventType
    watchId: WatchId
    attempt: Annotated[int, Field(ge=1)]
    at: Timestamp
    url: str
    statusCode: Annotated[int | None, Field(description="The endpoint's status; null when it did not answer")]
    latencyMs: int
    errorClass: str | None
    responseSnippet: str
    outcome: Literal["delivered", "retrying", "failed"]
    messageId: Annotated[str, Field(pattern=r"^msg_[0-9a-f]{32}$", description="The `webhook-id` header sent")]


@closed
class EndpointDeliveries(TypedDict):
    items: list[Delivery]
    limit: int


@closed
class PauseDeliveries(TypedDict):
    items: list[Delivery]


@closed
class RetryQueued(TypedDict):
    queued: bool
    eventId: str
    webhookId: str


@closed
class CallbackSecret(TypedDict):
    secret: Annotated[str, Field(pattern=r"^whsec_")]
    createdAt: Timestamp
    previousSecret: Annotated[str | None, Field(description="The secret before the last rotation, for 24 h after it")]
    previousValidUntil: Timestamp | None


# --- the statuses each route documents ------------------------------------------------------------

#: what each error status means on this API (a route may say it more precisely)
ERRORS: dict[int, str] = {
    400: "Malformed JSON, or a malformed or contradictory query string",
    401: "No API key, or not a valid one",
    402: "This month's pauses of the plan are used (`quota_exceeded`); nothing was written",
    404: "No such resource, or another tenant's",
    409: "A conflict with the current state",
    410: "The pause has expired or was cancelled; `details.pause` holds it",
    413: "The body is too large (over 10 MB: API Gateway answers `{message}` itself)",
    415: "The body is not `application/json`",
    422: "The request does not match the schema (`details.errors`), or breaks a rule of the tenant",
    429: "Too many concurrent long-polls for this tenant; poll without `wait` or use a webhook",
}


def ok(status: int, description: str, headers: dict[str, str] | None = None) -> dict[int, OpenAPIResponse]:
    """A success status; its body is the route's return annotation.  ``headers``: name → meaning."""
    shown: OpenAPIResponse = {"description": description}
    if headers:
        shown["headers"] = {
            name: {"description": meaning, "schema": {"type": "string"}} for name, meaning in headers.items()
        }
    return {status: shown}


def errors(*statuses: int | tuple[int, str]) -> dict[int, OpenAPIResponse]:
    """Error statuses, each with the ``ErrorBody`` shape; a ``(status, description)`` pair says
    what the status means on this route."""
    shown: dict[int, OpenAPIResponse] = {}
    for status in statuses:
        code, description = status if isinstance(status, tuple) else (status, ERRORS[status])
        shown[code] = {"description": description, "content": {JSON: {"model": ErrorBody}}}
    return shown
