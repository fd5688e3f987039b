"""The deployment's Slack app (Pro teams' approvals in Slack): where its secrets are, who may read
them, and an alarm when Slack messages keep failing to go out.

CDK context (``-c key=value``), all three or none (then Slack is off: no function gets a Slack
setting, and ``/app/settings`` says Slack is not available):

- ``slackSigningSecretParameter``: the name of an SSM SecureString parameter holding the app's
  signing secret (Basic Information → App Credentials), e.g. ``/hitl/slack/signing-secret``;
- ``slackClientId``: the app's client id (not a secret);
- ``slackClientSecretParameter``: the name of an SSM SecureString parameter holding its client secret.

Optional: ``slackParameterKeyArn``, the customer managed KMS key the two parameters are encrypted
with, when not SSM's default ``aws/ssm`` key (whose key policy already lets the account's
principals decrypt through SSM): the functions may then decrypt with it, only through SSM.

The stack never sees the secrets: the functions with the ``slack:app`` need get the parameter
names in their environment and ``ssm:GetParameter`` on exactly those two parameters
(``hitl.slack.secrets`` reads them with decryption, cached per warm container).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, Node

from hitl import wiring

CONTEXT_SIGNING_SECRET = "slackSigningSecretParameter"  # noqa: S105 (a context key)
CONTEXT_CLIENT_ID = "slackClientId"
CONTEXT_CLIENT_SECRET = "slackClientSecretParameter"  # noqa: S105 (a context key)
CONTEXT_PARAMETER_KEY = "slackParameterKeyArn"
#: what ``hitl.slack.secrets`` calls: GetParameter (WithDecryption) on each parameter
SSM_ACTIONS = ("ssm:GetParameter",)
#: the metric the notifier emits for each Slack message that could not be sent or updated
SEND_FAILED_METRIC = "SlackSendFailed"
PERIOD = cdk.Duration.minutes(5)

#: an SSM parameter name: letters, digits, ``_.-/``, at most 1011 characters; a path starts with ``/``
_PARAMETER = re.compile(r"^/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
_CLIENT_ID = re.compile(r"^[0-9]+\.[0-9]+$")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$")


def slack_app_from_context(node: Node) -> wiring.SlackApp | None:
    """The Slack app the context describes; ``None`` when it describes none.  Half a description
    is an error: a deployment with a signing secret but no client secret would half work."""

    def get(key: str) -> str | None:
        value = node.try_get_context(key)
        return str(value).strip() if value not in (None, "") else None

    signing, client_id, client_secret = get(CONTEXT_SIGNING_SECRET), get(CONTEXT_CLIENT_ID), get(CONTEXT_CLIENT_SECRET)
    given = {CONTEXT_SIGNING_SECRET: signing, CONTEXT_CLIENT_ID: client_id, CONTEXT_CLIENT_SECRET: client_secret}
    if not any(given.values()):
        if get(CONTEXT_PARAMETER_KEY):
            raise ValueError(f"{CONTEXT_PARAMETER_KEY} is set but no Slack app is ({', '.join(given)})")
        return None
    missing = [key for key, value in given.items() if value is None]
    if missing:
        raise ValueError(f"a Slack app needs {', '.join(given)} together; missing: {', '.join(missing)}")
    assert signing is not None and client_id is not None and client_secret is not None
    for key, name in ((CONTEXT_SIGNING_SECRET, signing), (CONTEXT_CLIENT_SECRET, client_secret)):
        if len(name) > 1011 or not _PARAMETER.match(name):
            raise ValueError(f"{key} must be an SSM parameter name (e.g. /hitl/slack/signing-secret), not {name!r}")
    if signing == client_secret:
        raise ValueError(f"{CONTEXT_SIGNING_SECRET} and {CONTEXT_CLIENT_SECRET} must be two parameters")
    if not _CLIENT_ID.match(client_id):
        raise ValueError(f"{CONTEXT_CLIENT_ID} must be the app's client id (digits.digits), not {client_id!r}")
    key_arn = get(CONTEXT_PARAMETER_KEY)
    if key_arn is not None and not _KEY_ARN.match(key_arn):
        raise ValueError(f"{CONTEXT_PARAMETER_KEY} must be a KMS key ARN, not {key_arn!r}")
    return wiring.SlackApp(signing_secret_parameter=signing, client_id=client_id, client_secret_parameter=client_secret)


def parameter_key_from_context(node: Node) -> str | None:
    value = node.try_get_context(CONTEXT_PARAMETER_KEY)
    return str(value).strip() if value not in (None, "") else None


class Slack(Construct):
    """The grants of the functions with ``slack:app`` and the send-failure alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        app: wiring.SlackApp,
        parameter_key_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.app = app
        self.parameter_key_arn = parameter_key_arn
        stack = cdk.Stack.of(self)
        self.parameter_arns = [
            stack.format_arn(
                service="ssm",
                resource="parameter",
                resource_name=name.lstrip("/"),
                arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
            )
            for name in (app.signing_secret_parameter, app.client_secret_parameter)
        ]
        self.send_failed_alarm = cloudwatch.Alarm(
            self,
            "SendFailed",
            alarm_description="Slack messages to approvers could not be sent or updated (SlackSendFailed)",
            metric=cloudwatch.Metric(
                namespace=wiring.METRICS_NAMESPACE,
                metric_name=SEND_FAILED_METRIC,
                dimensions_map={"service": wiring.SERVICE_NAME},
                period=PERIOD,
                statistic=cloudwatch.Stats.SUM,
            ),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            threshold=0,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def grant_read(self, functions: Iterable[lambda_.IFunction]) -> None:
        """``ssm:GetParameter`` on exactly the app's two parameters (and, with a customer managed
        key, ``kms:Decrypt`` with it through SSM only)."""
        region = cdk.Stack.of(self).region
        for function in functions:
            iam.Grant.add_to_principal(grantee=function, actions=list(SSM_ACTIONS), resource_arns=self.parameter_arns)
            if self.parameter_key_arn is not None:
                function.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["kms:Decrypt"],
                        resources=[self.parameter_key_arn],
                        conditions={"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}},
                    )
                )
