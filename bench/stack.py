"""The local stack for the benchmark and the soak test: helpers shared by bench/bench.py and bench/soak.py.

``LocalStack`` starts the serialised moto endpoint (scripts/local_dynamodb.py, with moto_speedups and,
like `make run`, a data folder: a temporary one) and ``chalice local --stage local --no-autoreload``
(through scripts/chalice_local.py) on free loopback ports bound here and inherited by the servers, each
in its own process group, and stops both groups when the ``with`` block ends (also on Ctrl-C, SIGTERM
or a crash). ``LocalStack(stock_moto=True)`` serves moto without the speedups, for before/after numbers.
The calling process is pointed at the same endpoint, so chalicelib can create the table and load data.

Only dummy credentials are ever set: the endpoint is moto and accepts anything.
"""
import atexit
import datetime as dt
import http.client
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
SCRIPTS = os.path.join(ROOT, "scripts")
for _path in (ROOT, SCRIPTS):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import local_stack  # noqa: E402

HOST = "127.0.0.1"
# bcrypt cost for the accounts the scripts sign up: sign-up/login speed is not what is measured,
# and cost 12 (~250 ms per hash here) would make setting up 32-64 users take most of a minute.
SETUP_BCRYPT_ROUNDS = "4"

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Never read a developer's real profile or credentials files.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def process_cpu_seconds(pid):
    """User + system CPU seconds used so far by a process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LocalStack:
    """moto (serialised) + chalice local, on free ports, torn down on exit.

    Usage::

        with LocalStack() as stack:
            stack.setup_table()
            http = stack.http()
    """

    def __init__(self, table_name="movie-booking", bcrypt_rounds=SETUP_BCRYPT_ROUNDS, quiet=False,
                 stock_moto=False, journal=True, events=True):
        self.table_name = table_name
        self.events = events  # run the event sources (scripts/local_events.py) once the table exists, as make run
        self.bcrypt_rounds = bcrypt_rounds
        self.quiet = quiet
        self.stock_moto = stock_moto
        self.journal = journal
        self.processes = {}
        self.logdir = tempfile.mkdtemp(prefix="movie-booking-bench-")
        # Kept when a server failed (or BENCH_KEEP_LOGS=1), so the logs survive for a look.
        self.keep_logs = os.environ.get("BENCH_KEEP_LOGS") == "1"
        self.ddb_port = self.api_port = None

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self):
        atexit.register(self.stop)
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            self.start()
        except BaseException:
            self.keep_logs = True
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            self.keep_logs = True
        self.stop()
        return False

    def environment(self):
        """The environment both servers and this process use."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k not in ("JWT_SECRET", "JWT_SECRET_PARAM")}
        env.update(DUMMY_AWS_ENV)
        env.update(
            STAGE="local",
            TABLE_NAME=self.table_name,
            BCRYPT_ROUNDS=str(self.bcrypt_rounds),
            DYNAMODB_READ_TIMEOUT="10",  # as `make run`: the serialised endpoint can be slow under load
            AWS_ENDPOINT_URL_DYNAMODB=f"http://{HOST}:{self.ddb_port}",
            AWS_ENDPOINT_URL_SQS=f"http://{HOST}:{self.ddb_port}",  # the engine serves SQS too (issue 20)
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self):
        ddb_socket = local_stack.listen(0)
        self.ddb_port = ddb_socket.getsockname()[1]
        env = self.environment()
        data_dir = os.path.join(self.logdir, "data") if self.journal else None
        self._start("dynamodb", local_stack.dynamodb_command(
            self.ddb_port, listen_fd=ddb_socket.fileno(), data_dir=data_dir, stock_moto=self.stock_moto),
            env, ddb_socket)
        local_stack.wait_until_answering(self.ddb_port, self.processes["dynamodb"])

        # This process talks to the same endpoint (table creation, data, audits).
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(env)
        from chalicelib import settings, storage
        settings.reset()
        storage.reset()

        api_socket = local_stack.listen(0)
        self.api_port = api_socket.getsockname()[1]
        # scripts/chalice_local.py: the `chalice` CLI with a listen backlog for many clients and
        # TCP_NODELAY (as `make run` uses it).
        self._start("api", local_stack.chalice_local_command(self.api_port, listen_fd=api_socket.fileno()),
                    env, api_socket)
        local_stack.wait_until_answering(self.api_port, self.processes["api"], timeout=90)
        engine = "stock moto" if self.stock_moto else "moto + speedups"
        self._log(f"local stack: API http://{HOST}:{self.api_port}  "
                  f"DynamoDB ({engine}, serialised{', journaled' if self.journal else ''}) "
                  f"http://{HOST}:{self.ddb_port}")

    def _start(self, name, cmd, env, sock):
        try:
            self.processes[name] = local_stack.start(cmd, env=env, pass_fds=[sock.fileno()],
                                                     log_path=os.path.join(self.logdir, f"{name}.log"))
        finally:
            sock.close()  # the server holds its own copy

    def stop(self):
        if self.logdir is None:
            return  # already stopped
        processes, self.processes = list(self.processes.values()), {}
        local_stack.stop(processes)
        if self.keep_logs:
            print(f"server logs kept in {self.logdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.logdir, ignore_errors=True)
        self.logdir = None

    def check_alive(self):
        for name, process in self.processes.items():
            if process.poll() is not None:
                self.keep_logs = True
                raise RuntimeError(f"{name} server exited with code {process.returncode}; "
                                   f"see {self.logdir}/{name}.log")

    def cpu_seconds(self):
        """CPU seconds used so far by each server process and by this process."""
        usage = {name: process_cpu_seconds(p.pid) for name, p in self.processes.items()}
        times = os.times()
        usage["client"] = times.user + times.system
        return usage

    def _log(self, message):
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    # --- data ------------------------------------------------------------------------------

    def setup_table(self, extra_movies=()):
        """Create the table, load the demo catalog and any extra movies; returns the import report."""
        from chalicelib import importer, storage
        from demo_data import demo_catalog

        storage.create_table()
        report = importer.import_catalog(demo_catalog() + list(extra_movies))
        self._log(f"table {storage.table_name()}: {len(report['created'])} catalog items created")
        if self.events and not self.stock_moto:
            import local_events

            env = {**self.environment(), **local_events.create_queues(os.environ["AWS_ENDPOINT_URL_DYNAMODB"])}
            self.processes["events"] = local_stack.start(local_stack.events_command(), env=env,
                                                         log_path=os.path.join(self.logdir, "events.log"))
            self._log("event sources: the table's stream, webhook deliveries and the sweep (as make run)")
        return report

    # --- HTTP ------------------------------------------------------------------------------

    def http(self, timeout=60.0):
        return HttpClient(HOST, self.api_port, timeout=timeout)


def _raise_keyboard_interrupt(*_):
    raise KeyboardInterrupt()


def extra_movie(movie_id, show_ids, total_seats=1000, title="Benchmark", days_ahead=2):
    """A movie with shows of ``total_seats`` seats (the plain layout, no per-customer cap to speak of),
    all starting ``days_ahead`` days from now."""
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days_ahead)).replace(microsecond=0)
    return {
        "id": movie_id, "title": title, "duration_minutes": 100,
        # One bench user books many seats of a show: the per-customer cap is lifted to the whole show.
        "shows": [{"id": show_id, "screen_name": f"{title} {n}", "total_seats": total_seats,
                   "max_seats_per_customer": total_seats,
                   "date_time": (starts + dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                  for n, show_id in enumerate(show_ids)],
    }


BOOKING_ITEM_PREFIXES = ("SEAT#", "BOOKING#", "IDEMPOTENCY#")


def table_item_count():
    """How many items the table holds (a Scan: fine for a benchmark, never on a request path)."""
    from chalicelib import storage

    total, start = 0, None
    while True:
        page = storage.client().scan(TableName=storage.table_name(), Select="COUNT",
                                     **({"ExclusiveStartKey": start} if start else {}))
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


def clear_bookings():
    """Delete every seat lock, booking and idempotency record, leaving catalog and users.

    moto's TransactWriteItems deep-copies the whole table (once per item in the transaction) before
    applying it, so the local endpoint slows down as the table grows; benchmark cells start from
    the same small table to stay comparable. Returns the number of items deleted.
    """
    from chalicelib import storage

    ddb, name = storage.client(), storage.table_name()
    keys, start = [], None
    while True:
        page = ddb.scan(
            TableName=name, ProjectionExpression="PK, SK",
            FilterExpression=" OR ".join(f"begins_with(SK, :p{i})" for i in range(len(BOOKING_ITEM_PREFIXES))),
            ExpressionAttributeValues={f":p{i}": {"S": p} for i, p in enumerate(BOOKING_ITEM_PREFIXES)},
            **({"ExclusiveStartKey": start} if start else {}))
        keys.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    for i in range(0, len(keys), 25):
        pending = {name: [{"DeleteRequest": {"Key": key}} for key in keys[i:i + 25]]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None
    return len(keys)


def seed_bookings(user_key, show_id, seats, group_size=10):
    """Real bookings made with the app's own code (chalicelib.bookings.book), in groups of up to 10."""
    from chalicelib import bookings

    seats = list(seats)
    for i in range(0, len(seats), group_size):
        bookings.book(user_key, show_id, {"seat_numbers": seats[i:i + group_size]})


class TransportError(Exception):
    """No HTTP response was received: the request's outcome is unknown."""


class Reply:
    __slots__ = ("status", "data", "headers", "seconds")

    def __init__(self, status, data, headers, seconds):
        self.status, self.data, self.headers, self.seconds = status, data, headers, seconds


class HttpClient:
    """One keep-alive HTTP/1.1 connection (http.client), for use by one thread.

    A GET that fails on a reused connection is retried once on a new one; a POST never is (its
    outcome would be unknown), it raises TransportError instead.
    """

    def __init__(self, host, port, timeout=60.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.connection = None

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method, path, body=None, token=None, headers=None):
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        all_headers = {"Accept": "application/json"}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=payload, headers=all_headers)
                response = self.connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused and attempt + 1 < attempts:
                    continue
                raise TransportError(f"{method} {path}: {exc!r}") from exc
            seconds = time.perf_counter() - started
            if response.will_close:
                self.close()
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            return Reply(response.status, data, {k.lower(): v for k, v in response.getheaders()}, seconds)
        raise AssertionError("unreachable")

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body=body, **kwargs)

    def signup_and_login(self, username, password="bench-secret"):
        """A new user's access token (sign-up answers 201, or 409 if the user exists)."""
        reply = self.post("/signup", {"username": username, "password": password})
        if reply.status not in (201, 409):
            raise RuntimeError(f"signup {username}: {reply.status} {reply.data}")
        reply = self.post("/login", {"username": username, "password": password})
        if reply.status != 200:
            raise RuntimeError(f"login {username}: {reply.status} {reply.data}")
        return reply.data["access"]


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def latency_summary(seconds):
    """{"n", "p50", "p95", "p99", "max"} in milliseconds."""
    values = sorted(seconds)
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    return {"n": len(values), "p50": ms(percentile(values, 0.50)), "p95": ms(percentile(values, 0.95)),
            "p99": ms(percentile(values, 0.99)), "max": ms(values[-1] if values else None)}
