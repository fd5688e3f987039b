"""People's records: dashboard sessions and emailed sign-in links (secrets are stored as hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hitl.domain.ports import Stored

#: what confirming a sign-in link does: sign in, or create a team first (sign-up)
Purpose = Literal["login", "signup"]


@dataclass(frozen=True)
class Session(Stored):
    """A signed-in browser: stored under the hash of its cookie's secret."""

    sessionId: str
    email: str
    #: the team the person is looking at (the header's switcher changes it)
    tenantId: str
    createdAt: str
    lastSeenAt: str
    #: the absolute end (the idle end is ``lastSeenAt`` + the idle timeout)
    expiresAt: str
    ip: str | None = None
    userAgent: str | None = None


@dataclass(frozen=True)
class LoginLink(Stored):
    """An emailed sign-in link, by the hash of its token."""

    email: str
    purpose: Purpose
    #: the keyed hash of the 6-digit code (``ids.keyed_hash(token, code)``)
    codeHash: str
    #: the hash of the ``__Host-hitl_login`` cookie of the browser that asked
    bindingHash: str
    createdAt: str
    expiresAt: str
    attempts: int = 0
    usedAt: str | None = None
    #: sign-up: the team to create
    teamName: str | None = None
