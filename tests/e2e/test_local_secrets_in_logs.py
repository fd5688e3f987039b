"""No secret reaches a log: a flow on the local stack creates every kind of secret the service
hands out, uses each, and then the stack's whole output (its request log, every function's log
lines, werkzeug's and moto's) is searched for each of them.

The stack runs at log level INFO, as ``make dev`` does, so that every request line is there."""

from __future__ import annotations

import http.client
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from hitl_local import state
from hitl_local.receiver import receiver
from hitl_local.server import banner
from tests.client import Browser
from tests.e2e.conftest import Http, Stack, start_stack, stop_stack
from tests.people import form_field

pytestmark = pytest.mark.e2e

EMAIL_WAIT_S = 20
#: a secret counts as leaked when any run of this many of its characters is in the output
WINDOW = 16


class Secrets:
    """Every secret the flow was given, by what it is."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}
        #: six-digit sign-in codes: too short to look for alone (any number may hold them), so
        #: looked for as a form field or a JSON value
        self.codes: list[str] = []

    def add(self, what: str, value: str) -> str:
        assert value, what
        self.found[what] = value
        return value

    def leaks(self, output: str) -> list[str]:
        leaked = []
        for what, value in self.found.items():
            body = value.split("_", 1)[1] if value.startswith(("hitl_", "whsec_")) else value
            windows = {body[i : i + WINDOW] for i in range(max(1, len(body) - WINDOW + 1))}
            hits = sorted(w for w in windows if w in output)
            if value in output or hits:
                leaked.append(f"{what} ({value[:8]}…): {len(hits)} pieces of it, e.g. {hits[:1]}")
        for code in self.codes:
            if re.search(rf"code\W{{1,4}}{code}\b", output):
                leaked.append(f"a sign-in code ({code[:2]}…)")
        return leaked


@pytest.fixture
def verbose_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A stack of this test's own at log level INFO (``start_stack`` starts them at WARNING)."""
    real_popen = subprocess.Popen

    def at_info(args: Any, **options: Any) -> Any:
        options["env"] = {**options["env"], "HITL_LOG_LEVEL": "INFO"}
        return real_popen(args, **options)

    monkeypatch.setattr(subprocess, "Popen", at_info)
    running = start_stack(tmp_path / "state", tmp_path / "stack.log")
    monkeypatch.setattr(subprocess, "Popen", real_popen)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def emails_to(stack: Stack, to: str, action: str) -> dict[str, Any]:
    deadline = time.monotonic() + EMAIL_WAIT_S
    while True:
        outbox = stack.http().get("/_local/outbox.json").json()
        found = [e for e in outbox if e["to"] == [to] and action in e["subject"]]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no email to {to} about {action!r}"
        time.sleep(0.1)


def post_form(stack: Stack, path: str, fields: dict[str, str]) -> int:
    """A browser's form POST to the stack: its status."""
    where = urlsplit(stack.url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port or 80, timeout=30)
    try:
        connection.request(
            "POST", path, body=urlencode(fields), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def path_of(url: str) -> str:
    return urlsplit(url).path


def link_in(stack: Stack, to: str, subject: str, prefix: str, after: int) -> tuple[str, dict[str, Any]]:
    """The path of the first link starting ``prefix`` in an email to ``to`` (the outbox's
    ``after``-th email or later) whose subject holds ``subject``, and the email."""
    deadline = time.monotonic() + EMAIL_WAIT_S
    while True:
        outbox = stack.http().get("/_local/outbox.json").json()  # newest first
        found = [e for e in outbox[: max(0, len(outbox) - after)] if e["to"] == [to] and subject in e["subject"]]
        paths = [path_of(link) for e in found for link in e["links"] if path_of(link).startswith(prefix)]
        if paths:
            return paths[0], found[0]
        assert time.monotonic() < deadline, f"no email to {to} about {subject!r} with a {prefix} link"
        time.sleep(0.1)


def sign_in(stack: Stack, secrets: Secrets, email: str, *, other_device: bool) -> tuple[Browser, str]:
    """Sign ``email`` in through the emailed link (and, from another device, its code), adding
    every secret of the way to ``secrets``: the link's token, the binding cookie, the code, the
    session cookie and its CSRF token.  The signed-in browser, and its CSRF token."""
    asking = Browser(Http(stack.url))
    before = len(stack.http().get("/_local/outbox.json").json())
    assert asking.post("/login", {"email": email}).status == 200
    link, mail = link_in(stack, email, "sign-in link", "/login/", before)
    secrets.add(f"sign-in link token of {email} ({len(secrets.found)})", link.rsplit("/", 1)[1])
    secrets.add(f"sign-in binding cookie of {email} ({len(secrets.found)})", asking.cookies["__Host-hitl_login"])
    code = re.search(r"code: (\d{6})", mail["text"])
    assert code, mail["text"]
    secrets.codes.append(code.group(1))
    browser = asking.fresh() if other_device else asking
    page = browser.get(link)
    assert page.status == 200, page.text
    fields = {"csrf": form_field(page, "csrf")} | ({"code": code.group(1)} if other_device else {})
    answer = browser.post(link, fields)
    assert answer.status == 303, answer.text
    secrets.add(f"session cookie of {email} ({len(secrets.found)})", browser.cookies["__Host-hitl_session"])
    app = browser.get("/app")
    assert app.status == 200, app.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', app.text)
    assert csrf, app.text
    device = "another device" if other_device else "the asking browser"
    return browser, secrets.add(f"CSRF token of {email}'s session on {device}", csrf.group(1))


def test_no_secret_of_a_whole_flow_reaches_the_stacks_output(verbose_stack: Stack):
    stack = verbose_stack
    secrets = Secrets()

    # API keys: the local tenant's (local.json) and a team's made by the operator with hitl-admin
    secrets.add("local API key", stack.config["apiKey"])
    team = stack.admin("create-tenant", "secret-keepers", "--plan", "pro", "--approver", "ann@example.com")
    key = secrets.add("hitl-admin create-tenant key", team["apiKey"])
    spare = stack.admin("create-key", team["tenantId"], "--name", "ci")
    secrets.add("hitl-admin create-key key", spare["apiKey"])
    agent = Http(stack.url, key)
    assert Http(stack.url, spare["apiKey"]).get("/api/pause").status == 200

    with receiver(answers=[500, 200]) as hook:
        # a webhook endpoint's secret, and the callback secret (read, then rotated: both)
        webhook = agent.post("/api/webhooks", {"url": hook.url, "description": "ci"})
        assert webhook.status == 201, webhook.body
        secrets.add("webhook secret", webhook.json()["secret"])
        callback = agent.get("/api/callback-secret")
        assert callback.status == 200, callback.body
        secrets.add("callback secret", callback.json()["secret"])
        rotated = agent.post("/api/callback-secret/rotate")
        assert rotated.status == 200, rotated.body
        secrets.add("rotated callback secret", rotated.json()["secret"])

        # a pause: the approver's emailed link tokens (approve, reject, view)
        action = "Rotate the production database password"
        created = agent.post("/api/pause", {"action": action, "context": {"db": "orders"}, "callbackUrl": hook.url})
        assert created.status == 201, created.body
        watch_id = created.json()["watchId"]
        links = emails_to(stack, "ann@example.com", action)["links"]
        tokens = {path_of(link).split("/")[2] for link in links}
        assert len(tokens) == 1, links
        (token,) = tokens
        secrets.add("link token", token)

        # the link pages as a mail scanner and an approver use them, a mistyped link, then the decision
        browser = stack.http()
        for link in links:
            assert browser.get(path_of(link)).status == 200
            assert browser.call("HEAD", path_of(link)).status == 200
        assert browser.get(f"/a/{token}").status in (404, 405)  # no such page: logged redacted
        assert browser.get(f"/a/{token}/approve/").status in (200, 404)
        assert post_form(stack, f"/a/{token}", {"decision": "approved", "comment": "rotated, thanks"}) == 200
        assert agent.get(f"/api/pause/{watch_id}").json()["status"] == "approved"

        # the decision is delivered (once after a 500) to the endpoint and the callbackUrl
        deadline = time.monotonic() + 30
        while len(hook.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(hook.received) >= 2, hook.received
        # a revoked key, refused
        old = stack.admin("create-key", team["tenantId"], "--name", "old")
        secrets.add("revoked key", old["apiKey"])
        stack.admin("revoke-key", old["keyId"])

    # the people side: the owner signs in (this browser), then on another device (with the code)
    owner, csrf = sign_in(stack, secrets, "ann@example.com", other_device=False)
    sign_in(stack, secrets, "ann@example.com", other_device=True)
    # a key made on the dashboard, shown once
    made = owner.post("/app/keys", {"name": "dashboard", "csrf": csrf})
    shown = re.search(r"hitl_[A-Za-z0-9]{20,}", made.text)
    assert made.status == 200 and shown, made.text
    secrets.add("dashboard-made key", shown.group(0))
    # an invitation: its link's token, and the session of the one who accepts it
    before = len(stack.http().get("/_local/outbox.json").json())
    invited = owner.post("/app/team/invitations", {"email": "bob@example.com", "role": "approver", "csrf": csrf})
    assert invited.status == 303, invited.text
    invitation, _ = link_in(stack, "bob@example.com", "invited", "/invite/", before)
    secrets.add("invitation token", invitation.rsplit("/", 1)[1])
    bob = Browser(Http(stack.url))
    page = bob.get(invitation)
    assert page.status == 200, page.text
    assert bob.post(invitation, {"csrf": form_field(page, "csrf")}).status == 303
    secrets.add("invited member's session cookie", bob.cookies["__Host-hitl_session"])
    assert bob.get("/app").status == 200
    # Slack: the app's signing secret (local.json), a bot token an owner pastes (refused here: the
    # local tenant holds the fake workspace), and the OAuth install's state and code
    secrets.add("Slack signing secret", stack.config["slackSigningSecret"])
    pasted = secrets.add("pasted Slack bot token", "xoxb-" + uuid.uuid4().hex + uuid.uuid4().hex)
    assert owner.post("/app/settings/slack/token", {"token": pasted, "csrf": csrf}).status in (303, 409)
    install = owner.get("/slack/install")
    assert install.status in (302, 303), install.text
    authorize = urlsplit(install.headers["location"])
    secrets.add("OAuth state", parse_qs(authorize.query)["state"][0])
    allowed = stack.http().get(f"{authorize.path}?{authorize.query}")
    callback = urlsplit(allowed.headers["location"])
    secrets.add("OAuth code", parse_qs(callback.query)["code"][0])
    assert owner.get(f"{callback.path}?{callback.query}").status in (200, 303, 409)

    assert owner.post("/logout", {"csrf": csrf}).status == 303

    stop_stack(stack)  # Ctrl-C: whatever the stack prints on its way out is output too
    output = stack.output()
    # the start banner shows the local tenant's key on purpose (what ``make dev`` is for): not a log line
    shown_at_start = banner(state.LocalConfig(**stack.config), stack.state_dir)
    assert shown_at_start in output
    output = output.replace(shown_at_start, "")

    leaks = secrets.leaks(output)
    assert leaks == [], "secrets in the local stack's output:\n" + "\n".join(leaks)
    for shown in (f"/a/{token}", quote(f"/a/{token}"), token):
        assert shown not in output
    assert not re.search(r"/a/[A-Za-z0-9_-]{40,}", output), "a link page's path with its token"
    assert "/a/{token}/{choice}" in output, "the request log was on (INFO) and shows routes"
    assert not re.search(r"/(login|invite)/[A-Za-z0-9_-]{40,}", output), "a sign-in or invitation path with its token"
    assert "/login/{token}" in output and "/invite/{token}" in output
