"""Keeps the local DynamoDB endpoint's data across restarts: a journal of the writes moto accepted.

The data folder holds ``journal.jsonl``, one JSON object per line:

- ``{"request": {...}}``: a DynamoDB request that can change data (any operation but the reads in
  ``READ_OPERATIONS``) and that moto answered with 200, as it came in: target, the headers moto uses to
  pick the account and region (the Authorization header cut before its signature), and the body.
- ``{"items": {...}}``: items of one table, written by compaction.
- ``{"stream": {...}}``: stream records of one table's stream, written by compaction (see below).

Tables with a stream (DynamoDB Streams): the records a write adds to moto's stream are kept in the
same line as the request (``"stream": [...]``, one ``write(2)``: a journaled write never lacks its
records, or the reverse), with their sequence numbers and eventIDs. Replay adds no stream record of its
own (moto's ``StreamShard.add`` is muted while the journal is replayed: putting items back is not a
change), then gives each stream exactly the records it had, so a reader that checkpointed a sequence
number continues after it and sees every record it had not read, once. Compaction keeps the records of
the last ``STREAM_RETENTION_SECONDS`` (24 h, as DynamoDB Streams does) and trims older ones.

Each request is appended with a single ``write(2)`` before its response is sent, so killing the endpoint
(even with SIGKILL) loses no write that was answered. Only the machine going down can lose more: the
journal is fsynced once a second (``FSYNC_SECONDS``) by a background thread, and on a clean stop.

At start the journal is replayed into moto (the requests through the same WSGI app, the items through
the backend's ``put_item``), then compacted: rewritten as the table-level requests (CreateTable,
UpdateTimeToLive, ...) in their original order followed by the current items, in a temporary file
renamed over the old one. It is compacted again at a clean stop, and when it has grown by
``COMPACT_AFTER_WRITES`` item writes. A last line cut short by a crash is dropped.

Not kept: moto's backups (CreateBackup copies items that compaction reloads only after it), and
anything that is not DynamoDB. A lock file keeps two endpoints from sharing one folder.
"""
import base64
import fcntl
import io
import json
import os
import threading

__all__ = ["Journal", "JournalError", "READ_OPERATIONS", "FSYNC_SECONDS", "STREAM_RETENTION_SECONDS", "is_write",
           "read_body"]

JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "lock"
FSYNC_SECONDS = 1.0
COMPACT_AFTER_WRITES = 50_000
TARGET_PREFIX = "DynamoDB_20120810."
ITEMS_PER_LINE = 500
STREAM_RETENTION_SECONDS = 24 * 3600
# Operations that never change data: not journaled.
READ_OPERATIONS = frozenset({
    "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables",
    "DescribeTimeToLive", "ListTagsOfResource", "DescribeEndpoints", "DescribeContinuousBackups",
    "DescribeLimits", "ListBackups", "DescribeBackup", "ListGlobalTables", "DescribeGlobalTable",
    "ListExports", "DescribeExport", "ListImports", "DescribeImport", "GetResourcePolicy",
    "DescribeContributorInsights", "ListContributorInsights", "DescribeKinesisStreamingDestination",
    "DescribeTableReplicaAutoScaling", "DescribeGlobalTableSettings",
})
# Operations whose whole effect is on items: compaction replaces them with the items themselves.
ITEM_OPERATIONS = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement",
    "ExecuteTransaction", "BatchExecuteStatement",
})
# Headers moto reads to choose the service, account and region of a request.
ROUTING_HEADERS = ("Host", "Authorization", "X-Moto-Account-Id")


class JournalError(Exception):
    """The data folder cannot be used (taken by another endpoint, unreadable, damaged)."""


def operation_of(target):
    """``DynamoDB_20120810.PutItem`` -> ``PutItem``; None for anything that is not DynamoDB."""
    if not target or not target.startswith(TARGET_PREFIX):
        return None
    return target[len(TARGET_PREFIX):]


def is_write(target):
    operation = operation_of(target)
    return operation is not None and operation not in READ_OPERATIONS


def routing_headers(environ):
    """The request's routing headers, with the Authorization header's signature left out."""
    headers = {}
    for name in ROUTING_HEADERS:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"))
        if value:
            headers[name] = value.split(",")[0] if name == "Authorization" else value
    return headers


class Journal:
    """The journal of one data folder. ``open()`` locks the folder and replays it into moto."""

    def __init__(self, data_dir):
        self.data_dir = os.path.abspath(data_dir)
        self.path = os.path.join(self.data_dir, JOURNAL_FILE)
        self.table_requests = []  # table-level requests, in order: kept verbatim by compaction
        self.writes_since_compaction = 0
        self._fd = self._lock_fd = None
        self._unsynced = False
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._syncer = None
        self._pending_records = []  # stream records the current request added: (shard, record)
        self._capture = None

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self, wsgi_app, fresh=False):
        """Lock the folder, replay the journal into ``wsgi_app``/moto and compact it; returns a summary.

        ``fresh``: drop the journal first (only once the folder is ours: another endpoint's data is never touched).
        """
        try:
            os.makedirs(self.data_dir, exist_ok=True)
            self._lock_fd = os.open(os.path.join(self.data_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot use {self.data_dir}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise JournalError(f"{self.data_dir} is in use by another local DynamoDB endpoint; stop it, "
                               f"or give this one another folder") from None
        if fresh and os.path.exists(self.path):
            os.remove(self.path)
        summary = self._replay(wsgi_app)
        self._capture = _StreamCapture(self._pending_records)
        self.compact()
        self._syncer = threading.Thread(target=self._sync_every_second, name="journal-fsync", daemon=True)
        self._syncer.start()
        return summary

    def close(self):
        """Compact (the caller holds the endpoint's lock, so no write is in flight) and release the folder."""
        if self._lock_fd is None:
            return
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
        self.compact()
        os.close(self._fd)
        self._fd = None
        if self._capture is not None:
            self._capture.remove()
            self._capture = None
        os.close(self._lock_fd)
        self._lock_fd = None

    # --- writing -----------------------------------------------------------------------------

    def begin_request(self):
        """Called inside the endpoint's lock before each request: forget records of an earlier one."""
        self._pending_records.clear()

    def append_request(self, target, environ, body):
        """Record a request moto answered with 200, with the stream records it added (inside the lock)."""
        record = {"request": {"target": target, "headers": routing_headers(environ),
                              "body": body.decode("utf-8")}}
        if self._pending_records:
            record["stream"] = [_stream_entry(shard, added) for shard, added in self._pending_records]
            self._pending_records.clear()
        self._append(record)
        if operation_of(target) in ITEM_OPERATIONS:
            self.writes_since_compaction += 1
            if self.writes_since_compaction >= COMPACT_AFTER_WRITES:
                self.compact()
        else:
            self.table_requests.append(record)

    def _append(self, record):
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # one write(2) in practice; a short write is finished, never interleaved (lock held)
            view = view[os.write(self._fd, view):]
        self._unsynced = True

    def _sync_every_second(self):
        while not self._stop.wait(FSYNC_SECONDS):
            self.sync()

    def sync(self):
        with self._sync_lock:
            if self._unsynced and self._fd is not None:
                self._unsynced = False
                os.fsync(self._fd)

    # --- compaction --------------------------------------------------------------------------

    def compact(self):
        """Rewrite the journal as its table-level requests plus the current items; atomic (rename)."""
        temporary = self.path + ".tmp"
        with open(temporary, "wb") as out:
            for record in self.table_requests:
                out.write((json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8"))
            for record in _item_records():
                out.write((json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8"))
            for record in _stream_records():
                out.write((json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        with self._sync_lock:
            os.replace(temporary, self.path)
            _fsync_dir(self.data_dir)
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            self._unsynced = False
        self.writes_since_compaction = 0

    # --- replay ------------------------------------------------------------------------------

    def _replay(self, wsgi_app):
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise JournalError(f"cannot read {self.path}: {exc.strerror}") from None
        lines = data.split(b"\n")
        torn = lines.pop()  # bytes after the last newline: a line a crash cut short (usually b"")
        requests = items = refused = 0
        streams = _StreamsReplay()
        with streams.muted():
            for number, line in enumerate(lines, start=1):
                try:
                    record = json.loads(line)
                    if "request" in record:
                        if not _replay_request(wsgi_app, record["request"]):
                            refused += 1
                        requests += 1
                        if operation_of(record["request"]["target"]) not in ITEM_OPERATIONS:
                            self.table_requests.append(record)
                        for entry in record.get("stream", ()):
                            streams.add(entry)
                    elif "stream" in record:
                        streams.load(record["stream"])
                    else:
                        items += _load_items(record["items"])
                except Exception as exc:  # noqa: BLE001 - any damage: one clear line, not a traceback
                    raise JournalError(f"{self.path} line {number} is damaged ({exc}); move the folder away, "
                                       f"or start from empty (make run FRESH=1)") from None
        streams.apply()
        return {"requests": requests, "items": items, "refused": refused, "torn_bytes": len(torn),
                "stream_records": streams.count}


def _replay_request(wsgi_app, request):
    """Send one journaled request through moto again; True if it was accepted (200) as the first time."""
    from werkzeug.test import EnvironBuilder

    body = request["body"].encode("utf-8")
    headers = {**request["headers"], "X-Amz-Target": request["target"],
               "Content-Type": "application/x-amz-json-1.0"}
    environ = EnvironBuilder(method="POST", path="/", headers=headers, data=body).get_environ()
    statuses = []
    result = wsgi_app(environ, lambda status, _headers, exc_info=None: statuses.append(status))
    try:
        b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return bool(statuses) and statuses[0].startswith("200")


def _item_records():
    """The current items of every table moto holds, ``ITEMS_PER_LINE`` per record."""
    from moto.dynamodb.models import dynamodb_backends

    for account_id, regions in list(dynamodb_backends.items()):
        for region, backend in list(regions.items()):
            for table in list(backend.tables.values()):
                attrs = [_to_text(item.to_json()["Attributes"]) for item in table.all_items()]
                for start in range(0, len(attrs), ITEMS_PER_LINE):
                    yield {"items": {"account": account_id, "region": region, "table": table.name,
                                     "items": attrs[start:start + ITEMS_PER_LINE]}}


def _load_items(record):
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[record["account"]][record["region"]].get_table(record["table"])
    for attrs in record["items"]:
        table.put_item(_from_text(attrs))
    return len(record["items"])


# moto keeps binary values (B, BS) as bytes, which JSON cannot hold: in item records they are written
# as "B64"/"BS64" (base64 text) and turned back into bytes when loaded.
_TO_TEXT = {"B": "B64", "BS": "BS64"}
_FROM_TEXT = {v: k for k, v in _TO_TEXT.items()}


def _to_text(attrs):
    return {name: _value_to_text(value) for name, value in attrs.items()}


def _value_to_text(value):
    (kind, inner), = value.items()
    if kind == "M":
        return {"M": _to_text(inner)}
    if kind == "L":
        return {"L": [_value_to_text(v) for v in inner]}
    if kind == "B" and isinstance(inner, bytes):
        return {"B64": base64.b64encode(inner).decode("ascii")}
    if kind == "BS" and all(isinstance(v, bytes) for v in inner):
        return {"BS64": [base64.b64encode(v).decode("ascii") for v in inner]}
    return value


def _from_text(attrs):
    return {name: _value_from_text(value) for name, value in attrs.items()}


def _value_from_text(value):
    (kind, inner), = value.items()
    if kind == "M":
        return {"M": _from_text(inner)}
    if kind == "L":
        return {"L": [_value_from_text(v) for v in inner]}
    if kind == "B64":
        return {"B": base64.b64decode(inner)}
    if kind == "BS64":
        return {"BS": [base64.b64decode(v) for v in inner]}
    return value


# --- streams -------------------------------------------------------------------------------------

def _shard_class():
    from moto.dynamodb.models.table import StreamShard

    return StreamShard


class _StreamCapture:
    """While installed, every record moto's ``StreamShard.add`` appends is also listed in ``pending``."""

    def __init__(self, pending):
        shard_class = _shard_class()
        self.original = vars(shard_class)["add"]
        original = self.original

        def add(shard, old, new):
            before = len(shard.items)
            original(shard, old, new)
            pending.extend((shard, added) for added in shard.items[before:])

        shard_class.add = add

    def remove(self):
        _shard_class().add = self.original


def _table_identity(table):
    return {"account": table.account_id, "region": table.region_name, "table": table.name}


def _stream_entry(shard, added):
    return {**_table_identity(shard.table), "record": _record_to_text(added.record)}


def _record_to_text(record):
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if created is not None and not isinstance(created, (int, float, str)):
        stream["ApproximateCreationDateTime"] = created.isoformat()
    for images in ("Keys", "NewImage", "OldImage"):
        if images in stream:
            stream[images] = _to_text(stream[images])
    return {**record, "dynamodb": stream}


def _record_from_text(record):
    import datetime as dt

    stream = dict(record["dynamodb"])
    if isinstance(stream.get("ApproximateCreationDateTime"), str):
        stream["ApproximateCreationDateTime"] = dt.datetime.fromisoformat(stream["ApproximateCreationDateTime"])
    for images in ("Keys", "NewImage", "OldImage"):
        if images in stream:
            stream[images] = _from_text(stream[images])
    return {**record, "dynamodb": stream}


def _created_epoch(record):
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if created is None or isinstance(created, (int, float)):
        return created
    if created.tzinfo is None:  # moto's utcnow(): naive UTC
        import datetime as dt

        created = created.replace(tzinfo=dt.timezone.utc)
    return created.timestamp()


def _stream_records():
    """Each stream's records of the last STREAM_RETENTION_SECONDS and its next sequence number.

    Older records are trimmed from moto's shard as well (DynamoDB keeps 24 hours)."""
    import time

    from moto.dynamodb.models import dynamodb_backends

    oldest = time.time() - STREAM_RETENTION_SECONDS
    for account_id, regions in list(dynamodb_backends.items()):
        for region, backend in list(regions.items()):
            for table in list(backend.tables.values()):
                shard = table.stream_shard
                if shard is None:
                    continue
                following = shard.starting_sequence_number + len(shard.items)
                trimmed = 0
                while trimmed < len(shard.items) and (_created_epoch(shard.items[trimmed].record) or 0) < oldest:
                    trimmed += 1
                if trimmed:
                    del shard.items[:trimmed]
                    shard.starting_sequence_number += trimmed
                records = [_record_to_text(added.record) for added in shard.items]
                for start in range(0, max(len(records), 1), ITEMS_PER_LINE):
                    yield {"stream": {**_table_identity(table), "next": following,
                                      "records": records[start:start + ITEMS_PER_LINE]}}


class _StreamsReplay:
    """Collects each table's stream records during replay and gives them to moto's shards at the end."""

    def __init__(self):
        self.tables = {}  # (account, region, table) -> {"records": [...], "next": int or None}
        self.count = 0

    def muted(self):
        import contextlib

        shard_class = _shard_class()

        @contextlib.contextmanager
        def muting():
            original = vars(shard_class)["add"]
            shard_class.add = lambda shard, old, new: None  # putting items back is not a change
            try:
                yield
            finally:
                shard_class.add = original

        return muting()

    def _entry(self, source):
        return self.tables.setdefault((source["account"], source["region"], source["table"]),
                                      {"records": [], "next": None})

    def load(self, stream):
        entry = self._entry(stream)
        entry["records"].extend(stream["records"])
        entry["next"] = stream["next"]

    def add(self, source):
        entry = self._entry(source)
        entry["records"].append(source["record"])
        entry["next"] = int(source["record"]["dynamodb"]["SequenceNumber"]) + 1

    def apply(self):
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.table import StreamRecord

        for (account, region, name), entry in self.tables.items():
            table = dynamodb_backends[account][region].tables.get(name)
            if table is None or table.stream_shard is None:
                continue
            shard = table.stream_shard
            shard.items = []
            for text in entry["records"]:
                record = StreamRecord.__new__(StreamRecord)
                record.record = _record_from_text(text)
                shard.items.append(record)
            self.count += len(shard.items)
            if shard.items:
                shard.starting_sequence_number = int(shard.items[0].record["dynamodb"]["SequenceNumber"])
            elif entry["next"] is not None:
                shard.starting_sequence_number = entry["next"]


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_body(environ):
    """The request body, leaving ``wsgi.input`` readable again for the app."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length))
    else:  # chunked (werkzeug ends the stream) or no body at all (reading would wait for the client)
        body = stream.read() if environ.get("wsgi.input_terminated") else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body
