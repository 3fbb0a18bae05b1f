"""In-process measurements, no HTTP: DynamoDB requests per API call and the handler's own cost.

The app runs against moto's in-process mock (``mock_aws``). Requests go either through
``chalice.test.Client`` (Chalice's local API Gateway emulation, as ``chalice local`` uses) or straight
into ``app(event, context)`` with a pre-built API Gateway proxy event, which is what Lambda does.
botocore event hooks on ``chalicelib.storage.client()`` count every DynamoDB operation and HTTP
attempt and time them, so the time spent in moto can be subtracted from the handler's.

Run by bench/bench.py in a clean subprocess; standalone: ``.venv/bin/python bench/inprocess.py [--json]``.
"""
import argparse
import json
import os
import statistics
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts"), BENCH]


def configure_environment():
    """moto only: dummy credentials, no endpoint override, the local stage, cheap bcrypt for setup."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.pop("JWT_SECRET", None)
    os.environ.pop("JWT_SECRET_PARAM", None)
    os.environ.update(
        STAGE="local", TABLE_NAME="movie-booking-bench", BCRYPT_ROUNDS="4",
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)


class DynamoDBMeter:
    """Counts DynamoDB operations (``before-call``) and HTTP attempts (``before-send``, so botocore
    retries show), and the wall time from ``provide-client-params`` to ``after-call``: serialisation,
    botocore and moto's work together."""

    def __init__(self, client):
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._started)
        events.register("before-call.dynamodb", self._called)
        events.register("before-send.dynamodb", self._sent)
        events.register("after-call.dynamodb", self._finished)
        events.register("after-call-error.dynamodb", self._finished)
        self.reset()

    def reset(self):
        self.operations, self.attempts, self.seconds, self._since = [], 0, 0.0, None

    def _started(self, **_):
        self._since = time.perf_counter()

    def _called(self, model, **_):
        self.operations.append(model.name)

    def _sent(self, **_):
        self.attempts += 1

    def _finished(self, **_):
        if self._since is not None:
            self.seconds += time.perf_counter() - self._since
            self._since = None


class Harness:
    """The app, its test client, a Lambda-style direct invoker, and the meter."""

    def __init__(self, app):
        from chalice.local import LocalGateway
        from chalice.test import Client

        from chalicelib import storage

        self.app = app
        self.client = Client(app, stage_name="local", project_dir=ROOT)
        self.gateway = LocalGateway(app, self.client._chalice_config)
        self.meter = DynamoDBMeter(storage.client())

    def request(self, method, path, body=None, token=None, headers=None, direct=False):
        """(status, parsed body, seconds); ``direct`` calls app(event, context) like Lambda does."""
        all_headers = {"content-type": "application/json", "host": "bench.local"}
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        payload = json.dumps(body).encode("utf-8") if body is not None else b""
        if direct:
            event = self.gateway._generate_lambda_event(method, path, all_headers, payload or None)
            context = self.gateway._generate_lambda_context()
            started = time.perf_counter()
            response = self.app(event, context)
            seconds = time.perf_counter() - started
            status, raw = response["statusCode"], response.get("body")
        else:
            started = time.perf_counter()
            response = self.client.http.request(method, path, headers=all_headers, body=payload)
            seconds = time.perf_counter() - started
            status, raw = response.status_code, response.body
        data = json.loads(raw) if raw else None
        return status, data, seconds

    def token_for(self, username, password="bench-secret"):
        status, _, _ = self.request("POST", "/signup", {"username": username, "password": password})
        assert status in (201, 409), status
        status, data, _ = self.request("POST", "/login", {"username": username, "password": password})
        assert status == 200, (status, data)
        return data["access"]


def count_requests(h, tokens, shows):
    """One call of each kind with the meter reset before it: [(label, status, operations, attempts)]."""
    alice, bob = tokens
    single_show, group_show = shows
    rows = []

    def measure(label, method, path, body=None, token=None, headers=None):
        h.meter.reset()
        status, data, _ = h.request(method, path, body, token, headers)
        rows.append({"call": label, "status": status, "operations": list(h.meter.operations),
                     "attempts": h.meter.attempts})
        return data

    measure("sign up", "POST", "/signup", {"username": "carol", "password": "bench-secret"})
    measure("log in", "POST", "/login", {"username": "carol", "password": "bench-secret"})
    measure("book 1 seat, cold (first of the show here)", "POST", f"/shows/{single_show}/book",
            {"seat_number": 3}, alice)
    booking = measure("book 1 seat", "POST", f"/shows/{single_show}/book", {"seat_number": 1}, alice)
    measure("book 1 seat, Idempotency-Key", "POST", f"/shows/{single_show}/book", {"seat_number": 2}, alice,
            {"idempotency-key": "bench-key-1"})
    measure("same key again (replay)", "POST", f"/shows/{single_show}/book", {"seat_number": 2}, alice,
            {"idempotency-key": "bench-key-1"})
    measure("book a seat someone holds (409)", "POST", f"/shows/{single_show}/book", {"seat_number": 1}, bob)
    measure("re-book my own seat (200)", "POST", f"/shows/{single_show}/book", {"seat_number": 1}, alice)
    h.request("POST", f"/shows/{group_show}/book", {"seat_number": 99}, alice)  # this function has read the show
    for k, first in ((2, 10), (5, 20), (10, 30)):
        measure(f"book {k}-seat group", "POST", f"/shows/{group_show}/book",
                {"seat_numbers": list(range(first, first + k))}, alice)
    measure("5-seat group, one seat taken (409)", "POST", f"/shows/{group_show}/book",
            {"seat_numbers": [40, 41, 42, 43, 20]}, bob)
    measure("cancel", "POST", f"/bookings/{booking['id']}/cancel", None, alice)
    measure("list movies", "GET", "/movies", None)
    measure("list shows", "GET", "/movies/1/shows", None)
    measure("my-bookings", "GET", "/my-bookings", None, alice)
    measure("seat map", "GET", f"/shows/{group_show}/seats", None)
    measure("bad token (401)", "GET", "/my-bookings", None, "not-a-token")
    return rows


def handler_cost(h, tokens, shows, iterations):
    """Per-request cost of each kind of call, through the test client and directly (Lambda-style).

    Before each kind and mode the table is brought back to the same small state (see
    stack.clear_bookings: moto's transaction cost grows with the table) and seeded with what the
    call needs to read or cancel.
    """
    from chalicelib import bookings
    from stack import clear_bookings, seed_bookings, table_item_count

    alice, _ = tokens
    state = {"seat": 0, "booked": []}
    runs = iterations + 5  # 5 warm-up calls per kind and mode, not recorded

    def fresh_table():
        clear_bookings()
        state["seat"] = 0

    def next_single():
        state["seat"] += 1
        return "POST", f"/shows/{shows['single']}/book", {"seat_number": state["seat"]}, alice

    def next_group():
        first = state["seat"] + 1
        state["seat"] += 5
        return "POST", f"/shows/{shows['group']}/book", {"seat_numbers": list(range(first, first + 5))}, alice

    def seed_cancellable():
        fresh_table()
        state["booked"] = [bookings.book("alice", shows["single"], {"seat_number": n}).body["id"]
                           for n in range(1, runs + 1)]

    def next_cancel():
        return "POST", f"/bookings/{state['booked'].pop()}/cancel", None, alice

    def seed_my_bookings():
        fresh_table()
        seed_bookings("alice", shows["mine"], range(1, 51))

    def seed_seat_map():
        fresh_table()
        seed_bookings("bob", shows["map"], range(1, 1001, 2))  # every other seat taken

    kinds = [
        ("list movies", None, lambda: ("GET", "/movies", None, None), 200),
        ("list shows", None, lambda: ("GET", "/movies/1/shows", None, None), 200),
        ("book 1 seat", fresh_table, next_single, 201),
        ("cancel", seed_cancellable, next_cancel, 200),
        ("book 5-seat group", fresh_table, next_group, 201),
        ("my-bookings (50 items)", seed_my_bookings, lambda: ("GET", "/my-bookings", None, alice), 200),
        ("seat map (500 of 1,000 taken)", seed_seat_map,
         lambda: ("GET", f"/shows/{shows['map']}/seats", None, None), 200),
    ]
    results = []
    for label, setup, make, expected in kinds:
        row = {"call": label}
        for mode in ("client", "direct"):
            if setup is not None:
                setup()
            row.setdefault("table_items", table_item_count())
            totals, in_dynamodb = [], []
            for i in range(runs):
                method, path, body, token = make()
                h.meter.reset()
                status, data, seconds = h.request(method, path, body, token, direct=(mode == "direct"))
                if status != expected:
                    raise RuntimeError(f"{label}: {status} {data}")
                if i >= 5:
                    totals.append(seconds)
                    in_dynamodb.append(h.meter.seconds)
            row[mode] = _ms_summary(totals)
            row[f"{mode}_dynamodb"] = _ms_summary(in_dynamodb)
            row[f"{mode}_rest_mean"] = round(
                (statistics.fmean(totals) - statistics.fmean(in_dynamodb)) * 1000, 2)
        results.append(row)
    return results


def moto_transaction_scaling(sizes=(100, 1000, 2000), bookings_per_size=20):
    """Median in-process cost of booking one seat as the table grows (filler items in their own partition)."""
    from chalicelib import bookings, storage
    from stack import clear_bookings, table_item_count

    clear_bookings()
    ddb, name = storage.client(), storage.table_name()
    rows, seat, filler = [], 0, 0
    for size in sizes:
        missing = size - table_item_count()
        for i in range(0, max(0, missing), 25):
            batch = [{"PutRequest": {"Item": {"PK": {"S": "BENCH#FILLER"}, "SK": {"S": f"BOOKING#{filler + j:08d}"},
                                                "padding": {"S": "x" * 150}}}}
                     for j in range(min(25, missing - i))]
            filler += len(batch)
            ddb.batch_write_item(RequestItems={name: batch})
        items = table_item_count()
        times = []
        for _ in range(bookings_per_size):
            seat += 1
            started = time.perf_counter()
            bookings.book("alice", 9007, {"seat_number": seat})
            times.append(time.perf_counter() - started)
        rows.append({"table_items": items, "book_1_seat_ms": round(statistics.median(times) * 1000, 1)})
    return rows


def chalice_floor(iterations):
    """An empty Chalice route: what the framework costs per request with no app code at all."""
    from chalice import Chalice

    floor_app = Chalice(app_name="bench-floor")

    @floor_app.route("/ping")
    def ping():
        return {"ok": True}

    h = Harness.__new__(Harness)
    from chalice.local import LocalGateway
    from chalice.test import Client
    h.app, h.client = floor_app, Client(floor_app, project_dir=ROOT)
    h.gateway = LocalGateway(floor_app, h.client._chalice_config)
    row = {"call": "empty Chalice route (floor)"}
    for mode in ("client", "direct"):
        times = [h.request("GET", "/ping", direct=(mode == "direct"))[2] for _ in range(iterations * 5 + 20)]
        row[mode] = _ms_summary(times[20:])
        row[f"{mode}_dynamodb"] = _ms_summary([0.0])
        row[f"{mode}_rest_mean"] = round(statistics.fmean(times[20:]) * 1000, 3)
    return row


def _ms_summary(values):
    return {"n": len(values), "mean": round(statistics.fmean(values) * 1000, 3),
            "p50": round(statistics.median(values) * 1000, 3)}


def run(iterations):
    configure_environment()
    from moto import mock_aws

    from chalicelib import importer, settings, storage
    from demo_data import demo_catalog
    from stack import extra_movie

    settings.reset()
    storage.reset()
    with mock_aws():
        storage.create_table()
        importer.import_catalog(demo_catalog() + [extra_movie(900, list(range(9001, 9008)))])
        from app import app

        h = Harness(app)
        tokens = (h.token_for("alice"), h.token_for("bob"))
        counts = count_requests(h, tokens, (9001, 9002))
        cost = handler_cost(h, tokens, {"single": 9003, "mine": 9004, "map": 9005, "group": 9006}, iterations)
        scaling = moto_transaction_scaling()
    cost.append(chalice_floor(iterations))
    return {"requests_per_call": counts, "handler_cost": cost, "moto_scaling": scaling,
            "iterations": iterations}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=int(os.environ.get("BENCH_INPROCESS_ITERATIONS", 30)))
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if not 1 <= args.iterations <= 150:
        parser.error("--iterations must be 1 to 150 (the benchmark shows have 1,000 seats)")
    results = run(args.iterations)
    if args.json:
        json.dump(results, sys.stdout)
    else:
        json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
