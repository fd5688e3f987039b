"""Subscriptions, from a wiring with one deployed and one test-only subscription (monkeypatched)."""

from __future__ import annotations

import pytest

from hitl import wiring
from infra.capabilities.events import VISIBILITY_TIMEOUT_FACTOR


@pytest.fixture(scope="module")
def synthesized(with_subscriptions, synthesizer, tmp_path_factory):
    # nag on: the subscription resources must pass cdk-nag too (synth raises otherwise)
    return synthesizer(tmp_path_factory.mktemp("cdk.out"), nag=True)


@pytest.fixture(scope="module")
def subs(with_subscriptions):
    return with_subscriptions


def _rules_on_bus(synthesized):
    return {
        key: r["Properties"]
        for key, r in synthesized.of_type("AWS::Events::Rule").items()
        if r["Properties"].get("EventBusName") == {"Ref": synthesized.bus_id}
    }


def test_only_the_deployed_subscription_gets_a_rule(synthesized, subs):
    patterns = [rule["EventPattern"] for rule in _rules_on_bus(synthesized).values()]

    assert patterns == [{"source": [wiring.EVENT_SOURCE], "detail-type": list(subs.deployed.detail_types)}]


def test_test_only_subscriptions_create_no_queue(synthesized, subs):
    # one deployed subscription: its queue, its DLQ and its rule target's DLQ; nothing for the
    # test-only ones ("collect-everything" and the wiring's own "all-events")
    assert [s.name for s in wiring.SUBSCRIPTIONS if s.test_only] == ["all-events", subs.test_only.name]
    assert len(synthesized.of_type("AWS::SQS::Queue")) == 3
    assert all(logical_id.startswith("EventsNotify") for logical_id in synthesized.of_type("AWS::SQS::Queue"))
    assert not any("AllEvents" in key or "CollectEverything" in key for key in synthesized.resources)


def test_the_rule_targets_the_queue_with_its_own_dlq_and_retry_policy(synthesized):
    (rule,) = _rules_on_bus(synthesized).values()
    (target,) = rule["Targets"]

    queue_id = target["Arn"]["Fn::GetAtt"][0]
    assert synthesized.resources[queue_id]["Type"] == "AWS::SQS::Queue"
    target_dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert target_dlq_id != queue_id
    assert synthesized.resources[target_dlq_id]["Type"] == "AWS::SQS::Queue"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0


def test_the_queue_is_sqs_encrypted_tls_only_with_a_dlq_and_a_long_enough_visibility(synthesized, subs):
    (rule,) = _rules_on_bus(synthesized).values()
    queue_id = rule["Targets"][0]["Arn"]["Fn::GetAtt"][0]
    queue = synthesized.props(queue_id)

    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * subs.consumer.timeout_s
    assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT_FACTOR * subs.consumer.timeout_s
    assert queue["RedrivePolicy"]["maxReceiveCount"] == subs.deployed.max_receive_count
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


def test_the_consumer_reads_the_queue_reporting_batch_item_failures(synthesized, subs):
    (rule,) = _rules_on_bus(synthesized).values()
    queue_id = rule["Targets"][0]["Arn"]["Fn::GetAtt"][0]
    (mapping,) = (m["Properties"] for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values())

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["FunctionName"] == {"Ref": synthesized.function_id(subs.consumer.name)}
    assert mapping["BatchSize"] == subs.deployed.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_dead_letter_queue_has_an_alarm(synthesized):
    (rule,) = _rules_on_bus(synthesized).values()
    queue = synthesized.props(rule["Targets"][0]["Arn"]["Fn::GetAtt"][0])
    dlq_ids = {
        queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0],
        rule["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0],
    }
    alarmed = {
        dimension["Value"]["Fn::GetAtt"][0]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        for dimension in alarm["Properties"]["Dimensions"]
        if dimension["Name"] == "QueueName"
    }

    assert alarmed == dlq_ids
