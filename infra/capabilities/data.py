"""The single DynamoDB table, keys and indexes from the wiring."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from hitl import wiring

_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class Data(Construct):
    """Single-table design: on demand, PITR, TTL, AWS-managed encryption, retained on delete."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_string(wiring.TABLE_PK),
            sort_key=_string(wiring.TABLE_SK),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=wiring.TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        for index in wiring.INDEXES:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string(index.pk),
                sort_key=_string(index.sk),
                projection_type=_PROJECTIONS[index.projection],
                non_key_attributes=list(index.include) if index.projection == "INCLUDE" else None,
            )

    @property
    def index_arn_pattern(self) -> str:
        """How cdk-nag names the ``<table arn>/index/*`` resource that ``grant_*_data`` adds."""
        cfn_table = self.table.node.default_child
        assert isinstance(cfn_table, cdk.CfnElement)
        return f"<{cdk.Stack.of(self).get_logical_id(cfn_table)}.Arn>/index/*"
