"""Who may use each dashboard route: generated from the guard's table (``guard.ACCESS``), so a new
route cannot skip it.  Signed out, with an API key, as an approver, as an owner, and from another
team; plus cross-site posts and posts without the session's CSRF token."""

from __future__ import annotations

import re

import pytest

from hitl import wiring
from hitl.domain.models import Approver
from hitl.http.dashboard import guard
from tests import people
from tests.client import Browser, Client
from tests.people import form_field

OWNER, APPROVER, OUTSIDER = "owner@example.com", "approver@example.com", "outsider@example.com"
ROUTES = sorted(guard.ACCESS.items())
#: a value for each path parameter (nothing by these ids exists: a handler answers 404 or similar)
PARAMS = {"watchId": "w_nothing", "sessionId": "ses_nothing", "token": "t" * 43}


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: PARAMS.get(m.group(1), "x"), path)


@pytest.fixture
def browsers(api: Client, cloud, make_tenant, admin) -> dict[str, Browser]:
    team = make_tenant(plan="pro", approvers=[OWNER, APPROVER], name="Acme")
    # the outsider is an approver of their own team (its owner is someone else)
    make_tenant(plan="pro", approvers=["lead@elsewhere.example", OUTSIDER], name="Elsewhere")
    tenants = cloud.store.tenants
    owner = tenants.member(team["tenantId"], OWNER)
    tenants.put_approver(Approver(**{**owner.to_json(), "role": "owner"}))
    approver = tenants.member(team["tenantId"], APPROVER)
    tenants.put_approver(Approver(**{**approver.to_json(), "role": "approver"}))
    return {email: people.sign_in(Browser(api), cloud.sent_emails, email) for email in (OWNER, APPROVER, OUTSIDER)}


def call(browser: Browser, method: str, path: str, csrf: str | None) -> int:
    url = concrete(path)
    if method in ("GET", "HEAD"):
        return browser.client.call(method, url, headers=browser._headers(), key="").status
    return browser.post(url, {"csrf": csrf} if csrf else {}).status


def test_every_dashboard_route_is_in_the_access_table():
    served = {(r.method, r.path) for r in wiring.ROUTES if r.function == wiring.DASHBOARD.name}
    assert served == set(guard.ACCESS)


def test_who_may_use_each_route(api, cloud, browsers):
    """One pass over the table (a parametrized test would sign three people in per route)."""
    for (method, path), access in ROUTES:
        route = f"{method} {path}"
        if access == "public":
            for browser in (Browser(api), *browsers.values()):
                assert call(browser, method, path, None) != 401, route
            if method == "POST":
                crossed = Browser(api).post(concrete(path), {}, headers={"Sec-Fetch-Site": "cross-site"})
                assert crossed.status == 403, route
            continue
        # signed out: a GET is sent to sign in, a POST refused; an API key never gets in
        assert call(Browser(api), method, path, None) == (303 if method in ("GET", "HEAD") else 401), route
        assert api.call(method, concrete(path), key="hitl_" + "0" * 36).status == 401, route
        for email in (OWNER, APPROVER, OUTSIDER):
            browser = browsers[email]
            home = browser.get("/app")
            if home.status == 303:  # the last route signed them out: sign in again
                browser = browsers[email] = people.sign_in(Browser(api), cloud.sent_emails, email)
                home = browser.get("/app")
            csrf = form_field(home, "csrf")
            if method == "POST":  # without the session's CSRF token, or sent from another site
                assert call(browser, method, path, None) == 403, (email, route)
                cross = browser.post(concrete(path), {"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"})
                assert cross.status == 403, (email, route)
            status = call(browser, method, path, csrf)
            if access == "owner" and email != OWNER:
                assert status == 403, (email, route)
            else:
                assert status not in (401, 403), (email, route, status)


def test_a_signed_in_member_of_another_team_sees_none_of_this_teams_pauses(api, cloud, browsers, make_tenant):
    team = make_tenant(plan="pro", approvers=["z@example.com"], name="Third")
    created = api.post("/api/pause", {"action": "Secret", "context": {}}, key=team["apiKey"]).json()["watchId"]
    for browser in browsers.values():
        assert browser.get(f"/app/pauses/{created}").status == 404
        assert created not in browser.get("/app/history").text
