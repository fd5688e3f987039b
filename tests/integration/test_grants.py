"""The wiring grants each function exactly the DynamoDB actions its code calls: every function's
handlers run a whole flow under moto, each DynamoDB call is recorded against the function that
made it, and the recorded actions must equal the function's ``table_access`` needs (which the
CDK stack turns into IAM statements, tests/infra/test_stack.py)."""

from __future__ import annotations

import importlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest

from hitl import runtime, wiring
from hitl_local import apigw
from hitl_local.receiver import receiver
from hitl_local.ses_simulator import MailboxSimulator
from tests import people, slack
from tests.client import Browser

#: how IAM judges the items of a transaction
TRANSACTION_ITEM_ACTIONS = {
    "Put": wiring.PUT_ITEM,
    "Update": wiring.UPDATE_ITEM,
    "Delete": wiring.DELETE_ITEM,
    "ConditionCheck": wiring.CONDITION_CHECK_ITEM,
}


class Calls:
    def __init__(self) -> None:
        self.current = threading.local()
        self.by_function: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def record(self, operation: str, params: dict[str, Any]) -> None:
        function = getattr(self.current, "function", None)
        if function is None:  # the test itself (tenants, fixtures): not a function
            return
        if operation == "TransactWriteItems":
            actions = {TRANSACTION_ITEM_ACTIONS[kind] for item in params["TransactItems"] for kind in item}
        elif operation == "TransactGetItems":
            actions = {wiring.GET_ITEM}
        else:
            actions = {operation}
        with self.lock:
            self.by_function.setdefault(function, set()).update(actions)


@pytest.fixture
def calls(cloud, monkeypatch) -> Iterator[Calls]:
    recorded = Calls()
    real = botocore.client.BaseClient._make_api_call

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            recorded.record(operation, params)
        return real(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    for spec in wiring.FUNCTIONS:
        module = importlib.import_module(spec.handler.rsplit(".", 1)[0])
        monkeypatch.setattr(module, "lambda_handler", _as_function(spec.name, module.lambda_handler, recorded))
    monkeypatch.setenv(wiring.ENV_WEBHOOK_LOOPBACK, "true")
    monkeypatch.setenv(wiring.ENV_WEBHOOK_RETRY_SCALE, "0")
    monkeypatch.setenv(wiring.ENV_SES_CONFIGURATION_SET, cloud.names.configuration_set)
    runtime.reset()
    yield recorded


def _as_function(name: str, handler: Any, recorded: Calls) -> Any:
    def invoke(event: Any, context: Any) -> Any:
        recorded.current.function = name
        try:
            return handler(event, context)
        finally:
            recorded.current.function = None

    return invoke


def test_each_function_calls_exactly_the_table_actions_it_is_granted(api, cloud, make_tenant, calls, monkeypatch):
    tenant = make_tenant(plan="pro", approvers=["ann@x.test", "bounce@simulator.amazonses.com"])
    key = tenant["apiKey"]
    with receiver() as hook:
        # the API: webhooks and the callback secret, creates (one idempotent), lists, audit, a cancel
        webhook = api.post("/api/webhooks", {"url": hook.url}, key=key).json()
        doomed = api.post("/api/webhooks", {"url": hook.url}, key=key).json()
        assert api.call("DELETE", f"/api/webhooks/{doomed['id']}", key=key).status in (200, 204)
        assert api.get("/api/webhooks", key=key).status == 200
        assert api.get("/api/callback-secret", key=key).status == 200
        assert api.post("/api/callback-secret/rotate", key=key).status == 200
        created = api.post(
            "/api/pause",
            {"action": "Deploy", "context": {"env": "prod"}, "callbackUrl": hook.url},
            key=key,
            headers={"idempotency-key": "grants-1"},
        )
        assert created.status == 201, created.body
        watch_id = created.json()["watchId"]
        cancelled = api.post("/api/pause", {"action": "Withdrawn"}, key=key).json()["watchId"]
        assert api.post(f"/api/pause/{cancelled}/cancel", key=key).status == 200
        assert api.post("/api/pause", {"action": "Soon over", "timeoutSeconds": 1}, key=key).status == 201
        assert api.get("/api/pause", key=key).status == 200
        assert api.get("/api/audit", query={"watchId": watch_id}, key=key).status == 200
        assert api.get("/api/audit", query={"type": "pause.created"}, key=key).status == 200
        assert api.get(f"/api/webhooks/{webhook['id']}/deliveries", key=key).status == 200

        # the notifier: fan-out, then each email; the pages: a link shown, then decided
        cloud.run_queue("notify")
        cloud.run_queue("email")
        simulator = MailboxSimulator(cloud.client("events"), cloud.names.configuration_set, delivery_s=0)
        assert simulator.scan() >= 1  # SES reports the bounce on the default bus
        assert cloud.run_queue("bounces") >= 1
        text = "\n".join(e.get_body(preferencelist=("plain",)).get_content() for e in cloud.sent_emails())
        token = next(t for t in re.findall(r"/a/([A-Za-z0-9_-]{43})/approve", text))
        assert api.get(f"/a/{token}/approve").status == 200

        # the wait function: a read, and a long-poll (its lease) answered by the decision
        assert api.get(f"/api/pause/{watch_id}", key=key).status == 200
        assert api.get(f"/api/pause/{watch_id}", query={"wait": 1}, key=key).status == 200
        decided = api.post(
            f"/a/{token}",
            raw=b"decision=approved",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert decided.status == 200

        # the sweeper: the short pause runs out; the webhooks: every event fanned out and delivered
        time.sleep(1.2)
        sweeper = importlib.import_module(wiring.SWEEPER.handler.rsplit(".", 1)[0])
        swept = sweeper.lambda_handler({}, apigw.LambdaContext(function_name=wiring.SWEEPER.name))
        assert swept["expired"] >= 1
        for _ in range(3):
            cloud.run_queue("webhooks")
            cloud.run_queue("deliveries")
        assert hook.received, "the webhook was delivered"

    # the dashboard: a member signs in, reads, decides, signs out everywhere
    ann = people.sign_in(Browser(api), cloud.sent_emails, "ann@x.test")
    mine = api.post("/api/pause", {"action": "For the dashboard", "approvers": ["ann@x.test"]}, key=key).json()
    home = ann.get("/app")
    assert home.status == 200
    assert ann.get(f"/app/pauses/{mine['watchId']}").status == 200
    assert ann.get("/app/history").status == 200
    csrf = {"X-CSRF-Token": people.form_field(home, "csrf")}
    assert ann.post_json(f"/api/pause/{mine['watchId']}/approve", {"decision": "approved"}, headers=csrf).status == 200
    assert ann.get("/app/sessions").status == 200
    # ... and, as the team's owner: a key made and revoked, a webhook made, switched, retried,
    # deleted, the callback secret revealed and rotated, the name and the floor changed
    form = {"csrf": csrf["X-CSRF-Token"]}
    assert ann.get("/app/keys").status == 200
    assert ann.post("/app/keys", {**form, "name": "from-the-dashboard"}).status == 200
    made = next(
        k
        for k in runtime.tenant_admin(cloud.store).list_keys(tenant["tenantId"])["keys"]
        if k["name"] == "from-the-dashboard"
    )
    assert ann.post(f"/app/keys/{made['keyId']}/revoke", form).status == 303
    assert ann.get("/app/webhooks").status == 200
    assert (
        ann.post("/app/webhooks", {**form, "url": "http://127.0.0.1:9/dash", "event.pause.created": "on"}).status == 200
    )
    dash_hook = next(e["id"] for e in api.get("/api/webhooks", key=key).json()["items"] if e["url"].endswith("/dash"))
    assert ann.post(f"/app/webhooks/{dash_hook}/disable", form).status == 303
    assert ann.get(f"/app/webhooks/{webhook['id']}").status == 200
    delivery = api.get(f"/api/webhooks/{webhook['id']}/deliveries", key=key).json()["items"][0]["deliveryId"]
    assert ann.post(f"/app/webhooks/{webhook['id']}/deliveries/{delivery}/retry", form).status == 303
    assert ann.post(f"/app/webhooks/{dash_hook}/delete", form).status == 303
    assert ann.post("/app/webhooks/callback-secret/reveal", form).status == 200
    assert ann.post("/app/webhooks/callback-secret/rotate", form).status == 200
    assert ann.get("/app/settings").status == 200
    assert ann.post("/app/settings/name", {**form, "name": "Renamed"}).status == 303
    assert (
        ann.post(
            "/app/settings/policy", {**form, "minRequiredApprovals": "1", "minAutoApproveTimeoutSeconds": "60"}
        ).status
        == 303
    )
    # the owner's team page: invite, re-send, revoke; an invitee accepts; a role changes, a member goes
    assert ann.get("/app/team").status == 200
    for email in ("dee@x.test", "eve@x.test"):
        assert ann.post("/app/team/invitations", {**form, "email": email, "role": "approver"}).status == 303
    assert ann.post("/app/team/invitations/resend", {**form, "email": "dee@x.test"}).status == 303
    assert ann.post("/app/team/invitations/revoke", {**form, "email": "eve@x.test"}).status == 303
    text = cloud.sent_emails()[-1].get_body(preferencelist=("plain",)).get_content()
    invitation = re.search(r"/invite/[A-Za-z0-9_-]{43}", text)
    assert invitation, text
    dee = Browser(api)
    shown = dee.get(invitation.group(0))
    assert dee.post(invitation.group(0), {"csrf": people.form_field(shown, "csrf")}).status == 303
    assert ann.post("/app/team/members/role", {**form, "email": "dee@x.test", "role": "owner"}).status == 303
    assert ann.post("/app/team/members/remove", {**form, "email": "dee@x.test"}).status == 303
    assert ann.post("/app/sessions/end-all", form).status == 303

    # the slack function: a linked approver's signed click in a DM decides; a stranger's is refused
    slack.enable(cloud, monkeypatch, {"ann@x.test": "U0ANN"})
    slack.connect(cloud, tenant["tenantId"], {"ann@x.test": "U0ANN"}, "ann@x.test")
    in_slack = api.post("/api/pause", {"action": "From Slack", "approvers": ["ann@x.test"]}, key=key).json()
    for user in ("U0ANN", "U0STRANGER"):
        body = slack.click_body(in_slack["watchId"], user)
        assert api.call("POST", slack.ROUTE, raw=body, headers=slack.signed(body), key="").status == 200
    assert api.get(f"/api/pause/{in_slack['watchId']}", key=key).json()["decision"]["channel"] == "slack"

    for spec in wiring.FUNCTIONS:
        called = calls.by_function.get(spec.name, set())
        assert "Scan" not in called
        assert called <= set(wiring.table_actions_of(spec)), f"{spec.name} calls what it is not granted"
        assert called == set(wiring.table_actions_of(spec)), (
            f"{spec.name} is granted {sorted(set(wiring.table_actions_of(spec)) - called)}, which this flow never calls"
        )
