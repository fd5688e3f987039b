"""Query for the local stack's moto, in time that does not grow with the table.

moto answers every Query by sorting and walking the WHOLE table (``Table.all_items()``) to find
the items of one partition key: a local create went from 97 to 275 ms after 400 pauses, and the
sweeper's queries (16 shards, every few seconds) held the DynamoDB lock for as long.

This module keeps moto's own Query (its key conditions, sort order, ``Limit``,
``ExclusiveStartKey``, ``ScanIndexForward``, projections, ``FilterExpression``, its
``LastEvaluatedKey``) and changes only what it walks: instead of every item of the table, the
items that can match the query's partition key, taken from an index kept beside the table:

* on the table itself, moto's own ``table.items[hash_key]``;
* on a secondary index, a map *attribute value → primary keys* per partition-key attribute of
  the table's indexes, kept up to date by every write that goes through moto's ``Table.put_item``,
  ``Table.delete_item`` and ``DynamoDBBackend.update_item`` (which changes an item in place);
  built from the table on first use, and again whenever it may be stale (a table replaced or
  copied, its indexes changed, the shortcut re-installed).

The candidates are a superset of what moto's own walk keeps (moto re-checks every condition on
them), in the order ``all_items()`` would give them, so the answers are moto's answers
(``tests/integration/test_fast_queries.py`` compares them scenario by scenario).  Installed only in
the local stack's process, like ``fast_transactions``: writes and queries there are serialized by
``moto_server.SerializeDynamoDB``, and the index is changed only under that lock.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_ORIGINAL_QUERY = Table.query
_ORIGINAL_ALL_ITEMS = Table.all_items
_ORIGINAL_PUT = Table.put_item
_ORIGINAL_DELETE = Table.delete_item
_ORIGINAL_UPDATE = DynamoDBBackend.update_item
_QUERY_SIGNATURE = inspect.signature(_ORIGINAL_QUERY)
_INDEX_ATTRIBUTE = "_hitl_fast_query_index"

PrimaryKey = tuple[DynamoType, DynamoType | None]

#: bumped by every ``install``: an index built under an earlier one may have missed writes
_generation = 0
#: the candidates ``Table.all_items`` answers with during one query (per thread, per table)
_candidates = threading.local()


class _Index:
    """Partition-key attribute -> value -> the primary keys of the items that have it."""

    def __init__(self, table: Table, attributes: tuple[str, ...]) -> None:
        self.generation = _generation
        self.table_id = id(table)
        self.attributes = attributes
        self.by_value: dict[str, dict[DynamoType, set[PrimaryKey]]] = {name: {} for name in attributes}
        #: primary key -> (attribute, value) pairs indexed for it
        self.entries: dict[PrimaryKey, list[tuple[str, DynamoType]]] = {}
        for item in _ORIGINAL_ALL_ITEMS(table):
            self.add(_primary_key(item), item)

    def add(self, key: PrimaryKey, item: Item) -> None:
        pairs = [(name, item.attrs[name]) for name in self.attributes if item.attrs.get(name) is not None]
        for name, value in pairs:
            self.by_value[name].setdefault(value, set()).add(key)
        if pairs:
            self.entries[key] = pairs

    def remove(self, key: PrimaryKey) -> None:
        for name, value in self.entries.pop(key, []):
            keys = self.by_value[name].get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_value[name][value]

    def keys_of(self, name: str, value: DynamoType) -> set[PrimaryKey]:
        return self.by_value.get(name, {}).get(value, set())


def _primary_key(item: Item) -> PrimaryKey:
    return (item.hash_key, item.range_key)


def _indexed_attributes(table: Table) -> tuple[str, ...]:
    names = {key["AttributeName"] for index in table.all_indexes() for key in index.schema if key["KeyType"] == "HASH"}
    return tuple(sorted(names))


def _current_index(table: Table) -> _Index:
    """The table's index, (re)built when it may be stale."""
    index: _Index | None = table.__dict__.get(_INDEX_ATTRIBUTE)
    attributes = _indexed_attributes(table)
    if (
        index is None
        or index.generation != _generation
        or index.table_id != id(table)  # a copy (moto's own transactions deep-copy tables)
        or index.attributes != attributes
    ):
        index = _Index(table, attributes)
        table.__dict__[_INDEX_ATTRIBUTE] = index
    return index


def _item_at(table: Table, key: PrimaryKey) -> Item | None:
    hash_key, range_key = key
    if table.range_key_attr is None:
        found = table.items.get(hash_key)  # .get: ``items`` is a defaultdict
        return found if isinstance(found, Item) else None
    return table.items.get(hash_key, {}).get(range_key)


def _reindex(table: Table, key: PrimaryKey) -> None:
    """After a write to ``key``: its entries as the item now is (none if it is gone)."""
    index: _Index | None = table.__dict__.get(_INDEX_ATTRIBUTE)
    if index is None or index.table_id != id(table):
        return  # built (afresh) at the next query
    index.remove(key)
    item = _item_at(table, key)
    if item is not None:
        index.add(key, item)


def _sorted_like_all_items(items: list[Item]) -> list[Item]:
    # the order of moto's ``Table.all_items``
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _candidates_for(table: Table, hash_key: Any, index_name: str | None, conditions: Any) -> list[Item] | None:
    """The items a query can match, in ``all_items`` order; ``None``: walk the whole table (moto's
    own way, for what this does not know)."""
    if index_name is None:
        if not isinstance(hash_key, DynamoType):
            return None
        if table.range_key_attr is None:
            found = table.items.get(hash_key)
            return [found] if isinstance(found, Item) else []
        return _sorted_like_all_items(list(table.items.get(hash_key, {}).values()))
    if not conditions or index_name not in {index.name for index in table.all_indexes()}:
        return None  # moto reports the unknown index, or a query without a partition key
    name, value = conditions[0]
    if not isinstance(value, DynamoType):
        return None
    index = _current_index(table)
    if name not in index.attributes:
        return None
    items = [_item_at(table, key) for key in index.keys_of(name, value)]
    return _sorted_like_all_items([item for item in items if item is not None])


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
    arguments = bound.arguments
    candidates = _candidates_for(
        self, arguments.get("hash_key"), arguments.get("index_name"), arguments.get("hash_key_conditions")
    )
    if candidates is None:
        return _ORIGINAL_QUERY(self, *args, **kwargs)
    overrides: dict[int, list[Item]] = getattr(_candidates, "tables", None) or {}
    _candidates.tables = overrides
    overrides[id(self)] = candidates
    try:
        return _ORIGINAL_QUERY(self, *args, **kwargs)
    finally:
        del overrides[id(self)]


def all_items(self: Table) -> list[Item]:
    overrides: dict[int, list[Item]] = getattr(_candidates, "tables", None) or {}
    found = overrides.get(id(self))
    if found is not None:
        return list(found)
    return _ORIGINAL_ALL_ITEMS(self)


def put_item(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    try:
        return _ORIGINAL_PUT(self, item_attrs, *args, **kwargs)
    finally:
        key = _key_from_attrs(self, item_attrs)
        if key is not None:
            _reindex(self, key)


def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    try:
        return _ORIGINAL_DELETE(self, hash_key, range_key)
    finally:
        _reindex(self, (hash_key, range_key if self.range_key_attr is not None else None))


def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    try:
        return _ORIGINAL_UPDATE(self, table_name, key, *args, **kwargs)
    finally:  # moto changes the item in place, even when a later part of the update fails
        table = self.tables.get(table_name)
        if table is not None:
            found = _key_from_attrs(table, key)
            if found is not None:
                _reindex(table, found)


def _key_from_attrs(table: Table, attrs: dict[str, Any]) -> PrimaryKey | None:
    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        if table.range_key_attr is None:
            return (hash_key, None)
        return (hash_key, DynamoType(attrs[table.range_key_attr]))
    except (KeyError, TypeError, AttributeError):
        return None


_PATCHES: tuple[tuple[type, str, Callable[..., Any], Callable[..., Any]], ...] = (
    (Table, "query", query, _ORIGINAL_QUERY),
    (Table, "all_items", all_items, _ORIGINAL_ALL_ITEMS),
    (Table, "put_item", put_item, _ORIGINAL_PUT),
    (Table, "delete_item", delete_item, _ORIGINAL_DELETE),
    (DynamoDBBackend, "update_item", update_item, _ORIGINAL_UPDATE),
)


def install() -> None:
    global _generation
    _generation += 1
    for owner, name, patched, _ in _PATCHES:
        setattr(owner, name, patched)


def uninstall() -> None:
    for owner, name, _, original in _PATCHES:
        setattr(owner, name, original)


def installed() -> bool:
    return Table.query is query
