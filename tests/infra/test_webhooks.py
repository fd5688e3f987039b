"""Step 3's webhooks as deployed: the service's KMS key and who may use it, the webhooks rule →
queue → deliverer → deliveries work queue → deliverer (then its DLQ), the webhook routes, and
what only the local stack may set (loopback http, a compressed retry schedule) never set here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hitl import wiring
from hitl.settings import Settings
from hitl.webhooks.models import MAX_ATTEMPTS, RETRY_SCHEDULE_S
from infra.app import build_app
from infra.capabilities.events import VISIBILITY_TIMEOUT_FACTOR
from infra.capabilities.functions import KMS_ACTIONS
from tests.infra.iam import actions, resources

WEBHOOKS = "webhooks"
DELIVERIES = "deliveries"
LOCAL_ONLY = (wiring.ENV_WEBHOOK_LOOPBACK, wiring.ENV_WEBHOOK_RETRY_SCALE)
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
#: SQS's longest visibility timeout: no retry delay (ChangeMessageVisibility) may exceed it
SQS_MAX_VISIBILITY_S = 12 * 3600
#: SQS's default message retention (the queues keep it): every retry must happen before
SQS_DEFAULT_RETENTION_S = 4 * 86400


def _subscription(name: str) -> wiring.Subscription:
    return next(s for s in wiring.SUBSCRIPTIONS if s.name == name)


@pytest.fixture(scope="module")
def key_id(synthesized) -> str:
    return synthesized.one("AWS::KMS::Key")[0]


def _mapping_of(synthesized, subscription: str) -> dict[str, Any]:
    queue_arn = {"Fn::GetAtt": [synthesized.queue_id(subscription), "Arn"]}
    (mapping,) = (
        m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == queue_arn
    )
    return mapping


# --- the key ------------------------------------------------------------------------------------


def test_one_customer_managed_key_rotated_and_retained(synthesized, key_id):
    key = synthesized.resources[key_id]

    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"].get("Enabled", True) is True
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert key["Properties"].get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
    # deleting the stack must not make every stored webhook secret unreadable
    assert key["DeletionPolicy"] == "Retain"
    assert key["UpdateReplacePolicy"] == "Retain"


def test_the_key_policy_delegates_to_iam_and_names_no_function(synthesized, key_id):
    (statement,) = synthesized.props(key_id)["KeyPolicy"]["Statement"]

    # the account (root) administers the key; who may encrypt or decrypt is said by IAM policies
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "kms:*"
    assert ":root" in json.dumps(statement["Principal"])


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_only_functions_that_need_the_key_may_use_it_and_only_to_encrypt_and_decrypt(synthesized, key_id, spec):
    kms = [s for s in synthesized.role_statements(spec.name) if any(a.startswith("kms:") for a in actions(s))]

    if wiring.KMS_USE in spec.needs:
        assert kms, spec.name
        assert set().union(*(actions(s) for s in kms)) == set(KMS_ACTIONS) == {"kms:Encrypt", "kms:Decrypt"}
        for statement in kms:
            assert statement["Effect"] == "Allow"
            assert resources(statement) == [{"Fn::GetAtt": [key_id, "Arn"]}]
    else:
        assert kms == [], spec.name


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_functions_that_use_the_key_are_told_its_arn(synthesized, key_id, spec):
    variables = synthesized.environment(spec.name)

    if wiring.KMS_USE in spec.needs:
        assert variables[wiring.ENV_KMS_KEY] == {"Fn::GetAtt": [key_id, "Arn"]}
    else:
        assert wiring.ENV_KMS_KEY not in variables


def test_the_api_the_dashboard_the_notifier_and_the_deliverer_are_the_ones_that_use_the_key():
    # the premise of the tests above: registration (API or an owner's page) encrypts, delivery
    # and the callback secret's reveal decrypt; connecting Slack (dashboard) encrypts its bot
    # token, the notifier decrypts it to send DMs, the slack function to answer a click with a note
    assert {spec.name for spec in wiring.FUNCTIONS if wiring.KMS_USE in spec.needs} == {
        "api",
        "dashboard",
        "notifier",
        "slack",
        WEBHOOKS,
    }
    assert Settings.model_fields["kms_key_id"].validation_alias == wiring.ENV_KMS_KEY


# --- what only the local stack sets ----------------------------------------------------------------


def test_no_deployed_function_may_call_loopback_or_compress_the_retry_schedule(synthesized):
    functions = synthesized.of_type("AWS::Lambda::Function")
    assert len(functions) == len(wiring.FUNCTIONS)

    for logical_id, function in functions.items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert not set(variables) & set(LOCAL_ONLY), logical_id
    # nor anything else in the template (a parameter, a default, another resource)
    template = json.dumps(synthesized.json)
    for name in LOCAL_ONLY:
        assert name not in template
    # these are the variables the functions read: a rename would make this test vacuous
    assert Settings.model_fields["webhook_allow_loopback"].validation_alias == wiring.ENV_WEBHOOK_LOOPBACK
    assert Settings.model_fields["webhook_retry_scale"].validation_alias == wiring.ENV_WEBHOOK_RETRY_SCALE


def test_the_stack_refuses_to_deploy_a_local_only_setting(monkeypatch):
    environment = wiring.function_environment

    def with_loopback(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {**environment(*args, **kwargs), wiring.ENV_WEBHOOK_LOOPBACK: "true"}

    monkeypatch.setattr(wiring, "function_environment", with_loopback)

    with pytest.raises(ValueError, match=wiring.ENV_WEBHOOK_LOOPBACK):
        build_app(context=SKIP_BUNDLING, nag=False)


# --- rule → queue → deliverer → work queue → deliverer -----------------------------------------------


def test_the_webhooks_rule_takes_every_hitl_event_from_our_bus_into_its_queue(synthesized):
    queue_arn = {"Fn::GetAtt": [synthesized.queue_id(WEBHOOKS), "Arn"]}
    (rule,) = (rule for rule in synthesized.rules_on_bus().values() if rule["Targets"][0]["Arn"] == queue_arn)

    assert rule["EventPattern"] == {"source": [wiring.EVENT_SOURCE]} == {"source": ["hitl"]}
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] != synthesized.queue_id(WEBHOOKS)
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_the_deliveries_queue_is_fed_by_no_rule(synthesized):
    queue_arn = {"Fn::GetAtt": [synthesized.queue_id(DELIVERIES), "Arn"]}

    assert not _subscription(DELIVERIES).from_bus
    for rule in synthesized.of_type("AWS::Events::Rule").values():
        assert all(target["Arn"] != queue_arn for target in rule["Properties"]["Targets"])


def test_the_deliveries_queue_dead_letters_after_the_schedules_attempts(synthesized):
    queue = synthesized.props(synthesized.queue_id(DELIVERIES))

    assert queue["RedrivePolicy"]["maxReceiveCount"] == 8 == MAX_ATTEMPTS == wiring.WEBHOOK_ATTEMPTS
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dlq = synthesized.props(dlq_id)
    assert dlq["MessageRetentionPeriod"] == 14 * 86400
    assert dlq["SqsManagedSseEnabled"] is True
    alarmed = [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}} in alarm["Properties"]["Dimensions"]
    ]
    assert [a["MetricName"] for a in alarmed] == ["ApproximateNumberOfMessagesVisible"]


def test_every_retry_fits_in_what_sqs_allows(synthesized):
    queue = synthesized.props(synthesized.queue_id(DELIVERIES))

    # each delay is a ChangeMessageVisibility; the message must outlive the whole schedule
    assert max(RETRY_SCHEDULE_S) <= SQS_MAX_VISIBILITY_S
    assert queue.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION_S) > sum(RETRY_SCHEDULE_S)


@pytest.mark.parametrize(("subscription", "batch_size"), [(WEBHOOKS, 10), (DELIVERIES, 1)])
def test_the_deliverer_consumes_both_queues_reporting_batch_item_failures(synthesized, subscription, batch_size):
    mapping = _mapping_of(synthesized, subscription)
    queue = synthesized.props(synthesized.queue_id(subscription))

    assert mapping["FunctionName"] == {"Ref": synthesized.function_id(WEBHOOKS)}
    # deliveries: one work item per invocation, so a slow endpoint never holds up another's
    assert mapping["BatchSize"] == batch_size == _subscription(subscription).batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT_FACTOR * wiring.WEBHOOKS.timeout_s


def test_the_api_the_dashboard_and_the_deliverer_may_send_to_the_deliveries_queue_and_know_its_url(synthesized):
    queue_id = synthesized.queue_id(DELIVERIES)
    variable = wiring.queue_url_env(DELIVERIES)

    for spec in wiring.FUNCTIONS:
        sendable = [
            resource
            for statement in synthesized.role_statements(spec.name)
            if "sqs:SendMessage" in actions(statement)
            for resource in resources(statement)
        ]
        # the API and an owner's page redrive (manual retry), the deliverer fans out
        expected = spec.name in {"api", "dashboard", WEBHOOKS}
        assert ({"Fn::GetAtt": [queue_id, "Arn"]} in sendable) == expected, spec.name
        assert (synthesized.environment(spec.name).get(variable) == {"Ref": queue_id}) == expected, spec.name


# --- the routes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route_key",
    [
        "POST /api/webhooks",
        "GET /api/webhooks",
        "PATCH /api/webhooks/{webhookId}",
        "DELETE /api/webhooks/{webhookId}",
        "GET /api/webhooks/{webhookId}/deliveries",
        "POST /api/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
        "GET /api/pause/{watchId}/deliveries",
        "GET /api/callback-secret",
        "POST /api/callback-secret/rotate",
    ],
)
def test_the_webhook_routes_go_to_the_api_function(synthesized, route_key):
    (route,) = (
        r["Properties"]
        for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == route_key
    )
    integration = synthesized.props(route["Target"]["Fn::Join"][1][1]["Ref"])

    assert integration["IntegrationUri"] == {"Fn::GetAtt": [synthesized.function_id("api"), "Arn"]}
