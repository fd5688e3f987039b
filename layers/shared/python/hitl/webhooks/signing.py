"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``.

Secrets are ``whsec_`` + base64 of random bytes.  While a secret rotates, every valid
secret signs and the header holds one signature per secret, separated by spaces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()).decode()


def header(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per valid secret."""
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets_)


def verify(secret: str, message_id: str, timestamp: int, body: bytes, signature_header: str) -> bool:
    expected = signature(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in signature_header.split())
