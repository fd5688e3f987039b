"""The local stack's TransactWriteItems behaves as moto's own (and DynamoDB's): compared
scenario by scenario, outcome and table afterwards."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hitl_local import fast_transactions

T = "t"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def put(pk: str, **extra: Any) -> dict[str, Any]:
    return {"Put": {"TableName": T, "Item": {"pk": s(pk), **extra}}}


SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "all succeed": [
        put("a", v=s("1")),
        put("b"),
        {
            "Update": {
                "TableName": T,
                "Key": {"pk": s("seed")},
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": T, "Key": {"pk": s("gone")}}},
    ],
    "a failed condition writes nothing": [
        put("a"),
        {
            **put("seed", v=s("new")),
            "Put": {
                **put("seed", v=s("new"))["Put"],
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        },
        put("c"),
    ],
    "a condition check that passes": [
        {
            "ConditionCheck": {
                "TableName": T,
                "Key": {"pk": s("seed")},
                "ConditionExpression": "n = :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        put("a"),
    ],
    "the same item twice": [put("a"), put("a", v=s("2"))],
    "an update moto refuses writes nothing": [
        put("a"),
        {
            "Update": {
                "TableName": T,
                "Key": {"pk": s("seed")},
                "UpdateExpression": "SET n = n + :text",
                "ExpressionAttributeValues": {":text": {"S": "x"}},
            }
        },
    ],
}


def run(items: list[dict[str, Any]], fast: bool) -> tuple[Any, list[Any]]:
    if fast:
        fast_transactions.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=T,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            )
            client.put_item(TableName=T, Item={"pk": s("seed"), "n": {"N": "1"}})
            client.put_item(TableName=T, Item={"pk": s("gone")})
            try:
                client.transact_write_items(TransactItems=items)
                outcome: Any = "ok"
            except ClientError as error:
                outcome = (error.response["Error"]["Code"], error.response.get("CancellationReasons"))
            table = sorted(client.scan(TableName=T)["Items"], key=lambda i: i["pk"]["S"])
            return outcome, table
    finally:
        fast_transactions.uninstall()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_same_outcome_and_table_as_moto(scenario):
    assert run(SCENARIOS[scenario], fast=True) == run(SCENARIOS[scenario], fast=False)


def test_a_failed_condition_is_reported_with_the_old_item():
    outcome, table = run(SCENARIOS["a failed condition writes nothing"], fast=True)
    code, reasons = outcome
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert reasons[1]["Item"]["pk"] == s("seed")
    assert [i["pk"]["S"] for i in table] == ["gone", "seed"]
