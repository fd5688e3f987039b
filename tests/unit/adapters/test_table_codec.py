"""Items are written as boto3's TypeSerializer writes them and read back as they were stored."""

from __future__ import annotations

from decimal import Decimal, Inexact
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from hitl.adapters.table import attribute, from_item, to_item

STORED: list[Any] = [
    "text",
    "",
    0,
    -7,
    1_764_000_000,
    10**37,
    Decimal("1.5"),
    True,
    False,
    None,
    b"\x00bytes",
    [],
    ["a", 1, None, {"nested": [True]}],
    ("a", "tuple"),
    {},
    {"decision": {"outcome": "approved", "at": "2026-12-01T09:30:00.000Z", "comment": None}},
    {"tag"},
    {1, 2},
]


@pytest.mark.parametrize("value", STORED, ids=repr)
def test_a_value_is_written_as_boto3_writes_it(value):
    assert attribute(value) == TypeSerializer().serialize(value)


@pytest.mark.parametrize(
    "value", [1.5, float("nan"), 10**40 + 1, object(), set()], ids=["float", "nan", "41 digits", "object", "empty set"]
)
def test_what_dynamodb_cannot_hold_exactly_is_refused(value):
    with pytest.raises((TypeError, Inexact)):
        attribute(value)


def test_an_item_reads_back_as_it_was_stored():
    item = {"pk": "PAUSE#w_1", "version": 3, "policy": {"approvers": ["ann@x.test"], "requiredApprovals": 1}}
    assert from_item(to_item({**item, "gone": None})) == item
