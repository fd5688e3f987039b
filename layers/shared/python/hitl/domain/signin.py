"""Passwordless, scanner-safe sign-in and sign-up (DESIGN.md "The dashboard").

A sign-in request emails a link ``/login/{token}`` and a 6-digit code, and binds the request to
the asking browser with a cookie.  Opening the link changes nothing (mail scanners fetch every
link, some run JavaScript); confirming it uses the token up in one conditional write.  A browser
without the binding cookie (another device, a scanner in a fresh context) must type the code,
tried at most ``max_code_attempts`` times.  Unknown emails get the same answer as known ones.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from hitl import ids, timeutil
from hitl.domain import team_events
from hitl.domain.errors import Gone, TooManyRequests, Unprocessable
from hitl.domain.models import Approver, Tenant
from hitl.domain.people import LoginLink, Purpose
from hitl.domain.ports import TeamAudit
from hitl.domain.sessions import Sessions, StartedSession
from hitl.domain.teams import normal_email
from hitl.notify.render import people_email

MAX_TEAM_NAME = 80


class Mailer(Protocol):
    def send(self, to: str, message: EmailMessage) -> str: ...


class LoginLinks(Protocol):
    def put_login_link(self, token_hash: str, link: LoginLink, ttl: int) -> None: ...

    def get_login_link(self, token_hash: str) -> LoginLink | None: ...

    def count_code_attempt(self, token_hash: str, max_attempts: int) -> bool: ...

    def use_login_link(self, token_hash: str, now: str, max_attempts: int) -> bool: ...

    def count(self, what: str, who_hash: str, window: int, ttl: int) -> int: ...


class Founding(Protocol):
    """What sign-up needs of the tenants: a person's teams, and a new team with its owner."""

    def memberships(self, email: str) -> list[Approver]: ...

    def create_tenant(self, tenant: Tenant) -> bool: ...

    def put_approver(self, approver: Approver) -> None: ...


@dataclass(frozen=True)
class SignInRules:
    base_url: str
    sender: str
    signup_open: bool
    link_minutes: int = 15
    max_code_attempts: int = 5
    per_email: int = 5
    per_ip: int = 50
    window_s: int = 900


@dataclass(frozen=True)
class LinkView:
    """What ``GET /login/{token}`` shows: whose link, and whether the code must be typed."""

    email: str
    purpose: Purpose
    team_name: str | None
    needs_code: bool


class SignIn:
    def __init__(
        self,
        links: LoginLinks,
        tenants: Founding,
        sessions: Sessions,
        mailer: Mailer,
        audit: TeamAudit,
        rules: SignInRules,
        clock: Callable[[], datetime] = timeutil.now,
    ) -> None:
        self.links = links
        self.tenants = tenants
        self.sessions = sessions
        self.mailer = mailer
        self.audit = audit
        self.rules = rules
        self.clock = clock

    def request(self, email: str, *, ip: str | None, purpose: Purpose = "login", team_name: str | None = None) -> str:
        """Email a sign-in link and code to ``email`` if it has an account (or, for sign-up,
        whether or not it has one); the binding cookie's value for the asking browser.  The
        answer is the same for every email: only the mailbox's owner learns which it was."""
        address = normal_email(email)
        if purpose == "signup":
            if not self.rules.signup_open:
                raise Unprocessable("Sign-up is closed: ask the operator for an invitation.", code="signup_closed")
            team_name = (team_name or "").strip()
            if not team_name or len(team_name) > MAX_TEAM_NAME:
                raise Unprocessable(f"Give the team a name of 1 to {MAX_TEAM_NAME} characters.", code="invalid_team")
        self._limit(address, ip)
        binding = ids.new_secret_token()
        known = any(m.status == "confirmed" for m in self.tenants.memberships(address))
        if purpose == "login" and not known:
            return binding  # the same answer, and no email: nobody to sign in
        token, code = ids.new_secret_token(), ids.new_login_code()
        now = self.clock()
        expires = now + timedelta(minutes=self.rules.link_minutes)
        link = LoginLink(
            email=address,
            purpose="login" if known else purpose,
            codeHash=ids.keyed_hash(token, code),
            bindingHash=ids.sha256_hex(binding),
            createdAt=timeutil.iso(now),
            expiresAt=timeutil.iso(expires),
            teamName=None if known else team_name,
        )
        self.links.put_login_link(ids.sha256_hex(token), link, int(expires.timestamp()) + 86400)
        message = people_email(
            sender=self.rules.sender,
            to=address,
            subject="Your HITL sign-in link" if purpose == "login" or known else "Confirm your email for HITL",
            template="signin_email",
            values={
                "url": f"{self.rules.base_url}/login/{token}",
                "code": code,
                "minutes": self.rules.link_minutes,
                "purpose": purpose,
                "known": known,
                "team_name": team_name,
            },
        )
        self.mailer.send(address, message)
        return binding

    def link(self, token: str, binding: str | None) -> LinkView:
        """What an emailed link stands for; changes nothing."""
        found = self._usable(token)
        return LinkView(found.email, found.purpose, found.teamName, needs_code=not self._bound(found, binding))

    def confirm(
        self, token: str, binding: str | None, code: str | None, *, ip: str | None, user_agent: str | None
    ) -> StartedSession:
        """Use the link up and start a session (sign-up: after creating the team)."""
        found = self._usable(token)
        token_hash = ids.sha256_hex(token)
        if not self._bound(found, binding):
            typed = (code or "").strip()
            if not typed:
                raise CodeNeeded("Type the 6-digit code from the email.")
            if not _same(ids.keyed_hash(token, typed), found.codeHash):
                if not self.links.count_code_attempt(token_hash, self.rules.max_code_attempts):
                    raise Gone("This link can no longer be used: ask for a new one.", code="link_unusable")
                left = self.rules.max_code_attempts - found.attempts - 1
                if left <= 0:
                    raise Gone("Too many wrong codes: ask for a new sign-in link.", code="link_unusable")
                raise CodeNeeded(f"That code is not right ({left} {'try' if left == 1 else 'tries'} left).")
        now = self.clock()
        if not self.links.use_login_link(token_hash, timeutil.iso(now), self.rules.max_code_attempts):
            raise Gone("This link was used already: ask for a new one.", code="link_unusable")
        tenant_id = self._team_for(found, now)
        started = self.sessions.start(found.email, tenant_id, ip=ip, user_agent=user_agent)
        self.audit.record_team_event(
            tenant_id,
            team_events.SIGNED_IN,
            actor=found.email,
            channel="dashboard",
            ip=ip,
            details={"sessionId": started.session.sessionId, "withCode": not self._bound(found, binding)},
        )
        return started

    def _team_for(self, link: LoginLink, now: datetime) -> str:
        teams = [m for m in self.tenants.memberships(link.email) if m.status == "confirmed"]
        if teams:
            return sorted(teams, key=lambda m: m.createdAt)[0].tenantId
        if link.purpose != "signup" or not link.teamName:
            raise Gone("This account has no team any more.", code="no_team")
        at = timeutil.iso(now)
        tenant = Tenant(tenantId=ids.new_tenant_id(), name=link.teamName, plan="free", createdAt=at)
        self.tenants.create_tenant(tenant)
        self.tenants.put_approver(
            Approver(tenantId=tenant.tenantId, email=link.email, status="confirmed", role="owner", createdAt=at)
        )
        self.audit.record_team_event(
            tenant.tenantId, team_events.TEAM_CREATED, actor=link.email, channel="dashboard", details={"plan": "free"}
        )
        return tenant.tenantId

    def _usable(self, token: str) -> LoginLink:
        found = self.links.get_login_link(ids.sha256_hex(token)) if ids.is_secret_token(token) else None
        if found is None:
            raise Gone("This sign-in link is not valid: ask for a new one.", code="link_unusable")
        if found.usedAt:
            raise Gone("This sign-in link was used already: ask for a new one.", code="link_unusable")
        if found.expiresAt <= timeutil.iso(self.clock()):
            raise Gone("This sign-in link has expired: ask for a new one.", code="link_unusable")
        if found.attempts >= self.rules.max_code_attempts:
            raise Gone("Too many wrong codes: ask for a new sign-in link.", code="link_unusable")
        return found

    @staticmethod
    def _bound(link: LoginLink, binding: str | None) -> bool:
        return bool(binding) and _same(ids.sha256_hex(binding or ""), link.bindingHash)

    def _limit(self, email: str, ip: str | None) -> None:
        now = int(self.clock().timestamp())
        window = now // self.rules.window_s
        ttl = (window + 2) * self.rules.window_s
        counted = [("email", ids.sha256_hex(email), self.rules.per_email)]
        if ip:
            counted.append(("ip", ids.sha256_hex(ip), self.rules.per_ip))
        for what, who, limit in counted:
            if self.links.count(f"login-{what}", who, window, ttl) > limit:
                raise TooManyRequests(
                    "Too many sign-in requests: wait a few minutes and try again.",
                    details={"retryAfterSeconds": (window + 1) * self.rules.window_s - now},
                )


class CodeNeeded(Unprocessable):
    """The browser is not the one that asked: the code from the email must be typed."""

    code = "code_needed"


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
