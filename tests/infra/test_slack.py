"""Step 6's Slack app as deployed: the interactivity route, the context that describes the app (or
leaves Slack off), ``ssm:GetParameter`` on exactly its two parameters for exactly the functions
with ``slack:app``, the send-failure alarm, cdk-nag and cfn-lint clean with Slack on; and the app
manifest in docs/ against the routes it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitl import wiring
from infra.app import build_app
from infra.capabilities import slack
from infra.layer_build import REPO_ROOT
from tests.infra.conftest import SKIP_BUNDLING, Synthesized
from tests.infra.iam import actions, resources

SIGNING = "/hitl/slack/signing-secret"
CLIENT_SECRET = "/hitl/slack/client-secret"
CLIENT_ID = "1234567890.9876543210"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SLACK_CONTEXT = {
    slack.CONTEXT_SIGNING_SECRET: SIGNING,
    slack.CONTEXT_CLIENT_ID: CLIENT_ID,
    slack.CONTEXT_CLIENT_SECRET: CLIENT_SECRET,
}
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
MANIFEST = REPO_ROOT / "docs" / "slack-app-manifest.yaml"
WITH_APP = [spec for spec in wiring.FUNCTIONS if wiring.SLACK_APP in spec.needs]


@pytest.fixture(scope="module")
def with_slack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack with a Slack app (and a customer managed key for its parameters), synthesized
    with cdk-nag on: ``app.synth()`` raises on any unacknowledged finding."""
    outdir = tmp_path_factory.mktemp("cdk.out.slack")
    context = {**SKIP_BUNDLING, **SLACK_CONTEXT, slack.CONTEXT_PARAMETER_KEY: KEY_ARN}
    app, stack = build_app(context=context, outdir=str(outdir), nag=True)
    app.synth()
    from aws_cdk.assertions import Template

    return Synthesized(app=app, stack=stack, template=Template.from_stack(stack), outdir=outdir)


def ssm_statements(synthesized: Synthesized, function: str) -> list[dict[str, Any]]:
    return [s for s in synthesized.role_statements(function) if any(a.startswith("ssm:") for a in actions(s))]


def parameter_arn(name: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ssm:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":parameter/{name.lstrip('/')}",
            ],
        ]
    }


# --- the route and the function -----------------------------------------------------------------


def test_slacks_interactivity_route_reaches_the_slack_function(synthesized):
    (route,) = (
        r["Properties"]
        for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == "POST /slack/interactivity"
    )
    integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
    target = synthesized.props(integration_id)["IntegrationUri"]
    assert target == {"Fn::GetAtt": [synthesized.function_id("slack"), "Arn"]}


def test_the_slack_function_answers_within_slacks_three_seconds_budget_of_its_timeout(synthesized):
    props = synthesized.props(synthesized.function_id("slack"))
    assert props["Handler"] == "slack_handler.lambda_handler"
    assert props["Timeout"] == wiring.SLACK.timeout_s <= 29


# --- Slack off ------------------------------------------------------------------------------------


def test_without_the_context_slack_is_off_no_setting_no_grant_no_alarm(synthesized):
    for spec in wiring.FUNCTIONS:
        variables = synthesized.environment(spec.name)
        assert not [name for name in variables if name.startswith("HITL_SLACK_")], spec.name
        assert ssm_statements(synthesized, spec.name) == [], spec.name
    assert synthesized.stack.slack is None
    alarms = synthesized.of_type("AWS::CloudWatch::Alarm").values()
    assert all(a["Properties"].get("MetricName") != slack.SEND_FAILED_METRIC for a in alarms)


# --- Slack on -------------------------------------------------------------------------------------


def test_the_functions_with_the_slack_app_get_its_settings_and_no_secret(with_slack):
    expected = wiring.slack_environment(
        wiring.SlackApp(signing_secret_parameter=SIGNING, client_id=CLIENT_ID, client_secret_parameter=CLIENT_SECRET)
    )
    assert {spec.name for spec in WITH_APP} >= {"slack", "notifier", "dashboard"}
    for spec in wiring.FUNCTIONS:
        variables = with_slack.environment(spec.name)
        slack_settings = {k: v for k, v in variables.items() if k.startswith("HITL_SLACK_")}
        assert slack_settings == (expected if spec in WITH_APP else {}), spec.name
    assert expected[wiring.ENV_SLACK_API_URL] == "https://slack.com/api/"


def test_exactly_those_functions_may_read_exactly_the_two_parameters(with_slack):
    wanted = [parameter_arn(SIGNING), parameter_arn(CLIENT_SECRET)]
    for spec in wiring.FUNCTIONS:
        statements = ssm_statements(with_slack, spec.name)
        if spec not in WITH_APP:
            assert statements == [], spec.name
            continue
        assert {a for s in statements for a in actions(s)} == {"ssm:GetParameter"}, spec.name
        assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements)
        assert sorted(json.dumps(r) for s in statements for r in resources(s)) == sorted(
            json.dumps(r) for r in wanted
        ), spec.name


def test_a_customer_managed_parameter_key_decrypts_only_through_ssm(with_slack):
    for spec in wiring.FUNCTIONS:
        decrypts = [
            s
            for s in with_slack.role_statements(spec.name)
            if KEY_ARN in json.dumps(s.get("Resource")) and "kms:Decrypt" in actions(s)
        ]
        if spec not in WITH_APP:
            assert decrypts == [], spec.name
            continue
        (statement,) = decrypts
        assert actions(statement) == {"kms:Decrypt"}
        assert resources(statement) == [KEY_ARN]
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert via == {"Fn::Join": ["", ["ssm.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}


def test_an_alarm_fires_on_any_slack_send_failure(with_slack):
    (alarm,) = (
        a["Properties"]
        for a in with_slack.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == slack.SEND_FAILED_METRIC
    )
    assert alarm["Namespace"] == wiring.METRICS_NAMESPACE
    assert alarm["Dimensions"] == [{"Name": "service", "Value": wiring.SERVICE_NAME}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )
    assert alarm["TreatMissingData"] == "notBreaching"


def test_cdk_nag_and_cfn_lint_are_clean_with_slack_on(with_slack):
    report = json.loads((with_slack.outdir / "validation-report.json").read_text())
    (nag,) = report["pluginReports"]
    assert nag["conclusion"] == "success" and nag["violations"] == []
    template = with_slack.outdir / f"{with_slack.stack.artifact_id}.template.json"
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == []


# --- the context ----------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", sorted(SLACK_CONTEXT))
def test_half_a_slack_app_is_refused_at_synth(missing):
    context = {k: v for k, v in SLACK_CONTEXT.items() if k != missing}
    with pytest.raises(ValueError, match=missing):
        build_app(context={**SKIP_BUNDLING, **context}, nag=False)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (slack.CONTEXT_SIGNING_SECRET, "arn:aws:ssm:us-east-1:1:parameter/x"),
        (slack.CONTEXT_SIGNING_SECRET, "xoxb-a-secret-pasted-by-mistake!"),
        (slack.CONTEXT_CLIENT_SECRET, SIGNING),
        (slack.CONTEXT_CLIENT_ID, "not-a-client-id"),
        (slack.CONTEXT_PARAMETER_KEY, "alias/aws/ssm"),
    ],
)
def test_a_malformed_slack_setting_is_refused_at_synth(key, value):
    with pytest.raises(ValueError, match=key):
        build_app(context={**SKIP_BUNDLING, **SLACK_CONTEXT, key: value}, nag=False)


def test_a_parameter_key_without_an_app_is_refused():
    with pytest.raises(ValueError, match=slack.CONTEXT_PARAMETER_KEY):
        build_app(context={**SKIP_BUNDLING, slack.CONTEXT_PARAMETER_KEY: KEY_ARN}, nag=False)


# --- the app manifest -----------------------------------------------------------------------------


def test_the_manifest_asks_for_the_four_bot_scopes_and_names_our_routes():
    manifest = yaml.safe_load(MANIFEST.read_text())

    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(
        ["chat:write", "users:read", "users:read.email", "im:write"]
    )
    assert "user" not in manifest["oauth_config"]["scopes"]
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == "https://YOUR-API/slack/interactivity"
    assert manifest["oauth_config"]["redirect_urls"] == ["https://YOUR-API/slack/oauth/callback"]
    assert manifest["settings"]["socket_mode_enabled"] is False
    served = {(r.method, r.path) for r in wiring.ROUTES}
    assert ("POST", "/slack/interactivity") in served
