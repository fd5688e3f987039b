"""Connecting Slack and linking members, on in-memory fakes: the install state (bound to the
session, used once, 10 minutes), one workspace per team, the pasted token, disconnecting, linking
by email at connect time and on joining, a member's own link and unlink, turning email off only
while linked, the plan gate, and no secret in any team event."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from hitl import ids, timeutil
from hitl.domain import team_events
from hitl.domain.errors import BadRequest, Conflict, NotFound, PlanRequired, Unprocessable
from hitl.domain.joining import Joining
from hitl.domain.models import Approver, Tenant
from hitl.domain.ports import SlackApiError
from hitl.domain.sessions import Sessions
from hitl.domain.slack_connect import SCOPES, Actor, SlackAppConfig, SlackConnect
from hitl.domain.teams import Teams
from tests.fakes import Clock, MemoryCipher, MemorySlackApi, MemoryStore, MemoryTeamAudit
from tests.fakes_people import MemoryPeople

START = timeutil.now().replace(microsecond=0)
BASE = "https://hitl.example.test"
OWNER, ANN, BOB = "olive@x.test", "ann@x.test", "bob@x.test"
SESSION = "a" * 64
AUTHORIZE = "https://slack.example/oauth/v2/authorize"


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
def slack_api() -> MemorySlackApi:
    return MemorySlackApi(users={OWNER: "U0OLIVE", ANN: "U0ANN", "ann.work@x.test": "U0ANNWORK"})


def make_connect(store, audit, slack_api, clock, *, configured: bool = True) -> SlackConnect:
    app = (
        SlackAppConfig(
            client_id=slack_api.client_id, authorize_url=AUTHORIZE, client_secret=lambda: slack_api.client_secret
        )
        if configured
        else None
    )
    return SlackConnect(
        store.slack, store.tenants, audit, MemoryCipher(), lambda: slack_api, app=app, base_url=BASE + "/", clock=clock
    )


@pytest.fixture
def connect(store, audit, slack_api, clock) -> SlackConnect:
    return make_connect(store, audit, slack_api, clock)


def make_team(store: MemoryStore, plan: str = "pro", name: str = "acme", members=(OWNER, ANN, BOB)) -> str:
    tenant_id = f"t_{name}"
    store.tenants.tenants[tenant_id] = Tenant(tenantId=tenant_id, name=name, plan=plan, createdAt=timeutil.iso(START))  # type: ignore[arg-type]
    for n, email in enumerate(members):
        store.tenants.put_member(
            Approver(
                tenantId=tenant_id,
                email=email,
                status="confirmed",
                role="owner" if n == 0 else "approver",
                createdAt=timeutil.iso(START),
            )
        )
    return tenant_id


def me(email: str = OWNER) -> Actor:
    return Actor(email, "dashboard", "203.0.113.7")


def member(store: MemoryStore, tenant_id: str, email: str) -> Approver:
    found = store.tenants.member(tenant_id, email)
    assert found is not None
    return found


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def install(connect: SlackConnect, slack_api: MemorySlackApi, team: str, session: str = SESSION):
    started = connect.start_install(team, session, me())
    return connect.finish_install(team, session, slack_api.install_code(), state_of(started.url), me())


# --- the OAuth install -----------------------------------------------------------------------


def test_an_install_starts_at_slacks_authorize_url_with_a_state_stored_only_as_its_hash(connect, store):
    team = make_team(store)

    started = connect.start_install(team, SESSION, me())

    url = urlsplit(started.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == AUTHORIZE
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == "memory-client-id"
    assert query["scope"] == "chat:write,users:read,users:read.email,im:write" == ",".join(SCOPES)
    assert query["redirect_uri"] == f"{BASE}/slack/oauth/callback"
    (stored_hash, stored) = next(iter(store.slack.states.items()))
    assert stored_hash == ids.sha256_hex(query["state"]) and query["state"] not in json.dumps(stored.to_json())
    assert (stored.tenantId, stored.sessionHash, stored.email) == (team, SESSION, OWNER)
    assert stored.expiresAt == timeutil.iso(START + timedelta(minutes=10))


def test_finishing_the_install_connects_the_workspace_with_the_token_encrypted_and_links_members(
    connect, store, audit, slack_api
):
    team = make_team(store)

    done = install(connect, slack_api, team)

    workspace = store.slack.get(team)
    assert workspace is not None and workspace.via == "oauth"
    assert (workspace.teamId, workspace.teamName, workspace.botUserId) == (
        "T0MEMORY",
        "Memory Workspace",
        "U0MEMORYBOT",
    )
    assert workspace.botTokenCipher != slack_api.token and slack_api.token not in workspace.botTokenCipher
    assert MemoryCipher().decrypt(team, workspace.botTokenCipher) == slack_api.token
    assert (workspace.connectedBy, workspace.connectedAt) == (OWNER, timeutil.iso(START))
    (exchange,) = slack_api.called("oauth.v2.access")
    assert exchange.args["redirect_uri"] == f"{BASE}/slack/oauth/callback"
    # members found by their email are linked; bob has no Slack user of his email
    assert done.linked == (ANN, OWNER) and done.unmatched == (BOB,)
    assert member(store, team, ANN).slackUserId == "U0ANN" and member(store, team, BOB).slackUserId is None
    status = connect.status(team)
    assert (status.usable, status.workspace, status.linked, status.members) == (True, workspace, 2, 3)
    assert audit.types() == [team_events.SLACK_CONNECTED, team_events.SLACK_LINKED, team_events.SLACK_LINKED]
    connected = audit.events[0]
    assert (connected.actor, connected.channel, connected.ip) == (OWNER, "dashboard", "203.0.113.7")
    assert connected.details == {"teamId": "T0MEMORY", "teamName": "Memory Workspace", "via": "oauth"}
    assert audit.events[1].details == {"email": ANN, "slackUserId": "U0ANN", "matched": "email"}


def test_an_install_state_is_used_once(connect, store, slack_api):
    team = make_team(store)
    state = state_of(connect.start_install(team, SESSION, me()).url)
    connect.finish_install(team, SESSION, slack_api.install_code("one"), state, me())

    with pytest.raises(BadRequest) as refused:
        connect.finish_install(team, SESSION, slack_api.install_code("two"), state, me())

    assert refused.value.code == "slack_state_invalid"
    assert len(slack_api.called("oauth.v2.access")) == 1


def test_an_install_state_expires_after_10_minutes(connect, store, slack_api, clock):
    team = make_team(store)
    state = state_of(connect.start_install(team, SESSION, me()).url)
    clock.now = START + timedelta(minutes=10, seconds=1)

    with pytest.raises(BadRequest) as refused:
        connect.finish_install(team, SESSION, slack_api.install_code(), state, me())

    assert refused.value.code == "slack_state_expired"
    assert store.slack.get(team) is None and not slack_api.called("oauth.v2.access")


def test_an_install_finished_from_another_session_is_refused_and_its_state_used_up(connect, store, slack_api):
    team = make_team(store)
    state = state_of(connect.start_install(team, SESSION, me()).url)

    with pytest.raises(BadRequest) as refused:
        connect.finish_install(team, "b" * 64, slack_api.install_code(), state, me())

    assert refused.value.code == "slack_state_mismatch"
    assert store.slack.get(team) is None and not slack_api.called("oauth.v2.access")
    with pytest.raises(BadRequest) as again:  # the rightful session cannot use it any more either
        connect.finish_install(team, SESSION, slack_api.install_code(), state, me())
    assert again.value.code == "slack_state_invalid"


def test_an_install_state_of_another_team_is_refused(connect, store, slack_api):
    team, other = make_team(store), make_team(store, name="other")
    state = state_of(connect.start_install(other, SESSION, me()).url)

    with pytest.raises(BadRequest) as refused:
        connect.finish_install(team, SESSION, slack_api.install_code(), state, me())

    assert refused.value.code == "slack_state_mismatch"


@pytest.mark.parametrize("state", ["", "not-a-state", "x" * 43])
def test_a_made_up_state_is_refused(connect, store, slack_api, state):
    team = make_team(store)

    with pytest.raises(BadRequest) as refused:
        connect.finish_install(team, SESSION, slack_api.install_code(), state, me())

    assert refused.value.code == "slack_state_invalid"


def test_a_code_slack_refuses_connects_nothing(connect, store, audit, slack_api):
    team = make_team(store)
    state = state_of(connect.start_install(team, SESSION, me()).url)

    with pytest.raises(Unprocessable) as refused:
        connect.finish_install(team, SESSION, "a-code-slack-never-gave", state, me())

    assert refused.value.code == "slack_oauth_failed" and refused.value.details == {"slackError": "invalid_code"}
    assert store.slack.get(team) is None and audit.events == []


# --- one workspace per team ------------------------------------------------------------------


def test_a_workspace_connected_to_another_team_is_refused(connect, store, audit, slack_api):
    first, second = make_team(store), make_team(store, name="second", members=("sam@x.test",))
    install(connect, slack_api, first)
    before = len(audit.events)

    with pytest.raises(Conflict) as refused:
        connect.connect_token(second, slack_api.token, me("sam@x.test"))

    assert refused.value.code == "slack_team_taken" and "another team" in refused.value.message
    assert store.slack.get(second) is None and store.slack.by_team("T0MEMORY").tenantId == first  # type: ignore[union-attr]
    assert len(audit.events) == before


def test_a_team_connected_to_one_workspace_must_disconnect_before_connecting_another(connect, store, slack_api):
    team = make_team(store)
    install(connect, slack_api, team)
    other = MemorySlackApi(token="xoxb-other-workspace", team_id="T0OTHER", team_name="Other")

    with pytest.raises(Conflict) as refused:
        make_connect(store, MemoryTeamAudit(), other, Clock(START)).connect_token(team, "xoxb-other-workspace", me())

    assert refused.value.code == "slack_already_connected"
    assert store.slack.get(team).teamId == "T0MEMORY"  # type: ignore[union-attr]


def test_reconnecting_the_same_workspace_replaces_its_token_and_keeps_the_links(connect, store, slack_api):
    team = make_team(store)
    install(connect, slack_api, team)

    again = connect.connect_token(team, slack_api.token, me())

    assert store.slack.get(team).via == "token"  # type: ignore[union-attr]
    assert again.linked == () and member(store, team, ANN).slackUserId == "U0ANN"


# --- a pasted bot token ----------------------------------------------------------------------


def test_a_pasted_bot_token_is_checked_with_auth_test_and_stored_encrypted(connect, store, audit, slack_api):
    team = make_team(store)

    done = connect.connect_token(team, f"  {slack_api.token} ", me())

    (checked,) = slack_api.called("auth.test")
    assert checked.token == slack_api.token
    assert done.workspace.via == "token" and done.workspace.teamId == "T0MEMORY"
    assert MemoryCipher().decrypt(team, store.slack.get(team).botTokenCipher) == slack_api.token  # type: ignore[union-attr]
    assert audit.events[0].details["via"] == "token"
    assert slack_api.token not in json.dumps([e.details for e in audit.events])


@pytest.mark.parametrize(
    "token",
    ["", "   ", "xoxp-a-user-token", "hello", "xoxb-", "xoxb-" + "a" * 300, "xoxb-two words", "xoxb-1234\r\nX: y"],
)
def test_a_pasted_string_that_is_no_bot_token_is_refused_without_calling_slack(connect, store, slack_api, token):
    team = make_team(store)

    with pytest.raises(Unprocessable) as refused:
        connect.connect_token(team, token, me())

    assert refused.value.code == "slack_token_invalid" and not slack_api.calls
    assert store.slack.get(team) is None


def test_a_bot_token_slack_refuses_is_not_stored(connect, store, audit, slack_api):
    team = make_team(store)

    with pytest.raises(Unprocessable) as refused:
        connect.connect_token(team, "xoxb-revoked-long-ago", me())

    assert refused.value.code == "slack_token_refused" and refused.value.details == {"slackError": "invalid_auth"}
    assert "xoxb-revoked-long-ago" not in refused.value.message
    assert store.slack.get(team) is None and audit.events == []


def test_a_slack_outage_while_linking_leaves_the_workspace_connected_and_members_unmatched(connect, store, slack_api):
    team = make_team(store)
    slack_api.fail = {"users.lookupByEmail": SlackApiError("ratelimited", 30)}
    slack_api.fail_always = True

    done = connect.connect_token(team, slack_api.token, me())

    assert store.slack.get(team) is not None
    assert done.linked == () and set(done.unmatched) == {OWNER, ANN, BOB}


# --- disconnecting ---------------------------------------------------------------------------


def test_disconnecting_removes_the_workspace_and_every_slack_link_and_turns_email_back_on(
    connect, store, audit, slack_api
):
    team = make_team(store)
    install(connect, slack_api, team)
    connect.set_email_notifications(team, ANN, False)

    connect.disconnect(team, me())

    assert store.slack.get(team) is None and store.slack.by_team("T0MEMORY") is None
    for email in (OWNER, ANN, BOB):
        found = member(store, team, email)
        assert (found.email, found.slackUserId, found.emailNotifications) == (email, None, True)
    assert audit.types()[-1] == team_events.SLACK_DISCONNECTED
    assert audit.events[-1].details == {"teamId": "T0MEMORY", "teamName": "Memory Workspace"}
    # the workspace is free again: another team may connect it
    other = make_team(store, name="other", members=("sam@x.test",))
    connect.connect_token(other, slack_api.token, me("sam@x.test"))
    assert store.slack.by_team("T0MEMORY").tenantId == other  # type: ignore[union-attr]


def test_disconnecting_when_nothing_is_connected_is_refused(connect, store):
    team = make_team(store)

    with pytest.raises(NotFound) as refused:
        connect.disconnect(team, me())

    assert refused.value.code == "slack_not_connected"


# --- a member's own link ---------------------------------------------------------------------


def test_a_member_links_the_slack_user_of_another_email(connect, store, audit, slack_api):
    team = make_team(store, members=(OWNER, "ann@home.test"))
    install(connect, slack_api, team)
    assert member(store, team, "ann@home.test").slackUserId is None

    linked = connect.link(team, "ann@home.test", " Ann.Work@X.test ", me("ann@home.test"))

    assert linked == "U0ANNWORK" and member(store, team, "ann@home.test").slackUserId == "U0ANNWORK"
    assert audit.events[-1].type == team_events.SLACK_LINKED
    assert audit.events[-1].details == {
        "email": "ann@home.test",
        "slackUserId": "U0ANNWORK",
        "matched": "explicit",
        "slackEmail": "ann.work@x.test",
    }
    assert audit.events[-1].actor == "ann@home.test"


def test_linking_an_email_slack_does_not_know_is_refused(connect, store, slack_api):
    team = make_team(store)
    install(connect, slack_api, team)

    with pytest.raises(NotFound) as refused:
        connect.link(team, BOB, "bob@nowhere.test", me(BOB))

    assert refused.value.code == "slack_user_not_found" and member(store, team, BOB).slackUserId is None


def test_a_slack_user_linked_to_one_member_cannot_be_linked_to_another(connect, store, slack_api):
    team = make_team(store)
    install(connect, slack_api, team)

    with pytest.raises(Conflict) as refused:
        connect.link(team, BOB, ANN, me(BOB))

    assert refused.value.code == "slack_user_taken" and member(store, team, BOB).slackUserId is None


def test_linking_before_any_workspace_is_connected_is_refused(connect, store):
    team = make_team(store)

    with pytest.raises(NotFound) as refused:
        connect.link(team, ANN, ANN, me(ANN))

    assert refused.value.code == "slack_not_connected"


def test_a_member_unlinks_and_their_email_is_turned_back_on(connect, store, audit, slack_api):
    team = make_team(store)
    install(connect, slack_api, team)
    connect.set_email_notifications(team, ANN, False)

    connect.unlink(team, ANN, me(ANN))

    found = member(store, team, ANN)
    assert (found.slackUserId, found.emailNotifications) == (None, True)
    assert audit.events[-1].type == team_events.SLACK_UNLINKED
    assert audit.events[-1].details == {"email": ANN, "slackUserId": "U0ANN"}
    with pytest.raises(NotFound) as again:
        connect.unlink(team, ANN, me(ANN))
    assert again.value.code == "slack_not_linked"


# --- email on and off ------------------------------------------------------------------------


def test_email_can_be_turned_off_only_while_linked(connect, store, slack_api):
    team = make_team(store)
    install(connect, slack_api, team)

    with pytest.raises(Conflict) as refused:
        connect.set_email_notifications(team, BOB, False)  # bob is not linked

    assert refused.value.code == "email_needed" and member(store, team, BOB).emailNotifications is True
    assert connect.set_email_notifications(team, ANN, False).emailNotifications is False
    assert member(store, team, ANN).emailNotifications is False
    assert connect.set_email_notifications(team, ANN, True).emailNotifications is True
    assert member(store, team, ANN).emailNotifications is True


def test_email_stays_on_when_slack_is_not_connected(connect, store):
    team = make_team(store)

    with pytest.raises(Conflict):
        connect.set_email_notifications(team, ANN, False)

    assert connect.set_email_notifications(team, ANN, True).emailNotifications is True


# --- joining ---------------------------------------------------------------------------------


def test_a_member_who_joins_is_linked_by_their_email(connect, store, audit, slack_api, clock):
    team = make_team(store, members=(OWNER,))
    install(connect, slack_api, team)
    teams = Teams(store.tenants, audit, base_url=BASE, clock=clock)
    _, token = teams.invite(team, ANN, actor=OWNER)
    people = MemoryPeople()
    joining = Joining(teams, Sessions(people, store.tenants), audit, slack=lambda: connect)

    joining.join(token, ip="198.51.100.4", user_agent=None)

    assert member(store, team, ANN).slackUserId == "U0ANN"
    linked = audit.events[-1]
    assert (linked.type, linked.actor, linked.details) == (
        team_events.SLACK_LINKED,
        ANN,
        {"email": ANN, "slackUserId": "U0ANN", "matched": "email"},
    )


def test_joining_is_not_held_up_by_slack(connect, store, slack_api):
    team = make_team(store, members=(OWNER, ANN))
    install(connect, slack_api, team)
    store.tenants.set_slack_user(team, ANN, None)
    slack_api.fail = {"users.lookupByEmail": SlackApiError("unreachable")}

    assert connect.member_joined(team, ANN, me(ANN)) is None
    assert connect.member_joined(team, BOB, me(BOB)) is None  # not a member: nothing to link
    assert connect.member_joined(make_team(store, name="bare"), ANN, me(ANN)) is None  # nothing connected


# --- the plan gate, and a deployment without a Slack app ---------------------------------------


def test_every_slack_use_case_refuses_a_team_not_on_pro(connect, store, slack_api):
    team = make_team(store, plan="starter")
    calls = {
        "start_install": lambda: connect.start_install(team, SESSION, me()),
        "finish_install": lambda: connect.finish_install(team, SESSION, "code", "s" * 43, me()),
        "connect_token": lambda: connect.connect_token(team, slack_api.token, me()),
        "disconnect": lambda: connect.disconnect(team, me()),
        "link": lambda: connect.link(team, ANN, ANN, me(ANN)),
        "unlink": lambda: connect.unlink(team, ANN, me(ANN)),
        "email off": lambda: connect.set_email_notifications(team, ANN, False),
    }
    for name, call in calls.items():
        with pytest.raises(PlanRequired) as refused:
            call()
        assert refused.value.code == "plan_required", name
        assert refused.value.details == {"plan": "starter", "needed": "pro"}, name
    assert not slack_api.calls and store.slack.states == {}
    assert connect.member_joined(team, ANN, me(ANN)) is None
    status = connect.status(team)
    assert (status.allowed, status.plan, status.usable) == (False, "starter", False)


def test_a_team_that_left_pro_can_still_unlink_and_disconnect_what_it_connected(connect, store, audit, slack_api):
    team = make_team(store)
    install(connect, slack_api, team)
    store.tenants.tenants[team] = store.tenants.tenants[team].model_copy(update={"plan": "starter"})
    status = connect.status(team)
    assert (status.allowed, status.usable, status.workspace.teamId) == (False, False, "T0MEMORY")  # type: ignore[union-attr]
    with pytest.raises(PlanRequired):
        connect.link(team, BOB, "ann.work@x.test", me(BOB))

    connect.unlink(team, ANN, me(ANN))
    connect.disconnect(team, me())

    assert store.slack.get(team) is None and member(store, team, OWNER).slackUserId is None
    assert audit.types()[-2:] == [team_events.SLACK_UNLINKED, team_events.SLACK_DISCONNECTED]
    with pytest.raises(PlanRequired):  # nothing left: the plan gate again
        connect.disconnect(team, me())


def test_without_a_slack_app_nothing_slack_runs(store, audit, slack_api, clock):
    connect = make_connect(store, audit, slack_api, clock, configured=False)
    team = make_team(store)

    with pytest.raises(NotFound) as refused:
        connect.start_install(team, SESSION, me())
    assert refused.value.code == "slack_not_configured"
    with pytest.raises(NotFound):
        connect.connect_token(team, slack_api.token, me())
    assert connect.member_joined(team, ANN, me(ANN)) is None
    status = connect.status(team)
    assert (status.allowed, status.configured, status.workspace) == (True, False, None)
    assert not slack_api.calls


def test_no_team_event_holds_a_token_a_code_or_a_state(connect, store, audit, slack_api):
    team = make_team(store)
    started = connect.start_install(team, SESSION, me())
    state = state_of(started.url)
    code = slack_api.install_code("the-oauth-code-1234")
    connect.finish_install(team, SESSION, code, state, me())
    connect.link(team, BOB, "ann.work@x.test", me(BOB))
    connect.unlink(team, BOB, me(BOB))
    connect.disconnect(team, me())

    recorded = json.dumps([(e.type, e.actor, e.details) for e in audit.events])
    for secret in (slack_api.token, code, state, slack_api.client_secret):
        assert secret not in recorded
