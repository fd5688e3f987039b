"""Sign-in and sessions on fakes: the link and code rules, session lifetimes, membership checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hitl import ids, timeutil
from hitl.domain.errors import Gone, TooManyRequests, Unprocessable
from hitl.domain.models import Approver
from hitl.domain.sessions import Sessions
from hitl.domain.signin import CodeNeeded, SignIn, SignInRules
from tests.fakes import Clock
from tests.fakes_people import MemoryMailer, MemoryMembers, MemoryPeople, MemoryTeamAudit

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
EMAIL = "ana@example.com"


@dataclass
class World:
    clock: Clock
    people: MemoryPeople
    members: MemoryMembers
    mailer: MemoryMailer
    audit: MemoryTeamAudit
    sessions: Sessions
    signin: SignIn


@pytest.fixture
def world() -> World:
    clock = Clock(START)
    people, members, mailer, audit = MemoryPeople(), MemoryMembers(), MemoryMailer(), MemoryTeamAudit()
    members.put_approver(
        Approver(tenantId="t_1", email=EMAIL, status="confirmed", role="owner", createdAt=timeutil.iso(START))
    )
    sessions = Sessions(people, members, idle_s=12 * 3600, max_s=7 * 86400, clock=clock)
    rules = SignInRules(base_url="https://hitl.test", sender="HITL <a@hitl.test>", signup_open=True)
    signin = SignIn(people, members, sessions, mailer, audit, rules, clock=clock)
    return World(clock, people, members, mailer, audit, sessions, signin)


def emailed(mailer: MemoryMailer) -> tuple[str, str]:
    """The token and the code of the last email."""
    text = mailer.sent[-1][1].get_body(("plain",)).get_content()
    token = re.search(r"/login/([A-Za-z0-9_-]{43})", text).group(1)
    code = re.search(r"code: (\d{6})", text).group(1)
    return token, code


def test_the_asking_browser_signs_in_with_one_tap_and_the_link_works_once(world):
    binding = world.signin.request(EMAIL, ip="203.0.113.9")
    token, _ = emailed(world.mailer)
    assert world.signin.link(token, binding).needs_code is False
    started = world.signin.confirm(token, binding, None, ip="203.0.113.9", user_agent="UA")
    assert world.sessions.resolve(started.secret).tenant_id == "t_1"
    assert world.audit.recorded[-1]["type"] == "team.signed_in" and world.audit.recorded[-1]["ip"] == "203.0.113.9"
    with pytest.raises(Gone):
        world.signin.confirm(token, binding, None, ip=None, user_agent=None)


def test_another_device_must_type_the_code_and_has_five_tries(world):
    world.signin.request(EMAIL, ip=None)
    token, code = emailed(world.mailer)
    assert world.signin.link(token, None).needs_code is True
    with pytest.raises(CodeNeeded):
        world.signin.confirm(token, None, None, ip=None, user_agent=None)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        with pytest.raises(CodeNeeded):
            world.signin.confirm(token, "another-browser", wrong, ip=None, user_agent=None)
    with pytest.raises(Gone):  # the fifth wrong code uses the link up
        world.signin.confirm(token, None, wrong, ip=None, user_agent=None)
    with pytest.raises(Gone):  # and then not even the right code works
        world.signin.confirm(token, None, code, ip=None, user_agent=None)


def test_the_right_code_signs_in_another_device(world):
    world.signin.request(EMAIL, ip=None)
    token, code = emailed(world.mailer)
    started = world.signin.confirm(token, None, code, ip=None, user_agent=None)
    assert world.sessions.resolve(started.secret) is not None


def test_a_link_expires_after_15_minutes(world):
    binding = world.signin.request(EMAIL, ip=None)
    token, _ = emailed(world.mailer)
    world.clock.advance(minutes=15, seconds=1)
    with pytest.raises(Gone):
        world.signin.link(token, binding)
    with pytest.raises(Gone):
        world.signin.confirm(token, binding, None, ip=None, user_agent=None)


def test_an_unknown_email_gets_the_same_answer_and_no_email(world):
    binding = world.signin.request("nobody@example.com", ip=None)
    assert ids.is_secret_token(binding)
    assert world.mailer.sent == []


def test_an_invited_member_cannot_sign_in_before_accepting(world):
    world.members.put_approver(Approver(tenantId="t_1", email="new@example.com", status="invited", createdAt="x"))
    world.signin.request("new@example.com", ip=None)
    assert world.mailer.sent == []


def test_requests_are_limited_per_email_and_per_ip(world):
    for _ in range(5):
        world.signin.request(EMAIL, ip="198.51.100.1")
    with pytest.raises(TooManyRequests):
        world.signin.request(EMAIL, ip="198.51.100.2")
    for n in range(45):  # 50 per IP: an office behind one address
        world.signin.request(f"person{n}@example.com", ip="198.51.100.1")
    with pytest.raises(TooManyRequests):
        world.signin.request("person-last@example.com", ip="198.51.100.1")
    world.clock.advance(minutes=15)
    world.signin.request(EMAIL, ip="198.51.100.1")  # a new window


def test_signup_creates_a_free_team_with_its_owner_signed_in(world):
    binding = world.signin.request("founder@example.com", ip=None, purpose="signup", team_name="Acme")
    token, _ = emailed(world.mailer)
    assert world.signin.link(token, binding).purpose == "signup"
    who = world.sessions.resolve(world.signin.confirm(token, binding, None, ip=None, user_agent=None).secret)
    assert who.is_owner and world.members.tenants[who.tenant_id].plan == "free"
    assert world.members.tenants[who.tenant_id].name == "Acme"


def test_signup_with_a_known_email_signs_in_and_creates_nothing(world):
    binding = world.signin.request(EMAIL, ip=None, purpose="signup", team_name="Second")
    assert "already have an account" in world.mailer.sent[-1][1].get_body(("plain",)).get_content()
    token, _ = emailed(world.mailer)
    who = world.sessions.resolve(world.signin.confirm(token, binding, None, ip=None, user_agent=None).secret)
    assert who.tenant_id == "t_1" and world.members.tenants == {}


def test_signup_closed_is_refused(world):
    world.signin.rules = SignInRules(base_url="https://hitl.test", sender="a@hitl.test", signup_open=False)
    with pytest.raises(Unprocessable):
        world.signin.request("x@example.com", ip=None, purpose="signup", team_name="X")


def test_a_session_ends_after_12_idle_hours_and_after_7_days_at_most(world):
    idle = world.sessions.start(EMAIL, "t_1", ip=None, user_agent=None)
    world.clock.advance(hours=12, seconds=1)
    assert world.sessions.resolve(idle.secret) is None
    busy = world.sessions.start(EMAIL, "t_1", ip=None, user_agent=None)
    for _ in range(15):
        world.clock.advance(hours=11, minutes=59)
        if world.sessions.resolve(busy.secret) is None:
            break
    assert world.clock.now - timeutil.parse(busy.session.createdAt) >= timedelta(days=7)
    assert world.sessions.resolve(busy.secret) is None


def test_a_removed_member_is_signed_out_of_that_team_at_once(world):
    started = world.sessions.start(EMAIL, "t_1", ip=None, user_agent=None)
    world.members.remove("t_1", EMAIL)
    assert world.sessions.resolve(started.secret) is None


def test_a_removed_member_keeps_their_other_teams(world):
    world.members.put_approver(Approver(tenantId="t_2", email=EMAIL, status="confirmed", createdAt="z"))
    started = world.sessions.start(EMAIL, "t_1", ip=None, user_agent=None)
    world.members.remove("t_1", EMAIL)
    assert world.sessions.resolve(started.secret).tenant_id == "t_2"


def test_csrf_is_the_sessions_own_and_sign_out_everywhere_ends_every_session(world):
    one = world.sessions.resolve(world.sessions.start(EMAIL, "t_1", ip=None, user_agent=None).secret)
    other_started = world.sessions.start(EMAIL, "t_1", ip=None, user_agent=None)
    other = world.sessions.resolve(other_started.secret)
    assert one.csrf_matches(one.csrf) and not one.csrf_matches(other.csrf) and not one.csrf_matches(None)
    assert world.sessions.end_everywhere(one) == 2
    assert world.sessions.resolve(other_started.secret) is None
