"""Opaque, tamper-evident list cursors: the last key shown, bound to the tenant and the query."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from hitl.domain.errors import BadRequest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(secret: bytes, scope: str, last_key: dict[str, Any]) -> str:
    payload = json.dumps(last_key, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(secret, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:16]
    return _b64(payload) + "." + _b64(mac)


def decode(secret: bytes, scope: str, cursor: str) -> dict[str, Any]:
    """The key a cursor holds; a cursor altered, made up, or made for another query or tenant
    is refused with 400 ``invalid_cursor``."""
    refused = BadRequest("The cursor is not valid for this list.", code="invalid_cursor")
    try:
        payload_text, mac_text = cursor.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError) as error:
        raise refused from error
    expected = hmac.new(secret, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise refused
    try:
        key = json.loads(payload)
    except ValueError as error:
        raise refused from error
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise refused
    return key
