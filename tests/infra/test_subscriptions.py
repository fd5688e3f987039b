"""Subscriptions, from the wiring plus stand-ins (monkeypatched): one fed by the bus, one work queue
(``from_bus=False``) with a producer and a consumer, and one test-only subscription."""

from __future__ import annotations

from typing import Any

import pytest

from hitl import wiring
from infra.app import build_app
from infra.capabilities.events import VISIBILITY_TIMEOUT_FACTOR
from tests.infra.iam import actions, resources

SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
SEND_ACTIONS = {"sqs:SendMessage"}
CONSUME_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}


@pytest.fixture(scope="module")
def synthesized(with_subscriptions, synthesizer, tmp_path_factory):
    # nag on: the subscription resources must pass cdk-nag too (synth raises otherwise)
    return synthesizer(tmp_path_factory.mktemp("cdk.out"), nag=True)


@pytest.fixture(scope="module")
def subs(with_subscriptions):
    return with_subscriptions


def _rule_of(synthesized, subscription: wiring.Subscription) -> dict[str, Any]:
    queue_arn = {"Fn::GetAtt": [synthesized.queue_id(subscription.name), "Arn"]}
    (rule,) = (rule for rule in synthesized.subscription_rules().values() if rule["Targets"][0]["Arn"] == queue_arn)
    return rule


def _queue_ids_with(synthesized, function_name: str, wanted: set[str]) -> set[str]:
    """The queues on which the function's role allows all of ``wanted`` actions."""
    return {
        resource["Fn::GetAtt"][0]
        for statement in synthesized.role_statements(function_name)
        if wanted <= actions(statement)
        for resource in resources(statement)
        if isinstance(resource, dict) and "Fn::GetAtt" in resource
    }


def test_every_subscription_fed_by_the_bus_gets_a_rule_and_work_queues_none(synthesized, subs):
    patterns = [rule["EventPattern"] for rule in synthesized.rules_on_bus().values()]
    from_bus = [s for s in wiring.deployed_subscriptions() if s.from_bus]

    assert len(patterns) == len([s for s in from_bus if s.bus == "service"])
    assert len(synthesized.rules_on_default_bus()) == len([s for s in from_bus if s.bus == "default"])
    assert {"source": [wiring.EVENT_SOURCE], "detail-type": list(subs.deployed.detail_types)} in patterns
    work_queue_arn = {"Fn::GetAtt": [synthesized.queue_id(subs.work_queue.name), "Arn"]}
    for rule in synthesized.of_type("AWS::Events::Rule").values():
        assert all(target["Arn"] != work_queue_arn for target in rule["Properties"]["Targets"])
    assert synthesized.subscription(subs.work_queue.name).rule is None
    assert synthesized.subscription(subs.work_queue.name).target_dead_letter_queue is None


def test_test_only_subscriptions_create_no_queue(synthesized, subs):
    # bus-fed: its queue, its DLQ and its rule target's DLQ; a work queue: its queue and its DLQ;
    # nothing for the test-only ones ("collect-everything" and the wiring's own "all-events")
    assert [s.name for s in wiring.SUBSCRIPTIONS if s.test_only] == ["all-events", subs.test_only.name]
    expected = sum(3 if s.from_bus else 2 for s in wiring.deployed_subscriptions())
    assert len(synthesized.of_type("AWS::SQS::Queue")) == expected
    assert {s.name for s in wiring.deployed_subscriptions()} >= {subs.deployed.name, subs.work_queue.name}
    assert not any("AllEvents" in key or "CollectEverything" in key for key in synthesized.resources)


def test_the_rule_targets_the_queue_with_its_own_dlq_and_retry_policy(synthesized, subs):
    (target,) = _rule_of(synthesized, subs.deployed)["Targets"]

    queue_id = target["Arn"]["Fn::GetAtt"][0]
    assert queue_id == synthesized.queue_id(subs.deployed.name)
    target_dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert target_dlq_id != queue_id
    assert synthesized.resources[target_dlq_id]["Type"] == "AWS::SQS::Queue"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0


@pytest.mark.parametrize("kind", ["deployed", "work_queue"])
def test_the_queue_is_sqs_encrypted_tls_only_with_a_dlq_and_a_long_enough_visibility(synthesized, subs, kind):
    subscription: wiring.Subscription = getattr(subs, kind)
    queue_id = synthesized.queue_id(subscription.name)
    queue = synthesized.props(queue_id)

    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * subs.consumer.timeout_s
    assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT_FACTOR * subs.consumer.timeout_s
    assert queue["RedrivePolicy"]["maxReceiveCount"] == subscription.max_receive_count
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synthesized.props(dlq_id)["SqsManagedSseEnabled"] is True
    tls_only = [
        policy["Properties"]
        for policy in synthesized.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in policy["Properties"]["Queues"]
    ]
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for policy in tls_only
        for statement in policy["PolicyDocument"]["Statement"]
    )


@pytest.mark.parametrize("kind", ["deployed", "work_queue"])
def test_the_consumer_reads_the_queue_reporting_batch_item_failures(synthesized, subs, kind):
    subscription: wiring.Subscription = getattr(subs, kind)
    queue_arn = {"Fn::GetAtt": [synthesized.queue_id(subscription.name), "Arn"]}
    (mapping,) = (
        m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == queue_arn
    )

    assert mapping["FunctionName"] == {"Ref": synthesized.function_id(subs.consumer.name)}
    assert mapping["BatchSize"] == subscription.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_only_the_producer_may_send_to_the_work_queue_and_knows_its_url(synthesized, subs):
    queue_id = synthesized.queue_id(subs.work_queue.name)
    variable = wiring.queue_url_env(subs.work_queue.name)

    assert variable == "QUEUE_URL_AUDIT_WORK"
    assert _queue_ids_with(synthesized, subs.producer.name, SEND_ACTIONS) == {queue_id}
    assert synthesized.environment(subs.producer.name)[variable] == {"Ref": queue_id}
    for spec in wiring.FUNCTIONS:
        if wiring.sends_to(subs.work_queue.name) not in spec.needs:
            assert queue_id not in _queue_ids_with(synthesized, spec.name, SEND_ACTIONS), spec.name
            assert variable not in synthesized.environment(spec.name), spec.name


def test_the_consumer_reads_its_queues_without_being_able_to_send_to_them(synthesized, subs):
    queue_ids = {synthesized.queue_id(subs.deployed.name), synthesized.queue_id(subs.work_queue.name)}

    assert _queue_ids_with(synthesized, subs.consumer.name, CONSUME_ACTIONS) == queue_ids
    assert _queue_ids_with(synthesized, subs.consumer.name, SEND_ACTIONS) == set()
    # the producer sends, it does not consume
    assert _queue_ids_with(synthesized, subs.producer.name, CONSUME_ACTIONS) == set()


def test_every_dead_letter_queue_has_an_alarm(synthesized):
    dlq_ids = {synthesized.logical_id(queue) for queue in synthesized.stack.events.dead_letter_queues.values()}
    redrive_targets = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in synthesized.of_type("AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }
    target_dlqs = {
        target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        for rule in synthesized.subscription_rules().values()
        for target in rule["Targets"]
    }
    alarmed = {
        dimension["Value"]["Fn::GetAtt"][0]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        for dimension in alarm["Properties"]["Dimensions"]
        if dimension["Name"] == "QueueName"
    }

    assert dlq_ids == redrive_targets | target_dlqs
    assert alarmed == dlq_ids


def test_a_function_cannot_send_to_a_queue_no_deployed_subscription_has(with_subscriptions, monkeypatch):
    stray = wiring.Function(
        name="stray",
        asset=wiring.API.asset,
        handler="stray_handler.lambda_handler",
        description="Sends to a test-only queue",
        needs=frozenset({wiring.sends_to(with_subscriptions.test_only.name)}),
    )
    monkeypatch.setattr(wiring, "FUNCTIONS", (*wiring.FUNCTIONS, stray))

    with pytest.raises(ValueError, match="collect-everything"):
        build_app(context=SKIP_BUNDLING, nag=False)


def test_an_unknown_need_is_refused(with_subscriptions, monkeypatch):
    greedy = wiring.Function(
        name="greedy",
        asset=wiring.API.asset,
        handler="greedy_handler.lambda_handler",
        description="Needs what nobody grants",
        needs=frozenset({"s3:everything"}),
    )
    monkeypatch.setattr(wiring, "FUNCTIONS", (*wiring.FUNCTIONS, greedy))

    with pytest.raises(ValueError, match="unknown permissions"):
        build_app(context=SKIP_BUNDLING, nag=False)


def test_a_work_queue_takes_no_detail_types(with_subscriptions, monkeypatch):
    confused = wiring.Subscription(name="confused", detail_types=("pause.created",), function=None, from_bus=False)
    monkeypatch.setattr(wiring, "SUBSCRIPTIONS", (*wiring.SUBSCRIPTIONS, confused))

    with pytest.raises(ValueError, match="confused"):
        build_app(context=SKIP_BUNDLING, nag=False)
