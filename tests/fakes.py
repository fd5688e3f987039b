"""In-memory fakes of the domain's ports (``hitl.domain.ports``), one per port, in its order.

They behave as the DynamoDB adapters promise: conditional writes refuse with the same
``TransactionRefused`` reasons, lists are newest first and resume after a position.  The use
cases' unit tests run on them with sockets off; the adapters themselves are tested under moto.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from hitl import timeutil
from hitl.domain.audit_log import ChainHead
from hitl.domain.models import (
    ApiKeyRecord,
    Approver,
    AuditEntry,
    Channel,
    Event,
    PauseBody,
    PauseHead,
    PolicyFloor,
    Role,
    SlackWorkspace,
    Status,
    Tenant,
)
from hitl.domain.ports import (
    ClaimResult,
    Idempotency,
    IdempotencyClaim,
    InvalidPosition,
    Invitation,
    LinkToken,
    ListPage,
    Position,
    Quota,
    SentMessage,
    SlackApiError,
    SlackIdentity,
    SlackInstall,
    SlackInstallState,
    SlackMessage,
    SlackTeamTaken,
    TenantProfile,
    TransactionRefused,
)

T = TypeVar("T")


class Clock:
    """A clock a test sets by hand (``clock.now = …``, ``clock.advance(minutes=5)``)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class MemoryPublisher:
    """Keeps what it was given; can be told to fail (the event then stays unsent)."""

    def __init__(self, fail: bool = False) -> None:
        self.published: list[Event] = []
        self.fail = fail

    def publish(self, events: list[Event]) -> list[bool]:
        if self.fail:
            return [False] * len(events)
        self.published += events
        return [True] * len(events)


def _window(keyed: list[tuple[str, T]], name: str, start: Position | None, size: int) -> ListPage[T]:
    """One page of ``keyed`` items, newest (greatest key) first, after ``start``."""
    if start is not None and start.get("list") != name:
        raise InvalidPosition(name)
    ordered = sorted(keyed, key=lambda pair: pair[0], reverse=True)
    begin = [k for k, _ in ordered].index(start["at"]) + 1 if start else 0
    items = [(item, {"at": k, "list": name}) for k, item in ordered[begin : begin + size]]
    more = begin + size < len(ordered)
    return ListPage(items=items, next=items[-1][1] if more and items else None)


@dataclass
class MemoryPauses:
    heads: dict[str, PauseHead] = field(default_factory=dict)
    bodies: dict[str, PauseBody] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    events: dict[str, tuple[Event, bool]] = field(default_factory=dict)
    claims: dict[tuple[str, str], tuple[IdempotencyClaim, int]] = field(default_factory=dict)
    quota: dict[tuple[str, str], int] = field(default_factory=dict)
    used_tokens: set[str] = field(default_factory=set)
    #: the link tokens a transition may use up (shared with MemoryTokens)
    tokens: dict[str, LinkToken] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(
        self,
        head: PauseHead,
        body: PauseBody,
        audit: AuditEntry,
        event: Event,
        *,
        quota: Quota | None,
        idempotency: Idempotency | None,
    ) -> None:
        with self.lock:
            refused = []
            if quota is not None and self.quota.get((head.tenantId, quota.month), 0) >= quota.limit:
                refused.append("quota")
            claim_key = (head.tenantId, idempotency.key_hash) if idempotency else None
            live = claim_key in self.claims and self.claims[claim_key][1] >= timeutil.epoch(timeutil.now())
            if claim_key is not None and live:
                refused.append("idempotency")
            if refused:
                raise TransactionRefused(refused)
            self.heads[head.watchId] = head
            self.bodies[head.watchId] = body
            self.audit.append(audit)
            self.events[event.eventId] = (event, False)
            if quota is not None:
                self.quota[(head.tenantId, quota.month)] = self.quota.get((head.tenantId, quota.month), 0) + 1
            if claim_key is not None and idempotency is not None:
                claim = IdempotencyClaim(bodyHash=idempotency.body_hash, watchId=head.watchId)
                self.claims[claim_key] = (claim, idempotency.expires_epoch)

    def idempotency_claim(self, tenant_id: str, key_hash: str) -> IdempotencyClaim | None:
        found = self.claims.get((tenant_id, key_hash))
        return found[0] if found else None

    def get(self, watch_id: str) -> tuple[PauseHead, PauseBody] | None:
        if watch_id not in self.heads:
            return None
        return self.heads[watch_id], self.bodies[watch_id]

    def get_head(self, watch_id: str) -> PauseHead | None:
        return self.heads.get(watch_id)

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
    ) -> None:
        with self.lock:
            current = self.heads.get(old.watchId)
            refused = []
            clock_agrees = current is not None and (current.expiresAt <= now if overdue else current.expiresAt > now)
            if current is None or current.status != "pending" or current.version != old.version or not clock_agrees:
                refused.append("head")
            if token_hash is not None and (token_hash not in self.tokens or token_hash in self.used_tokens):
                refused.append("token")
            if refused:
                raise TransactionRefused(refused)
            self.heads[old.watchId] = new
            self.audit.append(audit)
            self.events[event.eventId] = (event, False)
            if token_hash is not None:
                self.used_tokens.add(token_hash)
                self.tokens[token_hash] = replace(self.tokens[token_hash], usedAt=now)

    def list_pauses(
        self, tenant_id: str, statuses: Sequence[Status], start: Position | None, page_size: int
    ) -> ListPage[PauseHead]:
        heads = [h for h in self.heads.values() if h.tenantId == tenant_id and (not statuses or h.status in statuses)]
        return _window([(f"{h.createdAt}#{h.watchId}", h) for h in heads], f"pauses:{tenant_id}", start, page_size)

    def audit_of_pause(self, watch_id: str) -> list[AuditEntry]:
        return sorted((a for a in self.audit if a.watchId == watch_id), key=lambda a: (a.at, a.auditId), reverse=True)

    def mark_event_sent(self, watch_id: str, event_id: str) -> None:
        event, _ = self.events[event_id]
        self.events[event_id] = (event, True)

    def due_pauses(self, until: str) -> list[str]:
        return [h.watchId for h in self.heads.values() if h.status == "pending" and h.next_due() <= until]

    def unsent_events(self, before: str) -> list[Event]:
        return [e for e, sent in self.events.values() if not sent and e.occurredAt < before]

    def cursor_secret(self) -> bytes:
        return b"memory-cursor-secret"


@dataclass
class MemoryAudit:
    """The audit log over ``MemoryPauses.audit`` (pause and team entries together), with the team
    chain's head; ``race`` entries are appended by "another function" just before the next append."""

    pauses: MemoryPauses
    heads: dict[str, ChainHead] = field(default_factory=dict)
    race: list[AuditEntry] = field(default_factory=list)
    reads: int = 0

    def list_entries(
        self,
        tenant_id: str,
        *,
        since: str | None,
        type_: str | None,
        pause_only: bool,
        oldest_first: bool,
        start: Position | None,
        page_size: int,
    ) -> ListPage[AuditEntry]:
        """As DynamoDB answers it: ``page_size`` entries are read, then the filter drops some."""
        self.reads += 1
        name = f"audit:{tenant_id}"
        if start is not None and start.get("list") != name:
            raise InvalidPosition(name)
        ordered = sorted(
            (a for a in self.pauses.audit if a.tenantId == tenant_id and (since is None or a.at >= since)),
            key=lambda a: f"{a.at}#{a.auditId}",
            reverse=not oldest_first,
        )
        keys_ = [f"{a.at}#{a.auditId}" for a in ordered]
        begin = keys_.index(start["at"]) + 1 if start else 0
        read = ordered[begin : begin + page_size]
        more = begin + page_size < len(ordered)
        last = {"at": f"{read[-1].at}#{read[-1].auditId}", "list": name} if read else None

        def shown(a: AuditEntry) -> bool:
            return (type_ is None or a.type == type_) and (not pause_only or a.type.startswith("pause."))

        items = [(a, {"at": f"{a.at}#{a.auditId}", "list": name}) for a in read if shown(a)]
        return ListPage(items=items, next=last if more else None)

    def team_chain_head(self, tenant_id: str) -> ChainHead | None:
        return self.heads.get(tenant_id)

    def append_team_entry(self, entry: AuditEntry, previous: ChainHead | None) -> None:
        with self.pauses.lock:
            if self.race:
                raced = self.race.pop(0)
                self.pauses.audit.append(raced)
                self.heads[raced.tenantId] = ChainHead(raced.hash, raced.keepUntil, raced.at)
            if self.heads.get(entry.tenantId) != previous:
                raise TransactionRefused(["chainHead"])
            self.pauses.audit.append(entry)
            self.heads[entry.tenantId] = ChainHead(entry.hash, entry.keepUntil, entry.at)

    def team_entries(self, tenant_id: str) -> list[AuditEntry]:
        team = [a for a in self.pauses.audit if a.tenantId == tenant_id and a.watchId is None]
        return sorted(team, key=lambda a: (a.at, a.auditId))


@dataclass
class MemoryTenants:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    approver_records: dict[tuple[str, str], Approver] = field(default_factory=dict)
    keys: dict[str, ApiKeyRecord] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    reads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        self.reads += 1
        return self.tenants.get(tenant_id)

    def profile(self, tenant_id: str) -> TenantProfile | None:
        self.reads += 1
        tenant = self.tenants.get(tenant_id)
        return TenantProfile(tenant, tuple(self.approvers(tenant_id))) if tenant else None

    def approvers(self, tenant_id: str) -> list[Approver]:
        return [a for (t, _), a in sorted(self.approver_records.items()) if t == tenant_id]

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        return self.keys.get(key_hash)

    # --- members and invitations (``TeamRepository``) ------------------------------------------

    def member(self, tenant_id: str, email: str) -> Approver | None:
        self.reads += 1
        return self.approver_records.get((tenant_id, email))

    def memberships(self, email: str) -> list[Approver]:
        return [a for (_, e), a in sorted(self.approver_records.items()) if e == email]

    def put_member(self, member: Approver) -> None:
        self.approver_records[(member.tenantId, member.email)] = member

    def put_invitation(
        self, token_hash: str, invitation: Invitation, member: Approver, *, replaces: str | None
    ) -> None:
        with self.lock:
            current = self.approver_records.get((member.tenantId, member.email))
            if replaces is None:
                fits = current is None
            else:
                fits = current is not None and current.status == "invited" and current.invitationHash == replaces
            refused = (["invitation"] if token_hash in self.invitations else []) + ([] if fits else ["member"])
            if refused:
                raise TransactionRefused(refused)
            self.invitations[token_hash] = invitation
            self.approver_records[(member.tenantId, member.email)] = member

    def get_invitation(self, token_hash: str) -> Invitation | None:
        return self.invitations.get(token_hash)

    def accept_invitation(self, token_hash: str, member: Approver, now: str) -> None:
        with self.lock:
            invitation = self.invitations.get(token_hash)
            current = self.approver_records.get((member.tenantId, member.email))
            refused = []
            if invitation is None or invitation.usedAt or invitation.revokedAt or invitation.expiresAt <= now:
                refused.append("invitation")
            if current is None or current.status != "invited" or current.invitationHash != token_hash:
                refused.append("member")
            if refused:
                raise TransactionRefused(refused)
            assert invitation is not None and current is not None
            self.invitations[token_hash] = replace(invitation, usedAt=now)
            self.approver_records[(member.tenantId, member.email)] = current.model_copy(
                update={"status": "confirmed", "joinedAt": now, "invitationHash": None, "invitationExpiresAt": None}
            )

    def revoke_invitation(self, token_hash: str, member: Approver, now: str) -> None:
        with self.lock:
            invitation = self.invitations.get(token_hash)
            current = self.approver_records.get((member.tenantId, member.email))
            refused = []
            if current is None or current.status != "invited" or current.invitationHash != token_hash:
                refused.append("member")
            if invitation is None or invitation.usedAt:
                refused.append("invitation")
            if refused:
                raise TransactionRefused(refused)
            assert invitation is not None
            del self.approver_records[(member.tenantId, member.email)]
            self.invitations[token_hash] = replace(invitation, revokedAt=now)

    def _owner_refused(self, tenant_id: str, owner: str | None) -> list[str]:
        if owner is None:
            return []
        found = self.approver_records.get((tenant_id, owner))
        return [] if found is not None and found.role == "owner" and found.status == "confirmed" else ["owner"]

    def set_role(self, tenant_id: str, email: str, role: Role, *, keep_owner: str | None) -> None:
        with self.lock:
            current = self.approver_records.get((tenant_id, email))
            refused = ([] if current else ["member"]) + self._owner_refused(tenant_id, keep_owner)
            if refused:
                raise TransactionRefused(refused)
            assert current is not None
            self.approver_records[(tenant_id, email)] = current.model_copy(update={"role": role})

    def remove_member(self, tenant_id: str, email: str, *, keep_owner: str | None) -> None:
        with self.lock:
            refused = ([] if (tenant_id, email) in self.approver_records else ["member"]) + self._owner_refused(
                tenant_id, keep_owner
            )
            if refused:
                raise TransactionRefused(refused)
            del self.approver_records[(tenant_id, email)]

    def touch_member(self, tenant_id: str, email: str, now: str, older_than: str | None = None) -> None:
        current = self.approver_records.get((tenant_id, email))
        if current is not None and (older_than is None or (current.lastActiveAt or "") < older_than):
            self.approver_records[(tenant_id, email)] = current.model_copy(update={"lastActiveAt": now})

    def set_floor(self, tenant_id: str, floor: dict[str, Any]) -> None:
        tenant = self.tenants[tenant_id]
        self.tenants[tenant_id] = tenant.model_copy(update={"floor": PolicyFloor.model_validate(floor)})

    def set_slack_user(self, tenant_id: str, email: str, slack_user_id: str | None) -> bool:
        current = self.approver_records.get((tenant_id, email))
        if current is None:
            return False
        changes: dict[str, Any] = {"slackUserId": slack_user_id}
        if slack_user_id is None:
            changes["emailNotifications"] = True
        self.approver_records[(tenant_id, email)] = current.model_copy(update=changes)
        return True

    def set_email_notifications(self, tenant_id: str, email: str, on: bool) -> bool:
        current = self.approver_records.get((tenant_id, email))
        if current is None or (not on and current.slackUserId is None):
            return False
        self.approver_records[(tenant_id, email)] = current.model_copy(update={"emailNotifications": on})
        return True

    def touch_key(self, key_hash: str, now: str, older_than: str) -> None:
        record = self.keys.get(key_hash)
        if record is not None and (record.lastUsedAt is None or record.lastUsedAt < older_than):
            self.keys[key_hash] = record.model_copy(update={"lastUsedAt": now})


@dataclass
class MemoryTokens:
    tokens: dict[str, LinkToken]
    claims: dict[tuple[str, str], str] = field(default_factory=dict)
    sent: dict[str, SentMessage] = field(default_factory=dict)

    def put_token(self, token_hash: str, token: LinkToken) -> None:
        assert token_hash not in self.tokens
        self.tokens[token_hash] = token

    def get_token(self, token_hash: str) -> LinkToken | None:
        return self.tokens.get(token_hash)

    def claim_notification(self, event_id: str, to: str, now_epoch: int, lease_s: int) -> ClaimResult:
        status = self.claims.get((event_id, to))
        if status in ("sent", "failed"):
            return "duplicate"
        if status == "sending":
            return "busy"
        self.claims[(event_id, to)] = "sending"
        return "claimed"

    def finish_notification(self, event_id: str, to: str, status: Literal["sent", "retry", "failed"]) -> None:
        self.claims[(event_id, to)] = status

    def put_sent_message(self, message_id: str, sent: SentMessage, sent_epoch: int, keep_s: int) -> None:
        self.sent[message_id] = sent

    def get_sent_message(self, message_id: str) -> SentMessage | None:
        return self.sent.get(message_id)


@dataclass
class MemoryWaits:
    leases: dict[str, dict[str, int]] = field(default_factory=dict)

    def acquire(self, tenant_id: str, lease_id: str, cap: int, until_epoch: int, now_epoch: int) -> bool:
        live = {k: v for k, v in self.leases.get(tenant_id, {}).items() if v > now_epoch}
        if len(live) >= cap:
            return False
        live[lease_id] = until_epoch
        self.leases[tenant_id] = live
        return True

    def release(self, tenant_id: str, lease_id: str) -> None:
        self.leases.get(tenant_id, {}).pop(lease_id, None)


@dataclass(frozen=True)
class TeamEvent:
    tenant_id: str
    type: str
    actor: str
    channel: Channel
    ip: str | None
    details: dict[str, Any]


@dataclass
class MemoryTeamAudit:
    """``TeamAudit``: keeps every team event recorded, in order."""

    events: list[TeamEvent] = field(default_factory=list)

    def record_team_event(
        self,
        tenant_id: str,
        type_: str,
        *,
        actor: str,
        channel: Channel,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.events.append(TeamEvent(tenant_id, type_, actor, channel, ip, dict(details or {})))

    def types(self) -> list[str]:
        return [e.type for e in self.events]


@dataclass(frozen=True)
class SentInvitation:
    to: str
    team_name: str
    inviter: str
    url: str
    role: Role
    expires_at: str


@dataclass
class MemoryInvitationMailer:
    """``InvitationMailer``: keeps what it was asked to send."""

    sent: list[SentInvitation] = field(default_factory=list)

    def send_invitation(self, to: str, team_name: str, inviter: str, url: str, *, role: Role, expires_at: str) -> None:
        self.sent.append(SentInvitation(to, team_name, inviter, url, role, expires_at))


@dataclass
class MemorySlack:
    """``SlackWorkspaces``: workspaces, team claims, DMs and install states, as the adapter keeps them."""

    workspaces: dict[str, SlackWorkspace] = field(default_factory=dict)
    #: team id -> tenant id
    teams: dict[str, str] = field(default_factory=dict)
    sent: list[SlackMessage] = field(default_factory=list)
    states: dict[str, SlackInstallState] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, tenant_id: str) -> SlackWorkspace | None:
        return self.workspaces.get(tenant_id)

    def by_team(self, team_id: str) -> SlackWorkspace | None:
        tenant_id = self.teams.get(team_id)
        workspace = self.workspaces.get(tenant_id) if tenant_id is not None else None
        return workspace if workspace is not None and workspace.teamId == team_id else None

    def connect(self, workspace: SlackWorkspace) -> None:
        with self.lock:
            holder = self.teams.get(workspace.teamId)
            if holder is not None and holder != workspace.tenantId:
                raise SlackTeamTaken(workspace.teamId)
            current = self.workspaces.get(workspace.tenantId)
            if current is not None and current.teamId != workspace.teamId:
                del self.teams[current.teamId]
            self.workspaces[workspace.tenantId] = workspace
            self.teams[workspace.teamId] = workspace.tenantId

    def disconnect(self, tenant_id: str) -> SlackWorkspace | None:
        with self.lock:
            current = self.workspaces.pop(tenant_id, None)
            if current is not None:
                self.teams.pop(current.teamId, None)
            return current

    def record_message(self, message: SlackMessage) -> None:
        self.sent = [
            m
            for m in self.sent
            if (m.watchId, m.approverEmail, m.ts) != (message.watchId, message.approverEmail, message.ts)
        ] + [message]

    def messages(self, tenant_id: str, watch_id: str) -> list[SlackMessage]:
        found = [m for m in self.sent if m.tenantId == tenant_id and m.watchId == watch_id]
        return sorted(found, key=lambda m: (m.approverEmail, m.ts))

    def put_install_state(self, state_hash: str, state: SlackInstallState) -> None:
        assert state_hash not in self.states
        self.states[state_hash] = state

    def take_install_state(self, state_hash: str) -> SlackInstallState | None:
        with self.lock:
            return self.states.pop(state_hash, None)


class MemoryCipher:
    """``SecretCipher``: a reversible stand-in for KMS, bound to the tenant as KMS's encryption
    context binds it (another tenant's ciphertext does not decrypt); never the plaintext as stored."""

    def encrypt(self, tenant_id: str, plaintext: str) -> str:
        import base64

        return "memcipher:" + base64.b64encode(f"{tenant_id}\n{plaintext}".encode()[::-1]).decode()

    def decrypt(self, tenant_id: str, ciphertext: str) -> str:
        import base64

        if not ciphertext.startswith("memcipher:"):
            raise ValueError("not a MemoryCipher ciphertext")
        bound, _, plaintext = base64.b64decode(ciphertext.removeprefix("memcipher:"))[::-1].decode().partition("\n")
        if bound != tenant_id:
            raise ValueError("the ciphertext belongs to another tenant")
        return plaintext


@dataclass(frozen=True)
class SlackCall:
    """One call a ``MemorySlackApi`` answered (the token it was made with included, so that tests
    can check which workspace's token was used)."""

    method: str
    token: str | None
    args: dict[str, Any]


@dataclass
class MemorySlackApi:
    """``SlackApi``, in memory: one workspace (``team_id``) whose bot token is ``token``, whose
    members are ``users`` (email -> Slack user id).  Keeps every call; ``fail`` maps a method name to
    the ``SlackApiError`` it raises next (e.g. ``{"chat.postMessage": SlackApiError("ratelimited", 3)}``)
    — once, unless ``fail_always``."""

    token: str = "xoxb-memory-token"
    team_id: str = "T0MEMORY"
    team_name: str = "Memory Workspace"
    bot_user_id: str = "U0MEMORYBOT"
    users: dict[str, str] = field(default_factory=dict)
    calls: list[SlackCall] = field(default_factory=list)
    fail: dict[str, SlackApiError] = field(default_factory=dict)
    fail_always: bool = False
    #: ``code`` -> what ``oauth.v2.access`` answers for it
    codes: dict[str, SlackInstall] = field(default_factory=dict)
    client_id: str = "memory-client-id"
    client_secret: str = "memory-client-secret"
    #: (channel, ts) -> the message's latest text and blocks
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _ts: int = 0

    def _call(self, method: str, token: str | None, **args: Any) -> None:
        self.calls.append(SlackCall(method, token, args))
        if method in self.fail:
            error = self.fail[method] if self.fail_always else self.fail.pop(method)
            raise error
        if method != "oauth.v2.access" and token != self.token:
            raise SlackApiError("invalid_auth")

    def called(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def auth_test(self, token: str) -> SlackIdentity:
        self._call("auth.test", token)
        return SlackIdentity(teamId=self.team_id, teamName=self.team_name, botUserId=self.bot_user_id)

    def lookup_user_by_email(self, token: str, email: str) -> str | None:
        self._call("users.lookupByEmail", token, email=email)
        return self.users.get(email)

    def open_dm(self, token: str, user_id: str) -> str:
        self._call("conversations.open", token, users=user_id)
        if user_id not in self.users.values():
            raise SlackApiError("user_not_found")
        return "D" + user_id

    def post_message(self, token: str, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        self._call("chat.postMessage", token, channel=channel, text=text, blocks=blocks)
        self._ts += 1
        ts = f"1700000000.{self._ts:06d}"
        self.messages[(channel, ts)] = {"text": text, "blocks": blocks}
        return ts

    def update_message(self, token: str, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self._call("chat.update", token, channel=channel, ts=ts, text=text, blocks=blocks)
        if (channel, ts) not in self.messages:
            raise SlackApiError("message_not_found")
        self.messages[(channel, ts)] = {"text": text, "blocks": blocks}

    def post_ephemeral(
        self, token: str, channel: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        self._call("chat.postEphemeral", token, channel=channel, user=user_id, text=text, blocks=blocks)

    def oauth_access(self, client_id: str, client_secret: str, code: str, redirect_uri: str) -> SlackInstall:
        self._call("oauth.v2.access", None, client_id=client_id, code=code, redirect_uri=redirect_uri)
        if client_id != self.client_id or client_secret != self.client_secret:
            raise SlackApiError("invalid_client_id" if client_id != self.client_id else "bad_client_secret")
        if code not in self.codes:
            raise SlackApiError("invalid_code")
        return self.codes.pop(code)

    def install_code(self, code: str = "memory-code") -> str:
        """A code ``oauth_access`` exchanges once for this workspace's token."""
        self.codes[code] = SlackInstall(self.team_id, self.team_name, self.bot_user_id, self.token)
        return code


class MemoryStore:
    """The repositories, in memory: what ``PauseService`` and ``Notifier`` are built from."""

    def __init__(self) -> None:
        self.pauses = MemoryPauses()
        self.tenants = MemoryTenants()
        self.tokens = MemoryTokens(self.pauses.tokens)
        self.waits = MemoryWaits()
        self.audit = MemoryAudit(self.pauses)
        self.slack = MemorySlack()
