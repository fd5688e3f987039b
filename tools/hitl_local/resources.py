"""AWS resources for moto (tests and the local stack), created from the wiring description.

CloudFormation in moto cannot create our CDK template, so the same tables the CDK stack
reads (``hitl.wiring``) are turned into boto3 calls here.  Test-only subscriptions are
included: this module never runs against a deployed stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from hitl import wiring

#: the names of the wiring, kept here for the local stack's modules that use them
SENDER_DOMAIN = wiring.LOCAL_SENDER_DOMAIN
#: The account's default bus, where SES puts what it reports (``bus="default"`` subscriptions).
DEFAULT_BUS = wiring.DEFAULT_BUS_NAME
KMS_KEY_DESCRIPTION = wiring.KMS_KEY_DESCRIPTION


@dataclass(frozen=True)
class Names:
    table: str = "hitl-local"
    bus: str = "hitl-local"
    #: the SES configuration set the local stack sends with; its events carry it as a tag, and the
    #: rules of SES subscriptions match only those, as in the deployed stack
    configuration_set: str = "hitl-local"
    #: the KMS key that encrypts webhook secrets (made by ``create`` when empty)
    kms_key_id: str = ""
    #: subscription name -> queue URL
    queues: dict[str, str] = field(default_factory=dict)
    dead_letter_queues: dict[str, str] = field(default_factory=dict)


def table_definition(table_name: str) -> dict[str, Any]:
    key_names = {wiring.TABLE_PK, wiring.TABLE_SK}
    for index in wiring.INDEXES:
        key_names |= {index.pk, index.sk}
    indexes = []
    for index in wiring.INDEXES:
        projection: dict[str, Any] = {"ProjectionType": index.projection}
        if index.include:
            projection["NonKeyAttributes"] = list(index.include)
        indexes.append(
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.pk, "KeyType": "HASH"},
                    {"AttributeName": index.sk, "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
        )
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in sorted(key_names)],
        "KeySchema": [
            {"AttributeName": wiring.TABLE_PK, "KeyType": "HASH"},
            {"AttributeName": wiring.TABLE_SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": indexes,
    }


def bus_of(subscription: wiring.Subscription, names: Names) -> str:
    return names.bus if subscription.bus == "service" else DEFAULT_BUS


def create(session: boto3.session.Session, names: Names | None = None, *, visibility_s: int | None = None) -> Names:
    """Create (or find) the table, the bus, each subscription's rule -> queue (+ DLQ) (on the
    service's bus, or on the default bus for what AWS services report), and the SES identity and
    configuration set.  Each queue's visibility timeout is the deployed stack's
    (``wiring.visibility_timeout_s``) unless ``visibility_s`` sets one for all."""
    names = names or Names()
    dynamodb = session.client("dynamodb")
    existing = dynamodb.list_tables()["TableNames"]
    if names.table not in existing:
        dynamodb.create_table(**table_definition(names.table))
        dynamodb.update_time_to_live(
            TableName=names.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": wiring.TTL_ATTRIBUTE},
        )
    events = session.client("events")
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    if names.bus not in buses:
        events.create_event_bus(Name=names.bus)
    sqs = session.client("sqs")
    queues: dict[str, str] = {}
    dead: dict[str, str] = {}
    for subscription in wiring.SUBSCRIPTIONS:
        base = f"{names.bus}-{subscription.name}"
        dlq_url = sqs.create_queue(QueueName=f"{base}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=base,
            Attributes={
                "VisibilityTimeout": str(
                    visibility_s if visibility_s is not None else wiring.visibility_timeout_s(subscription)
                ),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": subscription.max_receive_count}
                ),
            },
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if subscription.from_bus:
            bus = bus_of(subscription, names)
            events.put_rule(
                Name=base,
                EventBusName=bus,
                EventPattern=json.dumps(subscription.event_pattern(names.configuration_set)),
                State="ENABLED",
            )
            events.put_targets(Rule=base, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
        queues[subscription.name] = url
        dead[subscription.name] = dlq_url
    # SES refuses a sender whose identity is not verified (moto too): verify the local domain
    ses = session.client("ses")
    ses.verify_domain_identity(Domain=SENDER_DOMAIN)
    existing_sets = [c["Name"] for c in ses.list_configuration_sets().get("ConfigurationSets", [])]
    if names.configuration_set not in existing_sets:
        ses.create_configuration_set(ConfigurationSet={"Name": names.configuration_set})
    kms_key_id = names.kms_key_id  # a key kept across restarts (``hitl_local.moto_server.import_kms_key``)
    if not kms_key_id:
        kms_key_id = session.client("kms").create_key(Description=KMS_KEY_DESCRIPTION)["KeyMetadata"]["KeyId"]
    return Names(
        table=names.table,
        bus=names.bus,
        configuration_set=names.configuration_set,
        kms_key_id=kms_key_id,
        queues=queues,
        dead_letter_queues=dead,
    )
