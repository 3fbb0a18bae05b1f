"""The local stack's event sources: what Lambda's event source mappings and EventBridge do when deployed.

`chalice local` serves HTTP routes only. This process imports the same app (app.py) and calls its
event handlers the way AWS would, against the embedded engine (scripts/local_dynamodb.py, which serves
DynamoDB, DynamoDB Streams and SQS on one endpoint):

- **The table's stream -> ``table_changes``** (``@app.on_dynamodb_record``), as an event source mapping:
  records read with GetRecords from the one shard, in order, in batches of up to ``STREAM_BATCH_SIZE``,
  shaped as Lambda's event (``eventSourceARN``, ``ApproximateCreationDateTime`` in epoch seconds).
  The handler's partial-batch answer (``batchItemFailures``) is honoured: records before the first
  failed one are done, the rest are retried from it. A handler that raises has its batch bisected
  (BisectBatchOnFunctionError) and retried; a record still failing after ``STREAM_MAX_RETRIES``
  retries is sent to the on-failure destination (the SQS queue ``stream-failures``, as Lambda sends
  the batch's description there) and skipped. The last sequence number handled is kept in
  ``stream-checkpoint.json`` in the data folder, so a restart continues after it (the engine keeps the
  stream's records and sequence numbers across restarts: scripts/dynamodb_journal.py).
- **The delivery queue -> ``webhook_deliveries``** (``@app.on_sqs_message``): ReceiveMessage on the
  real (moto) SQS queue, one message per invocation, a few at a time; messages answered as failed are
  left for the queue to show again after its visibility timeout, the others deleted. Delays between
  webhook attempts are SQS's own DelaySeconds.
- **Every minute -> ``sweep``** (``@app.schedule``), with a scheduled event (``SWEEP_SECONDS`` to
  shorten it for tests).

The engine serves one request at a time, so this polls with short requests (no long poll that would
hold the engine) every ``EVENTS_POLL_SECONDS`` (0.25 s) while idle. Run by scripts/run_local.py and the
tests' live stack:

    python scripts/local_events.py [--data-dir DIR] [--fresh] [--parent-pid P]

with the app's environment (TABLE_NAME, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS,
WEBHOOK_QUEUE_URL, STREAM_FAILURE_QUEUE_URL).
"""
import argparse
import concurrent.futures
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import local_stack  # noqa: E402

log = logging.getLogger("local_events")

WEBHOOK_QUEUE = "webhook-deliveries"
STREAM_FAILURE_QUEUE = "stream-failures"
CHECKPOINT_FILE = "stream-checkpoint.json"
ACCOUNT = "123456789012"  # moto's default account


def _float_env(name, default):
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


POLL_SECONDS = _float_env("EVENTS_POLL_SECONDS", 0.25)  # Lambda polls a stream's shard 4 times a second
SWEEP_SECONDS = _float_env("SWEEP_SECONDS", 60)
STREAM_BATCH_SIZE = int(_float_env("STREAM_BATCH_SIZE", 100))
STREAM_MAX_RETRIES = int(_float_env("STREAM_MAX_RETRIES", 10))
SQS_CONCURRENCY = 4


def _client(service, endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, read_timeout=30))


def create_queues(endpoint):
    """Create the delivery queue and the stream's on-failure queue on the engine; {env name: queue URL}."""
    sqs = _client("sqs", endpoint)
    return {"WEBHOOK_QUEUE_URL": sqs.create_queue(QueueName=WEBHOOK_QUEUE)["QueueUrl"],
            "STREAM_FAILURE_QUEUE_URL": sqs.create_queue(QueueName=STREAM_FAILURE_QUEUE)["QueueUrl"]}


class Checkpoint:
    """The last stream sequence number handled, in a file (atomic rename) or, without a folder, in memory."""

    def __init__(self, data_dir=None, fresh=False):
        self.path = os.path.join(data_dir, CHECKPOINT_FILE) if data_dir else None
        self.value = None
        if self.path and fresh and os.path.exists(self.path):
            os.remove(self.path)
        if self.path and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.value = json.load(f)["after"]

    def save(self, sequence_number):
        self.value = sequence_number
        if self.path:
            temporary = self.path + ".tmp"
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump({"after": sequence_number}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)


def lambda_stream_record(record, stream_arn):
    """A GetRecords record as Lambda hands it to a function (epoch seconds, the source ARN)."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, dt.datetime):
        stream["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": stream, "eventSourceARN": stream_arn}


class Context:
    """The parts of Lambda's context object a handler may read."""

    def __init__(self, name):
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 1024
        self._deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class StreamMapping:
    """The table's stream -> ``handler``, as Lambda's event source mapping for DynamoDB Streams does it."""

    def __init__(self, endpoint, table_name, handler, checkpoint, failure_queue_url=None,
                 batch_size=STREAM_BATCH_SIZE, max_retries=STREAM_MAX_RETRIES):
        self.dynamodb, self.streams = _client("dynamodb", endpoint), _client("dynamodbstreams", endpoint)
        self.sqs = _client("sqs", endpoint)
        self.table_name, self.handler, self.checkpoint = table_name, handler, checkpoint
        self.failure_queue_url, self.batch_size, self.max_retries = failure_queue_url, batch_size, max_retries
        self.stream_arn = self.shard_id = None
        self.iterator = None  # the last answer's NextShardIterator, while it is known to follow the checkpoint
        self.backoff = 0.1  # seconds before the first retry, doubling up to 5 s

    def _shard(self):
        if self.stream_arn is None:
            self.stream_arn = self.dynamodb.describe_table(TableName=self.table_name)["Table"]["LatestStreamArn"]
            described = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
            self.shard_id = described["Shards"][0]["ShardId"]
        return self.stream_arn, self.shard_id

    def fetch(self):
        """Up to ``batch_size`` records after the checkpoint: with the last answer's next iterator, or a
        new one from the checkpoint (at start, and after a batch that was not handled to its end)."""
        arn, shard = self._shard()
        if self.iterator is None:
            if self.checkpoint.value is None:
                args = {"ShardIteratorType": "TRIM_HORIZON"}
            else:
                args = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.checkpoint.value}
            self.iterator = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **args)["ShardIterator"]
        answer = self.streams.get_records(ShardIterator=self.iterator, Limit=self.batch_size)
        self.iterator = answer.get("NextShardIterator")
        return answer["Records"]

    def poll_once(self):
        """Fetch one batch and hand it over until every record is handled or given up; records handled."""
        try:
            records = self.fetch()
        except Exception:
            self.iterator = None  # the engine restarted, say: start again from the checkpoint
            raise
        if records:
            batch = [lambda_stream_record(r, self.stream_arn) for r in records]
            self.deliver(batch)
            if self.checkpoint.value != batch[-1]["dynamodb"]["SequenceNumber"]:
                self.iterator = None
        return len(records)

    def deliver(self, batch):
        """Invoke the handler with ``batch`` until each record is done (checkpointed) or sent to the DLQ."""
        retries = 0
        while batch:
            try:
                answer = self.handler({"Records": batch}, Context("table_changes")) or {}
                failed = _first_failure(answer, batch)
            except Exception:  # noqa: BLE001 - a function error: bisect, as BisectBatchOnFunctionError does
                log.exception("stream handler raised on %d records", len(batch))
                if len(batch) > 1:
                    half = len(batch) // 2
                    self.deliver(batch[:half])
                    batch = batch[half:]
                    continue
                failed = 0
            if failed is None:
                self.checkpoint.save(batch[-1]["dynamodb"]["SequenceNumber"])
                return
            if failed > 0:  # the records before the first failure are done
                self.checkpoint.save(batch[failed - 1]["dynamodb"]["SequenceNumber"])
                batch, retries = batch[failed:], 0
                continue
            retries += 1
            if retries > self.max_retries:
                self._give_up(batch[:1])
                self.checkpoint.save(batch[0]["dynamodb"]["SequenceNumber"])
                batch, retries = batch[1:], 0
                continue
            time.sleep(min(self.backoff * 2 ** (retries - 1), 5))

    def _give_up(self, records):
        """As Lambda's on-failure destination: a description of the records, not the records."""
        first, last = records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"]
        log.error("stream records %s..%s failed %d retries; sent to the on-failure queue", first, last,
                  self.max_retries)
        if self.failure_queue_url:
            self.sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps({
                "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": "table_changes"},
                "DDBStreamBatchInfo": {"shardId": self.shard_id, "startSequenceNumber": first,
                                       "endSequenceNumber": last, "streamArn": self.stream_arn,
                                       "batchSize": len(records)}}))


def _first_failure(answer, batch):
    """Index of the first record the partial-batch answer names, None when all succeeded."""
    named = {f.get("itemIdentifier") for f in answer.get("batchItemFailures") or []}
    if not named:
        return None
    for index, record in enumerate(batch):
        if record["dynamodb"]["SequenceNumber"] in named:
            return index
    return 0  # an identifier that names no record of the batch: Lambda retries the whole batch


class QueueMapping:
    """An SQS queue -> ``handler``, one message per invocation, ``SQS_CONCURRENCY`` at a time."""

    def __init__(self, endpoint, queue_url, handler):
        self.sqs, self.queue_url, self.handler = _client("sqs", endpoint), queue_url, handler
        self.arn = f"arn:aws:sqs:{os.environ.get('AWS_DEFAULT_REGION', 'us-east-1')}:{ACCOUNT}:" \
                   f"{queue_url.rsplit('/', 1)[-1]}"
        self.pool = concurrent.futures.ThreadPoolExecutor(SQS_CONCURRENCY, thread_name_prefix="sqs")
        self.busy = threading.Semaphore(SQS_CONCURRENCY)

    def poll_once(self):
        wanted = SQS_CONCURRENCY
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=wanted,
                                            WaitTimeSeconds=0, AttributeNames=["All"]).get("Messages", [])
        for message in messages:
            self.busy.acquire()
            self.pool.submit(self._invoke, message)
        return len(messages)

    def _invoke(self, message):
        try:
            record = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                      "body": message["Body"], "attributes": message.get("Attributes", {}),
                      "messageAttributes": {}, "md5OfBody": message.get("MD5OfBody"), "eventSource": "aws:sqs",
                      "eventSourceARN": self.arn, "awsRegion": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
            try:
                answer = self.handler({"Records": [record]}, Context("webhook_deliveries")) or {}
                failed = {f.get("itemIdentifier") for f in answer.get("batchItemFailures") or []}
            except Exception:  # noqa: BLE001 - left on the queue: visible again after its timeout
                log.exception("queue handler raised")
                return
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception:  # noqa: BLE001 - the engine went away: the stack is stopping
            log.exception("queue message not handled")
        finally:
            self.busy.release()


def scheduled_event():
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), "resources": [], "detail": {}}


def _loop(name, stop, once, interval):
    while not stop.is_set():
        try:
            busy = once()
        except Exception:  # noqa: BLE001 - keep polling, as the AWS pollers do
            log.exception("%s poll failed", name)
            busy = 0
        if not busy:
            stop.wait(interval)


def run(data_dir=None, fresh=False, stop=None):
    """Run the three event sources until ``stop`` is set (or forever)."""
    import app as application

    from chalicelib import storage

    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    stop = stop or threading.Event()
    stream = StreamMapping(endpoint, storage.table_name(), application.table_changes, Checkpoint(data_dir, fresh),
                           failure_queue_url=os.environ.get("STREAM_FAILURE_QUEUE_URL"))
    threads = [threading.Thread(target=_loop, args=("stream", stop, stream.poll_once, POLL_SECONDS), daemon=True)]
    if os.environ.get("WEBHOOK_QUEUE_URL"):
        queue = QueueMapping(endpoint, os.environ["WEBHOOK_QUEUE_URL"], application.webhook_deliveries)
        threads.append(threading.Thread(target=_loop, args=("queue", stop, queue.poll_once, POLL_SECONDS),
                                        daemon=True))

    def sweep_once():
        application.sweep(scheduled_event(), Context("sweep"))
        return 0

    threads.append(threading.Thread(target=_loop, args=("sweep", stop, sweep_once, SWEEP_SECONDS), daemon=True))
    for thread in threads:
        thread.start()
    return threads


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="keep the stream checkpoint in this folder")
    parser.add_argument("--fresh", action="store_true", help="forget the checkpoint (the engine starts empty)")
    parser.add_argument("--parent-pid", type=int, help="stop when this process is no longer the parent")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="local events: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    if args.parent_pid:
        local_stack.exit_with_parent(args.parent_pid)
    stop = threading.Event()
    run(args.data_dir, args.fresh, stop)
    print(f"local events: table stream, {WEBHOOK_QUEUE} queue and the sweep (every {SWEEP_SECONDS:g} s) "
          f"polled every {POLL_SECONDS:g} s", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
