"""One HTTP test client for the integration tests (handlers in-process, called as API Gateway
calls them) and the end-to-end tests (the local stack over HTTP): the same calls, the same
answers, two ways of sending them."""

from __future__ import annotations

import http.client
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from hitl import wiring
from hitl_local import apigw


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    @property
    def error_code(self) -> str | None:
        try:
            return str(self.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


#: ``send(method, url or path, query string, headers, body)``
Send = Callable[[str, str, str, dict[str, str], bytes], Answer]


def in_process(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
    """The request as API Gateway hands it to the function its route names (payload v2)."""
    parts = urlsplit(path)
    path = parts.path
    query = "&".join(q for q in (parts.query, query) if q)
    request = apigw.Request(method, path, query, {k.lower(): v for k, v in headers.items()}, body)
    route, params = apigw.match_route(method, path)
    function = wiring.function(route.function)
    module = importlib.import_module(function.handler.rsplit(".", 1)[0])
    result = module.lambda_handler(
        apigw.to_event(request, route, params), apigw.LambdaContext(function_name=function.name)
    )
    answer = apigw.from_result(result)
    return Answer(answer.status, answer.headers, answer.body)


def over_http(timeout_s: float = 35) -> Send:
    def send(method: str, url: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(url)
        target = parts.path or "/"
        joined = "&".join(q for q in (parts.query, query) if q)
        if joined:
            target += "?" + joined
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
        try:
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            headers: dict[str, str] = {}
            for name, value in response.getheaders():
                name = name.lower()
                # several Set-Cookie headers: one per line, as the in-process gateway gives them
                headers[name] = f"{headers[name]}\n{value}" if name == "set-cookie" and name in headers else value
            return Answer(response.status, headers, response.read())
        finally:
            connection.close()

    return send


@dataclass
class Client:
    """Calls the API as an agent with ``key`` (``as_tenant`` for another), or as a browser."""

    send: Send
    base_url: str = ""
    key: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        """``body`` is sent as JSON, ``raw`` as it is (JSON's content type unless ``headers`` name one)."""
        sent = dict(headers or {})
        chosen = key if key is not None else self.key
        if chosen:
            sent["Authorization"] = f"Bearer {chosen}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        if (raw is not None or body is not None) and not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = "application/json"
        url = path if path.startswith("http") else self.base_url + path
        return self.send(method, url, urlencode(query or {}), sent, data)

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def post_form(self, url: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
        """A browser's form POST (``application/x-www-form-urlencoded``), no key."""
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.call("POST", url, raw=urlencode(fields).encode(), headers=sent, key="")

    def as_tenant(self, key: str) -> Client:
        return replace(self, key=key)


@dataclass
class Browser:
    """A browser on the dashboard: keeps the cookies it is given (as a browser keeps ``Secure``
    cookies from loopback too), sends same-origin form posts, follows no redirect by itself."""

    client: Client
    cookies: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.cookies = dict(self.cookies or {})

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        sent = {"Sec-Fetch-Site": "same-origin", **(extra or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return sent

    def _keep(self, answer: Answer) -> Answer:
        for line in answer.headers.get("set-cookie", "").split("\n"):
            if not line.strip():
                continue
            name, _, rest = line.partition("=")
            value, _, attributes = rest.partition(";")
            assert self.cookies is not None
            if "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value.strip()
        return answer

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> Answer:
        return self._keep(self.client.call("GET", path, headers=self._headers(headers), key=""))

    def post(self, path: str, fields: dict[str, str], *, headers: dict[str, str] | None = None) -> Answer:
        sent = self._headers({"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        return self._keep(self.client.call("POST", path, raw=urlencode(fields).encode(), headers=sent, key=""))

    def post_json(self, path: str, body: Any, *, headers: dict[str, str] | None = None) -> Answer:
        return self._keep(self.client.call("POST", path, body, headers=self._headers(headers), key=""))

    def fresh(self) -> Browser:
        """Another device: the same site, no cookies."""
        return Browser(self.client)
