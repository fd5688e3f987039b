"""People on the dashboard in headless Chromium (Debian's), against the local stack: sign in from
the outbox (link, then confirm) and on another device (the code), decide while the agent's
long-poll waits, export the audit log; every page checked with axe-core (no serious or critical
violation) and photographed on desktop and phone.  And the mail scanners: a sign-in link fetched
by GET, HEAD and a JavaScript-running browser in a fresh context signs nobody in."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO_ROOT, Stack
from tests.e2e.test_browser import DESKTOP, PHONE, browser, shot  # noqa: F401  (the module's browser fixture)

pytestmark = pytest.mark.e2e
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
MAIL_WAIT_S = 15


def signin_email(stack: Stack, to: str, after: int) -> tuple[str, str]:
    """The link and the code of the newest sign-in email to ``to`` beyond the first ``after`` emails."""
    deadline = time.monotonic() + MAIL_WAIT_S
    while True:
        emails = stack.http().get("/_local/outbox.json").json()  # newest first
        fresh = emails[: len(emails) - after]
        for email in fresh:
            if to in email["to"] and "sign-in" in email["subject"].lower():
                link = next(link for link in email["links"] if "/login/" in link)
                code = re.search(r"code: (\d{6})", email["text"])
                assert code, email["text"]
                return link, code.group(1)
        assert time.monotonic() < deadline, f"no sign-in email to {to}"
        time.sleep(0.1)


def outbox_size(stack: Stack) -> int:
    return len(stack.http().get("/_local/outbox.json").json())


def ask_for_link(page: Any, stack: Stack, email: str) -> tuple[str, str]:
    before = outbox_size(stack)
    page.goto(f"{stack.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    return signin_email(stack, email, before)


def accessible(page: Any, name: str) -> None:
    """axe-core on the page: no serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{name}: {serious}"


def look(page: Any, name: str) -> None:
    accessible(page, name)
    shot(page, name)


@pytest.fixture
def team(stack: Stack) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    owner = f"dana-{tag}@example.com"
    made = stack.admin("create-tenant", f"dash-{tag}", "--plan", "pro", "--approver", owner)
    return {**made, "owner": owner}


def test_sign_in_decide_while_the_agent_waits_and_export(browser, stack, team):  # noqa: F811
    agent = stack.http(team["apiKey"])
    action = f"Delete 18,231 rows from customers_old [{team['tenantId']}]"
    watch_id = agent.post(
        "/api/pause", {"action": action, "context": {"rows": 18231, "table": "customers_old"}}
    ).json()["watchId"]
    waited: dict[str, Any] = {}
    poll = threading.Thread(target=lambda: waited.update(agent.get(f"/api/pause/{watch_id}?wait=25").json()))
    for size, settings in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(**settings, bypass_csp=True)  # axe is injected as a script
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error, seen=problems: seen.append(str(error)))
        try:
            page.goto(f"{stack.url}/login")
            look(page, f"dashboard-login-{size}.png")
            link, _ = ask_for_link(page, stack, team["owner"])
            look(page, f"dashboard-login-sent-{size}.png")
            page.goto(link)
            look(page, f"dashboard-login-confirm-{size}.png")
            page.get_by_role("button", name=f"Sign in as {team['owner']}").click()
            page.wait_for_url(f"{stack.url}/app")
            if size == "desktop":  # the phone comes after the decision: nothing waits any more
                page.get_by_role("link", name=action).wait_for()
            look(page, f"dashboard-waiting-{size}.png")
            page.goto(f"{stack.url}/app/pauses/{watch_id}")
            look(page, f"dashboard-pause-{size}.png")
            if size == "desktop":
                poll.start()
                time.sleep(0.5)  # the agent is waiting
                page.get_by_label("Comment (optional)").fill("Backed up first")
                page.get_by_role("button", name="Approve").click()
                page.get_by_text("Your decision is recorded").wait_for()
                look(page, f"dashboard-decided-{size}.png")
                poll.join(30)
            for path, name in (
                ("/app/history", "history"),
                ("/app/audit", "audit"),
                ("/app/sessions", "sessions"),
                ("/app/account", "account"),  # the Slack link and email choice
                ("/app/settings", "settings"),  # with its Slack section
            ):
                page.goto(f"{stack.url}{path}")
                look(page, f"dashboard-{name}-{size}.png")
            assert not problems, problems
        finally:
            context.close()
    assert waited["status"] == "approved"
    assert waited["decision"]["channel"] == "dashboard" and waited["decision"]["by"] == team["owner"]


def test_another_device_signs_in_with_the_code_and_the_owner_exports(browser, stack, team, tmp_path: Path):  # noqa: F811
    laptop = browser.new_context(**DESKTOP)
    phone = browser.new_context(**PHONE, bypass_csp=True)
    try:
        link, code = ask_for_link(laptop.new_page(), stack, team["owner"])
        page = phone.new_page()
        page.goto(link)  # the phone never asked: it lacks the binding cookie
        page.get_by_label("Code").wait_for()
        look(page, "dashboard-login-code-phone.png")
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name=f"Sign in as {team['owner']}").click()
        page.wait_for_url(f"{stack.url}/app")
        page.goto(f"{stack.url}/app/audit")
        with page.expect_download() as download:
            page.get_by_role("link", name="Export JSON lines").click()
        saved = tmp_path / "audit.jsonl"
        download.value.save_as(saved)
        lines = saved.read_text().splitlines()
        assert any(json.loads(line).get("type") == "team.signed_in" for line in lines[:-1])
        assert "summary" in json.loads(lines[-1])
        verified = stack.admin("verify-audit", "--file", str(saved))
        assert verified["ok"] is True
    finally:
        laptop.close()
        phone.close()


def test_mail_scanners_sign_nobody_in(browser, stack, team):  # noqa: F811
    asking = browser.new_context(**DESKTOP)
    try:
        link, _ = ask_for_link(asking.new_page(), stack, team["owner"])
    finally:
        asking.close()
    plain = stack.http()
    for method in ("GET", "HEAD", "GET"):
        answer = plain.call(method, link, key="")
        assert answer.status == 200 and "set-cookie" not in answer.headers
    scanner = browser.new_context(**DESKTOP, java_script_enabled=True)  # a fresh context that runs JavaScript
    try:
        page = scanner.new_page()
        page.goto(link)
        page.wait_for_timeout(1500)
        # a scanner that even presses the button, without the code, gets no session
        page.get_by_role("button", name=f"Sign in as {team['owner']}").click()
        page.wait_for_load_state()
        assert not [c for c in scanner.cookies() if c["name"] == "__Host-hitl_session"]
        assert page.url == link
    finally:
        scanner.close()
    # and the person can still use the link in their own browser afterwards: with the code
    assert plain.get(link).status == 200
