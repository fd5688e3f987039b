"""Dashboard sessions: an opaque random secret in a cookie, stored as its hash with the person.

A session ends after ``idle_s`` without a request and ``max_s`` after it began, whichever comes
first, or when the person signs out (here, or everywhere).  Every request checks that the person
is still a confirmed member of the team the session looks at, so removing a member takes effect
at once.  The CSRF token is derived from the session's secret (``ids.keyed_hash``): nothing more
to store, and it reveals nothing of the cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from hitl import ids, timeutil
from hitl.domain.models import Approver
from hitl.domain.people import Session

#: how often a session's last activity is written at most
TOUCH_EVERY = timedelta(minutes=5)
#: how often a member's "last active" (the team page shows it) is written at most
MEMBER_TOUCH_EVERY = timedelta(hours=1)
CSRF_PURPOSE = "csrf"


class SessionStore(Protocol):
    def put_session(self, secret_hash: str, session: Session, ttl: int) -> None: ...

    def get_session(self, secret_hash: str) -> Session | None: ...

    def touch_session(self, secret_hash: str, now: str, older_than: str) -> None: ...

    def switch_team(self, secret_hash: str, tenant_id: str) -> None: ...

    def delete_session(self, secret_hash: str) -> None: ...

    def sessions_of(self, email: str) -> list[tuple[str, Session]]: ...


class Members(Protocol):
    def member(self, tenant_id: str, email: str) -> Approver | None: ...

    def memberships(self, email: str) -> list[Approver]: ...

    def touch_member(self, tenant_id: str, email: str, now: str, older_than: str | None = None) -> None: ...


@dataclass(frozen=True)
class StartedSession:
    secret: str
    session: Session


@dataclass(frozen=True)
class SignedIn:
    """Who is calling from the dashboard: the session, and their membership of its team."""

    session: Session
    secret_hash: str
    member: Approver
    csrf: str

    @property
    def email(self) -> str:
        return self.session.email

    @property
    def tenant_id(self) -> str:
        return self.session.tenantId

    @property
    def is_owner(self) -> bool:
        return self.member.role == "owner"

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(sent or "", self.csrf)


class Sessions:
    def __init__(
        self,
        store: SessionStore,
        members: Members,
        *,
        idle_s: int = 12 * 3600,
        max_s: int = 7 * 86400,
        clock: Callable[[], datetime] = timeutil.now,
    ) -> None:
        self.store = store
        self.members = members
        self.idle = timedelta(seconds=idle_s)
        self.max = timedelta(seconds=max_s)
        self.clock = clock

    def start(self, email: str, tenant_id: str, *, ip: str | None, user_agent: str | None) -> StartedSession:
        now = self.clock()
        secret = ids.new_secret_token()
        session = Session(
            sessionId=ids.new_session_id(),
            email=email,
            tenantId=tenant_id,
            createdAt=timeutil.iso(now),
            lastSeenAt=timeutil.iso(now),
            expiresAt=timeutil.iso(now + self.max),
            ip=ip,
            userAgent=(user_agent or "")[:200] or None,
        )
        self.store.put_session(ids.sha256_hex(secret), session, int((now + self.max).timestamp()))
        return StartedSession(secret, session)

    def resolve(self, secret: str | None) -> SignedIn | None:
        """The signed-in person behind a cookie, or None (unknown, ended, idle, past its end, or
        no longer a member of any team)."""
        if not secret or not ids.is_secret_token(secret):
            return None
        secret_hash = ids.sha256_hex(secret)
        session = self.store.get_session(secret_hash)
        now = self.clock()
        if session is None or not self._alive(session, now):
            return None
        member = self.members.member(session.tenantId, session.email)
        if member is None or member.status != "confirmed":
            # removed from this team: another of their teams, if any
            other = next((m for m in self.teams(session.email) if m.tenantId != session.tenantId), None)
            if other is None:
                return None
            self.store.switch_team(secret_hash, other.tenantId)
            session, member = replace(session, tenantId=other.tenantId), other
        if timeutil.parse(session.lastSeenAt) < now - TOUCH_EVERY:
            self.store.touch_session(secret_hash, timeutil.iso(now), timeutil.iso(now - TOUCH_EVERY))
        stale = timeutil.iso(now - MEMBER_TOUCH_EVERY)
        if member.lastActiveAt is None or member.lastActiveAt < stale:
            self.members.touch_member(member.tenantId, member.email, timeutil.iso(now), older_than=stale)
        return SignedIn(session, secret_hash, member, ids.keyed_hash(secret, CSRF_PURPOSE))

    def teams(self, email: str) -> list[Approver]:
        """The teams a person may switch to (confirmed memberships), oldest first."""
        confirmed = [m for m in self.members.memberships(email) if m.status == "confirmed"]
        return sorted(confirmed, key=lambda m: m.createdAt)

    def switch(self, who: SignedIn, tenant_id: str) -> bool:
        member = self.members.member(tenant_id, who.email)
        if member is None or member.status != "confirmed":
            return False
        self.store.switch_team(who.secret_hash, tenant_id)
        return True

    def end(self, who: SignedIn) -> None:
        self.store.delete_session(who.secret_hash)

    def listing(self, who: SignedIn) -> list[tuple[Session, bool]]:
        """The person's live sessions, newest first, each marked whether it is this one."""
        now = self.clock()
        return [
            (session, secret_hash == who.secret_hash)
            for secret_hash, session in self.store.sessions_of(who.email)
            if self._alive(session, now)
        ]

    def end_one(self, who: SignedIn, session_id: str) -> bool:
        for secret_hash, session in self.store.sessions_of(who.email):
            if session.sessionId == session_id:
                self.store.delete_session(secret_hash)
                return True
        return False

    def end_everywhere(self, who: SignedIn) -> int:
        """Sign out every session of the person (this one too); how many were ended."""
        found = self.store.sessions_of(who.email)
        for secret_hash, _ in found:
            self.store.delete_session(secret_hash)
        return len(found)

    def _alive(self, session: Session, now: datetime) -> bool:
        return timeutil.parse(session.expiresAt) > now and timeutil.parse(session.lastSeenAt) + self.idle > now
