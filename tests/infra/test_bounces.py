"""The bounce path as deployed: SES's configuration set → the account's default bus → the "bounces"
rule (only our configuration set's bounces, complaints and rejects) → its queue → the notifier."""

from __future__ import annotations

from typing import Any

from hitl import wiring
from infra.capabilities.events import VISIBILITY_TIMEOUT_FACTOR

BOUNCES = "bounces"
#: SES's EventBridge detail-type for each configuration-set event type (MatchingEventTypes)
DETAIL_TYPE_OF = {
    "bounce": "Email Bounced",
    "complaint": "Email Complaint Received",
    "reject": "Email Rejected",
    "deliveryDelay": "Email Delivery Delayed",
}


def _subscription() -> wiring.Subscription:
    return next(s for s in wiring.SUBSCRIPTIONS if s.name == BOUNCES)


def _bounces_rule(synthesized) -> tuple[str, dict[str, Any]]:
    queue_arn = {"Fn::GetAtt": [synthesized.queue_id(BOUNCES), "Arn"]}
    (found,) = (
        (key, rule)
        for key, rule in synthesized.of_type("AWS::Events::Rule").items()
        if any(target["Arn"] == queue_arn for target in rule["Properties"].get("Targets", []))
    )
    return found[0], found[1]["Properties"]


def test_the_wiring_subscribes_the_notifier_to_ses_failures_on_the_default_bus():
    subscription = _subscription()

    assert (subscription.bus, subscription.source, subscription.function) == ("default", "aws.ses", "notifier")
    assert not subscription.test_only and subscription.from_bus
    assert set(subscription.detail_types) == {"Email Bounced", "Email Complaint Received", "Email Rejected"}
    # a delayed email is not a failed one: SES keeps trying
    assert "Email Delivery Delayed" not in subscription.detail_types
    # the other subscriptions keep the defaults: the service's bus, source "hitl"
    for other in wiring.SUBSCRIPTIONS:
        if other.name != BOUNCES:
            assert (other.bus, other.source) == ("service", wiring.EVENT_SOURCE), other.name


def test_the_rule_is_on_the_default_bus_and_matches_only_our_configuration_sets_failures(synthesized):
    _, rule = _bounces_rule(synthesized)
    configuration_set_id = synthesized.one("AWS::SES::ConfigurationSet")[0]

    assert rule["EventBusName"] == "default"
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.ses"],
        "detail-type": ["Email Bounced", "Email Complaint Received", "Email Rejected"],
        "detail": {"mail": {"tags": {"ses:configuration-set": [{"Ref": configuration_set_id}]}}},
    }


def test_every_failure_the_rule_matches_is_one_the_configuration_set_publishes_to_the_default_bus(synthesized):
    _, rule = _bounces_rule(synthesized)
    (destination,) = synthesized.of_type("AWS::SES::ConfigurationSetEventDestination").values()
    published = destination["Properties"]["EventDestination"]

    assert published["Enabled"] is True
    bus_arn = published["EventBridgeDestination"]["EventBusArn"]["Fn::Join"][1]
    assert bus_arn[-1] == ":event-bus/default"
    assert set(rule["EventPattern"]["detail-type"]) <= {DETAIL_TYPE_OF[t] for t in published["MatchingEventTypes"]}


def test_the_rule_targets_the_bounces_queue_with_its_own_dlq_and_retry_policy(synthesized):
    rule_id, rule = _bounces_rule(synthesized)
    (target,) = rule["Targets"]
    queue_id = synthesized.queue_id(BOUNCES)

    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    target_dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert target_dlq_id != queue_id
    assert synthesized.resources[target_dlq_id]["Type"] == "AWS::SQS::Queue"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    # EventBridge may send into the queue, for this rule only
    allowed = [
        statement
        for policy in synthesized.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in policy["Properties"]["Queues"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]
    assert [s["Principal"] for s in allowed] == [{"Service": "events.amazonaws.com"}]
    assert allowed[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}


def test_the_notifier_consumes_the_bounces_queue(synthesized):
    subscription = _subscription()
    queue_id = synthesized.queue_id(BOUNCES)
    queue = synthesized.props(queue_id)
    (mapping,) = (
        m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    )

    assert mapping["FunctionName"] == {"Ref": synthesized.function_id(wiring.NOTIFIER.name)}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == subscription.batch_size
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT_FACTOR * wiring.NOTIFIER.timeout_s
    assert queue["RedrivePolicy"]["maxReceiveCount"] == subscription.max_receive_count


def test_the_default_bus_gets_only_the_bounces_rule_and_no_catch_all(synthesized):
    default_rules = synthesized.rules_on_default_bus()

    assert [rule["EventPattern"]["source"] for rule in default_rules.values()] == [["aws.ses"]]
    # never a rule taking every SES event of the account, nor a test-only collector
    for rule in default_rules.values():
        assert "detail-type" in rule["EventPattern"] and "detail" in rule["EventPattern"]
    assert not any("AllEvents" in key for key in synthesized.resources)
    # the default bus is the account's: the stack creates only its own bus
    assert len(synthesized.of_type("AWS::Events::EventBus")) == 1


def test_the_events_construct_narrows_ses_rules_to_the_mail_it_is_given_not_one_it_finds():
    """``Events`` is handed the stack's ``Mail``; a ``Mail`` elsewhere in the tree changes nothing."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.capabilities.events import Events
    from infra.capabilities.mail import Mail, MailSettings

    def bounce_patterns(given: bool) -> list[dict[str, Any]]:
        stack = cdk.Stack(cdk.App())
        mail = Mail(stack, "Mail", settings=MailSettings())
        events = Events(stack, "Events", mail=mail if given else None)
        events.subscribe([_subscription()])
        rules = Template.from_stack(stack).find_resources("AWS::Events::Rule")
        return [rule["Properties"]["EventPattern"] for rule in rules.values()]

    (narrowed,) = bounce_patterns(given=True)
    (configuration_set,) = narrowed["detail"]["mail"]["tags"][wiring.SES_CONFIGURATION_SET_TAG]
    assert "Ref" in configuration_set  # the given Mail's configuration set
    (unnarrowed,) = bounce_patterns(given=False)
    assert "detail" not in unnarrowed
