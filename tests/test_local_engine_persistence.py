"""The local DynamoDB endpoint keeps its data in a folder: a clean stop loses nothing, a SIGKILL loses no
answered write, and a damaged or shared folder is refused in one line."""
import os
import signal
import subprocess
import sys

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import local_stack
from chalicelib import storage

TABLE = "persisted"


class Endpoint:
    """scripts/local_dynamodb.py on an inherited socket, with ``data_dir``."""

    def __init__(self, data_dir, fresh=False):
        sock = local_stack.listen(0)
        self.port = sock.getsockname()[1]
        self.process = subprocess.Popen(
            local_stack.dynamodb_command(self.port, listen_fd=sock.fileno(), data_dir=data_dir, fresh=fresh),
            pass_fds=[sock.fileno()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        sock.close()
        local_stack.wait_until_answering(self.port, self.process, timeout=60)
        self.client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                                   aws_access_key_id="local", aws_secret_access_key="local",
                                   config=Config(retries={"total_max_attempts": 1}))

    def stop(self, signum=signal.SIGTERM):
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


def run_to_exit(data_dir):
    """Start an endpoint on ``data_dir`` that is expected to refuse it; its completed process."""
    sock = local_stack.listen(0)
    try:
        return subprocess.run(local_stack.dynamodb_command(sock.getsockname()[1], listen_fd=sock.fileno(),
                                                           data_dir=data_dir),
                              pass_fds=[sock.fileno()], capture_output=True, text=True, timeout=60)
    finally:
        sock.close()


@pytest.fixture
def data_dir(tmp_path):
    return str(tmp_path / "data")


def item(pk, sk, **attrs):
    return {"PK": {"S": pk}, "SK": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}}


def everything(client):
    items = client.scan(TableName=TABLE)["Items"]
    return sorted(items, key=lambda i: (i["PK"]["S"], i["SK"]["S"]))


def write_a_bit_of_everything(client):
    storage_definition = storage.table_definition(TABLE)
    client.create_table(**storage_definition)
    client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True,
                                                                         "AttributeName": "expires_at"})
    for n in range(5):
        client.put_item(TableName=TABLE, Item=item("USER#a", f"BOOKING#{n}", GSI1PK="SHOW#1", GSI1SK=f"B#{n}"))
    client.update_item(TableName=TABLE, Key={"PK": {"S": "USER#a"}, "SK": {"S": "BOOKING#1"}},
                       UpdateExpression="SET #s = :c", ExpressionAttributeNames={"#s": "status"},
                       ExpressionAttributeValues={":c": {"S": "cancelled"}})
    client.delete_item(TableName=TABLE, Key={"PK": {"S": "USER#a"}, "SK": {"S": "BOOKING#2"}})
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": item("SHOW#1", "SEAT#0007", booking="x")}},
        {"Put": {"TableName": TABLE, "Item": item("USER#b", "BOOKING#9")}}])
    with pytest.raises(ClientError):  # cancelled: must leave no trace, before or after the restart
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": item("USER#c", "BOOKING#1")}},
            {"Put": {"TableName": TABLE, "Item": item("SHOW#1", "SEAT#0007"),
                     "ConditionExpression": "attribute_not_exists(PK)"}}])


def test_everything_written_before_sigterm_is_there_after_a_restart(data_dir):
    first = Endpoint(data_dir)
    write_a_bit_of_everything(first.client)
    before = everything(first.client)
    code, _, err = first.stop(signal.SIGTERM)
    assert code == 0, err

    second = Endpoint(data_dir)
    try:
        assert everything(second.client) == before
        assert [i["PK"]["S"] for i in before].count("USER#c") == 0
        index = second.client.query(TableName=TABLE, IndexName="GSI1", KeyConditionExpression="GSI1PK = :s",
                                    ExpressionAttributeValues={":s": {"S": "SHOW#1"}})["Items"]
        assert [i["SK"]["S"] for i in index] == ["BOOKING#0", "BOOKING#1", "BOOKING#3", "BOOKING#4"]
        assert second.client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    finally:
        second.stop()


def test_sigkill_loses_no_write_that_was_answered(data_dir):
    first = Endpoint(data_dir)
    first.client.create_table(**storage.table_definition(TABLE))
    first.stop()  # compacted: the kill below must be survived by what comes after it
    second = Endpoint(data_dir)
    for n in range(30):
        second.client.put_item(TableName=TABLE, Item=item("USER#k", f"BOOKING#{n:02d}"))
    second.process.kill()  # SIGKILL right after the last answer: no clean stop, no compaction
    second.process.communicate(timeout=30)

    third = Endpoint(data_dir)
    try:
        assert [i["SK"]["S"] for i in everything(third.client)] == [f"BOOKING#{n:02d}" for n in range(30)]
    finally:
        third.stop()


def test_a_write_cut_short_by_a_crash_is_dropped_and_the_rest_kept(data_dir):
    first = Endpoint(data_dir)
    first.client.create_table(**storage.table_definition(TABLE))
    first.client.put_item(TableName=TABLE, Item=item("USER#a", "BOOKING#1"))
    first.stop()
    with open(os.path.join(data_dir, "journal.jsonl"), "ab") as journal:
        journal.write(b'{"request": {"target": "DynamoDB_20120810.PutItem", "hea')  # no newline: torn

    second = Endpoint(data_dir)
    try:
        assert [i["SK"]["S"] for i in everything(second.client)] == ["BOOKING#1"]
    finally:
        _, out, _ = second.stop()
    assert "a torn last line dropped" in out


def test_a_damaged_journal_is_refused_in_one_line(data_dir):
    os.makedirs(data_dir)
    with open(os.path.join(data_dir, "journal.jsonl"), "wb") as journal:
        journal.write(b"not json\n{}\n")
    result = run_to_exit(data_dir)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "line 1 is damaged" in result.stderr and "FRESH=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_data_folder_in_use_by_another_endpoint_is_refused_in_one_line(data_dir):
    first = Endpoint(data_dir)
    try:
        result = run_to_exit(data_dir)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "in use by another local DynamoDB endpoint" in result.stderr
        first.client.list_tables()  # the first one is untouched
    finally:
        first.stop()


def test_fresh_starts_from_empty(data_dir):
    first = Endpoint(data_dir)
    first.client.create_table(**storage.table_definition(TABLE))
    first.stop()
    second = Endpoint(data_dir, fresh=True)
    try:
        assert second.client.list_tables()["TableNames"] == []
    finally:
        second.stop()


def test_bad_arguments_are_one_line(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(local_stack.HERE, "local_dynamodb.py"), "--port", "x"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def stream(endpoint):
    """Every record of the table's stream: (sequence number, eventID, event, sort key)."""
    streams = boto3.client("dynamodbstreams", endpoint_url=f"http://127.0.0.1:{endpoint.port}", region_name="us-east-1",
                           aws_access_key_id="local", aws_secret_access_key="local")
    arn = endpoint.client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    return [(r["dynamodb"]["SequenceNumber"], r["eventID"], r["eventName"], r["dynamodb"]["Keys"]["SK"]["S"])
            for r in records]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_the_stream_is_kept_across_a_restart_with_its_ids_and_replay_adds_no_record(data_dir, stop):
    first = Endpoint(data_dir)
    write_a_bit_of_everything(first.client)  # the app's table definition: it has a stream
    before = stream(first)
    first.stop(stop)

    second = Endpoint(data_dir)
    try:
        assert stream(second) == before  # no INSERT per replayed item, same sequence numbers and eventIDs
        assert [event for _, _, event, _ in before].count("REMOVE") == 1
        second.client.put_item(TableName=TABLE, Item=item("USER#a", "BOOKING#after"))
        after = stream(second)
        assert after[:-1] == before and after[-1][2:] == ("INSERT", "BOOKING#after")
        assert int(after[-1][0]) == int(before[-1][0]) + 1
    finally:
        second.stop()
