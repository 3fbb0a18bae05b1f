"""Event latency, locally: from a booking's commit to its webhook delivery, against `make run`'s stack.

Starts scripts/run_local.py (the engine, `chalice local` and the event sources, scripts/local_events.py)
on free ports with a temporary data folder, registers a webhook to a receiver in this process, then
books ``--bookings`` seats one after the other (``--gap`` seconds apart) and times, for each, from the
moment its 201 answer arrived (the commit happened before that) to the moment the signed
``booking.created`` POST arrived at the receiver. Prints p50/p95/max, and the DynamoDB requests a warm
booking made (in process, on a table with the stream: the outbox adds none).

    make bench-events BENCH_EVENTS_ARGS="--bookings 100 --poll 0.25"
"""
import argparse
import contextlib
import http.server
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]

import local_stack  # noqa: E402


class Receiver:
    def __init__(self):
        self.arrived, self.lock = {}, threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.arrived.setdefault(body["data"]["id"], time.perf_counter())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@contextlib.contextmanager
def make_run(poll_seconds):
    sockets = [local_stack.listen(0) for _ in range(2)]
    api_port, ddb_port = (str(s.getsockname()[1]) for s in sockets)
    for s in sockets:
        s.close()
    data = tempfile.mkdtemp(prefix="bench-events-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PORT=api_port, DYNAMODB_PORT=ddb_port, LOCAL_DATA_DIR=data, BCRYPT_ROUNDS="4",
               EVENTS_POLL_SECONDS=str(poll_seconds), PYTHONUNBUFFERED="1", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "run_local.py")], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for line in process.stdout:
            if "Ctrl-C stops" in line:
                break
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
        cli_env = {**env, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{ddb_port}", "AWS_ACCESS_KEY_ID": "local",
                   "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
        subprocess.run([sys.executable, "-m", "chalicelib.cli", "create-admin", "benchadmin", "--password-stdin"],
                       input="bench-admin-pw\n", text=True, cwd=ROOT, env=cli_env, check=True, capture_output=True)
        yield f"http://127.0.0.1:{api_port}"
    finally:
        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=60)


def warm_booking_requests():
    """DynamoDB requests of a warm single-seat booking, in process (moto), on the table with its stream."""
    os.environ.update(STAGE="test", TABLE_NAME="bench-events", BCRYPT_ROUNDS="4", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import importer, settings, storage
    from demo_data import demo_catalog

    settings.reset()
    storage.reset()
    with mock_aws():
        storage.create_table()
        assert storage.client().describe_table(TableName="bench-events")["Table"]["StreamSpecification"][
            "StreamViewType"] == "NEW_AND_OLD_IMAGES"
        importer.import_catalog(demo_catalog())
        from app import app

        with Client(app, stage_name="local") as client:
            headers = {"Content-Type": "application/json"}
            body = json.dumps({"username": "counter", "password": "secret-pw"})
            client.http.post("/signup", headers=headers, body=body)
            token = json.loads(client.http.post("/login", headers=headers, body=body).body)["access"]
            headers["Authorization"] = f"Bearer {token}"
            client.http.post("/shows/1/book", headers=headers, body=json.dumps({"seat_number": 1}))
            calls = []
            storage.client().meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
            client.http.post("/shows/1/book", headers=headers, body=json.dumps({"seat_number": 2}))
            return calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between bookings")
    parser.add_argument("--poll", type=float, default=0.25, help="EVENTS_POLL_SECONDS of the local event sources")
    args = parser.parse_args(argv)

    receiver = Receiver()
    with make_run(args.poll) as base:
        admin = call(base, "POST", "/login", {"username": "benchadmin", "password": "bench-admin-pw"})["access"]
        call(base, "POST", "/webhooks", {"url": receiver.url, "events": ["booking.created"]}, admin)
        tokens = []
        for n in range((args.bookings + 9) // 10):  # a show lets one customer have 10 seats
            call(base, "POST", "/signup", {"username": f"booker{n}", "password": "secret-pw"})
            tokens.append(call(base, "POST", "/login", {"username": f"booker{n}", "password": "secret-pw"})["access"])
        answered = {}
        for k in range(args.bookings):
            show, seat = 1 + k // 100, k % 100 + 1  # the demo shows have 100-200 seats
            booking = call(base, "POST", f"/shows/{show}/book", {"seat_number": seat}, tokens[k // 10])
            answered[booking["id"]] = time.perf_counter()
            time.sleep(args.gap)
        deadline = time.monotonic() + 30
        while len(receiver.arrived) < len(answered) and time.monotonic() < deadline:
            time.sleep(0.1)
    latencies = sorted((receiver.arrived[b] - t) * 1000 for b, t in answered.items() if b in receiver.arrived)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"{len(latencies)}/{len(answered)} bookings delivered; commit -> webhook (ms, from the 201 answer): "
          f"p50 {quantiles[49]:.0f}, p95 {quantiles[94]:.0f}, max {latencies[-1]:.0f} "
          f"(EVENTS_POLL_SECONDS={args.poll:g}, {args.gap:g} s between bookings)")
    print(f"DynamoDB requests of a warm booking with the stream on: {warm_booking_requests()}")


if __name__ == "__main__":
    main()
