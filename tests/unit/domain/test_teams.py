"""Teams on in-memory fakes: invitations (single use, 7 days, re-send, revoke), the plan's
approver limit with pending invitations, the last owner, and removal taking effect at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hitl import ids, timeutil
from hitl.domain import team_events
from hitl.domain.auth import Principal
from hitl.domain.errors import Conflict, NotAMember, NotFound, Unprocessable
from hitl.domain.models import ApiKeyRecord, Approver, PolicyFloor, Tenant
from hitl.domain.ports import LinkToken, TransactionRefused
from hitl.domain.requests import CreatePauseRequest
from hitl.domain.service import PauseService
from hitl.domain.teams import InvitationNotValid, Teams
from tests.fakes import Clock, MemoryInvitationMailer, MemoryPublisher, MemoryStore, MemoryTeamAudit

START = timeutil.now().replace(microsecond=0)
BASE = "https://hitl.example.test"
OWNER = "olive@x.test"


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def audit() -> MemoryTeamAudit:
    return MemoryTeamAudit()


@pytest.fixture
def mailer() -> MemoryInvitationMailer:
    return MemoryInvitationMailer()


@pytest.fixture
def teams(store: MemoryStore, audit: MemoryTeamAudit, mailer: MemoryInvitationMailer, clock: Clock) -> Teams:
    return Teams(store.tenants, audit, base_url=BASE + "/", mailer=mailer, clock=clock)


def make_team(store: MemoryStore, plan: str = "pro", name: str = "acme", owners: tuple[str, ...] = (OWNER,)) -> str:
    tenant_id = f"t_{name}"
    store.tenants.tenants[tenant_id] = Tenant(tenantId=tenant_id, name=name, plan=plan, createdAt=timeutil.iso(START))  # type: ignore[arg-type]
    for email in owners:
        store.tenants.put_member(
            Approver(tenantId=tenant_id, email=email, status="confirmed", role="owner", createdAt=timeutil.iso(START))
        )
    return tenant_id


def invite(teams: Teams, tenant_id: str, email: str, role: str = "approver") -> str:
    _, token = teams.invite(tenant_id, email, role, actor=OWNER, ip="203.0.113.7")
    return token


# --- inviting ------------------------------------------------------------------------------------


def test_an_invitation_stores_an_invited_member_and_only_the_hash_of_its_token(teams, store, mailer, audit):
    team = make_team(store)

    invitation, token = teams.invite(team, " Ann@X.test ", "approver", actor=OWNER, ip="203.0.113.7")

    assert len(token) == 43 and ids.is_invitation_token(token)  # 256 random bits, URL-safe
    member = store.tenants.member(team, "ann@x.test")
    assert member is not None and (member.status, member.role, member.invitedBy) == ("invited", "approver", OWNER)
    assert member.invitationHash == ids.sha256_hex(token)
    assert list(store.tenants.invitations) == [ids.sha256_hex(token)]
    assert token not in repr(store.tenants.invitations) + repr(store.tenants.approver_records)
    assert invitation.expiresAt == timeutil.iso(START + timedelta(days=7))
    # the email: who, which team, as what, the link, until when
    (sent,) = mailer.sent
    assert (sent.to, sent.team_name, sent.inviter, sent.role) == ("ann@x.test", "acme", OWNER, "approver")
    assert sent.url == f"{BASE}/invite/{token}" and sent.expires_at == invitation.expiresAt
    (event,) = audit.events
    assert (event.type, event.actor, event.channel, event.ip) == (
        team_events.MEMBER_INVITED,
        OWNER,
        "dashboard",
        "203.0.113.7",
    )
    assert event.details == {"email": "ann@x.test", "role": "approver"}


def test_the_invitation_page_shows_team_role_inviter_and_email(teams, store):
    team = make_team(store)
    token = invite(teams, team, "ann@x.test", "owner")

    shown = teams.invitation(token)

    assert (shown.teamName, shown.role, shown.invitedBy, shown.email) == ("acme", "owner", OWNER, "ann@x.test")
    assert shown.tenantId == team and shown.expiresAt == timeutil.iso(START + timedelta(days=7))
    # showing changes nothing (mail scanners fetch every link)
    assert store.tenants.member(team, "ann@x.test").status == "invited"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("email", "role", "code"),
    [("not-an-email", "approver", "invalid_email"), ("a@x.test", "admin", "invalid_role")],
)
def test_an_invitation_needs_an_email_and_a_role(teams, store, email, role, code):
    team = make_team(store)
    with pytest.raises(Unprocessable) as refused:
        teams.invite(team, email, role, actor=OWNER)
    assert refused.value.code == code
    assert store.tenants.invitations == {}


def test_a_member_or_an_invited_person_cannot_be_invited_again(teams, store, mailer):
    team = make_team(store)
    invite(teams, team, "ann@x.test")

    with pytest.raises(Conflict) as member:
        teams.invite(team, OWNER, actor=OWNER)
    with pytest.raises(Conflict) as invited:
        teams.invite(team, "ANN@x.test", actor=OWNER)

    assert member.value.code == "already_member"
    assert invited.value.code == "already_invited" and "re-send" in invited.value.message
    assert len(mailer.sent) == 1


# --- accepting: single use, 7 days ---------------------------------------------------------------


def test_accepting_confirms_the_member_once(teams, store, audit):
    team = make_team(store)
    token = invite(teams, team, "ann@x.test")
    audit.events.clear()

    joined = teams.accept(token, ip="198.51.100.1")

    assert (joined.status, joined.role, joined.joinedAt) == ("confirmed", "approver", timeutil.iso(START))
    stored = store.tenants.member(team, "ann@x.test")
    assert stored is not None and stored.status == "confirmed" and stored.invitationHash is None
    assert [(e.type, e.actor, e.ip) for e in audit.events] == [
        (team_events.MEMBER_JOINED, "ann@x.test", "198.51.100.1")
    ]
    # the second use of the same link is refused, and says why
    with pytest.raises(InvitationNotValid) as again:
        teams.accept(token)
    assert (again.value.reason, again.value.code) == ("used", "invitation_used")
    with pytest.raises(InvitationNotValid):
        teams.invitation(token)
    assert len(audit.events) == 1


def test_an_invitation_expires_after_7_days(teams, store, clock):
    team = make_team(store)
    token = invite(teams, team, "ann@x.test")
    later = invite(teams, team, "bob@x.test")

    clock.now = START + timedelta(days=7) - timedelta(minutes=1)
    assert teams.accept(later).status == "confirmed"  # still valid just before

    clock.now = START + timedelta(days=7)
    with pytest.raises(InvitationNotValid) as expired:
        teams.invitation(token)
    assert expired.value.reason == "expired" and "Ask the team's owner" in expired.value.message
    with pytest.raises(InvitationNotValid):
        teams.accept(token)
    assert store.tenants.member(team, "ann@x.test").status == "invited"  # type: ignore[union-attr]


def test_the_write_itself_refuses_a_used_or_expired_invitation(teams, store, clock):
    """The conditional write holds even when the checks before it passed (a race)."""
    team = make_team(store)
    token = invite(teams, team, "ann@x.test")
    member = store.tenants.member(team, "ann@x.test")
    assert member is not None
    store.tenants.accept_invitation(ids.sha256_hex(token), member, timeutil.iso(START))

    with pytest.raises(TransactionRefused) as twice:
        store.tenants.accept_invitation(ids.sha256_hex(token), member, timeutil.iso(START))
    assert set(twice.value.reasons) == {"invitation", "member"}


@pytest.mark.parametrize("token", ["", "short", "x" * 43, "../../etc/passwd"])
def test_an_unknown_or_malformed_token_is_unknown(teams, store, token):
    make_team(store)
    with pytest.raises(InvitationNotValid) as unknown:
        teams.invitation(token)
    assert unknown.value.reason == "unknown" and unknown.value.code == "invitation_unknown"


# --- re-send and revoke ----------------------------------------------------------------------------


def test_a_re_send_makes_a_new_link_and_the_old_one_stops_working(teams, store, mailer, audit, clock):
    team = make_team(store)
    old = invite(teams, team, "ann@x.test")
    clock.now = START + timedelta(days=6)

    invitation, new = teams.resend(team, "ann@x.test", actor=OWNER, ip="203.0.113.7")

    assert new != old and invitation.expiresAt == timeutil.iso(clock.now + timedelta(days=7))
    assert [s.url for s in mailer.sent] == [f"{BASE}/invite/{old}", f"{BASE}/invite/{new}"]
    with pytest.raises(InvitationNotValid) as replaced:
        teams.accept(old)
    assert replaced.value.reason == "replaced" and "latest email" in replaced.value.message
    assert teams.accept(new).status == "confirmed"
    assert audit.types() == [team_events.MEMBER_INVITED, team_events.INVITATION_RESENT, team_events.MEMBER_JOINED]


def test_only_a_pending_invitation_can_be_re_sent_or_revoked(teams, store):
    team = make_team(store)
    for act in (teams.resend, teams.revoke_invitation):
        with pytest.raises(NotFound) as confirmed:
            act(team, OWNER, actor=OWNER)
        assert confirmed.value.code == "no_invitation"
        with pytest.raises(NotFound) as nobody:
            act(team, "nobody@x.test", actor=OWNER)
        assert nobody.value.code == "member_not_found"


def test_a_revoked_invitation_says_so_and_its_member_is_gone(teams, store, audit):
    team = make_team(store)
    token = invite(teams, team, "ann@x.test")

    teams.revoke_invitation(team, "ann@x.test", actor=OWNER, ip="203.0.113.7")

    assert store.tenants.member(team, "ann@x.test") is None
    with pytest.raises(InvitationNotValid) as revoked:
        teams.accept(token)
    assert revoked.value.reason == "revoked" and "withdrawn" in revoked.value.message
    assert audit.types()[-1] == team_events.INVITATION_REVOKED
    # and the person may be invited afresh
    assert teams.accept(invite(teams, team, "ann@x.test")).status == "confirmed"


def test_a_removed_invitee_cannot_accept(teams, store):
    team = make_team(store)
    token = invite(teams, team, "ann@x.test")
    teams.remove(team, "ann@x.test", actor=OWNER)
    with pytest.raises(InvitationNotValid) as removed:
        teams.accept(token)
    assert removed.value.reason == "revoked"


def test_an_operator_confirming_an_invited_person_uses_their_invitation_up(teams, store):
    team = make_team(store)
    token = invite(teams, team, "ann@x.test", "owner")

    member = teams.add_member(team, "ann@x.test")

    assert (member.status, member.role) == ("confirmed", "owner")
    with pytest.raises(InvitationNotValid) as used:
        teams.accept(token)
    assert used.value.reason == "used"


# --- the plan's approver limit counts pending invitations -----------------------------------------


def test_the_plan_limit_counts_members_and_pending_invitations(teams, store, mailer):
    team = make_team(store, plan="starter")  # 3 approvers: the owner and two invitations
    invite(teams, team, "ann@x.test")
    invite(teams, team, "bob@x.test")

    with pytest.raises(Unprocessable) as full:
        teams.invite(team, "cat@x.test", actor=OWNER)

    assert full.value.code == "plan_limit"
    assert full.value.details == {"plan": "starter", "limit": 3, "used": 3}
    assert "pending invitations" in full.value.message
    assert store.tenants.member(team, "cat@x.test") is None and len(mailer.sent) == 2
    with pytest.raises(Unprocessable):
        teams.add_member(team, "cat@x.test")  # the operator's add counts the same
    assert teams.seats(team) == {"plan": "starter", "limit": 3, "used": 3}

    # revoking one makes room
    teams.revoke_invitation(team, "bob@x.test", actor=OWNER)
    invite(teams, team, "cat@x.test")


def test_the_free_plan_has_room_for_its_owner_only(teams, store):
    team = make_team(store, plan="free")
    with pytest.raises(Unprocessable) as full:
        teams.invite(team, "ann@x.test", actor=OWNER)
    assert full.value.code == "plan_limit" and "free plan allows 1 approver," in full.value.message


def test_an_expired_invitation_frees_its_seat_until_it_is_re_sent(teams, store, clock):
    team = make_team(store, plan="starter")
    invite(teams, team, "ann@x.test")
    invite(teams, team, "bob@x.test")
    clock.now = START + timedelta(days=8)

    invite(teams, team, "cat@x.test")  # ann's and bob's invitations expired: they no longer count
    invite(teams, team, "dan@x.test")

    with pytest.raises(Unprocessable) as full:
        teams.resend(team, "ann@x.test", actor=OWNER)
    assert full.value.code == "plan_limit"


# --- roles and the last owner ------------------------------------------------------------------------


def test_the_last_owner_can_be_neither_removed_nor_demoted(teams, store, audit):
    team = make_team(store)
    teams.accept(invite(teams, team, "ann@x.test"))

    with pytest.raises(Conflict) as removed:
        teams.remove(team, OWNER, actor=OWNER)
    with pytest.raises(Conflict) as demoted:
        teams.change_role(team, OWNER, "approver", actor=OWNER)

    assert removed.value.code == demoted.value.code == "last_owner"
    assert "Make another member an owner first" in removed.value.message
    assert store.tenants.member(team, OWNER).role == "owner"  # type: ignore[union-attr]

    # with a second owner, the first may step down, and then the second is the last
    promoted = teams.change_role(team, "ann@x.test", "owner", actor=OWNER, ip="203.0.113.7")
    assert promoted.role == "owner"
    assert teams.change_role(team, OWNER, "approver", actor=OWNER).role == "approver"
    with pytest.raises(Conflict):
        teams.remove(team, "ann@x.test", actor=OWNER)
    changes = [e.details for e in audit.events if e.type == team_events.ROLE_CHANGED]
    assert changes == [
        {"email": "ann@x.test", "from": "approver", "to": "owner"},
        {"email": OWNER, "from": "owner", "to": "approver"},
    ]


def test_two_owners_stepping_down_at_once_leave_one(teams, store):
    """The write checks that the other owner is still one: the second of two crossing demotions fails."""
    team = make_team(store, owners=(OWNER, "otto@x.test"))
    real = store.tenants.set_role

    def racing(tenant_id, email, role, *, keep_owner):
        # the other owner steps down between our check and our write
        store.tenants.set_role = real  # type: ignore[method-assign]
        real(tenant_id, "otto@x.test", "approver", keep_owner=None)
        real(tenant_id, email, role, keep_owner=keep_owner)

    store.tenants.set_role = racing  # type: ignore[method-assign]
    with pytest.raises(Conflict) as refused:
        teams.change_role(team, OWNER, "approver", actor=OWNER)

    assert refused.value.code == "last_owner"
    assert store.tenants.member(team, OWNER).role == "owner"  # type: ignore[union-attr]


def test_an_invited_owner_is_not_yet_an_owner(teams, store):
    team = make_team(store)
    invite(teams, team, "ann@x.test", "owner")
    with pytest.raises(Conflict) as refused:
        teams.remove(team, OWNER, actor=OWNER)
    assert refused.value.code == "last_owner"


def test_removing_a_member_the_floor_needs_is_refused_unless_lowered(teams, store):
    team = make_team(store)
    teams.add_member(team, "ann@x.test")
    tenant = store.tenants.tenants[team]
    store.tenants.tenants[team] = tenant.model_copy(update={"floor": PolicyFloor(minRequiredApprovals=2)})

    with pytest.raises(Unprocessable) as refused:
        teams.remove(team, "ann@x.test", actor=OWNER)
    assert refused.value.code == "floor_unmeetable"
    assert "lower the policy floor to 1" in refused.value.message

    removed = teams.remove(team, "ann@x.test", actor=OWNER, lower_floor=True)
    assert (removed.left, removed.floor["minRequiredApprovals"]) == (1, 1)  # type: ignore[index]
    assert store.tenants.tenants[team].floor.minRequiredApprovals == 1


# --- invited and removed members and pauses ----------------------------------------------------------


def principal(store: MemoryStore, tenant_id: str) -> Principal:
    key = ApiKeyRecord(keyId="key_a", tenantId=tenant_id, name="agent", last4="abcd", createdAt=timeutil.iso(START))
    return Principal(tenant_id=tenant_id, key=key)


def test_an_invited_member_cannot_be_named_by_a_pause(teams, store):
    team = make_team(store)
    invite(teams, team, "ann@x.test")
    service = PauseService(store, MemoryPublisher(), BASE)

    with pytest.raises(Unprocessable) as refused:
        service.create(principal(store, team), CreatePauseRequest(action="Deploy", approvers=["ann@x.test"]), None)

    assert refused.value.code == "unknown_approver"
    created = service.create(principal(store, team), CreatePauseRequest(action="Deploy"), None)
    assert created.pause.policy.approvers == [OWNER]  # by default only confirmed members are asked


def test_a_removed_members_link_stops_working_at_once(teams, store):
    team = make_team(store)
    teams.add_member(team, "ann@x.test")
    service = PauseService(store, MemoryPublisher(), BASE)
    created = service.create(
        principal(store, team), CreatePauseRequest(action="Deploy", approvers=["ann@x.test"]), None
    )
    token = ids.new_link_token()
    link = LinkToken(
        watchId=created.pause.watchId, tenantId=team, approver="ann@x.test", expiresAt=created.pause.expiresAt
    )
    store.tokens.put_token(ids.sha256_hex(token), link)
    assert service.link(token)[0].approver == "ann@x.test"

    teams.remove(team, "ann@x.test", actor=OWNER)

    with pytest.raises(NotAMember) as gone:
        service.decide_by_link(token, "approved", None)
    assert gone.value.code == "not_a_member"
    with pytest.raises(NotAMember):
        service.link(token)
    assert store.pauses.heads[created.pause.watchId].status == "pending"
    assert store.pauses.heads[created.pause.watchId].approvals == []


def test_last_active_is_recorded_at_most_once_a_period(store):
    team = make_team(store)
    store.tenants.touch_member(team, OWNER, "2026-01-01T10:00:00Z")
    store.tenants.touch_member(team, OWNER, "2026-01-01T10:30:00Z", older_than="2026-01-01T09:30:00Z")
    assert store.tenants.member(team, OWNER).lastActiveAt == "2026-01-01T10:00:00Z"  # type: ignore[union-attr]
    store.tenants.touch_member(team, "gone@x.test", "2026-01-01T10:00:00Z")
    assert store.tenants.member(team, "gone@x.test") is None
