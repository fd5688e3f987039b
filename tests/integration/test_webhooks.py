"""Signed webhook deliveries with retries, under moto, to a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from hitl import runtime, timeutil, wiring
from hitl.webhooks import signing
from hitl.webhooks.models import MAX_ATTEMPTS, message_id
from hitl_local.receiver import receiver


@pytest.fixture
def hooks(cloud, monkeypatch):
    """Loopback http allowed (as on the local stack), retries without waiting."""
    monkeypatch.setenv("HITL_WEBHOOK_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("HITL_WEBHOOK_RETRY_SCALE", "0")
    runtime.reset()
    return cloud


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(plan="pro", approvers=["ann@x.test", "bob@x.test", "cy@x.test"])


class Clock:
    """A clock that moves one second each time it is read (distinct webhook timestamps)."""

    def __init__(self):
        self.now = timeutil.now()

    def __call__(self):
        self.now += timedelta(seconds=1)
        return self.now


def register(api, tenant, url, events=("pause.cancelled",)):
    answer = api.post("/api/webhooks", {"url": url, "events": list(events)}, key=tenant["apiKey"])
    assert answer.status == 201, answer.body
    return answer.json()


def cancel_a_pause(api, tenant):
    watch_id = api.post("/api/pause", {"action": "Deploy"}, key=tenant["apiKey"]).json()["watchId"]
    assert api.post(f"/api/pause/{watch_id}/cancel", key=tenant["apiKey"]).status == 200
    return watch_id


def drain(cloud, rounds):
    for _ in range(rounds):
        cloud.run_queue("webhooks")
        cloud.run_queue("deliveries")


def test_500_three_times_then_200_is_one_delivery_with_four_logged_attempts(api, hooks, tenant):
    runtime.webhooks().clock = Clock()
    with receiver(answers=[500, 500, 500, 200]) as hook:
        endpoint = register(api, tenant, hook.url)
        watch_id = cancel_a_pause(api, tenant)
        drain(hooks, 6)
    assert len(hook.received) == 4
    ids = {r.headers["webhook-id"] for r in hook.received}
    assert len(ids) == 1
    stamps = [r.headers["webhook-timestamp"] for r in hook.received]
    assert len(set(stamps)) == 4
    verifier = Webhook(endpoint["secret"])
    for request in hook.received:
        verifier.verify(request.body, request.headers)  # raises when a signature is wrong
    envelope = json.loads(hook.received[-1].body)
    assert envelope["type"] == "pause.cancelled" and envelope["data"]["watchId"] == watch_id
    assert ids == {message_id(envelope["eventId"], endpoint["id"])}
    log = api.get(f"/api/webhooks/{endpoint['id']}/deliveries", key=tenant["apiKey"]).json()["items"]
    assert [(d["attempt"], d["statusCode"], d["outcome"]) for d in log] == [
        (4, 200, "delivered"),
        (3, 500, "retrying"),
        (2, 500, "retrying"),
        (1, 500, "retrying"),
    ]
    assert log[1]["responseSnippet"] == "answer 500" and log[1]["errorClass"] == "http_status"
    by_pause = api.get(f"/api/pause/{watch_id}/deliveries", key=tenant["apiKey"]).json()["items"]
    assert len(by_pause) == 4


def test_a_receiver_that_never_answers_ends_in_the_dlq_and_a_manual_retry_delivers(api, hooks, tenant):
    service = runtime.webhooks()
    service.timeout_s = 0.3
    hold = threading.Event()
    with receiver(hold=hold) as hook:
        endpoint = register(api, tenant, hook.url)
        cancel_a_pause(api, tenant)
        drain(hooks, MAX_ATTEMPTS + 2)
        log = api.get(f"/api/webhooks/{endpoint['id']}/deliveries", key=tenant["apiKey"]).json()["items"]
        assert len(log) == MAX_ATTEMPTS
        assert {d["errorClass"] for d in log} == {"timeout"}
        assert log[0]["outcome"] == "failed"
        sqs = hooks.client("sqs")
        dead = sqs.receive_message(QueueUrl=hooks.names.dead_letter_queues["deliveries"], MaxNumberOfMessages=10)
        assert len(dead.get("Messages", [])) == 1
        hold.set()  # the receiver recovers
        retried = api.post(
            f"/api/webhooks/{endpoint['id']}/deliveries/{log[0]['deliveryId']}/retry", key=tenant["apiKey"]
        )
        assert retried.status == 202
        before = len(hook.received)
        drain(hooks, 2)
        assert len(hook.received) == before + 1
    log = api.get(f"/api/webhooks/{endpoint['id']}/deliveries", key=tenant["apiKey"]).json()["items"]
    assert log[0]["outcome"] == "delivered"


def test_a_redirect_is_not_followed(api, hooks, tenant):
    with receiver() as elsewhere, receiver(answers=[302], redirect_to="") as hook:
        hook.redirect_to = elsewhere.url
        endpoint = register(api, tenant, hook.url)
        cancel_a_pause(api, tenant)
        drain(hooks, 2)
    assert len(hook.received) >= 1
    assert elsewhere.received == []
    log = api.get(f"/api/webhooks/{endpoint['id']}/deliveries", key=tenant["apiKey"]).json()["items"]
    assert log[-1]["statusCode"] == 302 and log[-1]["outcome"] == "retrying"


def test_a_hanging_endpoint_does_not_delay_another(api, hooks, tenant):
    hold = threading.Event()
    with receiver(hold=hold) as slow, receiver() as fast:
        register(api, tenant, slow.url)
        register(api, tenant, fast.url)
        cancel_a_pause(api, tenant)
        hooks.run_queue("webhooks")  # fan-out: one work item per endpoint
        with ThreadPoolExecutor(2) as pool:  # two instances, one message each (batch size 1)
            runs = [pool.submit(hooks.run_queue, "deliveries") for _ in range(2)]
            assert slow.arrived.wait(10)
            assert fast.arrived.wait(10)
            assert len(fast.received) == 1  # while the slow one still holds its request
            assert not hold.is_set()
            hold.set()
            [run.result() for run in runs]


def test_registration_refuses_unsafe_urls(api, cloud, tenant):
    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.0.0.1/x", "http://127.0.0.1:9/x"):
        refused = api.post("/api/webhooks", {"url": url}, key=tenant["apiKey"])
        assert refused.status == 422, url
        assert refused.json()["error"]["code"] == "unsafe_url"
    assert api.get("/api/webhooks", key=tenant["apiKey"]).json()["items"] == []


def test_endpoints_are_listed_without_secrets_and_belong_to_their_tenant(api, hooks, tenant, make_tenant):
    endpoint = register(api, tenant, "http://127.0.0.1:9/hook", events=("pause.approved", "pause.rejected"))
    assert endpoint["secret"].startswith("whsec_")
    listed = api.get("/api/webhooks", key=tenant["apiKey"]).json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0] and "secretCipher" not in listed[0]
    other = make_tenant()
    assert api.get("/api/webhooks", key=other["apiKey"]).json()["items"] == []
    for method, path in [
        ("DELETE", f"/api/webhooks/{endpoint['id']}"),
        ("GET", f"/api/webhooks/{endpoint['id']}/deliveries"),
    ]:
        assert api.call(method, path, key=other["apiKey"]).status == 404
    disabled = api.call("PATCH", f"/api/webhooks/{endpoint['id']}", {"enabled": False}, key=tenant["apiKey"])
    assert disabled.json()["enabled"] is False
    assert api.call("DELETE", f"/api/webhooks/{endpoint['id']}", key=tenant["apiKey"]).status == 200
    assert api.get("/api/webhooks", key=tenant["apiKey"]).json()["items"] == []


def test_secrets_are_stored_encrypted(api, hooks, tenant):
    endpoint = register(api, tenant, "http://127.0.0.1:9/hook")
    stored = [i for i in hooks.items() if i["sk"]["S"].startswith("WH#")]
    assert len(stored) == 1
    assert endpoint["secret"] not in json.dumps(stored)


def test_callback_url_gets_terminal_events_signed_with_the_callback_secret(api, hooks, tenant):
    with receiver() as hook:
        created = api.post(
            "/api/pause", {"action": "Deploy", "callbackUrl": hook.url, "timeoutSeconds": 60}, key=tenant["apiKey"]
        )
        assert created.status == 201, created.body
        watch_id = created.json()["watchId"]
        assert api.get(f"/api/pause/{watch_id}", key=tenant["apiKey"]).json()["callbackUrl"] == hook.url
        drain(hooks, 1)
        assert hook.received == []  # pause.created is not terminal
        pauses = runtime.services().pauses
        later = timeutil.now() + timedelta(minutes=2)
        pauses.clock = lambda: later
        assert pauses.sweep()["expired"] == 1
        drain(hooks, 2)
    assert len(hook.received) == 1
    secret = api.get("/api/callback-secret", key=tenant["apiKey"]).json()["secret"]
    Webhook(secret).verify(hook.received[0].body, hook.received[0].headers)
    assert json.loads(hook.received[0].body)["type"] == "pause.expired"


def test_callback_secret_rotation_signs_with_both_for_a_day(api, hooks, tenant):
    first = api.get("/api/callback-secret", key=tenant["apiKey"]).json()
    assert api.get("/api/callback-secret", key=tenant["apiKey"]).json()["secret"] == first["secret"]
    rotated = api.post("/api/callback-secret/rotate", key=tenant["apiKey"]).json()
    assert rotated["secret"] != first["secret"]
    assert rotated["previousSecret"] == first["secret"]
    header = signing.header([rotated["secret"], rotated["previousSecret"]], "msg_1", 1, b"{}")
    assert signing.verify(first["secret"], "msg_1", 1, b"{}", header)
    assert wiring.function(wiring.WEBHOOKS.name).name == "webhooks"
