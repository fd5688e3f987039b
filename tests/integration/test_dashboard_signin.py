"""Signing in to the dashboard, in-process: the emailed link and code, the binding cookie, the
scanner rules, rate limits, sign-up, sessions and sign-out."""

from __future__ import annotations

import re

import pytest

from tests import people
from tests.client import Browser, Client
from tests.people import form_field, signin_email

OWNER = "owner@example.com"


@pytest.fixture
def team(make_tenant):
    return make_tenant(plan="pro", approvers=[OWNER], name="Acme")


@pytest.fixture
def browser(api: Client) -> Browser:
    return Browser(api)


def last_signin_email(cloud, to: str) -> tuple[str, str]:
    return signin_email(cloud.sent_emails, to)


def sign_in(browser: Browser, cloud, email: str = OWNER) -> Browser:
    return people.sign_in(browser, cloud.sent_emails, email)


def test_the_emailed_link_signs_in_the_browser_that_asked(team, browser, cloud):
    asked = browser.post("/login", {"email": OWNER})
    assert asked.status == 200 and "Check your email" in asked.text
    assert "__Host-hitl_login" in browser.cookies
    set_cookie = asked.headers["set-cookie"]
    assert (
        "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    )
    link, _ = last_signin_email(cloud, OWNER)
    page = browser.get(link)
    assert page.status == 200 and f"Sign in as {OWNER}" in page.text and 'name="code"' not in page.text
    assert "__Host-hitl_session" not in browser.cookies  # a GET never signs in
    done = browser.post(link, {"csrf": form_field(page, "csrf")})
    assert done.status == 303 and done.headers["location"] == "/app"
    assert "__Host-hitl_session" in browser.cookies and "__Host-hitl_login" not in browser.cookies
    home = browser.get("/app")
    assert home.status == 200 and OWNER in home.text and "Waiting for you" in home.text
    assert re.search(r'<meta name="csrf-token" content="[0-9a-f]{64}">', home.text)
    assert home.headers["cache-control"] == "no-store"


def test_the_link_works_once(team, browser, cloud):
    sign_in(browser, cloud)
    link, _ = last_signin_email(cloud, OWNER)
    again = browser.fresh().post(link, {"csrf": "x"})
    assert again.status in (403, 410)
    page = browser.get(link)
    assert page.status == 410 and "used already" in page.text


def test_another_device_must_type_the_code(team, browser, cloud):
    browser.post("/login", {"email": OWNER})
    link, code = last_signin_email(cloud, OWNER)
    phone = browser.fresh()
    page = phone.get(link)
    assert page.status == 200 and 'name="code"' in page.text
    csrf = form_field(page, "csrf")
    assert phone.post(link, {"csrf": csrf}).status == 422
    wrong = "000000" if code != "000000" else "111111"
    refused = phone.post(link, {"csrf": csrf, "code": wrong})
    assert refused.status == 422 and "4 tries left" in refused.text
    done = phone.post(link, {"csrf": csrf, "code": code})
    assert done.status == 303 and "__Host-hitl_session" in phone.cookies


def test_gets_and_heads_of_the_link_sign_nobody_in(team, browser, cloud, api):
    browser.post("/login", {"email": OWNER})
    link, _ = last_signin_email(cloud, OWNER)
    for method in ("GET", "HEAD", "GET", "HEAD"):
        answer = api.call(method, link, key="")
        assert answer.status == 200 and "set-cookie" not in answer.headers
    # the link still works for the person afterwards
    page = browser.get(link)
    assert browser.post(link, {"csrf": form_field(page, "csrf")}).status == 303


def test_an_unknown_email_gets_the_same_page_and_no_email(team, browser, cloud):
    known = browser.post("/login", {"email": OWNER})
    before = len(cloud.sent_emails())
    unknown = browser.fresh().post("/login", {"email": "stranger@example.com"})
    assert unknown.status == known.status == 200
    assert unknown.text.replace("stranger@example.com", OWNER) == known.text
    assert len(cloud.sent_emails()) == before


def test_sign_in_requests_are_rate_limited_per_email(team, browser, cloud):
    for _ in range(5):
        assert browser.post("/login", {"email": OWNER}).status == 200
    limited = browser.post("/login", {"email": OWNER})
    assert limited.status == 429 and "Too many" in limited.text and int(limited.headers["retry-after"]) > 0


def test_a_cross_site_post_is_refused(team, browser, cloud):
    sign_in(browser, cloud)
    home = browser.get("/app")
    csrf = form_field(home, "csrf")
    assert browser.post("/logout", {"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    assert browser.post("/login", {"email": OWNER}, headers={"Sec-Fetch-Site": "cross-site"}).status == 403


def test_csrf_missing_wrong_or_another_sessions_is_refused(team, browser, cloud):
    sign_in(browser, cloud)
    other = sign_in(browser.fresh(), cloud)
    theirs = form_field(other.get("/app"), "csrf")
    for sent in ({}, {"csrf": "0" * 64}, {"csrf": theirs}):
        assert browser.post("/logout", sent).status == 403
    assert browser.get("/app").status == 200  # still signed in


def test_sign_out_ends_the_session_on_the_server(team, browser, cloud):
    sign_in(browser, cloud)
    kept = dict(browser.cookies)
    csrf = form_field(browser.get("/app"), "csrf")
    out = browser.post("/logout", {"csrf": csrf})
    assert out.status == 303 and out.headers["location"] == "/login"
    replayed = Browser(browser.client, kept)  # the old cookie, replayed
    answer = replayed.get("/app")
    assert answer.status == 303 and answer.headers["location"] == "/login"


def test_sign_out_everywhere_ends_every_session(team, browser, cloud):
    sign_in(browser, cloud)
    laptop = sign_in(browser.fresh(), cloud)
    page = browser.get("/app/sessions")
    assert page.status == 200 and page.text.count('/end"') == 2
    assert browser.post("/app/sessions/end-all", {"csrf": form_field(page, "csrf")}).status == 303
    assert laptop.get("/app").status == 303


def test_an_api_key_is_never_accepted_on_the_dashboard(team, api, cloud):
    answer = api.call("GET", "/app", key=team["apiKey"])
    assert answer.status == 401


def test_a_session_is_never_accepted_on_the_agent_routes(team, browser, cloud):
    sign_in(browser, cloud)
    answer = browser.get("/api/pause")
    assert answer.status == 401 and answer.error_code == "missing_api_key"


def test_signup_creates_a_free_team_and_signs_its_owner_in(cloud, browser, monkeypatch):
    monkeypatch.setenv("HITL_SIGNUP", "open")
    from hitl import runtime

    runtime.reset()
    asked = browser.post("/signup", {"email": "founder@example.com", "team": "Founders"})
    assert asked.status == 200 and "Check your email" in asked.text
    link, _ = last_signin_email(cloud, "founder@example.com")
    page = browser.get(link)
    assert "Create the team as founder@example.com" in page.text
    assert browser.post(link, {"csrf": form_field(page, "csrf")}).status == 303
    home = browser.get("/app")
    assert "Founders" in home.text and "(owner)" in home.text


def test_signup_is_closed_by_default(cloud, browser):
    assert browser.get("/signup").status == 404
    refused = browser.post("/signup", {"email": "founder@example.com", "team": "Founders"})
    assert refused.status == 422 and "closed" in refused.text
