"""In-memory fakes of what sign-in and sessions need (``hitl.domain.signin``/``sessions``), with
the adapters' promises: conditional uses refuse as DynamoDB's conditions would."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any

from hitl.domain.models import Approver, Tenant
from hitl.domain.people import LoginLink, Session


@dataclass
class MemoryPeople:
    sessions: dict[str, Session] = field(default_factory=dict)
    links: dict[str, LoginLink] = field(default_factory=dict)
    counters: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def put_session(self, secret_hash: str, session: Session, ttl: int) -> None:
        self.sessions[secret_hash] = session

    def get_session(self, secret_hash: str) -> Session | None:
        return self.sessions.get(secret_hash)

    def touch_session(self, secret_hash: str, now: str, older_than: str) -> None:
        found = self.sessions.get(secret_hash)
        if found and found.lastSeenAt < older_than:
            self.sessions[secret_hash] = replace(found, lastSeenAt=now)

    def switch_team(self, secret_hash: str, tenant_id: str) -> None:
        if secret_hash in self.sessions:
            self.sessions[secret_hash] = replace(self.sessions[secret_hash], tenantId=tenant_id)

    def delete_session(self, secret_hash: str) -> None:
        self.sessions.pop(secret_hash, None)

    def sessions_of(self, email: str) -> list[tuple[str, Session]]:
        mine = [(h, s) for h, s in self.sessions.items() if s.email == email]
        return sorted(mine, key=lambda pair: pair[1].createdAt, reverse=True)

    def put_login_link(self, token_hash: str, link: LoginLink, ttl: int) -> None:
        self.links[token_hash] = link

    def get_login_link(self, token_hash: str) -> LoginLink | None:
        return self.links.get(token_hash)

    def count_code_attempt(self, token_hash: str, max_attempts: int) -> bool:
        found = self.links.get(token_hash)
        if found is None or found.usedAt or found.attempts >= max_attempts:
            return False
        self.links[token_hash] = replace(found, attempts=found.attempts + 1)
        return True

    def use_login_link(self, token_hash: str, now: str, max_attempts: int) -> bool:
        found = self.links.get(token_hash)
        if found is None or found.usedAt or found.expiresAt <= now or found.attempts >= max_attempts:
            return False
        self.links[token_hash] = replace(found, usedAt=now)
        return True

    def count(self, what: str, who_hash: str, window: int, ttl: int) -> int:
        key = (what, who_hash, window)
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]


@dataclass
class MemoryMembers:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    members: dict[tuple[str, str], Approver] = field(default_factory=dict)

    def member(self, tenant_id: str, email: str) -> Approver | None:
        return self.members.get((tenant_id, email))

    def memberships(self, email: str) -> list[Approver]:
        return [m for (_, e), m in self.members.items() if e == email]

    def touch_member(self, tenant_id: str, email: str, now: str, older_than: str | None = None) -> None:
        found = self.members.get((tenant_id, email))
        if found is not None and (older_than is None or not found.lastActiveAt or found.lastActiveAt < older_than):
            self.members[(tenant_id, email)] = found.model_copy(update={"lastActiveAt": now})

    def create_tenant(self, tenant: Tenant) -> bool:
        if tenant.tenantId in self.tenants:
            return False
        self.tenants[tenant.tenantId] = tenant
        return True

    def put_approver(self, approver: Approver) -> None:
        self.members[(approver.tenantId, approver.email)] = approver

    def remove(self, tenant_id: str, email: str) -> None:
        self.members.pop((tenant_id, email), None)


@dataclass
class MemoryMailer:
    sent: list[tuple[str, EmailMessage]] = field(default_factory=list)

    def send(self, to: str, message: EmailMessage) -> str:
        self.sent.append((to, message))
        return f"msg-{len(self.sent)}"


@dataclass
class MemoryTeamAudit:
    recorded: list[dict[str, Any]] = field(default_factory=list)

    def record_team_event(
        self,
        tenant_id: str,
        type_: str,
        *,
        actor: str,
        channel: str,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.recorded.append(
            {"tenantId": tenant_id, "type": type_, "actor": actor, "channel": channel, "ip": ip, "details": details}
        )
