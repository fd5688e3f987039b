"""One webhook attempt: connect to a checked address, TLS verified for the URL's hostname,
no redirects, a 10 s budget, and a record of what happened."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from hitl.webhooks.ssrf import Target

TIMEOUT_S = 10.0
SNIPPET_BYTES = 512


@dataclass(frozen=True)
class Attempt:
    status: int | None  # the HTTP status, None when there was no answer
    latency_ms: int
    error_class: str | None  # e.g. "timeout", "connection_error", "tls_error", "http_status"
    snippet: str  # the first bytes of the answer

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``address`` while TLS (SNI and certificate) is checked for ``host``."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float = TIMEOUT_S,
    context: ssl.SSLContext | None = None,
) -> Attempt:
    """POST ``body`` to the checked target.  Never raises: every outcome is an ``Attempt``."""
    started = time.monotonic()
    deadline = started + timeout_s
    address = target.addresses[0]
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(
            target.host, target.port, address, timeout_s, context or ssl.create_default_context()
        )
    else:
        connection = _PinnedHTTPConnection(target.host, target.port, address, timeout_s)

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        connection.request("POST", target.path, body=body, headers={**headers, "Content-Length": str(len(body))})
        if connection.sock:  # what is left of the budget, for the answer
            connection.sock.settimeout(max(0.1, deadline - time.monotonic()))
        response = connection.getresponse()
        snippet = response.read(SNIPPET_BYTES).decode("utf-8", "replace")
        status = response.status
        error = None if 200 <= status < 300 else "http_status"
        return Attempt(status, elapsed(), error, snippet)
    except TimeoutError:
        return Attempt(None, elapsed(), "timeout", "")
    except ssl.SSLError:
        return Attempt(None, elapsed(), "tls_error", "")
    except (ConnectionError, OSError, http.client.HTTPException):
        return Attempt(None, elapsed(), "connection_error", "")
    finally:
        connection.close()
