"""Query for the local stack's moto, in time that does not grow with the table.

moto answers every Query by sorting and walking the WHOLE table (``Table.all_items()``) to find
the items of one partition key: a local create went from 97 to 275 ms after 400 pauses, and the
sweeper's queries (16 shards, every few seconds) held the DynamoDB lock for as long.

This module keeps moto's own Query (its key conditions, sort order, ``Limit``,
``ExclusiveStartKey``, ``ScanIndexForward``, projections, ``FilterExpression``, its
``LastEvaluatedKey``) and changes only what it walks: instead of every item of the table, the
part of one partition that moto's walk can reach, as DynamoDB reads a B-tree:

* the partition: on the table itself, moto's own ``table.items[hash_key]``; on a secondary index,
  from a map *attribute value → primary keys* per partition-key attribute of the table's indexes,
  kept up to date by every write that goes through moto's ``Table.put_item``,
  ``Table.delete_item`` and ``DynamoDBBackend.update_item`` (which changes an item in place);
  built from the table on first use, and again whenever it may be stale (a table replaced or
  copied, its indexes changed, the shortcut re-installed).  A queried index partition is kept
  sorted in moto's order (the sweeper's shards, a tenant's list);
* the window: from the ``ExclusiveStartKey`` (a bisection), the items the sort-key condition
  keeps, ``Limit`` of them and the next one (whose presence makes moto answer a
  ``LastEvaluatedKey``).

moto then runs its own Query over those candidates (re-checking every condition on them, in the
order its own sort gives), so the answers are moto's answers
(``tests/integration/test_fast_queries.py`` compares them scenario by scenario).  Installed only in
the local stack's process, like ``fast_transactions``: writes and queries there are serialized by
``moto_server.SerializeDynamoDB``, and the index is changed only under that lock.
"""

from __future__ import annotations

import bisect
import inspect
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.comparisons import get_comparison_func
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
    """Partition-key attribute -> value -> the primary keys of the items that have it; and, for
    the partitions queried so far, their items in the order moto sorts them (kept sorted)."""

    def __init__(self, table: Table, attributes: tuple[str, ...]) -> None:
        self.generation = _generation
        self.table_id = id(table)
        self.attributes = attributes
        self.by_value: dict[str, dict[DynamoType, set[PrimaryKey]]] = {name: {} for name in attributes}
        #: primary key -> (attribute, value) pairs indexed for it
        self.entries: dict[PrimaryKey, list[tuple[str, DynamoType]]] = {}
        #: index name -> its (hash attribute, sort attributes), for the indexes this can sort
        self.layouts = {index.name: layout for index in table.all_indexes() if (layout := _layout(table, index))}
        #: (index name, partition value) -> [(sort key, primary key)], sorted
        self.sorted: dict[tuple[str, DynamoType], list[tuple[SortKey, PrimaryKey]]] = {}
        for item in _ORIGINAL_ALL_ITEMS(table):
            self.add(_primary_key(item), item)

    def add(self, key: PrimaryKey, item: Item) -> None:
        pairs = [(name, item.attrs[name]) for name in self.attributes if item.attrs.get(name) is not None]
        for name, value in pairs:
            self.by_value[name].setdefault(value, set()).add(key)
        if pairs:
            self.entries[key] = pairs
        for index_name, (hash_attr, sort_attrs) in self.layouts.items():
            value = item.attrs.get(hash_attr)
            partition = self.sorted.get((index_name, value)) if value is not None else None
            if partition is not None:
                sort_key = _sort_key(item, sort_attrs)
                if sort_key is not None:
                    bisect.insort(partition, (sort_key, key), key=_first)

    def remove(self, key: PrimaryKey, item: Item | None) -> None:
        for name, value in self.entries.pop(key, []):
            keys = self.by_value[name].get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_value[name][value]
        if item is None:
            return
        for index_name, (hash_attr, sort_attrs) in self.layouts.items():
            found: DynamoType | None = item.attrs.get(hash_attr)
            if found is None or (index_name, found) not in self.sorted:
                continue
            partition = self.sorted[(index_name, found)]
            sort_key = _sort_key(item, sort_attrs)
            if sort_key is not None:
                at = bisect.bisect_left(partition, sort_key, key=_first)
                if at < len(partition) and partition[at][1] == key:
                    del partition[at]
                else:  # not where it should be: sort the partition afresh when it is next queried
                    del self.sorted[(index_name, found)]

    def keys_of(self, name: str, value: DynamoType) -> set[PrimaryKey]:
        return self.by_value.get(name, {}).get(value, set())

    def partition(self, table: Table, index_name: str, value: DynamoType) -> list[tuple[SortKey, PrimaryKey]] | None:
        """The partition's items in moto's order, with their sort keys (``None``: cannot sort it)."""
        found = self.sorted.get((index_name, value))
        if found is not None:
            return found
        hash_attr, sort_attrs = self.layouts[index_name]
        entries = []
        for key in self.keys_of(hash_attr, value):
            item = _item_at(table, key)
            sort_key = _sort_key(item, sort_attrs) if item is not None else None
            if sort_key is not None:
                entries.append((sort_key, key))
        try:
            entries.sort(key=_first)
        except TypeError:  # values of different types under one attribute: moto's own walk decides
            return None
        self.sorted[(index_name, value)] = entries
        return entries


SortKey = tuple[Any, ...]


def _first(entry: tuple[SortKey, PrimaryKey]) -> SortKey:
    return entry[0]


def _layout(table: Table, index: Any) -> tuple[str, tuple[str, ...]] | None:
    """(hash attribute, the attributes moto sorts the index's query results by) for an index
    with one partition key and one sort key; ``None`` for others (moto's own walk serves them)."""
    hashes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    ranges = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) != 1:
        return None
    order = table._generate_attr_to_sort_by([hashes[0], table.hash_key_attr], [ranges[0], table.range_key_attr])
    return hashes[0], tuple(order)


def _sort_key(item: Item, attributes: tuple[str, ...]) -> SortKey | None:
    """The item's key in moto's sort order: its attributes' values as moto compares them."""
    try:
        return tuple(item.attrs[name].cast_value for name in attributes)
    except KeyError:  # not on the index
        return None


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


def _before_write(table: Table, key: PrimaryKey) -> None:
    """Before a write to ``key``: its entries leave the index (``_after_write`` puts them back)."""
    index: _Index | None = table.__dict__.get(_INDEX_ATTRIBUTE)
    if index is not None and index.table_id == id(table):
        index.remove(key, _item_at(table, key))


def _after_write(table: Table, key: PrimaryKey) -> None:
    index: _Index | None = table.__dict__.get(_INDEX_ATTRIBUTE)
    if index is not None and index.table_id == id(table):
        index.remove(key, None)  # idempotent: nothing left of it but what a failed write kept
        item = _item_at(table, key)
        if item is not None:
            index.add(key, item)


def _sorted_like_all_items(items: list[Item]) -> list[Item]:
    # the order of moto's ``Table.all_items``
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


#: the key conditions on a sort key that select one contiguous run of a sorted partition
RANGE_COMPARISONS = {"=", "EQ", "<", "LT", "<=", "LE", ">", "GT", ">=", "GE", "BETWEEN", "BEGINS_WITH"}


def _window(
    entries: list[tuple[SortKey, PrimaryKey]], table: Table, sort_attrs: tuple[str, ...], arguments: dict[str, Any]
) -> list[tuple[SortKey, PrimaryKey]] | None:
    """The part of a sorted partition moto's walk can look at: from ``ExclusiveStartKey`` on, the
    items the sort-key condition keeps, up to ``Limit`` of them and the one after (whose presence
    makes moto answer a ``LastEvaluatedKey``); in moto's walking order.  ``None``: all of it."""
    forward = arguments.get("scan_index_forward") is not False
    comparison = arguments.get("range_comparison")
    conditions = arguments.get("range_key_conditions") or []
    if arguments.get("filter_kwargs") or len(conditions) > 1:
        return None
    matches: Callable[[SortKey], bool] | None = None
    if comparison:
        attribute = conditions[0][0] if conditions else sort_attrs[1]
        if comparison not in RANGE_COMPARISONS or attribute != sort_attrs[1]:
            return None
        compare = get_comparison_func(comparison)
        bounds = [value.cast_value for value in arguments.get("range_objs") or []]

        def matches(sort_key: SortKey) -> bool:
            try:
                return bool(compare(sort_key[1], *bounds))
            except TypeError:
                return False

    ordered = entries if forward else entries[::-1]
    start = 0
    exclusive_start = arguments.get("exclusive_start_key")
    if exclusive_start is not None:
        try:
            after = tuple(DynamoType(exclusive_start[name]).cast_value for name in sort_attrs)
        except (KeyError, TypeError, AttributeError):
            return None
        if forward:  # moto skips every item at or before the start key
            start = bisect.bisect_right(entries, after, key=_first)
        else:
            start = len(entries) - bisect.bisect_left(entries, after, key=_first)
    limit = arguments.get("limit")
    if matches is None:
        return ordered[start : start + limit + 1] if isinstance(limit, int) else ordered[start:]
    window = []
    kept = 0
    for entry in ordered[start:]:
        if isinstance(limit, int) and kept >= limit:
            window.append(entry)  # the one after the last: moto answers a LastEvaluatedKey
            break
        if matches(entry[0]):
            window.append(entry)
            kept += 1
    return window


def _candidates_for(table: Table, arguments: dict[str, Any]) -> list[Item] | None:
    """The items a query can match, in an order moto's own sort keeps; ``None``: walk the whole
    table (moto's own way, for what this does not know)."""
    hash_key = arguments.get("hash_key")
    index_name = arguments.get("index_name")
    if index_name is None:
        if not isinstance(hash_key, DynamoType):
            return None
        if table.range_key_attr is None:
            found = table.items.get(hash_key)
            return [found] if isinstance(found, Item) else []
        sort_attrs = (table.hash_key_attr, table.range_key_attr)
        items = list(table.items.get(hash_key, {}).values())
        try:
            entries = sorted(
                ((sort_key, _primary_key(item)) for item in items if (sort_key := _sort_key(item, sort_attrs))),
                key=_first,
            )
        except TypeError:
            return _sorted_like_all_items(items)
        window = _window(entries, table, sort_attrs, arguments)
        if window is None:
            return _sorted_like_all_items(items)
        return _items_in_forward_order(table, window, arguments)
    conditions = arguments.get("hash_key_conditions")
    if not conditions or index_name not in {index.name for index in table.all_indexes()}:
        return None  # moto reports the unknown index, or a query without a partition key
    name, value = conditions[0]
    if not isinstance(value, DynamoType):
        return None
    index = _current_index(table)
    if name not in index.attributes:
        return None
    layout = index.layouts.get(index_name)
    partition = index.partition(table, index_name, value) if layout and layout[0] == name else None
    window = _window(partition, table, layout[1], arguments) if partition is not None and layout else None
    if window is None:
        items = [_item_at(table, key) for key in index.keys_of(name, value)]
        return _sorted_like_all_items([item for item in items if item is not None])
    return _items_in_forward_order(table, window, arguments)


def _items_in_forward_order(
    table: Table, window: list[tuple[SortKey, PrimaryKey]], arguments: dict[str, Any]
) -> list[Item]:
    if arguments.get("scan_index_forward") is False:
        window = window[::-1]  # moto sorts forward, then reverses
    items = [_item_at(table, key) for _, key in window]
    return [item for item in items if item is not None]


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
    candidates = _candidates_for(self, bound.arguments)
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
    key = _key_from_attrs(self, item_attrs)
    if key is None:
        return _ORIGINAL_PUT(self, item_attrs, *args, **kwargs)
    _before_write(self, key)
    try:
        return _ORIGINAL_PUT(self, item_attrs, *args, **kwargs)
    finally:
        _after_write(self, key)


def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    key = (hash_key, range_key if self.range_key_attr is not None else None)
    _before_write(self, key)
    try:
        return _ORIGINAL_DELETE(self, hash_key, range_key)
    finally:
        _after_write(self, key)


def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    table = self.tables.get(table_name)
    found = _key_from_attrs(table, key) if table is not None else None
    if table is None or found is None:
        return _ORIGINAL_UPDATE(self, table_name, key, *args, **kwargs)
    _before_write(table, found)
    try:
        return _ORIGINAL_UPDATE(self, table_name, key, *args, **kwargs)
    finally:  # moto changes the item in place, even when a later part of the update fails
        _after_write(table, found)


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
