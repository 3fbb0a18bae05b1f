"""scripts/moto_speedups.py: a Query reads only its partition, a transaction copies only what it writes,
and the answers stay moto's (the broad proof is tests/test_engine_differential.py)."""
import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

import moto_speedups
from chalicelib import storage

TABLE = "speedups"


@pytest.fixture
def ddb():
    moto_speedups.apply()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(**storage.table_definition(TABLE))
            yield client
    finally:
        moto_speedups.revert()


@pytest.fixture
def stock_all_items_forbidden(monkeypatch):
    """Make moto's own "list and sort every item" fail loudly while a test runs."""
    def refuse(self):
        raise AssertionError("moto listed every item of the table")

    monkeypatch.setitem(moto_speedups._originals, (Table, "all_items"), refuse)


def put(ddb, pk, sk, **attrs):
    item = {"PK": {"S": pk}, "SK": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}}
    ddb.put_item(TableName=TABLE, Item=item)


def gsi_keys(ddb, gsi_pk, **kwargs):
    items = ddb.query(TableName=TABLE, IndexName="GSI1", KeyConditionExpression="GSI1PK = :g",
                      ExpressionAttributeValues={":g": {"S": gsi_pk}}, **kwargs)["Items"]
    return [(i["PK"]["S"], i["SK"]["S"]) for i in items]


def sort_keys(ddb, pk):
    items = ddb.query(TableName=TABLE, KeyConditionExpression="PK = :p",
                      ExpressionAttributeValues={":p": {"S": pk}})["Items"]
    return [i["SK"]["S"] for i in items]


def test_table_query_reads_only_its_partition(ddb, stock_all_items_forbidden):
    for n in range(5):
        put(ddb, "A", f"s{n}")
        put(ddb, "B", f"s{n}")
    assert sort_keys(ddb, "A") == [f"s{n}" for n in range(5)]
    assert sort_keys(ddb, "nobody") == []


def test_index_query_reads_only_the_items_in_its_index_partition(ddb, stock_all_items_forbidden):
    put(ddb, "A", "1", GSI1PK="show#1", GSI1SK="b")
    put(ddb, "B", "1", GSI1PK="show#1", GSI1SK="a")
    put(ddb, "C", "1", GSI1PK="show#2", GSI1SK="a")
    put(ddb, "D", "1")  # not in the index
    assert gsi_keys(ddb, "show#1") == [("B", "1"), ("A", "1")]
    assert gsi_keys(ddb, "show#1", ScanIndexForward=False) == [("A", "1"), ("B", "1")]
    assert gsi_keys(ddb, "show#3") == []


def test_index_query_follows_an_update_that_moves_an_item_to_another_index_partition(ddb):
    put(ddb, "A", "1", GSI1PK="show#1", GSI1SK="x")
    assert gsi_keys(ddb, "show#1") == [("A", "1")]  # the index map is built here
    ddb.update_item(TableName=TABLE, Key={"PK": {"S": "A"}, "SK": {"S": "1"}},
                    UpdateExpression="SET GSI1PK = :g", ExpressionAttributeValues={":g": {"S": "show#2"}})
    assert gsi_keys(ddb, "show#1") == []
    assert gsi_keys(ddb, "show#2") == [("A", "1")]


def test_index_query_forgets_items_whose_index_key_is_removed_or_that_are_deleted(ddb):
    put(ddb, "A", "1", GSI1PK="show#1", GSI1SK="x")
    put(ddb, "B", "1", GSI1PK="show#1", GSI1SK="y")
    assert gsi_keys(ddb, "show#1") == [("A", "1"), ("B", "1")]
    ddb.update_item(TableName=TABLE, Key={"PK": {"S": "A"}, "SK": {"S": "1"}}, UpdateExpression="REMOVE GSI1PK")
    ddb.delete_item(TableName=TABLE, Key={"PK": {"S": "B"}, "SK": {"S": "1"}})
    assert gsi_keys(ddb, "show#1") == []


def test_overwriting_put_refiles_the_item_in_the_index(ddb):
    put(ddb, "A", "1", GSI1PK="show#1", GSI1SK="x")
    assert gsi_keys(ddb, "show#1") == [("A", "1")]
    put(ddb, "A", "1", GSI1PK="show#2", GSI1SK="x")
    assert (gsi_keys(ddb, "show#1"), gsi_keys(ddb, "show#2")) == ([], [("A", "1")])


def test_transaction_copies_only_the_items_it_writes(ddb, monkeypatch):
    def refuse(self, memo):
        raise AssertionError("the whole table was copied")

    put(ddb, "A", "1", n="0")
    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    ddb.transact_write_items(TransactItems=[
        {"ConditionCheck": {"TableName": TABLE, "Key": {"PK": {"S": "A"}, "SK": {"S": "1"}},
                            "ConditionExpression": "attribute_exists(PK)"}},
        {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "B"}, "SK": {"S": "1"}}}},
    ])
    assert sort_keys(ddb, "B") == ["1"]


def test_cancelled_transaction_puts_back_items_and_their_index_entries(ddb):
    put(ddb, "A", "1", GSI1PK="show#1", GSI1SK="x", n="0")
    assert gsi_keys(ddb, "show#1") == [("A", "1")]
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": {"PK": {"S": "A"}, "SK": {"S": "1"}},
                        "UpdateExpression": "SET GSI1PK = :g, n = :n",
                        "ExpressionAttributeValues": {":g": {"S": "show#2"}, ":n": {"S": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "A"}, "SK": {"S": "2"}}}},
            {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "C"}, "SK": {"S": "1"}, "GSI1PK": {"S": "show#1"},
                                                  "GSI1SK": {"S": "y"}}}},
            {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "A"}, "SK": {"S": "3"}},
                     "ConditionExpression": "attribute_exists(PK)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    item = ddb.get_item(TableName=TABLE, Key={"PK": {"S": "A"}, "SK": {"S": "1"}})["Item"]
    assert (item["n"]["S"], item["GSI1PK"]["S"]) == ("0", "show#1")
    assert sort_keys(ddb, "C") == []
    assert (gsi_keys(ddb, "show#1"), gsi_keys(ddb, "show#2")) == ([("A", "1")], [])


def test_transaction_with_two_actions_on_one_item_is_refused_and_changes_nothing(ddb):
    put(ddb, "A", "1", n="0")
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "B"}, "SK": {"S": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "B"}, "SK": {"S": "1"}}}},
        ])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert sort_keys(ddb, "B") == []


def test_restored_table_answers_index_queries_from_its_own_items(ddb):
    put(ddb, "A", "1", GSI1PK="show#1", GSI1SK="x")
    assert gsi_keys(ddb, "show#1") == [("A", "1")]
    backup = ddb.create_backup(TableName=TABLE, BackupName="backup")["BackupDetails"]["BackupArn"]
    ddb.restore_table_from_backup(TargetTableName="restored", BackupArn=backup)
    items = ddb.query(TableName="restored", IndexName="GSI1", KeyConditionExpression="GSI1PK = :g",
                      ExpressionAttributeValues={":g": {"S": "show#1"}})["Items"]
    assert [i["PK"]["S"] for i in items] == ["A"]


def test_apply_refuses_a_moto_version_it_was_not_checked_against(monkeypatch):
    monkeypatch.setattr(moto, "__version__", "99.0.0")
    with pytest.raises(moto_speedups.UnsupportedMotoVersion, match="99.0.0"):
        moto_speedups.apply()
    assert not moto_speedups.is_applied()


def test_revert_gives_back_stock_moto():
    stock = Table.__dict__["query"]
    moto_speedups.apply()
    assert Table.__dict__["query"] is not stock
    moto_speedups.revert()
    assert Table.__dict__["query"] is stock and not moto_speedups.is_applied()


EVERY_TYPE = {"PK": {"S": "A"}, "SK": {"S": "1"}, "n": {"N": "-1.5"}, "b": {"B": b"\x00\xff"},
              "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"a", b"b"]},
              "null": {"NULL": True}, "no": {"BOOL": False},
              "m": {"M": {"l": {"L": [{"S": ""}, {"M": {}}, {"BOOL": True}]}}}}


def test_attribute_values_are_answered_as_stock_moto_answers_them(ddb, monkeypatch):
    from moto.core.serialize import AttributePicker

    ddb.put_item(TableName=TABLE, Item=EVERY_TYPE)
    stock_picker = AttributePicker.__call__

    def no_alias_lookups_for_attribute_values(self, context):
        assert not context.shape.name.endswith("AttributeValue"), "an AttributeValue went the generic way"
        return stock_picker(self, context)

    with monkeypatch.context() as patched:
        patched.setattr(AttributePicker, "__call__", no_alias_lookups_for_attribute_values)
        fast = ddb.get_item(TableName=TABLE, Key={"PK": {"S": "A"}, "SK": {"S": "1"}})["Item"]
    moto_speedups.revert()
    stock = ddb.get_item(TableName=TABLE, Key={"PK": {"S": "A"}, "SK": {"S": "1"}})["Item"]
    assert fast == stock == EVERY_TYPE


def test_each_condition_string_is_lexed_once_and_still_decides_each_write(ddb, monkeypatch):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lexed = []
    stock_lex = moto_speedups._original(ConditionExpressionParser, "_lex_condition_expression")
    monkeypatch.setitem(moto_speedups._originals, (ConditionExpressionParser, "_lex_condition_expression"),
                        lambda parser: lexed.append(parser.condition_expression) or stock_lex(parser))
    moto_speedups._cached_condition_tokens.cache_clear()
    guarded = {"ConditionExpression": "attribute_not_exists(PK) OR #n < :max", "ExpressionAttributeNames": {"#n": "n"}}
    item = {"PK": {"S": "C"}, "SK": {"S": "1"}, "n": {"N": "5"}}
    ddb.put_item(TableName=TABLE, Item=item, ExpressionAttributeValues={":max": {"N": "9"}}, **guarded)
    ddb.put_item(TableName=TABLE, Item=item, ExpressionAttributeValues={":max": {"N": "6"}}, **guarded)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.put_item(TableName=TABLE, Item=item, ExpressionAttributeValues={":max": {"N": "5"}}, **guarded)
    assert lexed == [guarded["ConditionExpression"]]
    for _ in range(2):  # a string that cannot be lexed fails as in stock moto each time, never remembered
        with pytest.raises(ValueError, match="Cannot parse condition"):
            ddb.put_item(TableName=TABLE, Item=item, ConditionExpression="n ! :max",
                         ExpressionAttributeValues={":max": {"N": "5"}})
    assert lexed.count("n ! :max") == 2


def _stream_events():
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE).stream_shard
    return [(r.record["eventName"], r.record["dynamodb"]["Keys"]["SK"]["S"]) for r in shard.items]


def test_transaction_on_a_table_with_a_stream_records_its_writes_and_a_cancelled_one_records_none(ddb, monkeypatch):
    def refuse(self, memo):
        raise AssertionError("moto copied the whole table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    put(ddb, "A", "kept")
    new = {"PK": {"S": "A"}, "SK": {"S": "new"}}
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": new}}])
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "A"}, "SK": {"S": "never"}}}},
            {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "A"}, "SK": {"S": "kept"}},
                     "ConditionExpression": "attribute_not_exists(PK)"}}])
    assert _stream_events() == [("INSERT", "kept"), ("INSERT", "new")]


def test_reading_a_stream_keeps_only_the_most_recent_shard_iterators(ddb):
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    backend = dynamodbstreams_backends["123456789012"]["us-east-1"]
    put(ddb, "A", "one")
    shard = backend.describe_stream(arn)["Shards"][0]["ShardId"]
    iterator = backend.get_shard_iterator(arn, shard, "TRIM_HORIZON").arn
    records = backend.get_records(iterator, 10)
    assert [r["eventName"] for r in records["Records"]] == ["INSERT"]
    for _ in range(moto_speedups.SHARD_ITERATORS_KEPT + 50):
        records = backend.get_records(records["NextShardIterator"], 10)
    assert len(backend.shard_iterators) == moto_speedups.SHARD_ITERATORS_KEPT
    assert records["NextShardIterator"] in backend.shard_iterators
