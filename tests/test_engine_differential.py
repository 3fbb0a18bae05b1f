"""The local engine keeps moto's DynamoDB semantics: random operation sequences, same answers, same contents.

One side is the endpoint `make run` uses (scripts/local_dynamodb.py over HTTP: moto + scripts/moto_speedups.py,
serialised, journaling to a data folder); the other is stock moto in this process (``mock_aws``). Every
sequence runs on a fresh table of the app's schema on both sides: puts, conditional puts, updates
(including moving items between GSI1 partitions and out of it), deletes, transactions that succeed and
that are cancelled (with per-item reasons and ALL_OLD items) or refused, and Queries of the table and of
GSI1 with sort-key conditions (=, <, >=, begins_with, between), filters, limits, both directions, paged
with ExclusiveStartKey to the end. Each answer (or error) must be identical, and so must each table's
items afterwards, and its stream (the app's tables have one: every record's event, keys, images and
sequence number); and again after the endpoint restarts from its journal.
"""
import itertools
import os

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from moto import mock_aws

import local_stack
import moto_speedups
from chalicelib import storage

REGION = "us-east-1"
CREDENTIALS = dict(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
NO_RETRIES = Config(retries={"total_max_attempts": 1})

# Few keys, so that sequences keep hitting the same items, partitions and index partitions.
PKS = ["P0", "P1"]
SKS = ["a", "ab", "b", "ba", "c"]
# Items also carry "v", an attribute of any type (every AttributeValue member, nested): it is in every
# answer that returns items, so the serialiser is compared too.
GSI_PKS = ["G0", "G1"]
GSI_SKS = ["x", "xy", "y"]
NOW = 150  # the "now" of TTL conditions: expires_at 100 has expired, 200 has not


class Engine:
    """scripts/local_dynamodb.py with a data folder, on an inherited socket."""

    def __init__(self, data_dir, log_dir):
        self.data_dir, self.log_dir, self.process, self.starts = data_dir, log_dir, None, 0

    def start(self):
        sock = local_stack.listen(0)
        try:
            self.port = sock.getsockname()[1]
            self.starts += 1
            self.process = local_stack.start(
                local_stack.dynamodb_command(self.port, listen_fd=sock.fileno(), data_dir=self.data_dir),
                pass_fds=[sock.fileno()], log_path=os.path.join(self.log_dir, f"engine-{self.starts}.log"))
        finally:
            sock.close()
        local_stack.wait_until_answering(self.port, self.process, timeout=60)
        self.client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{self.port}", config=NO_RETRIES,
                                   **CREDENTIALS)
        self.streams = boto3.client("dynamodbstreams", endpoint_url=f"http://127.0.0.1:{self.port}",
                                    config=NO_RETRIES, **CREDENTIALS)

    def restart(self):
        local_stack.stop([self.process], timeout=30)
        self.start()


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    assert not moto_speedups.is_applied(), "the stock side must be stock moto"
    engine = Engine(str(tmp_path_factory.mktemp("engine-data")), str(tmp_path_factory.mktemp("engine-logs")))
    engine.start()
    try:
        with mock_aws():
            yield engine, boto3.client("dynamodb", config=NO_RETRIES, **CREDENTIALS)
    finally:
        local_stack.stop([engine.process], timeout=30)


# --- operations ---------------------------------------------------------------------------------------

def s(value):
    return {"S": value}


def n(value):
    return {"N": str(value)}


keys = st.builds(lambda pk, sk: {"PK": s(pk), "SK": s(sk)}, st.sampled_from(PKS), st.sampled_from(SKS))

CONDITIONS = [
    None,
    ("attribute_not_exists(PK)", {}),
    ("attribute_exists(PK)", {}),
    ("n < :limit", {":limit": n(2)}),
    ("attribute_not_exists(PK) OR expires_at < :now", {":now": n(NOW)}),
    # Parsed from cached tokens (hot spot 6): nesting, functions, names. (Expressions moto cannot parse
    # raise Python errors out of mock_aws, so they are compared in tests/test_moto_speedups.py.)
    ("attribute_exists(PK) AND (NOT begins_with(SK, :p) OR size(SK) > :zero)", {":p": s("a"), ":zero": n(0)}),
    ("#e <> :now AND n IN (:one, :limit)", {":now": n(NOW), ":one": n(1), ":limit": n(2)}, {"#e": "expires_at"}),
]
conditions = st.sampled_from(CONDITIONS)
on_failure = st.sampled_from([None, "NONE", "ALL_OLD"])


# Any attribute value moto stores: every type, nested in lists and maps.
scalar_values = st.one_of(
    st.builds(lambda t: {"S": t}, st.text(alphabet="ab é", max_size=4)),
    st.builds(lambda i: {"N": str(i)}, st.integers(-99, 99)),
    st.builds(lambda b: {"B": b}, st.binary(max_size=3)),
    st.builds(lambda xs: {"SS": xs}, st.lists(st.text(alphabet="ab", min_size=1, max_size=2), min_size=1,
                                               max_size=3, unique=True)),
    st.builds(lambda xs: {"NS": [str(x) for x in xs]}, st.lists(st.integers(0, 9), min_size=1, max_size=3,
                                                               unique=True)),
    st.builds(lambda xs: {"BS": xs}, st.lists(st.binary(min_size=1, max_size=2), min_size=1, max_size=3,
                                               unique=True)),
    st.just({"NULL": True}),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
)
attribute_values = st.recursive(scalar_values, lambda inner: st.one_of(
    st.builds(lambda xs: {"L": xs}, st.lists(inner, max_size=3)),
    st.builds(lambda d: {"M": d}, st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3))),
    max_leaves=5)


@st.composite
def items(draw):
    item = {**draw(keys), "n": n(draw(st.integers(0, 3)))}
    if draw(st.integers(0, 3)):
        item["GSI1PK"] = s(draw(st.sampled_from(GSI_PKS)))
        if draw(st.integers(0, 5)):  # now and then a GSI1PK without GSI1SK: not in the index
            item["GSI1SK"] = s(draw(st.sampled_from(GSI_SKS)))
    if draw(st.booleans()):
        item["expires_at"] = n(draw(st.sampled_from([100, 200])))
    if draw(st.booleans()):
        item["v"] = draw(attribute_values)
    return item


def with_condition(params, condition, failure):
    if condition is not None:
        expression, values, *names = condition
        params["ConditionExpression"] = expression
        if values:
            params["ExpressionAttributeValues"] = {**params.get("ExpressionAttributeValues", {}), **values}
        if names:
            params["ExpressionAttributeNames"] = {**params.get("ExpressionAttributeNames", {}), **names[0]}
    if failure is not None:
        params["ReturnValuesOnConditionCheckFailure"] = failure
    return params


UPDATES = [  # half of them move items between GSI1 partitions, into GSI1 or out of it
    ("SET n = :v", {":v": n(3)}),
    ("ADD n :one", {":one": n(1)}),
    ("SET expires_at = :e", {":e": n(100)}),
    ("SET GSI1PK = :g, GSI1SK = :x", {":g": s("G0"), ":x": s("xy")}),
    ("SET GSI1PK = :g", {":g": s("G0")}),
    ("SET GSI1PK = :g", {":g": s("G1")}),
    ("REMOVE GSI1PK", {}),
]


@st.composite
def update_params(draw):
    expression, values = draw(st.sampled_from(UPDATES))
    params = {"Key": draw(keys), "UpdateExpression": expression}
    if values:
        params["ExpressionAttributeValues"] = dict(values)
    return with_condition(params, draw(conditions), draw(on_failure))


puts = st.builds(lambda item, c, f, rv: ("put_item", with_condition({"Item": item, "ReturnValues": rv}, c, f)),
                 items(), conditions, on_failure, st.sampled_from(["NONE", "ALL_OLD"]))
updates = st.builds(lambda p, rv: ("update_item", {**p, "ReturnValues": rv}), update_params(),
                    st.sampled_from(["NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD"]))
deletes = st.builds(lambda k, c, f, rv: ("delete_item", with_condition({"Key": k, "ReturnValues": rv}, c, f)),
                    keys, conditions, on_failure, st.sampled_from(["NONE", "ALL_OLD"]))
gets = st.builds(lambda k: ("get_item", {"Key": k, "ConsistentRead": True}), keys)


@st.composite
def transaction_actions(draw):
    kind = draw(st.sampled_from(["ConditionCheck", "Put", "Update", "Delete"]))
    condition, failure = draw(conditions), draw(on_failure)
    if kind == "Put":
        return {"Put": with_condition({"Item": draw(items())}, condition, failure)}
    if kind == "Update":
        return {"Update": draw(update_params())}
    if kind == "ConditionCheck":
        condition = condition or CONDITIONS[2]
    return {kind: with_condition({"Key": draw(keys)}, condition, failure)}


transactions = st.builds(lambda actions: ("transact_write_items", {"TransactItems": actions}),
                         st.lists(transaction_actions(), min_size=1, max_size=4))

SORT_CONDITIONS = ["", " AND #sk = :s", " AND #sk < :s", " AND #sk >= :s", " AND begins_with(#sk, :s)",
                   " AND #sk BETWEEN :s AND :t"]


@st.composite
def queries(draw):
    on_index = draw(st.booleans())
    hash_name, sort_name = ("GSI1PK", "GSI1SK") if on_index else ("PK", "SK")
    sort_values = GSI_SKS if on_index else SKS
    sort_condition = draw(st.sampled_from(SORT_CONDITIONS))
    low, high = sorted([draw(st.sampled_from(sort_values)), draw(st.sampled_from(sort_values))])
    values = {":h": s(draw(st.sampled_from(GSI_PKS if on_index else PKS)))}
    if ":s" in sort_condition:
        values[":s"] = s(low)
    if ":t" in sort_condition:
        values[":t"] = s(high)
    params = {"KeyConditionExpression": f"#h = :h{sort_condition}",
              "ExpressionAttributeNames": {"#h": hash_name, **({"#sk": sort_name} if sort_condition else {})},
              "ExpressionAttributeValues": values, "ScanIndexForward": draw(st.booleans())}
    if on_index:
        params["IndexName"] = "GSI1"
    limit = draw(st.sampled_from([None, 1, 2, 3]))
    if limit:
        params["Limit"] = limit
    if draw(st.integers(0, 3)) == 0:
        params["FilterExpression"] = "n > :floor"
        values[":floor"] = n(0)
    return ("query", params)


# A sequence: a few items to start from (so partitions and index partitions hold several items), then
# operations, queries the most frequent (each one reads what the writes before it left).
prefills = st.lists(items(), min_size=6, max_size=14)
operations = st.lists(st.one_of(puts, updates, updates, deletes, gets, transactions, queries(), queries(),
                                queries()), min_size=8, max_size=20)


# --- running and comparing ----------------------------------------------------------------------------

def outcome(client, table, operation, params):
    """The answer without its transport metadata, or the error as DynamoDB describes it."""
    params = dict(params, TableName=table) if operation != "transact_write_items" else {
        "TransactItems": [{kind: dict(action, TableName=table) for kind, action in entry.items()}
                          for entry in params["TransactItems"]]}
    pages = []
    while True:
        try:
            response = getattr(client, operation)(**params)
        except ClientError as exc:
            error = exc.response
            pages.append(("error", error["Error"].get("Code"), error["Error"].get("Message"),
                          error.get("CancellationReasons"), error.get("Item")))
            return pages
        response.pop("ResponseMetadata", None)
        pages.append(response)
        if operation != "query" or "LastEvaluatedKey" not in response:
            return pages
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def every_partition_read(client, table):
    """Each partition of the table and of GSI1, both ways, two items a page: what an index left stale shows."""
    pages = []
    for index, (name, values) in ((None, ("PK", PKS)), ("GSI1", ("GSI1PK", GSI_PKS))):
        for value in values:
            for forward in (True, False):
                params = {"KeyConditionExpression": f"{name} = :v", "ExpressionAttributeValues": {":v": s(value)},
                          "ScanIndexForward": forward, "Limit": 2, **({"IndexName": index} if index else {})}
                pages.append(outcome(client, table, "query", params))
    return pages


def contents(client, table):
    found, start = [], None
    while True:
        page = client.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        found.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(found, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def stream_records(client, streams, table):
    """Every record of the table's stream over DynamoDB Streams' API, as far as two engines can agree
    (eventIDs and times are random)."""
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return _comparable(streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"])


def stock_stream_records(table):
    """The same from stock moto's model (in process, mock_aws routes Streams requests to DynamoDB's handler)."""
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends["123456789012"][REGION].get_table(table).stream_shard
    return _comparable([record.to_json() for record in shard.items])


def _comparable(records):
    return [(r["eventName"], r["dynamodb"]["SequenceNumber"], r["dynamodb"]["Keys"], r["dynamodb"].get("OldImage"),
             r["dynamodb"].get("NewImage")) for r in records]


def create(client, table):
    client.create_table(**storage.table_definition(table))
    client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True,
                                                                         "AttributeName": "expires_at"})


_tables = itertools.count()


def test_engine_answers_like_stock_moto_and_keeps_what_it_answered_across_a_restart(sides):
    engine, stock = sides
    tables, streams_before = [], {}

    # No shrinking: a failure is reported with its whole sequence and the step that differed, at once
    # (shrinking sequences over HTTP can take minutes).
    @settings(max_examples=14, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(prefills, operations)
    def same_answers(prefill, sequence):
        table = f"differential-{next(_tables)}"
        tables.append(table)
        for client in (engine.client, stock):
            create(client, table)
        for item in prefill:
            expected = outcome(stock, table, "put_item", {"Item": item})
            assert outcome(engine.client, table, "put_item", {"Item": item}) == expected
        for step, (operation, params) in enumerate(sequence):
            expected = outcome(stock, table, operation, params)
            assert outcome(engine.client, table, operation, params) == expected, f"step {step}: {operation}"
        assert every_partition_read(engine.client, table) == every_partition_read(stock, table)
        assert contents(engine.client, table) == contents(stock, table)
        streams_before[table] = stock_stream_records(table)
        assert stream_records(engine.client, engine.streams, table) == streams_before[table]

    same_answers()

    engine.restart()
    for table in tables:
        assert contents(engine.client, table) == contents(stock, table), table
        assert stream_records(engine.client, engine.streams, table) == streams_before[table], table
        described = engine.client.describe_table(TableName=table)["Table"]
        assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["GSI1"]
        assert engine.client.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
