"""The owners' team page (/app/team) and the invitee's page (/invite/{token}), in-process: invite,
accept and sign in, the plan's limit with pending invitations, re-send, revoke, roles and the last
owner, removal taking effect at once (sessions and emailed links), and mail scanners."""

from __future__ import annotations

import re

import pytest

from hitl import runtime
from hitl.domain import team_events
from tests import people
from tests.client import Answer, Browser, Client
from tests.people import form_field

OWEN, BEA, CAL = "owen@example.com", "bea@example.com", "cal@example.com"


def signed_in(api: Client, cloud, email: str) -> Browser:
    return people.sign_in(Browser(api), cloud.sent_emails, email)


def csrf_of(browser: Browser) -> str:
    return form_field(browser.get("/app"), "csrf")


def invitation_link(cloud, to: str) -> str:
    """The path of the invitation link in the last invitation email to ``to``."""
    mails = [m for m in cloud.sent_emails() if str(m["To"]) == to and "invited" in str(m["Subject"])]
    assert mails, f"no invitation email to {to}"
    text = mails[-1].get_body(("plain",)).get_content()
    found = re.search(r"https?://[^/\s]+(/invite/[A-Za-z0-9_-]{43})", text)
    assert found, text
    return found.group(1)


def invite(owner: Browser, email: str, role: str = "approver") -> Answer:
    return owner.post("/app/team/invitations", {"csrf": csrf_of(owner), "email": email, "role": role})


def act(owner: Browser, path: str, email: str, **more: str) -> Answer:
    return owner.post(path, {"csrf": csrf_of(owner), "email": email, **more})


def status_of(cloud, tenant_id: str, email: str) -> str | None:
    member = cloud.store.tenants.member(tenant_id, email)
    return member.status if member else None


def team_event_types(tenant_id: str) -> list[str]:
    """The team's audit events, oldest first."""
    return [e.type for e in runtime.services().audit.store.team_entries(tenant_id)]


@pytest.fixture
def team(make_tenant):
    """A pro team whose only member is its owner Owen."""
    return make_tenant(plan="pro", approvers=[OWEN], name="Acme")


@pytest.fixture
def owen(api, cloud, team) -> Browser:
    return signed_in(api, cloud, OWEN)


def test_the_owner_invites_and_the_invitee_joins_signed_in_and_is_emailed_the_next_pause(api, cloud, team, owen):
    agent = api.as_tenant(team["apiKey"])
    page = owen.get("/app/team")
    assert page.status == 200 and OWEN in page.text and "1 approver" in page.text

    # When Owen invites Bea from the team page
    sent = invite(owen, BEA)
    assert sent.status == 303 and sent.headers["location"].startswith("/app/team?done=invited")
    after = owen.get(sent.headers["location"])
    assert f"Invitation sent to {BEA}." in after.text
    assert BEA in after.text and "Re-send invitation" in after.text and "2 approvers" in after.text

    # Then Bea is emailed a link; she is invited, not yet a member: a pause cannot name her
    link = invitation_link(cloud, BEA)
    assert status_of(cloud, team["tenantId"], BEA) == "invited"
    refused = agent.post("/api/pause", {"action": "Too early", "approvers": [BEA]})
    assert refused.status == 422 and refused.error_code == "unknown_approver"

    # When Bea opens the link: it shows the team, the role and who invited, and accepts nothing
    bea = Browser(api)
    shown = bea.get(link)
    assert shown.status == 200 and "Join Acme" in shown.text
    assert "approver" in shown.text and OWEN in shown.text and BEA in shown.text
    assert "set-cookie" not in shown.headers
    assert status_of(cloud, team["tenantId"], BEA) == "invited"

    # When she presses the button: she is a confirmed member, signed in to Acme
    joined = bea.post(link, {"csrf": form_field(shown, "csrf")})
    assert joined.status == 303 and joined.headers["location"] == "/app", joined.text
    assert "__Host-hitl_session" in (bea.cookies or {})
    home = bea.get("/app")
    assert home.status == 200 and f"{BEA} (approver)" in home.text
    assert status_of(cloud, team["tenantId"], BEA) == "confirmed"
    row = owen.get("/app/team").text.split(BEA, 1)[1][:600]
    assert "confirmed" in row and "last active just now" in row  # her request to /app counts
    # and the link is used up
    again = Browser(api).get(link)
    assert again.status == 410 and "accepted already" in again.text

    # and the join and her sign-in are in the audit log
    recorded = team_event_types(team["tenantId"])
    assert team_events.MEMBER_INVITED in recorded and team_events.MEMBER_JOINED in recorded
    assert recorded.count(team_events.SIGNED_IN) >= 2  # Owen's, then Bea's by the invitation

    # When the agent asks for Bea's approval, she is emailed
    created = agent.post("/api/pause", {"action": "Deploy v3", "approvers": [BEA]})
    assert created.status == 201, created.text
    cloud.run_queue("notify")
    cloud.run_queue("email")
    mail = next(m for m in cloud.sent_emails() if str(m["To"]) == BEA and "Deploy v3" in str(m["Subject"]))
    token = re.search(r"/a/([A-Za-z0-9_-]{43})/approve", mail.get_body(("plain",)).get_content())
    assert token
    # and the page that records her decision links to the pause on the dashboard
    done = api.post_form(f"/a/{token.group(1)}", {"decision": "approved"})
    watch_id = created.json()["watchId"]
    assert done.status == 200 and f'href="/app/pauses/{watch_id}"' in done.text


def test_the_plan_limit_counts_pending_invitations_and_is_shown_on_the_page(api, cloud, make_tenant):
    # Given a free team (1 approver): its owner fills it
    free = make_tenant(plan="free", approvers=[OWEN], name="Tiny")
    owen = signed_in(api, cloud, OWEN)
    assert "1 of 1 approver" in owen.get("/app/team").text
    before = len(cloud.sent_emails())

    # When the owner invites a second person: refused on the page, nobody invited or emailed
    refused = invite(owen, BEA)
    assert refused.status == 422
    assert "plan_limit" in refused.text and "The free plan allows 1 approver" in refused.text
    assert 'value="bea@example.com"' in refused.text  # the form keeps what was typed
    assert status_of(cloud, free["tenantId"], BEA) is None
    assert len(cloud.sent_emails()) == before

    # Given a starter team (3): a pending invitation counts like a member
    make_tenant(plan="starter", approvers=["sam@example.com"], name="Mid")
    sam = signed_in(api, cloud, "sam@example.com")
    assert invite(sam, BEA).status == 303
    assert "2 of 3 approvers" in sam.get("/app/team").text
    assert invite(sam, CAL).status == 303
    full = sam.get("/app/team")
    assert "3 of 3 approvers" in full.text and "limit is reached" in full.text
    over = invite(sam, "dan@example.com")
    assert over.status == 422 and "plan_limit" in over.text


def test_a_resend_makes_a_new_link_and_the_old_one_stops_working(api, cloud, team, owen):
    assert invite(owen, BEA).status == 303
    old = invitation_link(cloud, BEA)
    old_page = Browser(api).get(old)

    resent = act(owen, "/app/team/invitations/resend", BEA)
    assert resent.status == 303 and "done=resent" in resent.headers["location"]
    assert "the earlier link no longer works" in owen.get(resent.headers["location"]).text
    new = invitation_link(cloud, BEA)
    assert new != old

    # the old link shows why, and its form (fetched before the re-send) accepts nothing
    assert Browser(api).get(old).status == 410
    assert "newer invitation" in Browser(api).get(old).text
    stale = Browser(api).post(old, {"csrf": form_field(old_page, "csrf")})
    assert stale.status == 410 and status_of(cloud, team["tenantId"], BEA) == "invited"
    # the new one works
    bea = Browser(api)
    assert bea.post(new, {"csrf": form_field(bea.get(new), "csrf")}).status == 303
    assert status_of(cloud, team["tenantId"], BEA) == "confirmed"


def test_a_revoked_invitation_leaves_the_team_and_its_link_says_so(api, cloud, team, owen):
    assert invite(owen, BEA).status == 303
    link = invitation_link(cloud, BEA)
    form = Browser(api).get(link)

    revoked = act(owen, "/app/team/invitations/revoke", BEA)
    assert revoked.status == 303 and "done=revoked" in revoked.headers["location"]
    page = owen.get(revoked.headers["location"])
    assert "was withdrawn" in page.text and "1 approver" in page.text
    assert f'<strong class="action">{BEA}</strong>' not in page.text

    shown = Browser(api).get(link)
    assert shown.status == 410 and "withdrawn" in shown.text
    assert Browser(api).post(link, {"csrf": form_field(form, "csrf")}).status == 410
    assert status_of(cloud, team["tenantId"], BEA) is None
    # revoking what is not pending is refused on the page
    again = act(owen, "/app/team/invitations/revoke", BEA)
    assert again.status == 404 and "member_not_found" in again.text
    # a notice is text from a fixed list: an unknown kind shows nothing, markup is escaped
    assert 'class="notice"' not in owen.get("/app/team?done=bogus&email=x").text
    shown = owen.get("/app/team?done=invited&email=%3Cb%3Ex%3C%2Fb%3E").text
    assert "Invitation sent to &lt;b&gt;x&lt;/b&gt;." in shown and "<b>x</b>" not in shown


def test_the_last_owner_is_kept_and_roles_change(api, cloud, team, owen, admin):
    admin.add_approver(team["tenantId"], BEA)
    assert status_of(cloud, team["tenantId"], BEA) == "confirmed"

    # the only owner cannot step down or leave
    demoted = act(owen, "/app/team/members/role", OWEN, role="approver")
    assert demoted.status == 409 and "last_owner" in demoted.text and "last owner of Acme" in demoted.text
    left = act(owen, "/app/team/members/remove", OWEN)
    assert left.status == 409 and "last_owner" in left.text
    assert cloud.store.tenants.member(team["tenantId"], OWEN).role == "owner"

    # Bea becomes an owner; then Owen may become an approver, and the team page is no longer his
    promoted = act(owen, "/app/team/members/role", BEA, role="owner")
    assert promoted.status == 303
    assert f"{BEA} is now an owner." in owen.get(promoted.headers["location"]).text
    stepped = act(owen, "/app/team/members/role", OWEN, role="approver")
    assert stepped.status == 303 and stepped.headers["location"] == "/app"
    assert owen.get("/app/team").status == 403
    assert cloud.store.tenants.member(team["tenantId"], OWEN).role == "approver"

    # an unknown role or address is refused on the page
    bea = signed_in(api, cloud, BEA)
    assert act(bea, "/app/team/members/role", OWEN, role="admin").status == 422
    wrong = invite(bea, "not-an-address")
    assert wrong.status == 422 and "invalid_email" in wrong.text
    twice = invite(bea, OWEN)
    assert twice.status == 409 and "already_member" in twice.text


def test_an_approver_cannot_open_or_change_the_team(api, cloud, team, admin, owen):
    admin.add_approver(team["tenantId"], BEA)
    bea = signed_in(api, cloud, BEA)
    home = bea.get("/app")
    assert 'href="/app/team"' not in home.text
    page = bea.get("/app/team")
    assert page.status == 403 and "owners can open this page" in page.text
    assert OWEN not in page.text.replace(f"{BEA}", "")  # no member listed
    refused = act(bea, "/app/team/invitations", CAL)
    assert refused.status == 403 and status_of(cloud, team["tenantId"], CAL) is None
    assert act(bea, "/app/team/members/remove", OWEN).status == 403
    assert status_of(cloud, team["tenantId"], OWEN) == "confirmed"
    # the owner has the link in the nav
    assert 'href="/app/team"' in owen.get("/app").text


def test_removing_a_member_ends_their_sessions_and_emailed_links_at_once(api, cloud, team, admin, owen):
    admin.add_approver(team["tenantId"], BEA)
    agent = api.as_tenant(team["apiKey"])
    watch_id = agent.post("/api/pause", {"action": "Rotate keys", "approvers": [BEA]}).json()["watchId"]
    cloud.run_queue("notify")
    cloud.run_queue("email")
    mail = next(m for m in cloud.sent_emails() if str(m["To"]) == BEA and "Rotate keys" in str(m["Subject"]))
    token = re.search(r"/a/([A-Za-z0-9_-]{43})/approve", mail.get_body(("plain",)).get_content())
    assert token
    bea = signed_in(api, cloud, BEA)
    assert bea.get("/app").status == 200
    # (the link's page offers the dashboard's page of the pause)
    link_page = api.get(f"/a/{token.group(1)}/approve")
    assert f'href="/app/pauses/{watch_id}"' in link_page.text and "Open in the dashboard" in link_page.text
    assert bea.get(f"/app/pauses/{watch_id}").status == 200

    # When Owen removes Bea
    removed = act(owen, "/app/team/members/remove", BEA)
    assert removed.status == 303 and "done=removed" in removed.headers["location"]
    assert "was removed from the team" in owen.get(removed.headers["location"]).text

    # Then her next request is signed out (she has no other team)
    out = bea.get("/app")
    assert out.status == 303 and out.headers["location"] == "/login"
    assert bea.get(f"/app/pauses/{watch_id}").status == 303
    # and her emailed link shows why, and decides nothing
    shown = api.get(f"/a/{token.group(1)}/approve")
    assert shown.status == 403 and "no longer a member" in shown.text
    posted = api.post_form(f"/a/{token.group(1)}", {"decision": "approved"})
    assert posted.status == 403 and "no longer a member" in posted.text
    pause = agent.get(f"/api/pause/{watch_id}").json()
    assert pause["status"] == "pending" and pause["approvals"] == []


def test_a_removed_member_of_two_teams_keeps_the_other(api, cloud, team, admin, owen, make_tenant):
    admin.add_approver(team["tenantId"], BEA)
    other = make_tenant(plan="pro", approvers=["lead@other.example", BEA], name="Other")
    bea = signed_in(api, cloud, BEA)
    assert act(owen, "/app/team/members/remove", BEA).status == 303
    home = bea.get("/app")
    assert home.status == 200 and "Other" in home.text
    assert status_of(cloud, other["tenantId"], BEA) == "confirmed"


def test_a_mail_scanner_fetching_the_invitation_accepts_nothing(api, cloud, team, owen):
    assert invite(owen, BEA).status == 303
    link = invitation_link(cloud, BEA)
    scanner = Browser(api)
    for method in ("GET", "HEAD", "GET", "HEAD"):
        answer = api.call(method, link, headers={"User-Agent": "Mozilla/5.0 (scanner)"}, key="")
        assert answer.status == 200, method
        assert "set-cookie" not in answer.headers
    assert scanner.get(link).status == 200
    assert status_of(cloud, team["tenantId"], BEA) == "invited"
    # a POST without the page's form value (a scanner guessing) is refused and accepts nothing
    assert api.post_form(link, {}).status == 403
    assert api.post_form(link, {"csrf": "0" * 64}).status == 403
    assert status_of(cloud, team["tenantId"], BEA) == "invited"
    # an unknown or malformed invitation shows why
    assert api.get("/invite/" + "A" * 43, key="").status == 410
    assert "not valid" in api.get("/invite/short", key="").text
    # and the real invitee can still accept
    bea = Browser(api)
    assert bea.post(link, {"csrf": form_field(bea.get(link), "csrf")}).status == 303
