"""One source of truth: every variable a function reads is named in ``hitl.wiring``, and each
function's whole environment is built there, for the CDK stack, the local stack and the tests alike;
the local stack's queues have the deployed stack's visibility timeouts."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from hitl import wiring
from hitl.settings import Settings
from hitl_local import resources
from hitl_local.server import LocalStack, Options

DEPLOYMENT = wiring.Deployment(
    table="t",
    bus="b",
    public_base_url="https://hitl.example.test",
    queue_urls={s.name: f"https://sqs.test/{s.name}" for s in wiring.SUBSCRIPTIONS},
    sender="HITL <approvals@example.test>",
    ses_configuration_set="cs",
    kms_key_id="k",
)


def named_variables() -> set[str]:
    queues = {wiring.queue_url_env(s.name) for s in wiring.SUBSCRIPTIONS}
    return {value for name, value in vars(wiring).items() if name.startswith("ENV_")} | queues


def test_every_setting_a_function_reads_is_a_variable_of_the_wiring():
    aliases = {field.validation_alias for field in Settings.model_fields.values()}
    assert aliases <= named_variables(), aliases - named_variables()


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_a_function_gets_what_its_needs_name_and_nothing_else(spec):
    environment = wiring.function_environment(spec, DEPLOYMENT)

    assert set(environment) <= named_variables()
    queues = {name for name in environment if name.startswith("QUEUE_URL_")}
    assert queues == {wiring.queue_url_env(q) for q in wiring.work_queues_of(spec)}
    assert (wiring.ENV_SENDER in environment) == (wiring.SES_SEND in spec.needs)
    assert (wiring.ENV_SES_CONFIGURATION_SET in environment) == (wiring.SES_SEND in spec.needs)
    assert (wiring.ENV_KMS_KEY in environment) == (wiring.KMS_USE in spec.needs)
    assert not wiring.LOCAL_ONLY_SETTINGS & set(environment)
    assert environment[wiring.ENV_TRACER_CAPTURE_RESPONSE] == "false"


SLACK = wiring.SlackApp(
    signing_secret_parameter="/hitl/slack/signing-secret",
    client_id="123.456",
    client_secret_parameter="/hitl/slack/client-secret",
)


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_the_slack_app_reaches_only_the_functions_that_need_it_and_only_when_there_is_one(spec):
    with_slack = wiring.function_environment(spec, replace(DEPLOYMENT, slack=SLACK))
    slack_variables = {name for name in with_slack if name.startswith("HITL_SLACK_")}

    assert not {n for n in wiring.function_environment(spec, DEPLOYMENT) if n.startswith("HITL_SLACK_")}
    if wiring.SLACK_APP in spec.needs:
        settings = Settings.from_environment(with_slack)
        assert settings.slack_enabled
        assert (settings.slack_api_url, settings.slack_authorize_url) == (
            wiring.SLACK_API_URL,
            wiring.SLACK_AUTHORIZE_URL,
        )
        assert settings.slack_client_id == "123.456"
        assert settings.slack_signing_secret_parameter == "/hitl/slack/signing-secret"
        assert settings.slack_client_secret_parameter == "/hitl/slack/client-secret"
        assert len(slack_variables) == 5
    else:
        assert slack_variables == set()
    assert not Settings.from_environment(wiring.function_environment(spec, DEPLOYMENT)).slack_enabled


def test_a_missing_queue_or_key_is_an_error_not_a_silent_gap():
    with pytest.raises(ValueError, match="deliveries"):
        wiring.function_environment(wiring.API, wiring.Deployment("t", "b", "u", kms_key_id="k"))
    with pytest.raises(ValueError, match="KMS"):
        wiring.function_environment(wiring.WEBHOOKS, wiring.Deployment("t", "b", "u", DEPLOYMENT.queue_urls))


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_the_local_stack_runs_each_function_with_the_wirings_environment(spec):
    names = resources.Names(
        table="hitl-local",
        bus="hitl-local",
        configuration_set="hitl-local",
        kms_key_id="key-1",
        queues={s.name: f"http://moto/{s.name}" for s in wiring.SUBSCRIPTIONS},
    )
    local = LocalStack(Options(public_base_url="http://127.0.0.1:3000", webhook_retry_scale=0.5))
    local.moto = SimpleNamespace(url="http://127.0.0.1:5000")  # type: ignore[assignment]
    local.names = names

    environment = local.function_environment(spec)

    expected = wiring.function_environment(
        spec,
        wiring.Deployment(
            names.table,
            names.bus,
            "http://127.0.0.1:3000",
            names.queues,
            ses_configuration_set=names.configuration_set,
            kms_key_id=names.kms_key_id,
            slack=local.slack_app(),
        ),
        wiring.LocalSettings(webhook_retry_scale=0.5),
    )
    ours = {name: value for name, value in environment.items() if not name.startswith("AWS_")}
    assert ours == expected
    assert environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert environment[wiring.ENV_WEBHOOK_LOOPBACK] == "true"
    assert environment[wiring.ENV_TRACE_DISABLED] == "true"
    assert environment[wiring.ENV_SIGNUP] == "open"  # anyone may make a team on the local stack
    if wiring.SLACK_APP in spec.needs:  # the stack's own fake Slack
        assert environment[wiring.ENV_SLACK_API_URL] == f"{local.api_url}/_local/slack/api/"


def test_sign_up_is_closed_unless_a_deployment_opens_it():
    assert wiring.function_environment(wiring.API, DEPLOYMENT)[wiring.ENV_SIGNUP] == "closed"
    opened = wiring.Deployment("t", "b", "u", DEPLOYMENT.queue_urls, kms_key_id="k", signup="open")
    assert wiring.function_environment(wiring.API, opened)[wiring.ENV_SIGNUP] == "open"
    assert Settings.from_environment({"TABLE_NAME": "t", "EVENT_BUS_NAME": "b"}).signup == "closed"
    with pytest.raises(ValueError, match="HITL_SIGNUP"):
        wiring.function_environment(wiring.API, wiring.Deployment("t", "b", "u", kms_key_id="k", signup="maybe"))


def test_the_local_queues_have_the_deployed_stacks_visibility_timeouts(cloud):
    sqs = cloud.client("sqs")
    for subscription in wiring.SUBSCRIPTIONS:
        url = cloud.names.queues[subscription.name]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        assert int(attributes["VisibilityTimeout"]) == wiring.visibility_timeout_s(subscription), subscription.name
    notify = next(s for s in wiring.SUBSCRIPTIONS if s.name == "notify")
    assert wiring.visibility_timeout_s(notify) == wiring.VISIBILITY_TIMEOUT_FACTOR * wiring.NOTIFIER.timeout_s
