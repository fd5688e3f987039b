"""An approver in a real browser: headless Chromium (Debian's ``/usr/bin/chromium``) driven by
Playwright, against the local stack.  JavaScript is on, as in the mail scanners that run it:
opening the emailed link must not decide; the confirming click must.

Screenshots go to ``tests/artifacts/`` (git-ignored): look at them after a template change.
``make test`` installs Chromium (Debian's package) and Playwright (without its browser download).
Without them the test is skipped, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
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


# --- an owner on the dashboard: keys, webhooks, settings -------------------------------------------

OWNER_DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: what fails the test: axe-core's two worst levels
BLOCKING = ("serious", "critical")


def sign_in_from_the_outbox(page: Any, stack: Stack, email: str) -> None:
    """Ask for a link on /login, open it from the local outbox in the same browser (it holds the
    login cookie, so no code is asked), press the one button: signed in, on /app."""
    page.goto(stack.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    link = next(u for u in wait_for_email(stack, email, "sign-in")["links"] if "/login/" in u)
    page.goto(link)
    page.get_by_role("button", name=f"Sign in as {email}").click()
    page.wait_for_url(stack.url + "/app")


def serious_violations(page: Any) -> list[str]:
    """axe-core, injected into the page (the context bypasses our CSP for it only)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def call_api(url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """What curl would do: one HTTP request with the key, the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_an_owner_makes_a_key_on_the_dashboard_and_uses_it_with_curl(browser, stack):
    # Given a team whose owner signs in from the outbox
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make install` (npm ci) installs axe-core", pytrace=False)
    tag = uuid.uuid4().hex[:8]
    owner = f"olga-{tag}@example.com"
    stack.admin("create-tenant", f"owner-{tag}", "--plan", "pro", "--approver", owner)
    desktop = browser.new_context(**OWNER_DESKTOP, bypass_csp=True)
    try:
        page = desktop.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        sign_in_from_the_outbox(page, stack, owner)

        # When the owner creates a key on /app/keys
        page.goto(stack.url + "/app/keys")
        assert serious_violations(page) == []
        page.get_by_label("Name (what the key is for)").fill("curl-bot")
        page.get_by_role("button", name="Create key").click()

        # Then the key is shown once, in the secret box, and works with plain HTTP
        expect(page.get_by_role("heading", level=1)).to_have_text("Your new key “curl-bot”")
        key = page.locator(".secret").inner_text().strip()
        assert key.startswith("hitl_") and len(key) == 41
        assert serious_violations(page) == []
        shot(page, "app-keys.png")
        status, created = call_api(stack.url + "/api/pause", key, {"action": f"Deploy [{tag}]", "context": {}})
        assert status == 201, created
        status, listed = call_api(stack.url + "/api/pause", key)
        assert status == 200 and created["watchId"] in [p["watchId"] for p in listed["items"]]
        page.goto(stack.url + "/app/keys")
        assert key not in page.content()  # never again

        # and revoking it refuses its very next request
        page.get_by_role("button", name=f"Revoke the key curl-bot (…{key[-4:]})").click()
        expect(page.locator(".notice")).to_contain_text("is revoked")
        status, refused = call_api(stack.url + "/api/pause", key)
        assert status == 401 and refused["error"]["code"] == "invalid_api_key"

        # and the webhooks and settings pages read well, and pass axe-core
        page.goto(stack.url + "/app/webhooks")
        page.get_by_label("URL").fill("http://127.0.0.1:9/hitl-events")
        page.get_by_label("Description (optional)").fill("the ops channel's relay")
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Webhook created")
        assert page.locator(".secret").inner_text().startswith("whsec_")
        assert serious_violations(page) == []
        page.goto(stack.url + "/app/webhooks")
        assert "whsec_" not in page.content()
        assert serious_violations(page) == []
        shot(page, "app-webhooks.png")
        page.goto(stack.url + "/app/settings")
        expect(page.get_by_text("1 pause in")).to_be_visible()
        assert serious_violations(page) == []
        shot(page, "app-settings.png")

        # and on a phone (the same session), each page fits the screen
        phone = browser.new_context(**PHONE, bypass_csp=True, storage_state=desktop.storage_state())
        try:
            mobile = phone.new_page()
            mobile.goto(stack.url + "/app/keys")
            mobile.get_by_label("Name (what the key is for)").fill("phone-bot")
            mobile.get_by_role("button", name="Create key").click()
            expect(mobile.locator(".secret")).to_be_in_viewport()
            shot(mobile, "app-keys-phone.png")
            for path, name in (
                ("/app/webhooks", "app-webhooks-phone.png"),
                ("/app/settings", "app-settings-phone.png"),
            ):
                mobile.goto(stack.url + path)
                width = mobile.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["viewport"]["width"], (path, width)
                assert serious_violations(mobile) == []
                shot(mobile, name)
        finally:
            phone.close()
        assert problems == []
    finally:
        desktop.close()


TEAM_DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}


def sign_in_in(page: Any, stack: Stack, email: str) -> None:
    """Sign ``email`` in through the login form and the emailed link, in this browser."""
    page.goto(f"{stack.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    link = next(u for u in wait_for_email(stack, email, "sign-in link")["links"] if "/login/" in u)
    page.goto(link)
    with page.expect_navigation(url=f"{stack.url}/app"):
        page.get_by_role("button", name=f"Sign in as {email}").click()


def test_an_owner_invites_a_member_who_accepts_in_another_browser(browser, stack):
    # Given a starter team (3 approvers) whose owner is signed in
    tag = uuid.uuid4().hex[:8]
    owner, member = f"olga-{tag}@example.com", f"mo-{tag}@example.com"
    team_name = f"team-{tag}"
    stack.admin("create-tenant", team_name, "--plan", "starter", "--approver", owner)
    owners = browser.new_context(**TEAM_DESKTOP)
    owners_phone = browser.new_context(**PHONE)
    invitees = browser.new_context(**PHONE)
    scanner = browser.new_context(**TEAM_DESKTOP)
    try:
        page = owners.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        sign_in_in(page, stack, owner)

        # When the owner invites the member on /app/team
        page.goto(f"{stack.url}/app/team")
        expect(page.locator("#seats")).to_contain_text("1 of 3 approvers")
        page.get_by_label("Email", exact=True).fill(member)
        page.get_by_label("Role", exact=True).select_option("approver")
        page.get_by_role("button", name="Send the invitation").click()
        expect(page.get_by_role("status")).to_have_text(f"Invitation sent to {member}.")
        expect(page.locator("#seats")).to_contain_text("2 of 3 approvers")
        expect(page.locator("#members li").filter(has_text=member)).to_contain_text("invited")

        # Then the member is emailed; opening the link in a fresh browser (a scanner running
        # JavaScript, say) shows the invitation and accepts nothing
        link = next(u for u in wait_for_email(stack, member, "invited")["links"] if "/invite/" in u)
        peek = scanner.new_page()
        peek.goto(link)
        expect(peek.get_by_role("heading", level=1)).to_have_text(f"Join {team_name}")
        peek.wait_for_timeout(1000)
        shot(peek, "invite.png")
        page.reload()
        expect(page.locator("#members li").filter(has_text=member)).to_contain_text("invited")

        # When the member opens it on their phone and presses Join
        mobile = invitees.new_page()
        mobile.goto(link)
        join = mobile.get_by_role("button", name=f"Join as {member}")
        expect(join).to_be_in_viewport()
        shot(mobile, "invite-phone.png")
        with mobile.expect_navigation(url=f"{stack.url}/app"):
            join.click()
        expect(mobile.locator("header")).to_contain_text(f"{member} (approver)")

        # Then the owner sees them confirmed, on the desktop and on a phone
        page.goto(f"{stack.url}/app/team")
        row = page.locator("#members li").filter(has_text=member)
        expect(row).to_contain_text("confirmed")
        expect(row.get_by_role("button", name="Remove")).to_be_visible()
        shot(page, "team.png")
        owners_phone.add_cookies(owners.cookies())
        phone_page = owners_phone.new_page()
        phone_page.goto(f"{stack.url}/app/team")
        expect(phone_page.locator("#members li").filter(has_text=member)).to_contain_text("confirmed")
        shot(phone_page, "team-phone.png")
        # and the used link now says so
        peek.reload()
        expect(peek.get_by_role("heading", level=1)).to_have_text("This invitation cannot be used")
        assert problems == []
    finally:
        for context in (owners, owners_phone, invitees, scanner):
            context.close()


def test_approve_pressed_on_the_fake_slack_page_in_chromium_resumes_the_pause(browser, stack, eventually):
    # Given a pause of the local tenant (Pro, the fake workspace connected, its owner linked) and its DM
    agent = stack.http(stack.config["apiKey"])
    action = f"Restart the payments service [{uuid.uuid4().hex[:8]}]"
    created = agent.post("/api/pause", {"action": action, "context": {"region": "eu-west-1"}})
    assert created.status == 201, created.body
    watch_id = created.json()["watchId"]

    def dm_ts() -> str | None:
        for call in stack.http().get("/_local/slack/messages.json").json():
            values = [e.get("value") for b in call["blocks"] or [] if b["type"] == "actions" for e in b["elements"]]
            if call["method"] == "chat.postMessage" and watch_id in values:
                return str(call["ts"])
        return None

    ts = eventually(dm_ts)

    # When the owner opens /_local/slack, presses Approve on that DM and accepts Slack's confirm dialog
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    try:
        page.goto(f"{stack.url}/_local/slack")
        expect(page.locator(f'article[data-ts="{ts}"]')).to_contain_text(action)
        shot(page, "local-slack-desktop.png", full_page=False)
        page.locator(f'article[data-ts="{ts}"] button[data-action-id="hitl_approve"]').click()
        page.wait_for_load_state()
        shot(page, "local-slack-clicked-desktop.png")
    finally:
        context.close()

    # Then the click was signed and decided: approved by the owner, through Slack
    assert dialogs, "no confirm dialog"
    pause = eventually(lambda: (p := agent.get(f"/api/pause/{watch_id}").json())["status"] == "approved" and p)
    assert (pause["decision"]["by"], pause["decision"]["channel"]) == (stack.config["approverEmail"], "slack")
