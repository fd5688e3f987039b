"""The CDK app: ``npx cdk synth`` (cdk.json runs ``python -m infra.app``) or ``python -m infra.app``.

Context ``publicBaseUrl`` (``-c publicBaseUrl=https://approvals.example.com``) sets the URL the
service's links use; without it they use the HTTP API's own URL.  ``senderDomain``,
``senderAddress``, ``hostedZoneId`` and ``hostedZoneName`` set where approval emails come from
(``infra/capabilities/mail.py``).  ``slackSigningSecretParameter``, ``slackClientId`` and
``slackClientSecretParameter`` describe the Slack app (``infra/capabilities/slack.py``; Slack is
off without them).  Synth needs no AWS credentials, no network (except pip for the
deps layer) and no git.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from hitl import wiring
from infra.capabilities.mail import MailSettings
from infra.capabilities.slack import parameter_key_from_context, slack_app_from_context
from infra.layer_build import REPO_ROOT
from infra.stack import STACK_ID, HitlStack

CDK_JSON = REPO_ROOT / "cdk.json"
DEFAULT_OUTDIR = REPO_ROOT / "cdk.out"


def project_context() -> dict[str, Any]:
    """cdk.json's context (feature flags), so that tests and a run without the CLI synthesize
    the same template as ``cdk synth``; the CLI's own context still takes precedence."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    nag: bool = True,
) -> tuple[cdk.App, HitlStack]:
    """The app with its one stack; ``nag``: any unacknowledged AwsSolutions finding fails synth."""
    app = cdk.App(context={**project_context(), **(context or {})}, outdir=outdir)
    stack = HitlStack(
        app,
        STACK_ID,
        public_base_url=app.node.try_get_context("publicBaseUrl") or None,
        mail=MailSettings.from_context(app.node),
        signup=str(app.node.try_get_context("signup") or wiring.SIGNUP_CLOSED),
        slack=slack_app_from_context(app.node),
        slack_parameter_key_arn=parameter_key_from_context(app.node),
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    # Under the CLI, CDK_OUTDIR names the output folder; alone, write to cdk.out, not a temp dir.
    app, _ = build_app(outdir=None if os.environ.get("CDK_OUTDIR") else str(DEFAULT_OUTDIR))
    app.synth()


if __name__ == "__main__":
    main()
