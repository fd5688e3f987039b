"""Teams in the table (moto): a person's teams by one lookup Query, conditional accepts, the last
owner held by the write, the invitation email through SES, and a removed member's emailed link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from hitl import ids, timeutil, wiring
from hitl.adapters.messaging import SesMailer
from hitl.domain.models import Approver
from hitl.domain.ports import Invitation, TransactionRefused
from hitl.domain.teams import InvitationNotValid, Teams
from hitl.notify.invitation import InvitationEmails
from tests.fakes import MemoryTeamAudit

BASE = "https://hitl.example.test"


@pytest.fixture
def tenants(cloud):
    return cloud.store.tenants


@pytest.fixture
def audit():
    return MemoryTeamAudit()


@pytest.fixture
def teams(cloud, tenants, audit):
    mailer = InvitationEmails(SesMailer(cloud.client("sesv2"), wiring.DEFAULT_SENDER), wiring.DEFAULT_SENDER)
    return Teams(tenants, audit, base_url=BASE, mailer=mailer)


def owner_of(team: dict) -> str:
    return str(team["approvers"][0])


def raw_items(cloud, prefix: str) -> list[dict]:
    return [i for i in cloud.items() if i["pk"]["S"].startswith(prefix)]


# --- the repository ---------------------------------------------------------------------------------


def test_a_persons_teams_come_from_one_lookup_query_confirmed_and_invited(cloud, tenants, teams, make_tenant):
    first = make_tenant(approvers=["ann@x.test"])
    second = make_tenant(approvers=["owen@x.test"])
    make_tenant(approvers=["someone@x.test"])
    teams.invite(second["tenantId"], "ann@x.test", actor="owen@x.test")

    calls = []
    real = tenants.table.client.query
    tenants.table.client.query = lambda **kw: calls.append(kw) or real(**kw)  # type: ignore[method-assign]
    try:
        found = tenants.memberships("ann@x.test")
    finally:
        tenants.table.client.query = real  # type: ignore[method-assign]

    assert sorted((m.tenantId, m.status, m.role) for m in found) == sorted(
        [(first["tenantId"], "confirmed", "owner"), (second["tenantId"], "invited", "approver")]
    )
    assert len(calls) == 1 and calls[0]["IndexName"] == wiring.LOOKUP.name
    assert tenants.memberships("nobody@x.test") == []


def test_member_reads_one_member_and_older_items_read_as_approvers(cloud, tenants, make_tenant):
    team = make_tenant(approvers=["ann@x.test"])
    # an item written before roles and the lookup existed
    cloud.client("dynamodb").put_item(
        TableName=cloud.names.table,
        Item={
            "pk": {"S": f"T#{team['tenantId']}"},
            "sk": {"S": "APPROVER#old@x.test"},
            "tenantId": {"S": team["tenantId"]},
            "email": {"S": "old@x.test"},
            "status": {"S": "confirmed"},
            "createdAt": {"S": "2025-01-01T00:00:00Z"},
        },
    )

    old = tenants.member(team["tenantId"], "old@x.test")
    assert old is not None and (old.role, old.status) == ("approver", "confirmed")
    assert tenants.member(team["tenantId"], "nobody@x.test") is None
    assert tenants.memberships("old@x.test") == []

    assert tenants.upgrade_members(team["tenantId"]) == 1  # findable by email from now on
    assert [m.tenantId for m in tenants.memberships("old@x.test")] == [team["tenantId"]]
    assert tenants.upgrade_members(team["tenantId"]) == 0


def test_accepting_is_one_conditional_write_single_use_unexpired_and_current(cloud, tenants, make_tenant):
    team = make_tenant(approvers=["owen@x.test"])
    tenant_id = team["tenantId"]
    now = timeutil.now()

    def invited(email: str, token: str, expires_in: timedelta) -> Approver:
        expires = timeutil.iso(now + expires_in)
        member = Approver(
            tenantId=tenant_id,
            email=email,
            status="invited",
            createdAt=timeutil.iso(now),
            invitationHash=ids.sha256_hex(token),
            invitationExpiresAt=expires,
        )
        invitation = Invitation(
            tenantId=tenant_id,
            email=email,
            role="approver",
            invitedBy="owen@x.test",
            createdAt=timeutil.iso(now),
            expiresAt=expires,
        )
        tenants.put_invitation(ids.sha256_hex(token), invitation, member, replaces=None)
        return member

    good, stale = ids.new_invitation_token(), ids.new_invitation_token()
    ann = invited("ann@x.test", good, timedelta(days=7))
    bob = invited("bob@x.test", stale, timedelta(seconds=-1))

    tenants.accept_invitation(ids.sha256_hex(good), ann, timeutil.iso(now))
    assert tenants.member(tenant_id, "ann@x.test").status == "confirmed"  # type: ignore[union-attr]
    with pytest.raises(TransactionRefused) as twice:
        tenants.accept_invitation(ids.sha256_hex(good), ann, timeutil.iso(now))
    assert set(twice.value.reasons) == {"invitation", "member"}
    with pytest.raises(TransactionRefused) as expired:
        tenants.accept_invitation(ids.sha256_hex(stale), bob, timeutil.iso(now))
    assert expired.value.reasons == ["invitation"]
    assert tenants.member(tenant_id, "bob@x.test").status == "invited"  # type: ignore[union-attr]
    # a second invitation for a member who already has one is refused (re-send names the one it replaces)
    with pytest.raises(TransactionRefused):
        invited("bob@x.test", ids.new_invitation_token(), timedelta(days=7))
    # only hashes are stored
    stored = repr(cloud.items())
    assert good not in stored and stale not in stored
    assert {i["sk"]["S"] for i in raw_items(cloud, "INVITE#")} == {"INVITE"}


def test_the_write_keeps_the_other_owner(tenants, make_tenant):
    team = make_tenant(approvers=["owen@x.test", "ann@x.test"])  # owen is the owner, ann an approver
    with pytest.raises(TransactionRefused) as refused:
        tenants.set_role(team["tenantId"], "owen@x.test", "approver", keep_owner="ann@x.test")
    assert refused.value.reasons == ["owner"]
    with pytest.raises(TransactionRefused):
        tenants.remove_member(team["tenantId"], "owen@x.test", keep_owner="ann@x.test")
    assert tenants.member(team["tenantId"], "owen@x.test").role == "owner"  # type: ignore[union-attr]
    with pytest.raises(TransactionRefused) as missing:
        tenants.remove_member(team["tenantId"], "nobody@x.test", keep_owner=None)
    assert missing.value.reasons == ["member"]


def test_last_active_is_written_at_most_once_a_period(tenants, make_tenant):
    team = make_tenant(approvers=["owen@x.test"])
    tenants.touch_member(team["tenantId"], "owen@x.test", "2026-01-01T10:00:00Z")
    tenants.touch_member(team["tenantId"], "owen@x.test", "2026-01-01T10:20:00Z", older_than="2026-01-01T09:20:00Z")
    assert tenants.member(team["tenantId"], "owen@x.test").lastActiveAt == "2026-01-01T10:00:00Z"  # type: ignore[union-attr]
    tenants.touch_member(team["tenantId"], "owen@x.test", "2026-01-01T11:30:00Z", older_than="2026-01-01T10:30:00Z")
    assert tenants.member(team["tenantId"], "owen@x.test").lastActiveAt == "2026-01-01T11:30:00Z"  # type: ignore[union-attr]
    tenants.touch_member(team["tenantId"], "removed@x.test", "2026-01-01T10:00:00Z")
    assert tenants.member(team["tenantId"], "removed@x.test") is None  # never re-created


# --- the invitation email, end to end in moto --------------------------------------------------------


def invite_link(email) -> str:
    text = email.get_body(preferencelist=("plain",)).get_content()
    (link,) = set(re.findall(r"https://\S+/invite/[A-Za-z0-9_-]{43}", text))
    return link


def test_an_invitation_is_emailed_with_team_inviter_role_link_and_expiry(cloud, teams, audit, make_tenant):
    team = make_tenant(approvers=["owen@x.test"], name="Acme <ops>")

    invitation, token = teams.invite(team["tenantId"], "ann@x.test", "owner", actor="owen@x.test", ip="203.0.113.9")

    (email,) = cloud.sent_emails()
    assert str(email["To"]) == "ann@x.test"
    assert email["Subject"] == "You are invited to Acme <ops> on HITL"
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    assert 'owen@x.test invited you to join the team "Acme <ops>" on HITL as an owner.' in text
    assert "expires in 7 days" in text
    assert "Acme &lt;ops&gt;" in html and "Acme <ops>" not in html
    assert invite_link(email) == f"{BASE}/invite/{token}"
    assert f'href="{BASE}/invite/{token}"' in html
    # the invitee sees who and what, and accepting confirms them
    shown = teams.invitation(token)
    assert (shown.teamName, shown.role, shown.invitedBy) == ("Acme <ops>", "owner", "owen@x.test")
    joined = teams.accept(token, ip="198.51.100.2")
    assert (joined.status, joined.role) == ("confirmed", "owner")
    assert cloud.store.tenants.member(team["tenantId"], "ann@x.test").status == "confirmed"  # type: ignore[union-attr]
    with pytest.raises(InvitationNotValid):
        teams.accept(token)
    assert [e.type for e in audit.events] == ["team.member_invited", "team.member_joined"]
    assert invitation.expiresAt > timeutil.iso(timeutil.now() + timedelta(days=6, hours=23))


def test_an_invited_member_gets_no_pause_email_and_cannot_be_named(api, cloud, teams, make_tenant):
    team = make_tenant(approvers=["owen@x.test"])
    teams.invite(team["tenantId"], "ann@x.test", actor="owen@x.test")
    before = len(cloud.sent_emails())

    named = api.post("/api/pause", {"action": "Deploy", "approvers": ["ann@x.test"]}, key=team["apiKey"])
    assert named.status == 422 and named.error_code == "unknown_approver"

    created = api.post("/api/pause", {"action": "Deploy"}, key=team["apiKey"])
    assert created.status == 201 and created.json()["watchId"]
    cloud.run_queue("notify")
    cloud.run_queue("email")
    assert [str(e["To"]) for e in cloud.sent_emails()[before:]] == ["owen@x.test"]


# --- removal takes effect at once: the removed member's emailed link --------------------------------


def links_of(email) -> list[str]:
    text = email.get_body(preferencelist=("plain",)).get_content()
    return re.findall(r"https?://\S+/a/[A-Za-z0-9_-]{43}/(?:approve|reject|view)", text)


def test_a_removed_members_emailed_link_is_refused_and_decides_nothing(api, cloud, admin, make_tenant):
    # Given a pause that names Bob, and his email with its links
    team = make_tenant(approvers=["ann@x.test", "bob@x.test"])
    created = api.post("/api/pause", {"action": "Deploy v2", "approvers": ["bob@x.test"]}, key=team["apiKey"])
    watch_id = created.json()["watchId"]
    cloud.run_queue("notify")
    cloud.run_queue("email")
    (email,) = [e for e in cloud.sent_emails() if str(e["To"]) == "bob@x.test"]
    approve, _, view = links_of(email)
    token = approve.split("/")[-2]
    assert api.get(view.removeprefix(BASE)).status == 200  # his link works while he is a member

    # When the owner removes him
    admin.remove_approver(team["tenantId"], "bob@x.test")

    # Then his link shows why it no longer works, and his POST decides nothing
    shown = api.get(view.removeprefix(BASE))
    assert shown.status == 403 and "You are no longer a member of this team" in shown.text
    posted = api.post_form(f"/a/{token}", {"decision": "approved"})
    assert posted.status == 403
    assert "You are no longer a member of this team" in posted.text and "Nothing was recorded" in posted.text
    pause = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert pause["status"] == "pending" and pause["approvals"] == []
    assert [t["usedAt"] for t in raw_items(cloud, "TOK#") if "usedAt" in t] == []


# --- the local stack's tenant ------------------------------------------------------------------------


def test_the_local_tenants_approver_is_its_owner_also_in_a_table_saved_before_roles(cloud, admin):
    from hitl_local import state

    fresh = state.ensure_local_tenant(admin, "approver@example.com", None)
    member = cloud.store.tenants.member(fresh.tenantId, "approver@example.com")
    assert member is not None and (member.role, member.status) == ("owner", "confirmed")

    # a table saved by an older local stack: the approver's item has no role and no lookup keys
    dynamodb = cloud.client("dynamodb")
    key = {"pk": {"S": f"T#{fresh.tenantId}"}, "sk": {"S": "APPROVER#approver@example.com"}}
    dynamodb.update_item(
        TableName=cloud.names.table,
        Key=key,
        UpdateExpression="REMOVE #role, lookupPk, lookupSk",
        ExpressionAttributeNames={"#role": "role"},
    )
    assert cloud.store.tenants.member(fresh.tenantId, "approver@example.com").role == "approver"  # type: ignore[union-attr]

    again = state.ensure_local_tenant(
        admin, "approver@example.com", {"tenantId": fresh.tenantId, "apiKey": fresh.apiKey}
    )

    assert again.tenantId == fresh.tenantId and again.apiKey == fresh.apiKey
    member = cloud.store.tenants.member(fresh.tenantId, "approver@example.com")
    assert member is not None and (member.role, member.status) == ("owner", "confirmed")
    assert [m.tenantId for m in cloud.store.tenants.memberships("approver@example.com")] == [fresh.tenantId]


def test_a_member_removed_before_their_email_goes_out_is_not_emailed(api, cloud, admin, make_tenant):
    team = make_tenant(approvers=["ann@x.test", "bob@x.test"])
    created = api.post("/api/pause", {"action": "Deploy v2"}, key=team["apiKey"])
    assert created.status == 201
    cloud.run_queue("notify")  # one work item each for ann and bob

    admin.remove_approver(team["tenantId"], "bob@x.test")
    cloud.run_queue("email")

    assert [str(e["To"]) for e in cloud.sent_emails()] == ["ann@x.test"]
