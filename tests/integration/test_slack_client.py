"""``hitl.slack.client`` over slack_sdk against a small local HTTP server that answers as Slack
does (JSON ``ok``/``error``, 429 with ``Retry-After``); and the Slack app's secrets from SSM."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from hitl import runtime, wiring
from hitl.domain.ports import SlackApiError
from hitl.slack import secrets
from hitl.slack.client import SlackWebApi

TOKEN = "xoxb-test-token-never-in-an-error"


class FakeSlack(BaseHTTPRequestHandler):
    """Answers a few Web API methods; remembers what it was sent."""

    seen: list[dict[str, Any]] = []  # noqa: RUF012 (one server per test module)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        method = self.path.rsplit("/", 1)[-1]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        body = json.loads(raw) if raw.startswith("{") else {k: v[0] for k, v in parse_qs(raw).items()}
        self.seen.append({"method": method, "auth": self.headers.get("authorization"), "body": body})
        if self.headers.get("authorization") not in (f"Bearer {TOKEN}",) and method != "oauth.v2.access":
            return self.answer(200, {"ok": False, "error": "invalid_auth"})
        answers: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
            "auth.test": (200, {"ok": True, "team_id": "T0X", "team": "X Team", "user_id": "U0BOT"}, {}),
            "users.lookupByEmail": (
                (200, {"ok": True, "user": {"id": "U0ANN"}}, {})
                if body.get("email") == "ann@x.test"
                else (200, {"ok": False, "error": "users_not_found"}, {})
            ),
            "conversations.open": (200, {"ok": True, "channel": {"id": "D0ANN"}}, {}),
            "chat.postMessage": (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
            if body.get("text") == "too fast"
            else (200, {"ok": True, "channel": body.get("channel"), "ts": "1700000000.000100"}, {}),
            "chat.update": (200, {"ok": False, "error": "message_not_found"}, {}),
            "oauth.v2.access": (
                200,
                {
                    "ok": True,
                    "token_type": "bot",
                    "access_token": TOKEN,
                    "bot_user_id": "U0BOT",
                    "team": {"id": "T0X", "name": "X Team"},
                },
                {},
            ),
        }
        status, answer, headers = answers.get(method, (200, {"ok": False, "error": "unknown_method"}, {}))
        self.answer(status, answer, headers)

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def slack_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSlack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"  # no trailing slash: the client adds it
    server.shutdown()


def test_each_call_reaches_slack_with_the_token_and_reads_the_answer(slack_url):
    api = SlackWebApi(slack_url)

    assert api.auth_test(TOKEN).teamId == "T0X"
    assert api.lookup_user_by_email(TOKEN, "ann@x.test") == "U0ANN"
    assert api.lookup_user_by_email(TOKEN, "nobody@x.test") is None  # users_not_found
    assert api.open_dm(TOKEN, "U0ANN") == "D0ANN"
    assert api.post_message(TOKEN, "D0ANN", "hello", [{"type": "section"}]) == "1700000000.000100"
    install = api.oauth_access(
        "client-id", "client-secret", "the-code", "https://hitl.example.test/slack/oauth/callback"
    )
    assert (install.teamId, install.botUserId, install.botToken) == ("T0X", "U0BOT", TOKEN)

    posted = next(s for s in FakeSlack.seen if s["method"] == "chat.postMessage")
    assert posted["auth"] == f"Bearer {TOKEN}"
    assert posted["body"]["blocks"] == [{"type": "section"}] and posted["body"]["text"] == "hello"
    exchanged = next(s for s in FakeSlack.seen if s["method"] == "oauth.v2.access")
    assert exchanged["body"]["code"] == "the-code"


def test_slacks_errors_become_ours_with_retry_after_and_never_the_token(slack_url):
    api = SlackWebApi(slack_url)

    with pytest.raises(SlackApiError) as limited:
        api.post_message(TOKEN, "D0ANN", "too fast", [])
    assert (limited.value.error, limited.value.retry_after_s) == ("ratelimited", 7.0)
    with pytest.raises(SlackApiError) as missing:
        api.update_message(TOKEN, "D0ANN", "1.2", "x", [])
    assert (missing.value.error, missing.value.retry_after_s) == ("message_not_found", None)
    with pytest.raises(SlackApiError) as refused:
        api.auth_test("xoxb-wrong")
    assert refused.value.error == "invalid_auth"
    for failure in (limited, missing, refused):
        assert TOKEN not in str(failure.value) and "xoxb" not in str(failure.value)
        assert failure.value.__cause__ is None and failure.value.__suppress_context__


def test_slack_out_of_reach_is_unreachable():
    with pytest.raises(SlackApiError) as failed:
        SlackWebApi("http://127.0.0.1:9/api/", timeout_s=2).auth_test(TOKEN)
    assert failed.value.error == "unreachable"


def test_the_apps_secrets_come_from_ssm_decrypted_once_per_warm_container(cloud, monkeypatch):
    ssm = cloud.client("ssm")
    ssm.put_parameter(Name="/hitl-test/slack/signing-secret", Value="s1gning", Type="SecureString")
    ssm.put_parameter(Name="/hitl-test/slack/client-secret", Value="cl1ent", Type="SecureString")
    app = wiring.SlackApp("/hitl-test/slack/signing-secret", "123.456", "/hitl-test/slack/client-secret")
    for name, value in wiring.slack_environment(app).items():
        monkeypatch.setenv(name, value)
    runtime.reset()

    assert (secrets.signing_secret(), secrets.client_secret()) == ("s1gning", "cl1ent")
    ssm.put_parameter(Name="/hitl-test/slack/signing-secret", Value="rotated", Type="SecureString", Overwrite=True)
    assert secrets.signing_secret() == "s1gning"  # cached: the next cold start reads the new one
    runtime.reset()
    assert secrets.signing_secret() == "rotated"
    assert runtime.slack_api().base_url == wiring.SLACK_API_URL


def test_without_a_slack_app_nothing_slack_runs(cloud):
    runtime.reset()
    with pytest.raises(secrets.SlackNotConfigured):
        secrets.signing_secret()
    with pytest.raises(secrets.SlackNotConfigured):
        runtime.slack_api()
