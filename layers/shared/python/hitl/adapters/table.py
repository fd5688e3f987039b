"""The small shared base of the DynamoDB repositories: (de)serializing items, one get, put,
update, delete, query and transaction helper each, and the retry of transaction conflicts.
Key formats live in ``hitl.adapters.keys``; each repository owns one aggregate."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.shared.dynamodb_deserializer import DYNAMODB_CONTEXT, TypeDeserializer
from botocore.exceptions import ClientError

from hitl.adapters.keys import Key
from hitl.domain.ports import TransactionRefused

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_DESERIALIZER = TypeDeserializer()
T = TypeVar("T")


def attribute(value: Any) -> dict[str, Any]:
    """``value`` as a DynamoDB attribute value, written as boto3's ``TypeSerializer`` writes it
    (powertools' ``TypeDeserializer`` reads it back).  Not boto3's own: importing any part of
    boto3 imports all of it, s3transfer and multiprocessing included, ~10 ms of every cold start
    for this one function (botocore builds the clients).  Like boto3's, it refuses a float (use
    ``Decimal``), a number DynamoDB cannot hold exactly, and any type it does not name."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {key: attribute(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [attribute(item) for item in value]}
    if isinstance(value, set | frozenset) and value:
        if all(isinstance(item, str) for item in value):
            return {"SS": list(value)}
        if all(isinstance(item, int | Decimal) and not isinstance(item, bool) for item in value):
            return {"NS": [_number(item) for item in value]}
    raise TypeError(f"{value!r} of type {type(value).__name__} is not a DynamoDB type (floats: use Decimal)")


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))  # traps what would be stored inexactly
    if number in ("Infinity", "NaN"):
        raise TypeError(f"{number} cannot be stored in DynamoDB")
    return number


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_plain(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: attribute(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    return {f":{k}": attribute(v) for k, v in named.items()}


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    last_key: dict[str, str] | None


def retry_conflicts(operation: Callable[[], T], attempts: int = 6) -> T:
    """Run ``operation``, retrying a ``TransactionConflict`` with jittered, growing delays."""
    for attempt in range(attempts):
        try:
            return operation()
        except ClientError as error:
            if not _is_conflict(error) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise AssertionError("unreachable")


def _is_conflict(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        return any(r.get("Code") == "TransactionConflict" for r in reasons)
    return False


def _failed_conditions(error: ClientError, names: list[str]) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [names[i] for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed" and i < len(names)]


def condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Table:
    """One DynamoDB table, as every repository uses it."""

    def __init__(self, client: DynamoDBClient, name: str) -> None:
        self.client = client
        self.name = name

    def get(self, key: Key, consistent: bool = True) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.name, Key=to_item(key.as_dict()), ConsistentRead=consistent)
        item = answer.get("Item")
        return from_item(item) if item else None

    def put(self, key: Key, attributes: dict[str, Any], condition: str | None = None, **cond_values: Any) -> bool:
        """Put the item; with ``condition``, only if it holds (whether it did)."""
        try:
            self.client.put_item(**self.put_op(key, attributes, condition, **cond_values)["Put"])
        except ClientError as error:
            if condition and condition_failed(error):
                return False
            raise
        return True

    def update(
        self,
        key: Key,
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        returns: str | None = None,
        **expression_values: Any,
    ) -> dict[str, Any] | None:
        """Update the item; with ``condition``, only if it holds.  The item's attributes after the
        update when ``returns="ALL_NEW"`` (``{}`` otherwise); ``None`` when the condition failed."""
        request = self.update_op(key, expression, condition=condition, names=names, **expression_values)["Update"]
        if returns:
            request["ReturnValues"] = returns
        try:
            answer = self.client.update_item(**request)
        except ClientError as error:
            if condition and condition_failed(error):
                return None
            raise
        return from_item(answer.get("Attributes", {}))

    def delete(self, key: Key) -> bool:
        """Delete one item; whether it was there."""
        return self.take(key) is not None

    def take(self, key: Key) -> dict[str, Any] | None:
        """Delete one item; what it was (``None``: it was not there).  Of two takes of one item,
        only one gets it."""
        answer = self.client.delete_item(TableName=self.name, Key=to_item(key.as_dict()), ReturnValues="ALL_OLD")
        old = answer.get("Attributes")
        return from_item(old) if old else None

    def delete_op(self, key: Key, condition: str | None = None, **cond: Any) -> dict[str, Any]:
        """A ``Delete`` of a transaction."""
        delete: dict[str, Any] = {"TableName": self.name, "Key": to_item(key.as_dict())}
        if condition:
            delete["ConditionExpression"] = condition
            if cond:
                delete["ExpressionAttributeValues"] = values(**cond)
        return {"Delete": delete}

    def put_op(self, key: Key, attributes: dict[str, Any], condition: str | None = None, **cond: Any) -> dict[str, Any]:
        """A ``Put`` of a transaction."""
        put: dict[str, Any] = {"TableName": self.name, "Item": to_item({**attributes, **key.as_dict()})}
        if condition:
            put["ConditionExpression"] = condition
            if cond:
                put["ExpressionAttributeValues"] = values(**cond)
        return {"Put": put}

    def update_op(
        self,
        key: Key,
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        **expression_values: Any,
    ) -> dict[str, Any]:
        """An ``Update`` of a transaction."""
        update: dict[str, Any] = {"TableName": self.name, "Key": to_item(key.as_dict()), "UpdateExpression": expression}
        if condition:
            update["ConditionExpression"] = condition
        if names:
            update["ExpressionAttributeNames"] = names
        if expression_values:
            update["ExpressionAttributeValues"] = values(**expression_values)
        return {"Update": update}

    def transact(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Write ``(name, TransactItem)`` pairs in one transaction; a failed condition raises
        ``TransactionRefused`` naming the items, a conflict is retried."""
        names = [name for name, _ in items]

        def attempt() -> None:
            try:
                self.client.transact_write_items(TransactItems=[item for _, item in items])  # type: ignore[misc]
            except ClientError as error:
                failed = _failed_conditions(error, names)
                if failed:
                    raise TransactionRefused(failed) from error
                raise

        retry_conflicts(attempt)

    def query(
        self,
        *,
        key_condition: str,
        names: dict[str, str] | None = None,
        index: str | None = None,
        start_key: dict[str, str] | None = None,
        limit: int | None = None,
        forward: bool = True,
        consistent: bool = False,
        filter_expression: str | None = None,
        **expression_values: Any,
    ) -> Page:
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": values(**expression_values),
            "ScanIndexForward": forward,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if index:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = consistent
        if start_key:
            request["ExclusiveStartKey"] = to_item(start_key)
        if limit:
            request["Limit"] = limit
        if filter_expression:
            request["FilterExpression"] = filter_expression
        answer = self.client.query(**request)
        last = answer.get("LastEvaluatedKey")
        return Page(
            items=[from_item(i) for i in answer.get("Items", [])],
            last_key={k: str(v) for k, v in from_item(last).items()} if last else None,
        )

    def query_all(self, **query: Any) -> list[dict[str, Any]]:
        """Every item of a query, page after page."""
        items: list[dict[str, Any]] = []
        start: dict[str, str] | None = None
        while True:
            page = self.query(start_key=start, **query)
            items += page.items
            if not page.last_key:
                return items
            start = page.last_key

    def items_of(self, pk: str, prefix: str, *, forward: bool = True) -> list[dict[str, Any]]:
        """Every item under partition ``pk`` whose sort key starts with ``prefix`` (consistent)."""
        return self.query_all(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            consistent=True,
            forward=forward,
            pk=pk,
            prefix=prefix,
        )
