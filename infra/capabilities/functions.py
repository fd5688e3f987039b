"""Every function of the wiring, with exactly the grants and settings its ``needs`` name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hitl import wiring
from infra.capabilities.mail import Mail
from infra.lambda_defaults import hitl_function
from infra.nag import acknowledge

KNOWN_NEEDS = frozenset({wiring.BUS_PUT, wiring.SES_SEND, wiring.KMS_USE, wiring.SLACK_APP}) | wiring.table_access(
    *wiring.TABLE_ACTIONS
)
#: the only action of ours that reads an index (GetItem and the writes name the table's own key)
INDEX_ACTIONS = frozenset({wiring.QUERY})
#: what ``kms:use`` allows: exactly the two calls of ``hitl.adapters.kms.KmsCrypto``
KMS_ACTIONS = ("kms:Encrypt", "kms:Decrypt")
#: ``queue:send:<name>``: the prefix of the needs that name a work queue (``wiring.sends_to``).
SENDS_TO_PREFIX = wiring.sends_to("")


class Functions(Construct):
    """``work_queues``: the subscriptions' queues by name, for the ``sends_to`` needs; ``mail``: the SES
    identity and configuration set, for ``ses:send`` (``None`` when no function sends email); ``kms_key``:
    the service's key, for ``kms:use`` (``None`` when no function needs it); ``signup``: ``HITL_SIGNUP``;
    ``slack``: the Slack app whose settings the ``slack:app`` functions get (``None``: Slack is off)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Iterable[wiring.Function],
        table: dynamodb.Table,
        table_index_arn: str,
        bus: events.IEventBus,
        layers: Sequence[lambda_.ILayerVersion],
        public_base_url: str,
        work_queues: Mapping[str, sqs.IQueue],
        mail: Mail | None,
        kms_key: kms.IKey | None = None,
        signup: str = wiring.SIGNUP_CLOSED,
        slack: wiring.SlackApp | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, lambda_.Function] = {}
        for spec in specs:
            _check_needs(spec, work_queues, mail, kms_key)
            sends_to = {name: work_queues[name] for name in wiring.work_queues_of(spec)}
            deployment = wiring.Deployment(
                table=table.table_name,
                bus=bus.event_bus_name,
                public_base_url=public_base_url,
                queue_urls={name: queue.queue_url for name, queue in sends_to.items()},
                sender=mail.settings.sender if mail is not None else None,
                ses_configuration_set=mail.configuration_set.configuration_set_name if mail is not None else None,
                kms_key_id=kms_key.key_arn if kms_key is not None else None,
                signup=signup,
                slack=slack,
            )
            environment = wiring.function_environment(spec, deployment)
            if wiring.LOCAL_ONLY_SETTINGS & set(environment):
                raise ValueError(f"function {spec.name!r}: {sorted(wiring.LOCAL_ONLY_SETTINGS)} are never deployed")
            function = hitl_function(self, spec, layers=layers, environment=environment)
            _grant(function, spec, table=table, table_index_arn=table_index_arn, bus=bus)
            for queue in sends_to.values():
                queue.grant_send_messages(function)
            if mail is not None and wiring.SES_SEND in spec.needs:
                mail.grant_send(function)
            if kms_key is not None and wiring.KMS_USE in spec.needs:
                kms_key.grant(function, *KMS_ACTIONS)
            self.by_name[spec.name] = function

    def __getitem__(self, name: str) -> lambda_.Function:
        return self.by_name[name]

    @property
    def all(self) -> list[lambda_.Function]:
        return list(self.by_name.values())


def _check_needs(
    spec: wiring.Function, work_queues: Mapping[str, sqs.IQueue], mail: Mail | None, kms_key: kms.IKey | None
) -> None:
    unknown = {need for need in spec.needs - KNOWN_NEEDS if not need.startswith(SENDS_TO_PREFIX)}
    if wiring.TABLE_NEED_PREFIX + "Scan" in spec.needs:
        raise ValueError(f"function {spec.name!r}: Scan is never granted (nothing reads the whole table)")
    if unknown:
        raise ValueError(f"function {spec.name!r} needs unknown permissions {sorted(unknown)}")
    missing = sorted(set(wiring.work_queues_of(spec)) - set(work_queues))
    if missing:
        raise ValueError(f"function {spec.name!r} sends to queues no deployed subscription has: {missing}")
    if wiring.SES_SEND in spec.needs and mail is None:
        raise ValueError(f"function {spec.name!r} sends email, but the stack has no SES identity")
    if wiring.KMS_USE in spec.needs and kms_key is None:
        raise ValueError(f"function {spec.name!r} uses the service's KMS key, but the stack has none")


def _grant(
    function: lambda_.Function,
    spec: wiring.Function,
    *,
    table: dynamodb.Table,
    table_index_arn: str,
    bus: events.IEventBus,
) -> None:
    """Exactly the DynamoDB actions the function calls (``wiring.table_access``) on our table, and
    Query on its indexes; no ``grant_*_data`` (it adds Scan, DescribeTable, … nothing calls)."""
    table_actions = wiring.table_actions_of(spec)
    if table_actions:
        iam.Grant.add_to_principal(
            grantee=function,
            actions=[f"dynamodb:{action}" for action in table_actions],
            resource_arns=[table.table_arn],
        )
    index_actions = [action for action in table_actions if action in INDEX_ACTIONS]
    if index_actions:
        iam.Grant.add_to_principal(
            grantee=function,
            actions=[f"dynamodb:{action}" for action in index_actions],
            resource_arns=[f"{table.table_arn}/index/*"],
        )
        acknowledge(
            function,
            f"IAM5[Resource::{table_index_arn}]",
            "Only Query, and only on the indexes of our one table (<table arn>/index/*): the function "
            "queries the GSIs of the wiring; no other table or resource is reachable.",
        )
    if wiring.BUS_PUT in spec.needs:
        bus.grant_put_events_to(function)
