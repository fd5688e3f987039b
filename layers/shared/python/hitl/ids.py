"""Identifiers and secrets: watch ids, API keys (GitHub-style checksummed tokens), hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_PREFIX = "hitl_"
KEY_RANDOM_CHARS = 30
KEY_CHECKSUM_CHARS = 6
KEY_PATTERN = re.compile(r"^hitl_[0-9A-Za-z]{36}$")


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(text: str) -> str:
    return base62(zlib.crc32(text.encode()), KEY_CHECKSUM_CHARS)


def new_api_key() -> str:
    body = KEY_PREFIX + random_base62(KEY_RANDOM_CHARS)
    return body + checksum(body)


def is_well_formed_key(key: str) -> bool:
    """Format and checksum only: a mistyped or look-alike key fails here, with no database call."""
    if not KEY_PATTERN.match(key):
        return False
    return checksum(key[:-KEY_CHECKSUM_CHARS]) == key[-KEY_CHECKSUM_CHARS:]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_watch_id() -> str:
    return "w_" + random_base62(24)  # 142 random bits


def new_key_id() -> str:
    return "key_" + random_base62(16)


def new_event_id() -> str:
    return "evt_" + random_base62(22)


def new_audit_id() -> str:
    return "aud_" + random_base62(16)


def new_tenant_id() -> str:
    return "t_" + random_base62(12)


LINK_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_link_token() -> str:
    """An approver's single-use link secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def is_link_token(token: str) -> bool:
    return bool(LINK_TOKEN_PATTERN.match(token))


def new_secret_token() -> str:
    """A sign-in link's, an invitation's or a session's secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def is_secret_token(token: str) -> bool:
    """The shape of ``new_secret_token`` (checked before any database call)."""
    return bool(LINK_TOKEN_PATTERN.match(token))


def new_login_code() -> str:
    """The 6-digit code of a sign-in email, for a browser that did not ask for the link."""
    return f"{secrets.randbelow(1_000_000):06d}"


def new_session_id() -> str:
    """A session's public id (to list and end it), never its secret."""
    return "ses_" + random_base62(16)


def keyed_hash(secret: str, purpose: str) -> str:
    """HMAC-SHA256 of ``purpose`` under ``secret``: a value derived from a secret that does not
    reveal it (a session's CSRF token, a sign-in code bound to its link)."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def new_invitation_token() -> str:
    """An invitation's single-use secret (``/invite/{token}``): 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def is_invitation_token(token: str) -> bool:
    return bool(LINK_TOKEN_PATTERN.match(token))
