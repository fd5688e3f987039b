"""Outgoing email through SES: the sender's domain identity (Easy DKIM), a configuration set whose
delivery problems go to the default EventBridge bus, and the one grant that lets a function send.

CDK context (``-c key=value``; all optional):

- ``senderDomain``: the domain the approval emails come from (default ``example.com``); it becomes an
  SES domain identity with Easy DKIM.
- ``senderAddress``: the From address, at that domain (default ``approvals@<senderDomain>``).
- ``hostedZoneId`` (and ``hostedZoneName``, default ``senderDomain``): a Route 53 public hosted zone
  for exactly ``senderDomain``; CDK then publishes the DKIM records in it.  Without it, publish the
  three CNAME records of the stack's ``DkimRecord1..3`` outputs at your DNS provider.

SES itself stays in the sandbox (only verified recipients) until production access is requested for
the account; that is an account setting, outside the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ses as ses
from constructs import Construct, Node

from hitl import wiring

DEFAULT_SENDER_DOMAIN = "example.com"

#: SES v2 ``SendEmail`` with ``Content.Raw`` is authorized as either action, depending on the content.
SEND_ACTIONS = ("ses:SendEmail", "ses:SendRawEmail")

#: What SES reports to the default bus (source ``aws.ses``): the ways an approver may never get the email.
FEEDBACK_EVENTS = (
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.COMPLAINT,
    ses.EmailSendingEvent.REJECT,
    ses.EmailSendingEvent.DELIVERY_DELAY,
)


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


@dataclass(frozen=True)
class MailSettings:
    """Where approval emails come from; ``from_context`` reads the CDK context keys above."""

    sender_domain: str = DEFAULT_SENDER_DOMAIN
    sender_address: str | None = None
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None

    def __post_init__(self) -> None:
        if not _DOMAIN.match(self.sender_domain):
            raise ValueError(f"senderDomain must be a lower-case DNS domain, not {self.sender_domain!r}")
        local, _, domain = self.address.rpartition("@")
        if not _LOCAL_PART.match(local) or domain != self.sender_domain:
            raise ValueError(
                f"senderAddress must be a plain address at senderDomain {self.sender_domain!r} "
                f"(the SES identity), not {self.address!r}"
            )
        if self.hosted_zone_name is not None and self.hosted_zone_id is None:
            raise ValueError("hostedZoneName needs hostedZoneId too: synth makes no AWS lookups")
        if self.hosted_zone_id is not None and self.zone_name != self.sender_domain:
            raise ValueError(
                f"the hosted zone {self.zone_name!r} must be the zone of senderDomain {self.sender_domain!r} "
                "(SES verifies the zone's own domain)"
            )

    @classmethod
    def from_context(cls, node: Node) -> MailSettings:
        def get(key: str) -> str | None:
            value = node.try_get_context(key)
            return str(value).strip() if value not in (None, "") else None

        def domain(value: str | None) -> str | None:
            return value.rstrip(".").lower() if value else None

        zone_name = domain(get("hostedZoneName"))
        return cls(
            sender_domain=domain(get("senderDomain")) or zone_name or DEFAULT_SENDER_DOMAIN,
            sender_address=get("senderAddress"),
            hosted_zone_id=get("hostedZoneId"),
            hosted_zone_name=zone_name,
        )

    @property
    def address(self) -> str:
        return self.sender_address or f"{wiring.SENDER_LOCAL_PART}@{self.sender_domain}"

    @property
    def sender(self) -> str:
        """The From header's value: ``HITL <approvals@example.com>``."""
        return wiring.sender(self.address)

    @property
    def zone_name(self) -> str:
        return (self.hosted_zone_name or self.sender_domain).rstrip(".")


class Mail(Construct):
    """The SES identity and configuration set (the senders' environment names both: ``hitl.wiring``),
    and ``grant_send``; SES reports delivery problems to the account's default bus only."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: MailSettings) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            reputation_metrics=True,
            sending_enabled=True,
            # a bounced or complaining address is not mailed again (a send to it reports a bounce)
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", wiring.DEFAULT_BUS_NAME)
        self.configuration_set.add_event_destination(
            "ToDefaultBus",
            destination=ses.EventDestination.event_bus(default_bus),
            events=list(FEEDBACK_EVENTS),
        )

        self.hosted_zone: route53.IPublicHostedZone | None = None
        if settings.hosted_zone_id is not None:
            self.hosted_zone = route53.PublicHostedZone.from_public_hosted_zone_attributes(
                self, "HostedZone", hosted_zone_id=settings.hosted_zone_id, zone_name=settings.zone_name
            )
            identity = ses.Identity.public_hosted_zone(self.hosted_zone)
        else:
            identity = ses.Identity.domain(settings.sender_domain)
        self.identity = ses.EmailIdentity(
            self,
            "Identity",
            identity=identity,
            dkim_signing=True,
            dkim_identity=ses.DkimIdentity.easy_dkim(ses.EasyDkimSigningKeyLength.RSA_2048_BIT),
            # a send that names no configuration set still reports its bounces and complaints
            configuration_set=self.configuration_set,
        )

    @property
    def identity_arn(self) -> str:
        return self.identity.email_identity_arn

    @property
    def configuration_set_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
        )

    @property
    def dkim_records(self) -> list[ses.DkimRecord]:
        """The three Easy DKIM CNAME records (name → value) the domain's DNS must publish."""
        return list(self.identity.dkim_records)

    def grant_send(self, grantee: iam.IGrantable) -> iam.Grant:
        """SES checks a send against the sender identity and the configuration set: exactly those two."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(SEND_ACTIONS),
            resource_arns=[self.identity_arn, self.configuration_set_arn],
        )
