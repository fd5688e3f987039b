"""The domain's records.  Field names are the API's (camelCase), so one model serves storage and JSON."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pending", "approved", "rejected", "expired", "cancelled"]
Outcome = Literal["approved", "rejected", "expired", "cancelled"]
#: how an action reached us: "admin" is the operator's hitl-admin, "system" the service itself
Channel = Literal["email", "dashboard", "slack", "api", "timeout", "admin", "system"]
Role = Literal["owner", "approver"]
PlanName = Literal["free", "starter", "pro"]

STATUSES: tuple[Status, ...] = ("pending", "approved", "rejected", "expired", "cancelled")


class Record(BaseModel):
    # validators built on first use: each function builds the records it handles, not all of them
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Decision(Record):
    outcome: Outcome
    by: str
    channel: Channel
    comment: str | None = None
    at: str


class Approval(Record):
    by: str
    channel: Channel
    decision: Literal["approved", "rejected"]
    comment: str | None = None
    at: str


class Policy(Record):
    approvers: list[str] = Field(default_factory=list)
    requiredApprovals: int = 1
    onTimeout: Literal["reject", "approve"] = "reject"


class Notification(Record):
    to: str
    channel: Channel
    status: str


class PauseHead(Record):
    """What polls and transitions touch: small, one item."""

    watchId: str
    tenantId: str
    status: Status
    version: int = 1
    action: str
    requestedBy: str
    createdAt: str
    expiresAt: str
    decidedAt: str | None = None
    decision: Decision | None = None
    approvals: list[Approval] = Field(default_factory=list)
    policy: Policy = Field(default_factory=Policy)
    actionDigest: str
    notifications: list[Notification] = Field(default_factory=list)
    callbackUrl: str | None = None
    #: when the approvers who have not decided get one reminder (remindAfterSeconds)
    remindAt: str | None = None
    reminded: bool = False
    #: how long the pause is kept once decided: the tenant's plan's retention when it was created
    retentionDays: int = 365
    #: the ``hash`` of the pause's newest audit entry: the head of its hash chain (``audit_log``)
    auditHash: str | None = None

    def next_due(self) -> str:
        """When the sweeper next has something to do for this pending pause."""
        if self.remindAt and not self.reminded and self.remindAt < self.expiresAt:
            return self.remindAt
        return self.expiresAt


class PauseBody(Record):
    """What was asked: written once, never changed."""

    context: dict[str, Any]
    metadata: dict[str, str] = Field(default_factory=dict)


SUMMARY_FIELDS = ("watchId", "status", "action", "requestedBy", "createdAt", "expiresAt", "decidedAt", "decision")


def pause_view(head: PauseHead, body: PauseBody | None) -> dict[str, Any]:
    """The pause as the API shows it (``body=None``: without context, as events carry it)."""
    shown = head.to_json()
    shown.pop("tenantId")
    shown.pop("version")
    if not shown["notifications"]:
        shown.pop("notifications")
    for optional in ("callbackUrl", "remindAt"):
        if shown[optional] is None:
            shown.pop(optional)
    shown.pop("reminded")
    shown.pop("retentionDays")
    shown.pop("auditHash")
    if body is not None:
        shown["context"] = body.context
        shown["metadata"] = body.metadata
    return shown


def pause_summary(head: PauseHead) -> dict[str, Any]:
    shown = head.to_json()
    return {name: shown[name] for name in SUMMARY_FIELDS}


class PolicyFloor(Record):
    """What a tenant's owners require of every pause, whatever its agent asks for."""

    allowAutoApprove: bool = False
    minRequiredApprovals: int = 1
    minAutoApproveTimeoutSeconds: int = 0


class Tenant(Record):
    tenantId: str
    name: str
    plan: PlanName
    createdAt: str
    floor: PolicyFloor = Field(default_factory=PolicyFloor)


class ApiKeyRecord(Record):
    keyId: str
    tenantId: str
    name: str
    last4: str
    createdAt: str
    lastUsedAt: str | None = None
    revoked: bool = False


MemberStatus = Literal["invited", "confirmed"]


class Approver(Record):
    """A member of a team (tenant): an ``owner`` or an ``approver``.  Every member may decide the
    pauses that name them; an ``invited`` one receives no pause and cannot be named until they
    accept.  Items stored before roles existed read as approvers."""

    tenantId: str
    email: str
    status: MemberStatus
    createdAt: str
    role: Role = "approver"
    #: who invited them (an email, or ``admin``)
    invitedBy: str | None = None
    #: while invited: the sha256 of the current invitation's token (a re-send replaces it), and its expiry
    invitationHash: str | None = None
    invitationExpiresAt: str | None = None
    joinedAt: str | None = None
    #: when they last used the dashboard (written at most hourly)
    lastActiveAt: str | None = None
    #: their Slack user in the team's connected workspace (``users.lookupByEmail``, or linked by hand)
    slackUserId: str | None = None
    #: whether pauses are emailed to them; only a member linked to Slack may turn it off
    emailNotifications: bool = True

    def emailed(self) -> bool:
        """Whether their pauses are emailed: always, unless they turned email off while linked to Slack."""
        return self.emailNotifications or self.slackUserId is None

    def view(self) -> dict[str, Any]:
        """The member as pages and the admin CLI show them: never the invitation's hash."""
        shown = self.to_json()
        shown.pop("invitationHash")
        return {k: v for k, v in shown.items() if v is not None}


#: a team's member: ``Approver`` is its older name, kept for the code that names approvers
Member = Approver


class SlackWorkspace(Record):
    """A team's (tenant's) connected Slack workspace: one per tenant, one tenant per Slack team.
    The bot token is stored only KMS-encrypted (``botTokenCipher``), bound to the tenant."""

    tenantId: str
    teamId: str
    teamName: str
    botUserId: str
    botTokenCipher: str
    connectedAt: str
    #: the owner's email who connected it
    connectedBy: str
    via: Literal["oauth", "token"]

    def view(self) -> dict[str, Any]:
        """The workspace as pages show it: never the token, not even encrypted."""
        shown = self.to_json()
        shown.pop("botTokenCipher")
        return shown


class AuditEntry(Record):
    """One entry of a tenant's audit log: a pause's (``watchId``) or the team's (no ``watchId``).

    The entries of one chain (a pause's, or the team's) are hash-chained: ``hash`` is the SHA-256
    of the canonical JSON of every other non-null field, ``prevHash`` included
    (``hitl.domain.audit_log``).  ``keepUntil`` is when retention may delete the entry and
    ``prevKeepUntil`` when it may delete the one before it, so a gap left by retention is told
    apart from a deletion."""

    auditId: str
    tenantId: str
    watchId: str | None = None
    type: str
    at: str
    actor: str
    channel: Channel
    ip: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    keepUntil: str | None = None
    prevKeepUntil: str | None = None
    prevHash: str | None = None
    hash: str | None = None


class Event(Record):
    """The versioned envelope: the EventBridge ``detail``."""

    type: str
    version: Literal[1] = 1
    eventId: str
    occurredAt: str
    tenantId: str
    data: dict[str, Any]
