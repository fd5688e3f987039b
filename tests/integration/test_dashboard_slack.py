"""Connecting Slack and linking members through the dashboard's handler, on moto: the OAuth
install (``/slack/install`` → Slack → ``/slack/oauth/callback``), a pasted bot token, the token
KMS-encrypted at rest and never shown again, disconnecting, a member's own link, unlink and email
choice, the plan gate (402 from every Slack route) and a deployment without a Slack app.

Slack itself is the in-memory ``MemorySlackApi`` (the dashboard's ``SlackConnect`` is given it):
what is tested here is our side — the pages, the stored items, the client secret read from SSM.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from hitl import runtime, wiring
from hitl.adapters.kms import SLACK_BOT_TOKEN
from tests import people
from tests.client import Answer, Browser, Client
from tests.fakes import MemorySlackApi
from tests.people import form_field

OWNER, ANN, BOB = "olga@example.com", "ann@example.com", "bob@example.com"
CLIENT_SECRET = "memory-client-secret"
CLIENT_SECRET_PARAMETER = "/hitl-test/slack/client-secret"
AUTHORIZE = "https://slack.example/oauth/v2/authorize"
SLACK_ROUTES = [
    ("GET", "/slack/install"),
    ("GET", "/slack/oauth/callback?code=c&state=" + "s" * 43),
    ("POST", "/app/settings/slack/token"),
    ("POST", "/app/settings/slack/disconnect"),
    ("POST", "/app/account/slack/link"),
    ("POST", "/app/account/slack/unlink"),
]


@pytest.fixture
def slack_api(cloud, monkeypatch) -> MemorySlackApi:
    """The deployment has a Slack app (its client secret in SSM); Slack is ``MemorySlackApi``."""
    cloud.client("ssm").put_parameter(Name=CLIENT_SECRET_PARAMETER, Value=CLIENT_SECRET, Type="SecureString")
    app = wiring.SlackApp(
        signing_secret_parameter="/hitl-test/slack/signing-secret",
        client_id="memory-client-id",
        client_secret_parameter=CLIENT_SECRET_PARAMETER,
        api_url="http://127.0.0.1:9/api/",
        authorize_url=AUTHORIZE,
    )
    for name, value in wiring.slack_environment(app).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    api = MemorySlackApi(users={OWNER: "U0OLGA", ANN: "U0ANN", "ann.work@example.com": "U0ANNWORK"})
    monkeypatch.setattr(runtime, "slack_api", functools.cache(lambda: api))  # reset() clears it, as the real one
    return api


@pytest.fixture
def team(make_tenant):
    return make_tenant(plan="pro", approvers=[OWNER, ANN, BOB], name="Acme")


@pytest.fixture
def owner(api, cloud, team) -> Browser:
    return people.sign_in(Browser(api), cloud.sent_emails, OWNER)


@pytest.fixture
def agent(api: Client, team) -> Client:
    return api.as_tenant(team["apiKey"])


def post(browser: Browser, path: str, fields: dict[str, str] | None = None) -> Answer:
    csrf = form_field(browser.get("/app"), "csrf")
    return browser.post(path, {"csrf": csrf, **(fields or {})})


def install(owner: Browser, slack_api: MemorySlackApi, code: str = "the-code") -> Answer:
    """Add to Slack → Slack's authorize page → back at the callback with a code and the state."""
    started = owner.get("/slack/install")
    assert started.status == 303, started.text
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
    slack_api.install_code(code)
    return owner.get("/slack/oauth/callback?" + urlencode({"code": code, "state": state}))


def workspace_items(cloud) -> list[dict]:
    return [i for i in cloud.items() if "botTokenCipher" in i]


def team_events(agent: Client, type_: str) -> list[dict]:
    answer = agent.get("/api/audit", query={"type": type_})
    assert answer.status == 200, answer.text
    return answer.json()["items"]


def test_an_owner_connects_slack_with_the_install_and_the_token_is_encrypted_at_rest(
    api, cloud, owner, agent, slack_api, team
):
    settings = owner.get("/app/settings")
    assert settings.status == 200 and 'href="/slack/install"' in settings.text

    started = owner.get("/slack/install")

    assert started.status == 303
    location = urlsplit(started.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == AUTHORIZE
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == "memory-client-id"
    assert query["scope"] == "chat:write,users:read,users:read.email,im:write"
    assert query["redirect_uri"] == "https://hitl.example.test/slack/oauth/callback"
    slack_api.install_code("the-code")
    back = owner.get("/slack/oauth/callback?" + urlencode({"code": "the-code", "state": query["state"]}))

    assert back.status == 303 and back.headers["location"].startswith("/app/settings?done=slack")
    page = owner.get(back.headers["location"])
    assert "Slack is connected. 2 members linked by their email; 1 not found" in page.text
    assert "Memory Workspace" in page.text and "T0MEMORY" in page.text and "Disconnect Slack" in page.text
    assert "<dt>Members linked</dt><dd>2 of 3</dd>" in page.text
    assert slack_api.token not in page.text
    # the client secret came from SSM; the token is stored only encrypted, bound to the tenant
    (exchange,) = slack_api.called("oauth.v2.access")
    assert exchange.args["code"] == "the-code"
    (item,) = workspace_items(cloud)
    raw = json.dumps(cloud.items())
    assert slack_api.token not in raw and "the-code" not in raw and query["state"] not in raw
    plain = cloud.client("kms").decrypt(
        CiphertextBlob=base64.b64decode(item["botTokenCipher"]["S"]),
        EncryptionContext={"tenantId": team["tenantId"], "purpose": SLACK_BOT_TOKEN},
    )["Plaintext"]
    assert plain.decode() == slack_api.token
    (connected,) = team_events(agent, "team.slack_connected")
    assert (connected["actor"], connected["channel"], connected["details"]["via"]) == (OWNER, "dashboard", "oauth")
    linked = {e["details"]["email"]: e["details"]["slackUserId"] for e in team_events(agent, "team.slack_linked")}
    assert linked == {OWNER: "U0OLGA", ANN: "U0ANN"}
    members = {m.email: m.slackUserId for m in cloud.store.tenants.approvers(team["tenantId"])}
    assert members == {OWNER: "U0OLGA", ANN: "U0ANN", BOB: None}


def test_a_callback_in_another_session_or_a_second_time_connects_nothing(api, cloud, owner, slack_api):
    started = owner.get("/slack/install")
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
    slack_api.install_code("the-code")
    elsewhere = people.sign_in(Browser(api), cloud.sent_emails, OWNER)  # the same owner, another browser

    refused = elsewhere.get("/slack/oauth/callback?" + urlencode({"code": "the-code", "state": state}))

    assert refused.status == 400 and "started from another session" in refused.text
    again = owner.get("/slack/oauth/callback?" + urlencode({"code": "the-code", "state": state}))
    assert again.status == 400 and "not valid or was used already" in again.text
    assert workspace_items(cloud) == [] and not slack_api.called("oauth.v2.access")
    cancelled = owner.get("/slack/oauth/callback?error=access_denied&state=" + state)
    assert cancelled.status == 400 and "cancelled in Slack" in cancelled.text


def test_a_pasted_bot_token_connects_and_is_never_shown_again(api, cloud, owner, slack_api, agent):
    wrong = post(owner, "/app/settings/slack/token", {"token": "xoxb-not-this-one"})
    assert wrong.status == 422 and "Slack refused this token (invalid_auth)" in wrong.text
    assert "xoxb-not-this-one" not in wrong.text and workspace_items(cloud) == []
    assert post(owner, "/app/settings/slack/token", {"token": "xoxp-user"}).status == 422

    connected = post(owner, "/app/settings/slack/token", {"token": slack_api.token})

    assert connected.status == 303
    page = owner.get(connected.headers["location"])
    assert "Memory Workspace" in page.text and slack_api.token not in page.text
    assert team_events(agent, "team.slack_connected")[0]["details"]["via"] == "token"
    assert slack_api.token not in json.dumps(agent.get("/api/audit").json())


def test_a_workspace_another_team_holds_is_refused(api, cloud, owner, slack_api, make_tenant):
    other = make_tenant(plan="pro", approvers=["sam@elsewhere.test"], name="Elsewhere")
    sam = people.sign_in(Browser(api), cloud.sent_emails, "sam@elsewhere.test")
    assert post(sam, "/app/settings/slack/token", {"token": slack_api.token}).status == 303

    refused = post(owner, "/app/settings/slack/token", {"token": slack_api.token})

    assert refused.status == 409 and "connected to another team" in refused.text
    (item,) = workspace_items(cloud)
    assert item["tenantId"]["S"] == other["tenantId"]


def test_disconnecting_deletes_the_token_and_every_link(api, cloud, owner, slack_api, agent, team):
    install(owner, slack_api)

    gone = post(owner, "/app/settings/slack/disconnect")

    assert gone.status == 303
    assert "Slack is disconnected" in owner.get(gone.headers["location"]).text
    assert workspace_items(cloud) == []
    assert [i for i in cloud.items() if str(i["pk"]["S"]).startswith("SLACKTEAM#")] == []
    assert {m.slackUserId for m in cloud.store.tenants.approvers(team["tenantId"])} == {None}
    assert team_events(agent, "team.slack_disconnected")[0]["actor"] == OWNER
    assert post(owner, "/app/settings/slack/disconnect").status == 404


def test_a_member_links_another_slack_email_turns_email_off_and_unlinks(api, cloud, owner, slack_api, team, agent):
    install(owner, slack_api)
    bob = people.sign_in(Browser(api), cloud.sent_emails, BOB)
    account = bob.get("/app/account")
    assert account.status == 200 and "not linked to a Slack user" in account.text
    assert 'href="/app/account"' in account.text  # the header's link
    refused = post(bob, "/app/account/notifications", {})  # email off, while not linked
    assert refused.status == 409 and "only be turned off while your account is linked" in refused.text

    unknown = post(bob, "/app/account/slack/link", {"slackEmail": "bob@nowhere.test"})
    assert unknown.status == 404 and "no Slack user with the email bob@nowhere.test" in unknown.text
    taken = post(bob, "/app/account/slack/link", {"slackEmail": ANN})
    assert taken.status == 409
    linked = post(bob, "/app/account/slack/link", {"slackEmail": "ann.work@example.com"})

    assert linked.status == 303
    assert "U0ANNWORK" in bob.get(linked.headers["location"]).text
    assert cloud.store.tenants.member(team["tenantId"], BOB).slackUserId == "U0ANNWORK"  # type: ignore[union-attr]
    off = post(bob, "/app/account/notifications", {})
    assert off.status == 303 and "no longer emailed" in bob.get(off.headers["location"]).text
    assert cloud.store.tenants.member(team["tenantId"], BOB).emailNotifications is False  # type: ignore[union-attr]
    unlinked = post(bob, "/app/account/slack/unlink")
    assert unlinked.status == 303
    after = cloud.store.tenants.member(team["tenantId"], BOB)
    assert after is not None and (after.slackUserId, after.emailNotifications) == (None, True)
    assert [e["actor"] for e in team_events(agent, "team.slack_unlinked")] == [BOB]


def test_a_team_not_on_pro_gets_402_from_every_slack_route_and_settings_says_why(api, cloud, slack_api, make_tenant):
    make_tenant(plan="starter", approvers=["stan@example.com"], name="Small")
    stan = people.sign_in(Browser(api), cloud.sent_emails, "stan@example.com")

    for method, path in SLACK_ROUTES:
        answer = stan.get(path) if method == "GET" else post(stan, path, {"token": slack_api.token})
        assert answer.status == 402, (method, path, answer.status)
        assert "part of the Pro plan" in answer.text, path
    settings = stan.get("/app/settings")
    assert "part of the <strong>Pro</strong> plan; this team is on starter" in settings.text
    assert "hitl-admin set-plan" in settings.text and 'href="/slack/install"' not in settings.text
    assert not slack_api.calls and workspace_items(cloud) == []


def test_without_a_slack_app_the_settings_page_says_so(api, cloud, owner):
    settings = owner.get("/app/settings")

    assert settings.status == 200 and "no Slack app configured" in settings.text
    assert 'href="/slack/install"' not in settings.text
    assert owner.get("/slack/install").status == 404
    assert "no Slack app configured" in owner.get("/app/account").text


def test_only_owners_connect_slack(api, cloud, owner, slack_api):
    ann = people.sign_in(Browser(api), cloud.sent_emails, ANN)

    assert ann.get("/slack/install").status == 403
    assert post(ann, "/app/settings/slack/token", {"token": slack_api.token}).status == 403
    assert workspace_items(cloud) == [] and not slack_api.calls
    assert not re.search(r"xoxb-", ann.get("/app/account").text)


def test_a_team_moved_off_pro_still_sees_and_removes_its_workspace(api, cloud, owner, slack_api, admin, team):
    assert post(owner, "/app/settings/slack/token", {"token": slack_api.token}).status == 303
    admin.set_plan(team["tenantId"], "starter")

    settings = owner.get("/app/settings")

    assert "part of the <strong>Pro</strong> plan" in settings.text and "is still connected" in settings.text
    assert post(owner, "/app/settings/slack/token", {"token": slack_api.token}).status == 402
    assert post(owner, "/app/settings/slack/disconnect").status == 303
    assert workspace_items(cloud) == [] and post(owner, "/app/settings/slack/disconnect").status == 402
