"""Ports: the side effects the use cases need, as Protocols, and the typed records they return.

The DynamoDB adapters (``hitl.adapters``) implement them; in-memory fakes for unit tests are in
``tests/fakes.py`` (test-only code stays out of the Lambda layer).  No key formats, index names or
expressions cross this line: the domain asks for "this tenant's pauses from here", never for a
``gsi1pk``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Generic, Literal, Protocol, TypeVar

from hitl.domain.models import (
    ApiKeyRecord,
    Approver,
    AuditEntry,
    Channel,
    Event,
    PauseBody,
    PauseHead,
    Role,
    SlackWorkspace,
    Status,
    Tenant,
)

T = TypeVar("T")
#: where a list page stopped: opaque to the domain, signed into cursors
Position = dict[str, str]


class TransactionRefused(Exception):
    """A condition in a transaction failed; ``reasons`` names which of its items."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class InvalidPosition(Exception):
    """A list position that does not belong to the list it is used with."""


@dataclass(frozen=True)
class ListPage(Generic[T]):
    """One page of a list, newest first: each item with the position just after it."""

    items: list[tuple[T, Position]]
    next: Position | None


S = TypeVar("S", bound="Stored")


@dataclass(frozen=True)
class Stored:
    """A small record as stored (plain dataclasses: a pydantic model costs every cold start more)."""

    @classmethod
    def from_item(cls: type[S], item: dict[str, Any]) -> S:
        return cls(**{f.name: item[f.name] for f in fields(cls) if f.name in item})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IdempotencyClaim(Stored):
    bodyHash: str
    watchId: str


@dataclass(frozen=True)
class LinkToken(Stored):
    """An approver's emailed link, by the hash of its token."""

    watchId: str
    tenantId: str
    approver: str
    expiresAt: str
    usedAt: str | None = None


@dataclass(frozen=True)
class Invitation(Stored):
    """An invitation to a team, by the hash of its token (the token itself is never stored)."""

    tenantId: str
    email: str
    role: Role
    invitedBy: str
    createdAt: str
    expiresAt: str
    usedAt: str | None = None
    revokedAt: str | None = None


@dataclass(frozen=True)
class SentMessage(Stored):
    """Which pause and approver an SES message was for."""

    watchId: str
    to: str


@dataclass(frozen=True)
class Quota:
    """The month's pause counter to take a unit of, with its limit."""

    month: str
    limit: int


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key claim to make with a create."""

    key_hash: str
    body_hash: str
    expires_epoch: int


@dataclass(frozen=True)
class TenantProfile:
    """What a create needs of its tenant, read fresh: the tenant and its approvers."""

    tenant: Tenant
    approvers: tuple[Approver, ...]

    @property
    def confirmed(self) -> tuple[str, ...]:
        return tuple(sorted(a.email for a in self.approvers if a.status == "confirmed"))


@dataclass(frozen=True)
class TenantSummary:
    """A tenant as the operator's listing shows it."""

    tenantId: str
    name: str
    createdAt: str


@dataclass(frozen=True)
class Count:
    value: int
    #: False: the bound was reached and ``value`` is a lower bound
    complete: bool


ClaimResult = Literal["claimed", "duplicate", "busy"]


class EventPublisher(Protocol):
    def publish(self, events: list[Event]) -> list[bool]: ...


class PauseRepository(Protocol):
    """Pauses: head, body, audit entries, outbox events, idempotency claims, the due index."""

    def create(
        self,
        head: PauseHead,
        body: PauseBody,
        audit: AuditEntry,
        event: Event,
        *,
        quota: Quota | None,
        idempotency: Idempotency | None,
    ) -> None: ...

    def idempotency_claim(self, tenant_id: str, key_hash: str) -> IdempotencyClaim | None: ...

    def get(self, watch_id: str) -> tuple[PauseHead, PauseBody] | None: ...

    def get_head(self, watch_id: str) -> PauseHead | None: ...

    def transition(
        self,
        old: PauseHead,
        new: PauseHead,
        audit: AuditEntry,
        event: Event,
        *,
        overdue: bool,
        now: str,
        token_hash: str | None = None,
    ) -> None: ...

    def list_pauses(
        self, tenant_id: str, statuses: Sequence[Status], start: Position | None, page_size: int
    ) -> ListPage[PauseHead]: ...

    def audit_of_pause(self, watch_id: str) -> list[AuditEntry]: ...

    def mark_event_sent(self, watch_id: str, event_id: str) -> None: ...

    def due_pauses(self, until: str) -> list[str]: ...

    def unsent_events(self, before: str) -> list[Event]: ...

    def cursor_secret(self) -> bytes: ...


class TenantRepository(Protocol):
    """Tenants, their approvers and API keys, and the month's usage."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def profile(self, tenant_id: str) -> TenantProfile | None: ...

    def approvers(self, tenant_id: str) -> list[Approver]: ...

    def member(self, tenant_id: str, email: str) -> Approver | None: ...

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None: ...

    def touch_key(self, key_hash: str, now: str, older_than: str) -> None: ...


class TeamRepository(Protocol):
    """A team's members and invitations (``hitl.domain.teams``).  Each write that a race could
    spoil is conditional and refuses with ``TransactionRefused`` naming its item: ``member``,
    ``invitation`` or ``owner`` (the other owner that must remain)."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def member(self, tenant_id: str, email: str) -> Approver | None: ...

    def approvers(self, tenant_id: str) -> list[Approver]: ...

    def memberships(self, email: str) -> list[Approver]: ...

    def put_member(self, member: Approver) -> None: ...

    def put_invitation(
        self, token_hash: str, invitation: Invitation, member: Approver, *, replaces: str | None
    ) -> None: ...

    def get_invitation(self, token_hash: str) -> Invitation | None: ...

    def accept_invitation(self, token_hash: str, member: Approver, now: str) -> None: ...

    def revoke_invitation(self, token_hash: str, member: Approver, now: str) -> None: ...

    def set_role(self, tenant_id: str, email: str, role: Role, *, keep_owner: str | None) -> None: ...

    def remove_member(self, tenant_id: str, email: str, *, keep_owner: str | None) -> None: ...

    def touch_member(self, tenant_id: str, email: str, now: str, older_than: str | None = None) -> None: ...

    def set_floor(self, tenant_id: str, floor: dict[str, Any]) -> None: ...

    def set_slack_user(self, tenant_id: str, email: str, slack_user_id: str | None) -> bool:
        """Link a member to a Slack user (``None``: unlink, and turn their email back on)."""
        ...

    def set_email_notifications(self, tenant_id: str, email: str, on: bool) -> bool:
        """Email on, or off (refused, ``False``, unless the member is linked to Slack)."""
        ...


class InvitationMailer(Protocol):
    """Sends an invitation's email (``hitl.notify.invitation.InvitationEmails`` over SES)."""

    def send_invitation(
        self, to: str, team_name: str, inviter: str, url: str, *, role: Role, expires_at: str
    ) -> None: ...


class TokenRepository(Protocol):
    """Approvers' link tokens, the sending of each email, and what SES message was whose."""

    def put_token(self, token_hash: str, token: LinkToken) -> None: ...

    def get_token(self, token_hash: str) -> LinkToken | None: ...

    def claim_notification(self, event_id: str, to: str, now_epoch: int, lease_s: int) -> ClaimResult: ...

    def finish_notification(self, event_id: str, to: str, status: Literal["sent", "retry", "failed"]) -> None: ...

    def put_sent_message(self, message_id: str, sent: SentMessage, sent_epoch: int, keep_s: int) -> None: ...

    def get_sent_message(self, message_id: str) -> SentMessage | None: ...


class TeamAudit(Protocol):
    """The team's security events (sign-ins, invitations, roles, keys, webhooks, policy: the
    ``TEAM_EVENTS`` of ``hitl.domain.team_events``), recorded in the tenant's audit log with who
    did it, through which channel and from where."""

    def record_team_event(
        self,
        tenant_id: str,
        type_: str,
        *,
        actor: str,
        channel: Channel,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> object: ...


class WaitLeases(Protocol):
    """A tenant's concurrent long-polls, capped by its plan."""

    def acquire(self, tenant_id: str, lease_id: str, cap: int, until_epoch: int, now_epoch: int) -> bool: ...

    def release(self, tenant_id: str, lease_id: str) -> None: ...


# --- Slack (Pro) -------------------------------------------------------------------------------


class SlackTeamTaken(Exception):
    """The Slack team is connected to another tenant already: one team maps to one tenant."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"Slack team {team_id} is connected to another team")
        self.team_id = team_id


class SlackApiError(Exception):
    """Slack answered ``ok: false`` (``error``: Slack's code, e.g. ``invalid_auth``, ``ratelimited``)
    or could not be reached (``error``: ``unreachable``).  ``retry_after_s``: what Slack's
    ``Retry-After`` asks for (``ratelimited``).  Never carries a token."""

    def __init__(self, error: str, retry_after_s: float | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class SlackMessage(Stored):
    """One DM sent to an approver about a pause: where it is (``channel``, ``ts``), to update it."""

    tenantId: str
    watchId: str
    approverEmail: str
    channel: str
    ts: str


@dataclass(frozen=True)
class SlackInstallState(Stored):
    """An OAuth install under way (stored by the hash of its ``state``, never the state itself):
    the tenant and the owner's session (the hash of its secret) that started it; good until
    ``expiresAt`` (10 minutes), used once."""

    tenantId: str
    sessionHash: str
    email: str
    createdAt: str
    expiresAt: str


@dataclass(frozen=True)
class SlackIdentity:
    """What ``auth.test`` says of a bot token: its workspace and the bot's own user."""

    teamId: str
    teamName: str
    botUserId: str


@dataclass(frozen=True)
class SlackInstall:
    """What ``oauth.v2.access`` answers for an install: the workspace, its bot user and token."""

    teamId: str
    teamName: str
    botUserId: str
    botToken: str


class SlackWorkspaces(Protocol):
    """Connected workspaces (one per tenant, one tenant per Slack team), the DMs sent about each
    pause, and OAuth install states (``store.slack``)."""

    def get(self, tenant_id: str) -> SlackWorkspace | None: ...

    def by_team(self, team_id: str) -> SlackWorkspace | None: ...

    def connect(self, workspace: SlackWorkspace) -> None:
        """Connect (or reconnect, or replace) the tenant's workspace and claim its team, in one
        transaction; ``SlackTeamTaken`` when another tenant holds the team (nothing written)."""
        ...

    def disconnect(self, tenant_id: str) -> SlackWorkspace | None:
        """Remove the workspace (its token with it) and the team's claim; what was removed."""
        ...

    def record_message(self, message: SlackMessage) -> None: ...

    def messages(self, tenant_id: str, watch_id: str) -> list[SlackMessage]: ...

    def put_install_state(self, state_hash: str, state: SlackInstallState) -> None: ...

    def take_install_state(self, state_hash: str) -> SlackInstallState | None:
        """Use the install state up (whatever its expiry: the caller checks ``expiresAt``)."""
        ...


class SecretCipher(Protocol):
    """Encrypts a tenant's secret at rest (KMS, bound to the tenant): ``hitl.adapters.kms``."""

    def encrypt(self, tenant_id: str, plaintext: str) -> str: ...

    def decrypt(self, tenant_id: str, ciphertext: str) -> str: ...


class SlackApi(Protocol):
    """Slack's Web API (``hitl.slack.client`` over ``slack_sdk``): every call but ``oauth_access``
    with a bot token.  Failures raise ``SlackApiError``."""

    def auth_test(self, token: str) -> SlackIdentity: ...

    def lookup_user_by_email(self, token: str, email: str) -> str | None:
        """The Slack user id of ``email`` in the token's workspace; ``None`` when there is none."""
        ...

    def open_dm(self, token: str, user_id: str) -> str:
        """The DM channel id with ``user_id`` (``conversations.open``)."""
        ...

    def post_message(self, token: str, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        """Post; the message's ``ts``."""
        ...

    def update_message(self, token: str, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None: ...

    def post_ephemeral(
        self, token: str, channel: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None: ...

    def oauth_access(self, client_id: str, client_secret: str, code: str, redirect_uri: str) -> SlackInstall: ...
