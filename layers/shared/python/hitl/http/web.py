"""What every HTML page shares: strict headers, forms, cookies, the same-site check, the caller's IP.

Used by the approvers' link pages and by the dashboard.  Pages work without JavaScript; a POST is
refused when the browser says it came from another site (``Sec-Fetch-Site``, else ``Origin``).
"""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from hitl.notify.render import page
from hitl.settings import get_settings

HTML = "text/html; charset=utf-8"
#: the strict headers of every page; ``script-src`` is added by pages that carry their small script
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
#: our forms send a handful of fields; room for a few more, never thousands
MAX_FIELDS = 20


def html(status: int, template: str, *, headers: dict[str, str] | None = None, **values: Any) -> Response[str]:
    return Response(
        status_code=status,
        content_type=HTML,
        body=page(template, **values),
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def redirect(location: str, *, cookies: list[Cookie] | None = None) -> Response[str]:
    """``303 See Other``: after a form POST, the browser GETs ``location``."""
    return Response(
        status_code=303, content_type=HTML, body="", headers={**SECURITY_HEADERS, "Location": location}, cookies=cookies
    )


def same_origin(headers: dict[str, str]) -> bool:
    """False when the browser says the form came from another site.  ``Sec-Fetch-Site`` decides
    when the browser sends it (every current one does); ``Origin`` is the check for those that
    do not.  (Under a no-referrer policy a same-origin POST may carry ``Origin: null``.)"""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site:
        return fetch_site in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    ours = urlsplit(get_settings().base_url)
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def parse_form(body: str | None, encoded: bool, max_fields: int = MAX_FIELDS) -> dict[str, str] | None:
    """The form's fields (the first value of each), or ``None`` when it is not a form we sent:
    more fields than our forms have room for, or a body that is not even base64."""
    try:
        raw = base64.b64decode(body).decode("utf-8", "replace") if body and encoded else (body or "")
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True, max_num_fields=max_fields).items()}
    except ValueError:  # "Max number of fields exceeded", binascii.Error
        return None


def form_of(event: APIGatewayProxyEventV2, max_fields: int = MAX_FIELDS) -> dict[str, str] | None:
    return parse_form(event.body, bool(event.is_base64_encoded), max_fields)


def client_ip(event: APIGatewayProxyEventV2) -> str | None:
    """The caller's address as API Gateway saw it (never a header a client could forge)."""
    return event.request_context.http.source_ip or None


def cookie_value(event: APIGatewayProxyEventV2, name: str) -> str | None:
    for cookie in event.cookies or []:
        key, _, value = cookie.strip().partition("=")
        if key == name:
            return value
    return None


def cookie_name(name: str) -> str:
    """``__Host-<name>``: Secure, Path=/, no Domain.  Chromium keeps such cookies from
    http://127.0.0.1 and http://localhost too (loopback counts as a secure context), so the local
    stack uses the same names."""
    return f"__Host-{name}"


def set_cookie(name: str, value: str, max_age: int) -> Cookie:
    """Secure, HttpOnly, SameSite=Lax, Path=/, no Domain: what ``__Host-`` demands."""
    return Cookie(
        name=cookie_name(name),
        value=value,
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.LAX_MODE,
        max_age=max_age,
    )


def clear_cookie(name: str) -> Cookie:
    """The cookie, expired (``Max-Age=0``)."""
    return Cookie(
        name=cookie_name(name),
        value="",
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.LAX_MODE,
        custom_attributes=["Max-Age=0"],
    )


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
