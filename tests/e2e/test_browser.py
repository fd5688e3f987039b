"""An approver in a real browser: headless Chromium (Debian's ``/usr/bin/chromium``) driven by
Playwright, against the local stack.  JavaScript is on, as in the mail scanners that run it:
opening the emailed link must not decide; the confirming click must.

Screenshots go to ``tests/artifacts/`` (git-ignored): look at them after a template change.
``make test`` installs Chromium (Debian's package) and Playwright (without its browser download).
Without them the test is skipped, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO_ROOT, Stack

try:
    from playwright.sync_api import Browser, expect, sync_playwright
except ImportError:  # pragma: no cover - reported by the fixture
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
#: what works here (no sandbox as root, no GPU, no network beyond loopback)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
EMAIL_WAIT_S = 15


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (`apt-get install chromium`; `make test` installs it)"
    if sync_playwright is None:
        return "Playwright for Python is missing (`pip install playwright`, never `playwright install`)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    why = _missing()
    if why:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"the browser test cannot run: {why}", pytrace=False)
        pytest.skip(why)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def wait_for_email(stack: Stack, to: str, action: str) -> dict[str, Any]:
    deadline = time.monotonic() + EMAIL_WAIT_S
    while True:
        found = [
            e for e in stack.http().get("/_local/outbox.json").json() if e["to"] == [to] and action in e["subject"]
        ]
        if found:
            email: dict[str, Any] = found[0]
            return email
        assert time.monotonic() < deadline, f"no email to {to} in the outbox after {EMAIL_WAIT_S} s"
        time.sleep(0.05)


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def test_an_approver_opens_the_link_in_chromium_and_confirms(browser, stack):
    # Given a tenant with one approver, and a pause its agent created
    tag = uuid.uuid4().hex[:8]
    approver = f"carol-{tag}@example.com"
    tenant = stack.admin("create-tenant", f"browser-{tag}", "--plan", "pro", "--approver", approver)
    agent = stack.http(tenant["apiKey"])
    action = f"Refund order #1042 (129.00 EUR) to Jane Doe [{tag}]"
    context = {
        "order": 1042,
        "amount": "129.00 EUR",
        "customer": {"name": "Jane Doe", "email": "jane@example.com"},
        "reason": "Parcel arrived damaged; photos attached to ticket SUP-1042. " * 3,
    }
    created = agent.post("/api/pause", {"action": action, "context": context, "metadata": {"ticket": "SUP-1042"}})
    assert created.status == 201, created.body
    watch_id = created.json()["watchId"]
    email = wait_for_email(stack, approver, action)
    approve_link = email["links"][0]

    def status() -> str:
        found: str = agent.get(f"/api/pause/{watch_id}").json()["status"]
        return found

    desktop = browser.new_context(**DESKTOP, java_script_enabled=True)
    phone = browser.new_context(**PHONE, java_script_enabled=True)
    try:
        # When the approver opens the outbox and clicks Approve in the email
        page = desktop.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(stack.config["outboxUrl"])
        article = page.locator("article").filter(has=page.get_by_role("heading", name=email["subject"]))
        expect(article).to_have_count(1)
        article.scroll_into_view_if_needed()
        shot(page, "outbox.png", full_page=False)  # the outbox holds every email of the session
        button = article.get_by_role("link", name="Approve", exact=True)
        expect(button).to_have_attribute("href", approve_link)
        with page.expect_navigation(url=approve_link, timeout=60_000):
            button.click()

        # Then the confirmation page opens (JavaScript on), and waiting there decides nothing
        expect(page.get_by_role("button", name="Confirm: Approve")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_text(action)
        page.wait_for_timeout(2000)
        assert status() == "pending"
        shot(page, "confirm.png")

        # and on a phone it shows the same, the decision foremost (nothing decided either)
        mobile = phone.new_page()
        mobile.goto(approve_link)
        confirm = mobile.get_by_role("button", name="Confirm: Approve")
        expect(confirm).to_be_in_viewport()
        shot(mobile, "confirm-phone.png")
        # and the email's plain link shows both decisions, neither first
        viewer = phone.new_page()
        viewer.goto(email["links"][2])
        expect(viewer.get_by_role("button", name="Approve", exact=True)).to_be_in_viewport()
        expect(viewer.get_by_role("button", name="Reject", exact=True)).to_be_in_viewport()
        shot(viewer, "view-phone.png")
        assert status() == "pending"

        # When the approver writes a comment and clicks "Confirm: Approve"
        page.get_by_label("Comment (optional)").fill("Refund it; the photos show the damage.")
        page.get_by_role("button", name="Confirm: Approve").click()

        # Then the page says what was recorded
        expect(page.get_by_role("heading", level=1)).to_have_text("Recorded: approved")
        shot(page, "recorded.png")
        # and the agent sees the decision: by the approver, by email, with the comment
        pause = agent.get(f"/api/pause/{watch_id}").json()
        assert pause["status"] == "approved"
        assert pause["decision"]["by"] == approver
        assert pause["decision"]["channel"] == "email"
        assert pause["decision"]["comment"] == "Refund it; the photos show the damage."

        # and the phone's page, reloaded, shows the decision and no form
        mobile.reload()
        expect(mobile.get_by_role("heading", level=1)).to_have_text("Already approved")
        expect(mobile.get_by_role("button")).to_have_count(0)
        shot(mobile, "decided-phone.png")
        assert problems == []
    finally:
        desktop.close()
        phone.close()
