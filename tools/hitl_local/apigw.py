"""API Gateway HTTP API, as the local stack and the tests need it: routes from the wiring,
requests turned into payload-v2 events, Lambda results turned back into HTTP responses."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from hitl import wiring
from hitl.http import routes

#: API Gateway's own limits
TIMEOUT_S = 30
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/javascript")


def match_route(method: str, path: str) -> tuple[wiring.Route, dict[str, str]]:
    """The route API Gateway picks (``hitl.http.routes.find``, the one matcher)."""
    return routes.find(method, path)


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str = "127.0.0.1"


def to_event(request: Request, route: wiring.Route, params: dict[str, str]) -> dict[str, Any]:
    """A payload-v2 event as API Gateway builds it: lower-case headers, cookies apart, a
    binary or form body base64-encoded."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    content_type = headers.get("content-type", "")
    is_text = any(content_type.startswith(t) for t in TEXT_TYPES) and "x-www-form-urlencoded" not in content_type
    query_params: dict[str, str] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query_params[name] = f"{query_params[name]},{value}" if name in query_params else value
    now = time.time()
    route_key = "$default" if route.path == wiring.DEFAULT_ROUTE else f"{route.method} {route.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": secrets.token_hex(8),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query_params:
        event["queryStringParameters"] = query_params
    if params:
        event["pathParameters"] = params
    if request.body:
        if is_text:
            event["body"] = request.body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def from_result(result: Any) -> HttpResponse:
    """What API Gateway sends back for a Lambda result (payload v2 rules)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return HttpResponse(200, {"content-type": "application/json"}, body)
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(str(v) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    response = HttpResponse(int(result["statusCode"]), headers, body)
    if result.get("cookies"):
        response.headers["set-cookie"] = "\n".join(result["cookies"])
    if len(body) > MAX_RESPONSE_BYTES:
        return gateway_error(502, "Internal Server Error")
    return response


def gateway_error(status: int, message: str) -> HttpResponse:
    """API Gateway's own error body (not ours: the function never answered)."""
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps({"message": message}).encode())


@dataclass
class LambdaContext:
    """The context object Lambda passes, enough for powertools."""

    function_name: str
    memory_limit_in_mb: int = 256
    timeout_s: int = 30
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = field(default_factory=lambda: 0.0)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if not self._deadline:
            return self.timeout_s * 1000
        return max(0, int((self._deadline - time.monotonic()) * 1000))
