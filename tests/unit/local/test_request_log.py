"""The local stack's request log shows routes, never the tokens their paths carry."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
from werkzeug.test import Client

from hitl import wiring
from hitl_local.server import Front
from hitl_local.workers import Invocation, Outcome


class Answers:
    """A function's instances that answer 200 to everything."""

    def invoke(self, event: Any, until: float | None = None) -> Invocation:
        return Invocation(Outcome.OK, {"statusCode": 200, "headers": {}, "body": "ok"})


def token() -> str:
    return secrets.token_urlsafe(32)  # as emailed links carry them: 43 characters


@pytest.fixture
def requests_logged(caplog: pytest.LogCaptureFixture):
    front = Front(pools={spec.name: Answers() for spec in wiring.FUNCTIONS})
    client = Client(front)

    def send(method: str, path: str) -> str:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="hitl_local"):
            client.open(path, method=method)
        (line,) = [r.getMessage() for r in caplog.records if r.name == "hitl_local"]
        return line

    return send


@pytest.mark.parametrize(
    ("method", "path", "shown"),
    [
        ("GET", "/a/{t}/approve", "GET /a/{token}/{choice} -> 200"),
        ("HEAD", "/a/{t}/reject", "HEAD /a/{token}/{choice} -> 200"),
        ("POST", "/a/{t}", "POST /a/{token} -> 200"),
        ("GET", "/a/{t}/approve/", "GET /a/{token}/{choice} -> 200"),
        ("GET", "/api/pause/w_{t}", "GET /api/pause/{watchId} -> 200"),
    ],
)
def test_a_link_page_is_logged_as_its_route(requests_logged, method, path, shown):
    secret = token()
    line = requests_logged(method, path.replace("{t}", secret))
    assert line.startswith(shown)
    assert secret not in line


@pytest.mark.parametrize("path", ["/a/{t}", "/login/{t}/x", "/invite/{t}/accept", "/api/pause/{t}/nope", "/{t}"])
def test_an_unknown_path_is_logged_with_its_token_like_segments_redacted(requests_logged, path):
    secret = token()
    line = requests_logged("GET", path.replace("{t}", secret))
    assert secret not in line and "{redacted}" in line


def test_a_plain_unknown_path_stays_readable(requests_logged):
    assert requests_logged("GET", "/api/pauses").startswith("GET /api/pauses -> 200")


def test_sign_in_links_are_logged_as_their_template(requests_logged):
    secret = token()
    assert requests_logged("GET", f"/login/{secret}").startswith("GET /login/{token} -> 200")
    assert requests_logged("POST", f"/login/{secret}").startswith("POST /login/{token} -> 200")


def test_a_route_added_to_the_wiring_is_logged_as_its_template(requests_logged, monkeypatch):
    """The rule follows the route table."""
    monkeypatch.setattr(wiring, "ROUTES", (wiring.Route("POST", "/later/{token}", wiring.PAGES.name), *wiring.ROUTES))
    secret = token()
    assert requests_logged("POST", f"/later/{secret}").startswith("POST /later/{token} -> 200")
