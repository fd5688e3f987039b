"""The one HITL stack: one construct per capability, everything from ``hitl.wiring``."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from hitl import wiring
from infra.capabilities.api import Api
from infra.capabilities.data import Data
from infra.capabilities.events import Events
from infra.capabilities.expiry import Expiry
from infra.capabilities.functions import Functions
from infra.capabilities.layers import Layers
from infra.capabilities.mail import Mail, MailSettings
from infra.capabilities.monitoring import Monitoring
from infra.capabilities.secrets import Secrets
from infra.capabilities.slack import Slack

STACK_ID = "Hitl"


class HitlStack(cdk.Stack):
    """``public_base_url``: the public URL links point at (a custom domain); default: the API's URL.
    ``mail``: where approval emails come from (``infra.capabilities.mail``); default: example.com.
    ``signup``: ``HITL_SIGNUP`` of every function, ``closed`` (the default) or ``open``.
    ``slack``: the deployment's Slack app (``infra.capabilities.slack``); ``None``: Slack is off.
    ``slack_parameter_key_arn``: the KMS key of its SSM parameters, when not SSM's default key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str = STACK_ID,
        *,
        public_base_url: str | None = None,
        mail: MailSettings | None = None,
        signup: str = wiring.SIGNUP_CLOSED,
        slack: wiring.SlackApp | None = None,
        slack_parameter_key_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data = Data(self, "Data")
        sends_email = any(wiring.SES_SEND in spec.needs for spec in wiring.FUNCTIONS)
        mail_resources = Mail(self, "Mail", settings=mail or MailSettings()) if sends_email else None
        # the rules of SES's events match only the mail sent with the stack's configuration set
        events = Events(self, "Events", mail=mail_resources)
        layers = Layers(self, "Layers")
        # The API exists before the functions, which get its URL; its routes come after them.
        api = Api(self, "Api")
        uses_kms = any(wiring.KMS_USE in spec.needs for spec in wiring.FUNCTIONS)
        secrets = Secrets(self, "Secrets") if uses_kms else None
        # Queues (and rules) before the functions, which get the URLs of the work queues they send to;
        # test-only subscriptions (a rule collecting every event, …) never reach a deployed stack.
        events.subscribe(wiring.deployed_subscriptions())
        functions = Functions(
            self,
            "Functions",
            specs=wiring.FUNCTIONS,
            table=data.table,
            table_index_arn=data.index_arn_pattern,
            bus=events.bus,
            layers=layers.all,
            public_base_url=_checked_url(public_base_url) if public_base_url else api.endpoint,
            work_queues=events.queues,
            mail=mail_resources,
            kms_key=secrets.key if secrets is not None else None,
            signup=_checked_signup(signup),
            slack=slack,
        )
        # the Slack app's two secrets: readable by exactly the functions that need the app
        slack_resources = Slack(self, "Slack", app=slack, parameter_key_arn=slack_parameter_key_arn) if slack else None
        if slack_resources is not None:
            slack_resources.grant_read(
                functions.by_name[spec.name] for spec in wiring.FUNCTIONS if wiring.SLACK_APP in spec.needs
            )
        api.add_routes(wiring.ROUTES, functions.by_name)
        events.consume(functions.by_name)
        Expiry(self, "Expiry", schedules=wiring.SCHEDULES, functions=functions.by_name)
        Monitoring(self, "Monitoring", functions=functions.all, dead_letter_queues=events.dead_letter_queues)

        cdk.CfnOutput(self, "ApiUrl", value=api.endpoint, description="The HTTP API's URL")
        cdk.CfnOutput(self, "TableName", value=data.table.table_name, description="The DynamoDB table")
        cdk.CfnOutput(self, "EventBusName", value=events.bus.event_bus_name, description="The event bus")
        if mail_resources is not None:
            _mail_outputs(self, mail_resources)
        self.data, self.events, self.layers, self.api, self.functions = data, events, layers, api, functions
        self.mail = mail_resources
        self.secrets = secrets
        self.slack = slack_resources


def _mail_outputs(stack: cdk.Stack, mail: Mail) -> None:
    settings = mail.settings
    cdk.CfnOutput(stack, "SenderAddress", value=settings.sender, description="The From of approval emails")
    cdk.CfnOutput(
        stack,
        "SesConfigurationSet",
        value=mail.configuration_set.configuration_set_name,
        description="The SES configuration set every approval email is sent with",
    )
    published = f" (published in hosted zone {settings.hosted_zone_id})" if mail.hosted_zone else ""
    for number, record in enumerate(mail.dkim_records, start=1):
        cdk.CfnOutput(
            stack,
            f"DkimRecord{number}",
            value=cdk.Fn.join(" ", [record.name, "CNAME", record.value]),
            description=f"Easy DKIM record {number} of 3 for {settings.sender_domain}{published}",
        )


def _checked_url(url: str) -> str:
    if not url.startswith("https://"):
        raise ValueError(f"publicBaseUrl must be an https:// URL, not {url!r}")
    return url.rstrip("/")


def _checked_signup(mode: str) -> str:
    if mode not in wiring.SIGNUP_MODES:
        raise ValueError(f"signup must be one of {', '.join(wiring.SIGNUP_MODES)}, not {mode!r}")
    return mode
