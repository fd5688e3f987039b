"""The local stack's Query answers as moto's own (and so as the code under test expects of
DynamoDB): every scenario run on the same table with and without ``fast_queries``, items,
counts and ``LastEvaluatedKey`` compared; then the same after writes of every kind, so the index
beside the table is shown to follow them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hitl_local import fast_queries, fast_transactions, resources

T = "hitl-test"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def seed_items() -> list[dict[str, Any]]:
    """Items shaped like the service's: pause heads and bodies under one pk, on the tenant index,
    the sparse due index and the lookup index; some items on no index at all."""
    items: list[dict[str, Any]] = []
    for i in range(30):
        tenant = f"t{i % 3}"
        watch = f"w_{i:03d}"
        created = f"2026-12-01T10:{i:02d}:00.000Z"
        head = {
            "pk": s(f"P#{watch}"),
            "sk": s("HEAD"),
            "status": s("pending" if i % 4 else "approved"),
            "gsi1pk": s(f"TP#{tenant}"),
            "gsi1sk": s(f"{created}#{watch}"),
            "watchId": s(watch),
            "n": n(i),
        }
        if i % 4:
            head["duePk"] = s(f"EXP#{i % 5}")
            head["dueSk"] = s(f"2026-12-0{1 + i % 3}T00:00:00.000Z#{watch}")
        items.append(head)
        items.append({"pk": s(f"P#{watch}"), "sk": s("BODY"), "action": s(f"act {i}"), "ctx": s("x" * (i * 7))})
        items.append({**on_tenant(f"P#{watch}", f"TA#{tenant}", created), "sk": s(f"AUDIT#{i:03d}")})
        # the audit log index (ALL): pause and team entries of a tenant by time
        kind = "team.key_created" if i % 5 == 0 else "pause.created"
        audit = {"auditPk": s(f"AL#{tenant}"), "auditSk": s(f"{created}#aud_{i:03d}"), "type": s(kind)}
        items.append({"pk": s(f"P#{watch}"), "sk": s(f"A#{created}#aud_{i:03d}"), **audit})
        if i % 6 == 0:
            items.append({"pk": s(f"KEY#{i}"), "sk": s("KEY"), "lookupPk": s(f"KEYID#{i % 12}"), "lookupSk": s("K")})
    # two items with the same GSI sort key (moto orders those by the table's key)
    items.append({"pk": s("P#dup1"), "sk": s("HEAD"), "gsi1pk": s("TP#t0"), "gsi1sk": s("same"), "n": n(1)})
    items.append({"pk": s("P#dup2"), "sk": s("HEAD"), "gsi1pk": s("TP#t0"), "gsi1sk": s("same"), "n": n(2)})
    return items


def on_tenant(pk: str, partition: str, sort: str) -> dict[str, Any]:
    """An item on the tenant index (``byTenant``)."""
    return {"pk": s(pk), "sk": s("HEAD"), "gsi1pk": s(partition), "gsi1sk": s(sort)}


def q(**request: Any) -> dict[str, Any]:
    return {"TableName": T, **request}


SCENARIOS: dict[str, dict[str, Any]] = {
    "one partition of the table": q(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("P#w_007")}),
    "a partition that is not there": q(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("nope")}),
    "the table, sort key equal": q(
        KeyConditionExpression="pk = :p AND sk = :s", ExpressionAttributeValues={":p": s("P#w_007"), ":s": s("HEAD")}
    ),
    "the table, begins_with": q(
        KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues={":p": s("P#w_007"), ":s": s("AUDIT#")},
    ),
    "the table, backwards with a limit": q(
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": s("P#w_007")},
        ScanIndexForward=False,
        Limit=2,
    ),
    "the table, consistent, projected": q(
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": s("P#w_011")},
        ConsistentRead=True,
        ProjectionExpression="sk, #s",
        ExpressionAttributeNames={"#s": "status"},
    ),
    "a GSI, newest first": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t",
        ExpressionAttributeValues={":t": s("TP#t1")},
        ScanIndexForward=False,
    ),
    "a GSI with equal sort keys": q(
        IndexName="byTenant", KeyConditionExpression="gsi1pk = :t", ExpressionAttributeValues={":t": s("TP#t0")}
    ),
    "a GSI, limit": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t",
        ExpressionAttributeValues={":t": s("TP#t2")},
        Limit=3,
        ScanIndexForward=False,
    ),
    "a GSI, begins_with": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t AND begins_with(gsi1sk, :d)",
        ExpressionAttributeValues={":t": s("TP#t1"), ":d": s("2026-12-01T10:1")},
    ),
    "a GSI, between": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t AND gsi1sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":t": s("TA#t0"), ":a": s("2026-12-01T10:05"), ":b": s("2026-12-01T10:20")},
    ),
    "the sparse due index, up to a time": q(
        IndexName="due",
        KeyConditionExpression="duePk = :p AND dueSk <= :u",
        ExpressionAttributeValues={":p": s("EXP#2"), ":u": s("2026-12-02T23:59:59.999Z")},
    ),
    "a GSI, a filter expression": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t",
        FilterExpression="#s = :pending",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":t": s("TP#t1"), ":pending": s("pending")},
    ),
    "a GSI, a filter expression and a limit": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t",
        FilterExpression="#s = :pending",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":t": s("TP#t0"), ":pending": s("approved")},
        Limit=4,
    ),
    "a GSI, between, backwards, a limit": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t AND gsi1sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":t": s("TP#t1"), ":a": s("2026-12-01T10:04"), ":b": s("2026-12-01T10:25")},
        ScanIndexForward=False,
        Limit=2,
    ),
    "a GSI, begins_with, a limit that ends the run exactly": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t AND begins_with(gsi1sk, :d)",
        ExpressionAttributeValues={":t": s("TP#t1"), ":d": s("2026-12-01T10:1")},
        Limit=3,
    ),
    "the sparse due index, up to a time, a limit": q(
        IndexName="due",
        KeyConditionExpression="duePk = :p AND dueSk < :u",
        ExpressionAttributeValues={":p": s("EXP#1"), ":u": s("2026-12-03T00:00:00.000Z$")},
        Limit=1,
    ),
    "the sparse due index, after a time, backwards": q(
        IndexName="due",
        KeyConditionExpression="duePk = :p AND dueSk > :u",
        ExpressionAttributeValues={":p": s("EXP#3"), ":u": s("2026-12-02")},
        ScanIndexForward=False,
        Limit=1,
    ),
    "the table, greater than, a limit, backwards": q(
        KeyConditionExpression="pk = :p AND sk >= :s",
        ExpressionAttributeValues={":p": s("P#w_007"), ":s": s("B")},
        ScanIndexForward=False,
        Limit=1,
    ),
    "a GSI, a limit larger than the partition": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t",
        ExpressionAttributeValues={":t": s("TA#t2")},
        Limit=1000,
    ),
    "the lookup index (ALL)": q(
        IndexName="lookup", KeyConditionExpression="lookupPk = :k", ExpressionAttributeValues={":k": s("KEYID#6")}
    ),
    "the audit log index, since, newest first, a type filter, a limit": q(
        IndexName="auditLog",
        KeyConditionExpression="auditPk = :t AND auditSk >= :since",
        FilterExpression="begins_with(#ty, :pause)",
        ExpressionAttributeNames={"#ty": "type"},
        ExpressionAttributeValues={":t": s("AL#t1"), ":since": s("2026-12-01T10:07"), ":pause": s("pause.")},
        ScanIndexForward=False,
        Limit=3,
    ),
    "the audit log index, oldest first": q(
        IndexName="auditLog",
        KeyConditionExpression="auditPk = :t",
        ExpressionAttributeValues={":t": s("AL#t0")},
        Limit=4,
    ),
    "a GSI value nobody has": q(
        IndexName="lookup", KeyConditionExpression="lookupPk = :k", ExpressionAttributeValues={":k": s("KEYID#none")}
    ),
    "a GSI, select count": q(
        IndexName="byTenant",
        KeyConditionExpression="gsi1pk = :t",
        ExpressionAttributeValues={":t": s("TP#t1")},
        Select="COUNT",
    ),
    "an unknown index": q(
        IndexName="nope", KeyConditionExpression="gsi1pk = :t", ExpressionAttributeValues={":t": s("TP#t1")}
    ),
    "the old KeyConditions API": q(
        IndexName="byTenant",
        KeyConditions={"gsi1pk": {"ComparisonOperator": "EQ", "AttributeValueList": [s("TP#t1")]}},
    ),
}

#: writes of every kind after the seed, so the index is shown to follow them
Write = Callable[[Any], None]


def _writes() -> dict[str, Write]:
    def put_moves(c: Any) -> None:  # an item moves from one tenant's partition to another
        c.put_item(TableName=T, Item={"pk": s("P#w_004"), "sk": s("HEAD"), "gsi1pk": s("TP#t2"), "gsi1sk": s("z")})

    def update_sets(c: Any) -> None:  # an update puts an item on the due index
        c.update_item(
            TableName=T,
            Key={"pk": s("P#w_008"), "sk": s("HEAD")},
            UpdateExpression="SET duePk = :p, dueSk = :s",
            ExpressionAttributeValues={":p": s("EXP#2"), ":s": s("2026-12-01T00:00:00.000Z#w_008")},
        )

    def update_removes(c: Any) -> None:  # … and takes one off it
        c.update_item(TableName=T, Key={"pk": s("P#w_007"), "sk": s("HEAD")}, UpdateExpression="REMOVE duePk, dueSk")

    def update_creates(c: Any) -> None:  # an update of an item that was not there creates it
        c.update_item(
            TableName=T,
            Key={"pk": s("P#new"), "sk": s("HEAD")},
            UpdateExpression="SET gsi1pk = :t, gsi1sk = :s",
            ExpressionAttributeValues={":t": s("TP#t1"), ":s": s("2026-12-01T10:15:30.000Z#new")},
        )

    def delete(c: Any) -> None:
        c.delete_item(TableName=T, Key={"pk": s("P#w_010"), "sk": s("HEAD")})

    def batch(c: Any) -> None:
        c.batch_write_item(
            RequestItems={
                T: [
                    {"PutRequest": {"Item": on_tenant("P#b1", "TP#t1", "b")}},
                    {"DeleteRequest": {"Key": {"pk": s("P#w_013"), "sk": s("HEAD")}}},
                ]
            }
        )

    def transaction(c: Any) -> None:
        c.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": T, "Item": on_tenant("P#x", "TP#t1", "x")}},
                {
                    "Update": {
                        "TableName": T,
                        "Key": {"pk": s("P#w_001"), "sk": s("HEAD")},
                        "UpdateExpression": "SET gsi1pk = :t",
                        "ExpressionAttributeValues": {":t": s("TP#t0")},
                    }
                },
                {"Delete": {"TableName": T, "Key": {"pk": s("P#w_016"), "sk": s("HEAD")}}},
            ]
        )

    def failed_transaction(c: Any) -> None:  # writes nothing
        with contextlib.suppress(ClientError):
            c.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": T, "Item": on_tenant("P#y", "TP#t1", "y")}},
                    {
                        "Put": {
                            "TableName": T,
                            "Item": {"pk": s("P#w_002"), "sk": s("HEAD")},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )

    def failed_condition(c: Any) -> None:
        with contextlib.suppress(ClientError):
            c.put_item(
                TableName=T,
                Item={"pk": s("P#w_002"), "sk": s("HEAD"), "gsi1pk": s("TP#t9")},
                ConditionExpression="attribute_not_exists(pk)",
            )

    return {
        "nothing": lambda c: None,
        "a put that moves an item": put_moves,
        "an update that adds index keys": update_sets,
        "an update that removes index keys": update_removes,
        "an update that creates an item": update_creates,
        "a delete": delete,
        "a batch write": batch,
        "a transaction": transaction,
        "a failed transaction": failed_transaction,
        "a failed conditional put": failed_condition,
    }


WRITES = _writes()


def _answer(client: Any, request: dict[str, Any]) -> Any:
    """Every page of the query (following LastEvaluatedKey), or the error moto gives."""
    pages = []
    request = dict(request)
    try:
        while True:
            page = client.query(**request)
            page.pop("ResponseMetadata", None)
            pages.append(page)
            if "LastEvaluatedKey" not in page or len(pages) > 50:
                return pages
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as error:
        return ("error", error.response["Error"]["Code"], error.response["Error"]["Message"])


@pytest.fixture(params=["moto's transactions", "the local stack's transactions"])
def transactions(request: pytest.FixtureRequest) -> Iterator[None]:
    """Both ways of writing transactions (moto's own deep-copies the table)."""
    if request.param == "the local stack's transactions":
        fast_transactions.install()
    try:
        yield
    finally:
        fast_transactions.uninstall()


def run(write: Write, fast: bool, keep: bool = False) -> dict[str, Any]:
    """Every scenario's answer after the seed and ``write``, and before it with ``fast`` or
    ``keep``; with ``fast``, the shortcut is installed from the start (so the index is built on the
    first query and then maintained)."""
    if fast:
        fast_queries.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(**resources.table_definition(T))
            for start in range(0, len(items := seed_items()), 25):
                client.batch_write_item(
                    RequestItems={T: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
                )
            # the shortcut builds its index on the first query, then maintains it through the write;
            # moto's own answers before the write are compared once (the write "nothing")
            before = {name: _answer(client, request) for name, request in SCENARIOS.items()} if fast or keep else {}
            write(client)
            after = {name: _answer(client, request) for name, request in SCENARIOS.items()}
            return {"before": before, "after": after}
    finally:
        fast_queries.uninstall()


#: the writes that are transactions: the only ones the two ways of writing transactions differ on
TRANSACTIONS = ("a transaction", "a failed transaction")
CASES = [
    *(pytest.param(write, "moto's transactions", id=write) for write in WRITES),
    *(
        pytest.param(write, "the local stack's transactions", id=f"{write}, the local stack's")
        for write in TRANSACTIONS
    ),
]


@pytest.mark.parametrize(("write", "transactions"), CASES, indirect=["transactions"])
def test_every_query_answers_as_moto_after_each_kind_of_write(write, transactions):
    fast, slow = run(WRITES[write], fast=True), run(WRITES[write], fast=False, keep=write == "nothing")
    for moment in ("before", "after") if write == "nothing" else ("after",):
        for scenario in SCENARIOS:
            assert fast[moment][scenario] == slow[moment][scenario], f"{scenario} ({moment} {write})"


def test_the_scenarios_do_find_something():
    # a comparison of empty answers would prove nothing
    answers = run(WRITES["nothing"], fast=False, keep=True)["before"]
    assert answers["one partition of the table"][0]["Count"] == 4
    assert answers["a GSI, limit"][0]["Count"] == 3 and len(answers["a GSI, limit"]) > 1
    assert answers["the sparse due index, up to a time"][0]["Count"] > 0
    assert answers["a GSI, a filter expression"][0]["Count"] > 0
    assert answers["an unknown index"][0] == "error"
    assert answers["the audit log index, oldest first"][0]["Count"] == 4
    filtered = answers["the audit log index, since, newest first, a type filter, a limit"]
    assert sum(page["Count"] for page in filtered) > 0


def test_an_index_built_before_a_reinstall_is_rebuilt():
    # writes made while the shortcut was not installed are not missed afterwards
    fast_queries.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(**resources.table_definition(T))
            request = SCENARIOS["a GSI, newest first"]
            assert client.query(**request)["Count"] == 0
            fast_queries.uninstall()
            client.put_item(TableName=T, Item={"pk": s("P#a"), "sk": s("HEAD"), "gsi1pk": s("TP#t1"), "gsi1sk": s("a")})
            fast_queries.install()
            assert client.query(**request)["Count"] == 1
    finally:
        fast_queries.uninstall()


def test_a_query_does_not_walk_the_table():
    fast_queries.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(**resources.table_definition(T))
            for start in range(0, len(items := seed_items()), 25):
                client.batch_write_item(
                    RequestItems={T: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
                )
            walked: list[int] = []
            original = fast_queries._ORIGINAL_ALL_ITEMS

            def counting(table: Any) -> Any:
                walked.append(1)
                return original(table)

            fast_queries._ORIGINAL_ALL_ITEMS = counting  # type: ignore[assignment]
            try:
                client.query(**SCENARIOS["a GSI, newest first"])  # the index exists (built on the first query)
                walked.clear()
                for name in ("one partition of the table", "a GSI, newest first", "the sparse due index, up to a time"):
                    client.query(**SCENARIOS[name])
            finally:
                fast_queries._ORIGINAL_ALL_ITEMS = original  # type: ignore[assignment]
            assert walked == []
    finally:
        fast_queries.uninstall()
