"""Slack's request signature (``v0``), checked before anything else is read of a request.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with the app's signing secret
(HMAC-SHA256, hex) and sends it as ``X-Slack-Signature: v0=…``.  ``slack_sdk``'s
``SignatureVerifier`` computes and compares it (constant-time); what is checked here first is
only what would make it raise (a timestamp that is not a number, a body that is not UTF-8) and the
timestamp's age, so that each refusal says why.  ``slack_sdk`` is imported on the first check:
the package's ``__init__`` loads its whole Web client (~170 ms), which no other function pays.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from hitl.domain.errors import Unauthorized

SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
#: Slack's retries of a request it got no timely answer to (1, 2, 3)
RETRY_HEADER = "x-slack-retry-num"
#: a request signed longer ago than this (or this far in the future) is refused: a replay
MAX_AGE_S = 5 * 60
#: a timestamp is epoch seconds: a few digits, never a long string to parse
MAX_TIMESTAMP_DIGITS = 12


def raw_body(event: Mapping[str, Any]) -> bytes | None:
    """The body exactly as Slack sent it: API Gateway hands a form body base64-encoded
    (``isBase64Encoded``).  ``None`` when that base64 is not valid."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8")
    try:
        return base64.b64decode(str(body), validate=True)
    except (binascii.Error, ValueError):
        return None


def verify(headers: Mapping[str, str], body: bytes | None, signing_secret: str | Callable[[], str], now: float) -> None:
    """Nothing when Slack signed ``body`` with ``signing_secret`` within ``MAX_AGE_S`` of ``now``
    (epoch seconds); ``Unauthorized`` otherwise.  ``headers``: lower-case names, as API Gateway
    (payload v2) gives them.  A callable ``signing_secret`` is called only for a request that
    carries a fresh signature: an unsigned or stale one costs no secret lookup."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise Unauthorized(
            "The request is not signed by Slack (X-Slack-Signature and X-Slack-Request-Timestamp).",
            code="missing_slack_signature",
        )
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise Unauthorized("X-Slack-Request-Timestamp is not a time.", code="invalid_slack_signature")
    if abs(now - int(timestamp)) > MAX_AGE_S:
        raise Unauthorized(
            f"The request was signed more than {MAX_AGE_S // 60} minutes away from now: refused as a replay.",
            code="stale_slack_request",
        )
    text = _text(body)
    if text is None:
        raise Unauthorized("The request's Slack signature does not match.", code="invalid_slack_signature")
    secret = signing_secret if isinstance(signing_secret, str) else signing_secret()
    if not _verifier(secret, now).is_valid(text, timestamp, signature):
        raise Unauthorized("The request's Slack signature does not match.", code="invalid_slack_signature")


def _text(body: bytes | None) -> str | None:
    """The body as the verifier reads it (UTF-8); ``None`` when it is not text Slack could have signed."""
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _verifier(signing_secret: str, now: float) -> Any:
    from slack_sdk.signature import Clock, SignatureVerifier

    class At(Clock):
        def now(self) -> float:
            return now

    return SignatureVerifier(signing_secret, clock=At())
