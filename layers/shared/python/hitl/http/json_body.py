"""The one place a request body is judged and parsed as JSON, before any route sees it.

``screen`` says what is wrong with a body we will not read (not JSON, not UTF-8); ``loads``
is the resolver's JSON parser and refuses what ``json.loads`` cannot turn into values
(integers beyond Python's digit limit, nesting beyond the interpreter's recursion limit)
with a validation error instead of a crash.  What parses but must not be stored (NaN,
Infinity, lone surrogates, deep nesting in ``context``) is refused by the request models,
which name the field (``hitl.domain.requests``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from hitl.domain import errors

JSON = "application/json"
CURL_HINT = "curl -d sends application/x-www-form-urlencoded: add -H 'Content-Type: application/json'."


class UnsupportedMediaType(errors.DomainError):
    """A body in a format the route does not read (415)."""

    code = "unsupported_media_type"


def screen(event: Mapping[str, Any]) -> errors.DomainError | None:
    """Why the body of this API Gateway (payload v2) event cannot be read as JSON, or ``None``
    when it can (or there is none)."""
    body = event.get("body")
    if not body:
        return None
    headers: Mapping[str, str] = event.get("headers") or {}
    given = headers.get("content-type", "").strip()
    media, *parameters = (part.strip().lower() for part in given.split(";"))
    charset = next((p.partition("=")[2].strip('" ') for p in parameters if p.startswith("charset")), "utf-8")
    if media != JSON or charset not in ("utf-8", "utf8"):
        form = media in ("", "application/x-www-form-urlencoded", "multipart/form-data")
        return UnsupportedMediaType(
            f"The body must be JSON sent with Content-Type: {JSON}"
            + (f" (received {given})." if given else " (no Content-Type was sent).")
            + (f" {CURL_HINT}" if form else ""),
            details={"expected": JSON, "received": given or None},
        )
    if event.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return errors.BadRequest("The request body is not UTF-8 encoded JSON.", code="malformed_json")
    return None


def loads(text: str | bytes) -> Any:
    """``json.loads``, with what it cannot represent refused as a 422 of the body."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise  # powertools answers it as json_invalid (400 malformed_json)
    except RecursionError:
        raise _refused("json_too_deep", "The body nests objects or arrays too deeply.") from None
    except ValueError as error:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise _refused("json_number_too_long", f"A number in the body is too long: {error}".split(";")[0]) from None


def _refused(kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message, "input": {}, "ctx": {}}])
