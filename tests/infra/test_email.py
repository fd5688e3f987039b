"""Step 2's email loop as deployed: notify rule → queue → notifier → email work queue → notifier → SES,
the approvers' page routes, and the SES identity and configuration set."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App

from hitl import wiring
from hitl.settings import Settings
from infra.capabilities.events import VISIBILITY_TIMEOUT_FACTOR
from infra.capabilities.mail import MailSettings
from tests.infra.iam import actions, resources

SES_ACTIONS = {"ses:SendEmail", "ses:SendRawEmail"}
EMAIL = "email"
NOTIFY = "notify"


def _ses_arn(resource_type: str, logical_id: str) -> dict[str, Any]:
    """``arn:<partition>:ses:<region>:<account>:<resource_type>/<Ref logical_id>``, as CDK writes it."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ses:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource_type}/",
                {"Ref": logical_id},
            ],
        ]
    }


def _statements_with(synthesized, function_name: str, prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for statement in synthesized.role_statements(function_name)
        if any(action.startswith(prefix) for action in actions(statement))
    ]


def _queues_sendable_by(synthesized, function_name: str) -> list[Any]:
    return [
        resource
        for statement in synthesized.role_statements(function_name)
        if "sqs:SendMessage" in actions(statement)
        for resource in resources(statement)
    ]


@pytest.fixture(scope="module")
def ses_ids(synthesized) -> tuple[str, str]:
    """The logical ids of the SES identity and configuration set."""
    return synthesized.one("AWS::SES::EmailIdentity")[0], synthesized.one("AWS::SES::ConfigurationSet")[0]


# --- the wiring this module relies on ------------------------------------------------------


def test_the_wiring_has_the_email_loop():
    assert wiring.sends_to(EMAIL) in wiring.NOTIFIER.needs
    assert wiring.SES_SEND in wiring.NOTIFIER.needs
    assert not {wiring.SES_SEND, wiring.sends_to(EMAIL)} & wiring.API.needs
    assert wiring.queue_url_env(EMAIL) == "QUEUE_URL_EMAIL"


def test_the_mail_settings_are_the_ones_the_functions_read():
    aliases = {name: field.validation_alias for name, field in Settings.model_fields.items()}

    assert aliases["sender"] == wiring.ENV_SENDER == "HITL_SENDER"
    assert aliases["ses_configuration_set"] == wiring.ENV_SES_CONFIGURATION_SET == "SES_CONFIGURATION_SET"
    assert aliases["email_queue_url"] == wiring.queue_url_env(EMAIL)


# --- queues ----------------------------------------------------------------------------------


def test_the_notify_rule_matches_pause_created_from_hitl_and_feeds_the_notify_queue(synthesized):
    (rule,) = (
        rule
        for rule in synthesized.rules_on_bus().values()
        if rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [synthesized.queue_id(NOTIFY), "Arn"]}
    )

    assert rule["EventPattern"] == {"source": ["hitl"], "detail-type": ["pause.created", "pause.reminder_due"]}
    assert rule["State"] == "ENABLED"


def test_the_email_queue_has_no_rule_and_a_dlq_after_the_wirings_receive_count(synthesized):
    subscription = next(s for s in wiring.SUBSCRIPTIONS if s.name == EMAIL)
    queue_id = synthesized.queue_id(EMAIL)
    queue = synthesized.props(queue_id)

    assert subscription.from_bus is False
    for rule in synthesized.of_type("AWS::Events::Rule").values():
        assert all(target["Arn"] != {"Fn::GetAtt": [queue_id, "Arn"]} for target in rule["Properties"]["Targets"])
    assert queue["RedrivePolicy"]["maxReceiveCount"] == subscription.max_receive_count
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT_FACTOR * wiring.NOTIFIER.timeout_s
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[dlq_id]["Type"] == "AWS::SQS::Queue"


@pytest.mark.parametrize("name", [NOTIFY, EMAIL])
def test_the_notifier_consumes_both_queues_reporting_batch_item_failures(synthesized, name):
    subscription = next(s for s in wiring.SUBSCRIPTIONS if s.name == name)
    (mapping,) = (
        m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [synthesized.queue_id(name), "Arn"]}
    )

    assert mapping["FunctionName"] == {"Ref": synthesized.function_id(wiring.NOTIFIER.name)}
    assert mapping["BatchSize"] == subscription.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# --- grants --------------------------------------------------------------------------------------


def test_the_notifier_may_send_to_the_email_queue_only(synthesized):
    assert _queues_sendable_by(synthesized, wiring.NOTIFIER.name) == [
        {"Fn::GetAtt": [synthesized.queue_id(EMAIL), "Arn"]}
    ]


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_each_function_may_send_to_exactly_its_work_queues(synthesized, spec):
    sendable = _queues_sendable_by(synthesized, spec.name)

    expected = [{"Fn::GetAtt": [synthesized.queue_id(name), "Arn"]} for name in wiring.work_queues_of(spec)]
    assert sorted(map(str, sendable)) == sorted(map(str, expected))


def test_the_notifier_may_send_email_only_as_the_identity_with_the_configuration_set(synthesized, ses_ids):
    identity_id, configuration_set_id = ses_ids

    (statement,) = _statements_with(synthesized, wiring.NOTIFIER.name, "ses:")
    assert statement["Effect"] == "Allow"
    assert actions(statement) == SES_ACTIONS
    assert "Condition" not in statement
    granted = resources(statement)
    assert "*" not in granted
    assert sorted(map(str, granted)) == sorted(
        map(str, [_ses_arn("identity", identity_id), _ses_arn("configuration-set", configuration_set_id)])
    )


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_only_functions_that_need_it_may_send_email(synthesized, spec):
    assert bool(_statements_with(synthesized, spec.name, "ses:")) == (wiring.SES_SEND in spec.needs)


def test_the_api_function_can_neither_send_email_nor_queue_emails(synthesized):
    assert _statements_with(synthesized, wiring.API.name, "ses:") == []
    # only the webhook deliveries queue (a manual retry queues a delivery again)
    assert _queues_sendable_by(synthesized, wiring.API.name) == [
        {"Fn::GetAtt": [synthesized.queue_id("deliveries"), "Arn"]}
    ]
    assert not {"HITL_SENDER", "SES_CONFIGURATION_SET", "QUEUE_URL_EMAIL"} & set(
        synthesized.environment(wiring.API.name)
    )


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_queue_url_email_only_on_functions_that_send_to_it(synthesized, spec):
    variables = synthesized.environment(spec.name)

    if wiring.sends_to(EMAIL) in spec.needs:
        assert variables["QUEUE_URL_EMAIL"] == {"Ref": synthesized.queue_id(EMAIL)}
    else:
        assert "QUEUE_URL_EMAIL" not in variables


def test_the_notifier_sends_as_hitl_with_the_configuration_set(synthesized, ses_ids):
    variables = synthesized.environment(wiring.NOTIFIER.name)

    assert variables["HITL_SENDER"] == "HITL <approvals@example.com>"
    assert variables["SES_CONFIGURATION_SET"] == {"Ref": ses_ids[1]}


# --- the approvers' pages --------------------------------------------------------------------------


@pytest.mark.parametrize("route_key", ["GET /a/{token}/{choice}", "HEAD /a/{token}/{choice}", "POST /a/{token}"])
def test_the_link_pages_go_to_the_pages_function(synthesized, route_key):
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
    }

    target = routes[route_key]["Target"]["Fn::Join"][1]
    integration = synthesized.props(target[1]["Ref"])
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [synthesized.function_id(wiring.PAGES.name), "Arn"]}
    assert "AuthorizationType" not in routes[route_key] or routes[route_key]["AuthorizationType"] == "NONE"


# --- SES ---------------------------------------------------------------------------------------------


def test_the_configuration_set_reports_bounces_and_complaints_to_the_default_bus(synthesized, ses_ids):
    _, configuration_set_id = ses_ids
    (destination,) = (
        d["Properties"]
        for d in synthesized.of_type("AWS::SES::ConfigurationSetEventDestination").values()
        if d["Properties"]["ConfigurationSetName"] == {"Ref": configuration_set_id}
    )
    configuration_set = synthesized.props(configuration_set_id)

    event_destination = destination["EventDestination"]
    assert event_destination["Enabled"] is True
    assert {"bounce", "complaint", "reject", "deliveryDelay"} <= set(event_destination["MatchingEventTypes"])
    bus_arn = event_destination["EventBridgeDestination"]["EventBusArn"]["Fn::Join"][1]
    assert bus_arn[-1] == ":event-bus/default"  # SES publishes to the default bus only
    assert configuration_set["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    assert configuration_set["SendingOptions"] == {"SendingEnabled": True}


def test_the_identity_is_the_sender_domain_with_easy_dkim_and_the_configuration_set(synthesized, ses_ids):
    _, identity = synthesized.one("AWS::SES::EmailIdentity")
    outputs = synthesized.json["Outputs"]

    assert identity["EmailIdentity"] == "example.com"
    assert identity["DkimAttributes"] == {"SigningEnabled": True}
    assert identity["DkimSigningAttributes"] == {"NextSigningKeyLength": "RSA_2048_BIT"}
    assert identity["ConfigurationSetAttributes"] == {"ConfigurationSetName": {"Ref": ses_ids[1]}}
    # no hosted zone: the three CNAME records to publish are outputs
    assert synthesized.of_type("AWS::Route53::RecordSet") == {}
    for number in (1, 2, 3):
        parts = outputs[f"DkimRecord{number}"]["Value"]["Fn::Join"][1]
        assert parts[0] == {"Fn::GetAtt": [ses_ids[0], f"DkimDNSTokenName{number}"]}
        assert parts[1] == "CNAME"
        assert parts[2] == {"Fn::GetAtt": [ses_ids[0], f"DkimDNSTokenValue{number}"]}
    assert outputs["SesConfigurationSet"]["Value"] == {"Ref": ses_ids[1]}


def test_sender_context_and_a_hosted_zone_publish_dkim_and_change_the_sender(synthesizer, tmp_path):
    context = {"senderDomain": "Acme.Test", "senderAddress": "hitl@acme.test", "hostedZoneId": "Z0123456789ABC"}
    custom = synthesizer(tmp_path, context=context)

    _, identity = custom.one("AWS::SES::EmailIdentity")
    assert identity["EmailIdentity"] == "acme.test"
    assert custom.environment(wiring.NOTIFIER.name)["HITL_SENDER"] == "HITL <hitl@acme.test>"
    records = [r["Properties"] for r in custom.of_type("AWS::Route53::RecordSet").values()]
    assert len(records) == 3
    assert all(r["Type"] == "CNAME" and r["HostedZoneId"] == "Z0123456789ABC" for r in records)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"senderAddress": "approvals@elsewhere.test"}, "senderAddress"),
        ({"senderAddress": "HITL <approvals@example.com>"}, "senderAddress"),
        ({"senderDomain": "not a domain"}, "senderDomain"),
        ({"hostedZoneName": "example.com"}, "hostedZoneId"),
        ({"senderDomain": "mail.example.com", "hostedZoneId": "Z1", "hostedZoneName": "example.com"}, "zone"),
    ],
)
def test_bad_mail_context_is_refused(context, message):
    with pytest.raises(ValueError, match=message):
        MailSettings.from_context(App(context=context).node)


def test_mail_context_defaults():
    settings = MailSettings.from_context(App().node)
    assert (settings.sender_domain, settings.sender) == ("example.com", "HITL <approvals@example.com>")

    from_zone = MailSettings.from_context(App(context={"hostedZoneId": "Z1", "hostedZoneName": "acme.test."}).node)
    assert (from_zone.sender_domain, from_zone.address) == ("acme.test", "approvals@acme.test")
