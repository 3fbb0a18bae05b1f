"""Fixes to moto's DynamoDB that make the local endpoint's cost stop growing with the table, and cut
its cost per request.

Written as a pull request to moto would be, and applied on top of the pinned moto version by
scripts/local_dynamodb.py (``apply()``). Nothing else changes: every answer, error and rollback is still
moto's own code. Drop this module (and its ``apply()`` call) once moto fixes these hot spots itself.
Tests: tests/test_moto_speedups.py (the fixes themselves) and tests/test_engine_differential.py
(random operation sequences against the patched endpoint and against stock moto: identical answers
and identical final contents).

Hot spot 1: every Query looks at every item (moto/dynamodb/models/table.py, ``Table.query``).
    Both of its branches, table and index, take their candidates from ``self.all_items()``, which lists
    and sorts every item of the table, and then keep the ones whose partition key matches. A Query of
    one partition costs O(n log n) in the size n of the whole table.
    Fix: ``Table.query`` is handed only the items that can match; moto then does everything else as
    before (key conditions, order, ExclusiveStartKey, Limit, filters, projection):
    - a Query of the table, or of an index partitioned like the table: the partition itself
      (``table.items[hash_key]``, which moto already keeps as a dict per partition key);
    - a Query of a global secondary index: a map, kept per table, from the index's partition-key
      values to the keys of the items that carry them (``GlobalIndexKeys``). It is built on the first
      such Query and kept current by every write: ``Table.put_item``, ``Table.delete_item``,
      ``DynamoDBBackend.update_item`` (which edits items in place) and transaction rollbacks. It is
      rebuilt when the table's items are replaced wholesale (restores, moto's own rollback) or its
      global indexes change.
    The candidates are a superset of the items moto's filter keeps, and moto sorts what it keeps by
    the full key (unique per item), so the order in which candidates are handed over cannot matter.

Hot spot 2: TransactWriteItems copies whole tables (moto/dynamodb/models/__init__.py,
    ``DynamoDBBackend.transact_write_items``). To be able to roll back, moto deep-copies every table
    a transaction names, once per item of the transaction: O(k * n) for k items. A 3-item booking took
    3 s in a table of 20,000 items.
    Fix: copy only the items the transaction can write (the keys of its Put, Update and Delete
    actions, read from the request exactly as moto reads them), let moto's "copies" of the tables be
    the tables themselves, and put the saved items back when, and only when, moto rolls back: on a
    cancellation (TransactionCanceledException, with moto's per-item reasons) and on the validation
    errors it raises from inside its loop (MockValidationException and its subclasses).
    Transactions the fast path cannot describe exactly take moto's own path unchanged: a table named
    by ARN or missing, a table whose stream feeds moto's own Lambda trigger (which empties the stream
    as it sends), an entry without exactly one action, or a key that cannot be read.
    A table with a stream (DynamoDB Streams): moto's rollback puts back the table's copy, and with it
    the stream as it was; the fast path does the same by remembering how many records each stream had
    and dropping the ones the cancelled transaction added (a cancelled transaction writes no record,
    as in DynamoDB). tests/test_engine_differential.py compares the stream records too.

Hot spot 3, a fixed cost of every request (moto/core/responses.py, ``BaseResponse.call_action``): to
    find the method for an action, moto lists the handler class's functions with ``inspect.getmembers``
    on each request, about a third of a millisecond for DynamoDB's handler. Fix: remember the list per
    class (``method_names_from_class`` is a pure function of a class, and classes do not change).

Hot spot 4, a cost per returned attribute (moto/core/serialize.py, ``ResponseSerializer``): moto's
    generic response serialiser looks each of the ten members of every AttributeValue (S, N, B, SS, NS,
    BS, M, L, NULL, BOOL) up through six alias providers and their snake_case forms: about 30 % of the
    endpoint's CPU for small items, 0.5 ms per returned item. Fix: for a DynamoDB AttributeValue given
    as moto's own wire-format dict (exactly one key, a member name), look that one member up directly
    and serialise it with moto's own code, which is what those lookups end in for such a dict (every
    other member's lookup misses). Anything else, or a response with key-path transformers registered,
    takes the generic path.

Hot spot 5, a cost per UpdateExpression (moto/dynamodb/parsing/expressions.py,
    ``UpdateExpressionParser.make``): every update parses its expression twice, once in the request
    handler (to check the names and values it uses) and once in the model, about 0.1-0.2 ms each.
    Fix: parse each distinct expression string once (``functools.lru_cache``). The tree is only read
    by the handler and deep-copied by moto's ``UpdateExpressionValidator`` before anything changes it,
    so sharing it cannot change an answer; expressions that fail to parse raise as before, uncached.

Hot spot 6, a cost per ConditionExpression (moto/dynamodb/comparisons.py,
    ``ConditionExpressionParser._lex_condition_expression``): every condition is cut into tokens by
    trying six regular expressions at each position, about 0.1 ms for a booking's conditions, several
    times per transaction (about 8 % of the endpoint's CPU in ``make bench-throughput``). The tokens
    depend only on the expression string. Fix: lex each distinct string once (``functools.lru_cache``)
    and hand each parse a fresh deque of the same immutable tokens (namedtuples whose ``children`` are
    empty lists nothing appends to); names and values are still applied on every parse. Expressions
    that fail to lex raise as before, uncached.

Hot spot 7, memory that grows with every stream read (moto/dynamodbstreams/models.py,
    ``ShardIterator.get``): each GetRecords (and GetShardIterator) stores a new shard iterator in the
    backend's ``shard_iterators`` and none is ever dropped; a poller reading the stream 4 times a second
    adds ~350,000 a day. Fix: keep the most recent ``SHARD_ITERATORS_KEPT`` (DynamoDB's own iterators
    expire after 15 minutes; an iterator that old is refused as moto refuses an unknown one).

Usage::

    import moto_speedups
    moto_speedups.apply()   # UnsupportedMotoVersion unless moto is a version this was checked against
    moto_speedups.revert()  # back to stock moto (tests)
"""
import collections
import contextvars
import copy
import functools
import weakref

__all__ = ["SUPPORTED_MOTO_VERSIONS", "UnsupportedMotoVersion", "GlobalIndexKeys", "apply", "revert",
           "is_applied"]

# The versions whose Table.query / transact_write_items these fixes were written against and tested with.
SUPPORTED_MOTO_VERSIONS = ("5.2.5",)


class UnsupportedMotoVersion(RuntimeError):
    """moto is not a version these fixes were checked against."""


_originals = {}  # (owner, attribute name) -> the original attribute, while applied
# While a Query runs: (table, candidate items) that the patched Table.all_items answers with.
_scoped_items = contextvars.ContextVar("moto_speedups_scoped_items", default=None)
# While a fast-path transaction runs: moto's deep copies of tables return the tables themselves.
_share_tables = contextvars.ContextVar("moto_speedups_share_tables", default=False)
_index_keys = weakref.WeakKeyDictionary()  # Table -> GlobalIndexKeys, built on the table's first GSI Query


def is_applied():
    return bool(_originals)


def apply():
    """Patch moto's DynamoDB model in this process (idempotent)."""
    import moto

    if moto.__version__ not in SUPPORTED_MOTO_VERSIONS:
        raise UnsupportedMotoVersion(
            f"scripts/moto_speedups.py was checked against moto {', '.join(SUPPORTED_MOTO_VERSIONS)}, "
            f"not {moto.__version__}: re-run tests/test_engine_differential.py and add the version, "
            f"or drop the module if moto has fixed its Query and transaction costs")
    if _originals:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    _patch(Table, "query", _query)
    _patch(Table, "all_items", _all_items)
    _patch(Table, "put_item", _put_item)
    _patch(Table, "delete_item", _delete_item)
    _patch(models.DynamoDBBackend, "update_item", _update_item)
    _patch(models.DynamoDBBackend, "transact_write_items", _transact_write_items)
    _patch(models, "copy", _CopyModuleSharingTables())
    from moto.core import responses

    _patch(responses, "method_names_from_class", functools.lru_cache(maxsize=None)(
        responses.method_names_from_class))
    from moto.core.serialize import BaseJSONSerializer

    _patch(BaseJSONSerializer, "_serialize_type_structure", _serialize_type_structure)
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    _patch(UpdateExpressionParser, "make", classmethod(_parsed_update_expression))
    from moto.dynamodb.comparisons import ConditionExpressionParser

    _patch(ConditionExpressionParser, "_lex_condition_expression", _lexed_condition_expression)
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    _patch(DynamoDBStreamsBackend, "get_records", _get_records_keeping_recent_iterators)
    _patch(DynamoDBStreamsBackend, "get_shard_iterator", _get_shard_iterator_keeping_recent_iterators)


SHARD_ITERATORS_KEPT = 1000


def _forget_old_iterators(backend):
    iterators = backend.shard_iterators
    while len(iterators) > SHARD_ITERATORS_KEPT:
        del iterators[next(iter(iterators))]  # dicts keep insertion order: the oldest first


def _get_records_keeping_recent_iterators(self, iterator_arn, limit):
    """Hot spot 7: moto's get_records, then only the most recent iterators are kept."""
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    try:
        return _original(DynamoDBStreamsBackend, "get_records")(self, iterator_arn, limit)
    finally:
        _forget_old_iterators(self)


def _get_shard_iterator_keeping_recent_iterators(self, *args, **kwargs):
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    try:
        return _original(DynamoDBStreamsBackend, "get_shard_iterator")(self, *args, **kwargs)
    finally:
        _forget_old_iterators(self)


@functools.lru_cache(maxsize=1024)
def _cached_update_expression(expression_str):
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    return _original(UpdateExpressionParser, "make").__func__(UpdateExpressionParser, expression_str)


def _parsed_update_expression(cls, expression_str):
    """Hot spot 5: one parse per distinct expression (see the module docstring)."""
    return _cached_update_expression(expression_str)


@functools.lru_cache(maxsize=1024)
def _cached_condition_tokens(expression):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lexer = ConditionExpressionParser(expression, None, None)
    return tuple(_original(ConditionExpressionParser, "_lex_condition_expression")(lexer))


def _lexed_condition_expression(self):
    """Hot spot 6: one lexing per distinct condition string (see the module docstring)."""
    return collections.deque(_cached_condition_tokens(self.condition_expression))


def revert():
    """Undo ``apply()``."""
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()
    _index_keys.clear()
    _cached_update_expression.cache_clear()
    _cached_condition_tokens.cache_clear()


def _patch(owner, name, replacement):
    _originals[(owner, name)] = vars(owner)[name]
    setattr(owner, name, replacement)


def _original(owner, name):
    return _originals[(owner, name)]


def _table_class():
    from moto.dynamodb.models.table import Table

    return Table


# --- items and keys ---------------------------------------------------------------------------------

def _key_from_attrs(table, attrs):
    """The (hash, range) key moto derives from an item or a Key map, or None if it cannot be read."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        hash(hash_key), hash(range_key)
    except Exception:  # noqa: BLE001 - any malformed key: the caller takes moto's own path
        return None
    return hash_key, range_key


def _current_item(table, hash_key, range_key):
    """The stored item at a key, or None; unlike ``table.get_item`` never adds an empty partition."""
    from moto.dynamodb.models.dynamo_type import Item

    partition = table.items.get(hash_key)
    if table.range_key_attr is None:
        return partition if isinstance(partition, Item) else None
    return partition.get(range_key) if partition else None


def _stored_items(table):
    """Every stored item, in no particular order (``Table.all_items`` also sorts them)."""
    from moto.dynamodb.models.dynamo_type import Item

    for partition in table.items.values():
        if table.range_key_attr is None:
            if isinstance(partition, Item):
                yield partition
        else:
            yield from partition.values()


def _partition_items(table, hash_key):
    from moto.dynamodb.models.dynamo_type import Item

    try:
        partition = table.items.get(hash_key)
    except TypeError:  # an unhashable key value: moto's own path
        return None
    if table.range_key_attr is None:
        return [partition] if isinstance(partition, Item) else []
    return list(partition.values()) if partition else []


def _index_value(dynamo_type):
    """A hashable snapshot of a key attribute's value (items are edited in place, so never the object)."""
    value = (dynamo_type.type, dynamo_type.cast_value)
    hash(value)
    return value


class GlobalIndexKeys:
    """For one table: each global index's partition-key values -> the keys of the items carrying them.

    Holds keys, not items, so that candidates are always the table's current items. An item whose
    index key cannot be hashed (a set, list or map where a string was expected) is kept aside and
    offered to every Query of that index, so the candidates stay a superset of moto's matches.
    """

    def __init__(self, table):
        self.items_dict = table.items
        self.signature = self.signature_of(table)
        self.hash_attrs = {name: attrs for name, attrs in self.signature}
        self.buckets = {name: {} for name in self.hash_attrs}  # name -> value tuple -> {key: None}
        self.unhashable = {name: {} for name in self.hash_attrs}  # name -> {key: None}
        self.placed = {}  # key -> {index name: value tuple, or None when unhashable}
        for item in _stored_items(table):
            self.update((item.hash_key, item.range_key if table.range_key_attr else None), item)

    @staticmethod
    def signature_of(table):
        return tuple((index.name, tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"))
                     for index in table.global_indexes)

    def is_current_for(self, table):
        return self.items_dict is table.items and self.signature == self.signature_of(table)

    def update(self, key, item):
        """Re-file ``key`` after a write; ``item`` is what is stored there now (None when nothing)."""
        old = self.placed.pop(key, {})
        for name, value in old.items():
            container = self.unhashable[name] if value is None else self.buckets[name].get(value, {})
            container.pop(key, None)
            if value is not None and not container:
                self.buckets[name].pop(value, None)
        if item is None:
            return
        new = {}
        for name, attrs in self.hash_attrs.items():
            values = [item.attrs.get(attr) for attr in attrs]
            if any(v is None for v in values):
                continue  # not in this index
            try:
                value = tuple(_index_value(v) for v in values)
            except TypeError:
                self.unhashable[name][key] = None
                new[name] = None
                continue
            self.buckets[name].setdefault(value, {})[key] = None
            new[name] = value
        if new:
            self.placed[key] = new

    def candidates(self, table, index_name, values):
        """Current items that may carry ``values`` (DynamoTypes, in the index's key order); None if unusable."""
        try:
            value = tuple(_index_value(v) for v in values)
        except TypeError:
            return None
        keys = list(self.buckets[index_name].get(value, {})) + list(self.unhashable[index_name])
        found = (_current_item(table, *key) for key in keys)
        return [item for item in found if item is not None]


def _global_index_keys(table):
    keys = _index_keys.get(table)
    if keys is None or not keys.is_current_for(table):
        keys = _index_keys[table] = GlobalIndexKeys(table)
    return keys


def _refile(table, key):
    """Keep a built index current after a write at ``key`` (None: the key is unknown, rebuild later)."""
    keys = _index_keys.get(table)
    if keys is None:
        return
    if key is None or not keys.is_current_for(table):
        _index_keys.pop(table, None)
        return
    keys.update(key, _current_item(table, *key))


# --- hot spot 1: Query ------------------------------------------------------------------------------

def _query_candidates(table, hash_key, index_name, hash_key_conditions):
    """The items a Query can match, or None to let moto look at every item."""
    if index_name is None:
        return None if hash_key is None else _partition_items(table, hash_key)
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return None  # moto answers with its own error
    hash_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    conditions = dict(hash_key_conditions or [])  # as moto reads them (a repeated name: the last wins)
    if not hash_attrs or any(attr not in conditions for attr in hash_attrs):
        return None
    if hash_attrs == [table.hash_key_attr]:
        return _partition_items(table, conditions[table.hash_key_attr])
    if index not in table.global_indexes:
        return None
    return _global_index_keys(table).candidates(table, index.name, [conditions[a] for a in hash_attrs])


def _query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
           projection_expressions, index_name=None, consistent_read=False, filter_expression=None,
           hash_key_conditions=None, range_key_conditions=None, **filter_kwargs):
    original = _original(_table_class(), "query")
    args = (self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
            projection_expressions, index_name, consistent_read, filter_expression)
    kwargs = dict(hash_key_conditions=hash_key_conditions, range_key_conditions=range_key_conditions,
                  **filter_kwargs)
    candidates = _query_candidates(self, hash_key, index_name, hash_key_conditions)
    if candidates is None:
        return original(*args, **kwargs)
    token = _scoped_items.set((self, candidates))
    try:
        return original(*args, **kwargs)
    finally:
        _scoped_items.reset(token)


def _all_items(self):
    scoped = _scoped_items.get()
    if scoped is not None and scoped[0] is self:
        return list(scoped[1])
    return _original(_table_class(), "all_items")(self)


def _put_item(self, item_attrs, *args, **kwargs):
    try:
        return _original(_table_class(), "put_item")(self, item_attrs, *args, **kwargs)
    finally:
        _refile(self, _key_from_attrs(self, item_attrs) if isinstance(item_attrs, dict) else None)


def _delete_item(self, hash_key, range_key):
    try:
        return _original(_table_class(), "delete_item")(self, hash_key, range_key)
    finally:
        # Without a range key on a table that has one, moto drops the whole partition: rebuild.
        known = self.range_key_attr is None or range_key is not None
        _refile(self, (hash_key, range_key if self.range_key_attr else None) if known else None)


def _update_item(self, table_name, key, *args, **kwargs):
    from moto.dynamodb.models import DynamoDBBackend

    try:
        return _original(DynamoDBBackend, "update_item")(self, table_name, key, *args, **kwargs)
    finally:
        table = self.tables.get(table_name) if isinstance(table_name, str) else None
        if table is None:  # named by ARN (or gone): forget every index rather than guess
            _index_keys.clear()
        else:
            _refile(table, _key_from_attrs(table, key) if isinstance(key, dict) else None)


# --- hot spot 2: TransactWriteItems -----------------------------------------------------------------

_ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")


def _snapshot_writes(backend, transact_items):
    """Copies of the items a transaction can write, {(table id, key): (table, key, item or None)}, and
    under ("stream", table id) the number of records of each named table's stream.

    None when the transaction is not one the fast path describes exactly (see the module docstring).
    """
    if not isinstance(transact_items, list) or len(transact_items) > 100:
        return None
    saved = {}
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            return None
        (action, op), = entry.items()
        if action not in _ACTIONS or not isinstance(op, dict):
            return None
        name = op.get("TableName")
        table = backend.tables.get(name) if isinstance(name, str) else None
        if table is None or (table.stream_shard is not None and table.lambda_event_source_mappings):
            return None
        if table.stream_shard is not None and ("stream", id(table)) not in saved:
            saved[("stream", id(table))] = (table, table.stream_shard, len(table.stream_shard.items))
        if action == "ConditionCheck":
            continue
        attrs = op.get("Item") if action == "Put" else op.get("Key")
        key = _key_from_attrs(table, attrs) if isinstance(attrs, dict) else None
        if key is None:
            return None
        if (id(table), key) not in saved:
            saved[(id(table), key)] = (table, key, copy.deepcopy(_current_item(table, *key)))
    return saved


def _restore(saved):
    for key, value in saved.items():
        if key[0] == "stream":
            _, shard, length = value
            del shard.items[length:]  # the records the cancelled transaction added
            continue
        table, (hash_key, range_key), item = value
        if table.range_key_attr is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            partition = table.items.get(hash_key)
            if partition:
                partition.pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
        _refile(table, (hash_key, range_key))


def _transact_write_items(self, transact_items):
    from moto.dynamodb.exceptions import MockValidationException, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    original = _original(DynamoDBBackend, "transact_write_items")
    saved = _snapshot_writes(self, transact_items)
    if saved is None:
        return original(self, transact_items)
    token = _share_tables.set(True)
    try:
        return original(self, transact_items)
    except (TransactionCanceledException, MockValidationException):
        # moto "rolled back" by putting its copies back, which here are the live tables: undo the
        # writes it made. (Entries with several actions, whose error moto raises without rolling
        # back, never reach the fast path.)
        _restore(saved)
        raise
    finally:
        _share_tables.reset(token)


# --- hot spot 4: serialising AttributeValues -------------------------------------------------------

def _serialize_type_structure(self, serialized, value, shape, key):
    from moto.core.serialize import BaseJSONSerializer

    if (key and shape.name == "AttributeValue" and type(value) is dict and len(value) == 1
            and self.operation_model.service_model.service_name == "dynamodb"
            and not getattr(self._value_picker, "response_transformers", True)):
        (member_key, member_value), = value.items()
        member_shape = shape.members.get(member_key)
        if member_shape is not None:
            wrapper = self.MAP_TYPE()
            for sibling in shape.members.values():
                sibling.parent = shape  # as the generic loop leaves them
            if member_value is not None:
                self._serialize(wrapper, member_value, member_shape, member_key)
            self._default_serialize(serialized, wrapper, shape, key)
            return
    _original(BaseJSONSerializer, "_serialize_type_structure")(self, serialized, value, shape, key)


class _CopyModuleSharingTables:
    """Stands in for the ``copy`` module inside moto.dynamodb.models.

    While a fast-path transaction runs, a deep copy of a Table is the table itself (the items the
    transaction can write were saved by ``_snapshot_writes``); everything else is really copied.
    """

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, value, memo=None):
        if _share_tables.get() and isinstance(value, _table_class()):
            return value
        return copy.deepcopy(value, memo)
