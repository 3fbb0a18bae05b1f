"""`make bench-throughput`: cycles per second of list shows -> book -> cancel, 8 clients, 20 s (issue 9).

Each client has its own user and keep-alive connection and repeats: list a movie's shows, book a seat
(its own seat, so clients never contend), cancel that booking. A cycle counts when all three answered as
expected (200, 201, 200); anything else (another status, no answer) is a failed request.

Targets, any of them (loopback only):
- default: a local stack this script starts (bench/stack.py: what `make run` runs, journal included);
- ``--url http://127.0.0.1:8000``: a running `make run`;
- ``--django-url http://127.0.0.1:8600``: also the original Django API, e.g. started with
  ``/work/shared/original-django/setup-and-serve.sh start 8600`` (its paths: /signup and /login without
  a slash, the rest with one). Nothing depends on it; it is only measured when asked.

    make bench-throughput
    make bench-throughput BENCH_THROUGHPUT_ARGS="--django-url http://127.0.0.1:8600"

Prints a Markdown table and writes build/bench/throughput-results.json. Nothing asserts a time.
"""
import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path[:0] = [BENCH]

from bench import machine  # noqa: E402  (bench/bench.py: imported before stack puts the checkout on sys.path)
from stack import HttpClient, LocalStack, TransportError, latency_summary  # noqa: E402

MOVIE, SHOW = 1, 1  # demo data of both APIs: movie 1's first show has 120 (ours) / 200 (Django) seats


class Api:
    """Paths of one of the two APIs."""

    def __init__(self, name, url, slash):
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise SystemExit(f"{name} URL must look like http://127.0.0.1:8000, not {url!r}")
        if not parsed.hostname.startswith("127.") and parsed.hostname != "localhost":
            raise SystemExit(f"{name} URL must be on this machine (127.0.0.0/8), not {url!r}")
        self.name, self.host, self.port, self.slash = name, parsed.hostname, parsed.port or 80, slash

    def path(self, path):
        return path + "/" if self.slash else path

    def client(self):
        return HttpClient(self.host, self.port, timeout=30)


def run(api, clients, seconds, stack=None):
    https = [api.client() for _ in range(clients)]
    run_id = uuid.uuid4().hex[:6]
    tokens = [https[i].signup_and_login(f"cycle-{run_id}-{i}") for i in range(clients)]
    cycles, failures, latencies = [0] * clients, [0] * clients, {"list": [], "book": [], "cancel": []}
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def request(index, kind, method, path, body, expect):
        try:
            reply = https[index].request(method, path, body=body, token=tokens[index])
        except TransportError:
            failures[index] += 1
            return None
        with lock:
            latencies[kind].append(reply.seconds)
        if reply.status != expect:
            failures[index] += 1
            return None
        return reply

    def client(index):
        seat = index + 1
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            if not request(index, "list", "GET", api.path(f"/movies/{MOVIE}/shows"), None, 200):
                continue
            booked = request(index, "book", "POST", api.path(f"/shows/{SHOW}/book"), {"seat_number": seat}, 201)
            if not booked:
                continue
            if request(index, "cancel", "POST", api.path(f"/bookings/{booked.data['id']}/cancel"), None, 200):
                cycles[index] += 1

    for http in https:  # open the connections and warm the code paths
        http.get(api.path(f"/movies/{MOVIE}/shows"))
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu = stack.cpu_seconds() if stack else None
    deadline[0] = time.perf_counter() + seconds
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_ms_per_cycle = None
    if stack and sum(cycles):
        cpu_ms_per_cycle = {name: round((used - cpu[name]) * 1000 / sum(cycles), 2)
                            for name, used in stack.cpu_seconds().items() if used is not None}
    for http in https:
        http.close()
    requests = sum(len(v) for v in latencies.values())
    return {"api": api.name, "clients": clients, "seconds": round(elapsed, 1), "cycles": sum(cycles),
            "cycles_per_s": round(sum(cycles) / elapsed, 1), "requests": requests,
            "failed_requests": sum(failures), "latency_ms": {k: latency_summary(v) for k, v in latencies.items()},
            "cpu_ms_per_cycle": cpu_ms_per_cycle}


def report(rows, command):
    lines = [f"Command: `{command}`.", "",
             "| API | clients × s | cycles/s | cycles | requests | failed requests | p50 ms: list / book / cancel |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lat = r["latency_ms"]
        lines.append(f"| {r['api']} | {r['clients']} × {r['seconds']:g} | {r['cycles_per_s']} | {r['cycles']} | "
                     f"{r['requests']} | {r['failed_requests']} | {lat['list']['p50']} / {lat['book']['p50']} / "
                     f"{lat['cancel']['p50']} |")
    for r in rows:
        if r.get("cpu_ms_per_cycle"):
            cpu = r["cpu_ms_per_cycle"]
            lines.append(f"\nCPU per cycle ({r['api']}): chalice local {cpu.get('api')} ms, DynamoDB endpoint "
                         f"{cpu.get('dynamodb')} ms, benchmark clients {cpu.get('client')} ms.")
    return "\n".join(lines)


def measure(args):
    rows = []
    if args.url:
        rows.append(run(Api("this API (make run)", args.url, slash=False), args.clients, args.seconds))
    else:
        with LocalStack(quiet=True) as stack:
            stack.setup_table()
            rows.append(run(Api("this API (local stack)", f"http://127.0.0.1:{stack.api_port}", slash=False),
                            args.clients, args.seconds, stack))
    print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    if args.django_url:
        rows.append(run(Api("original Django", args.django_url, slash=True), args.clients, args.seconds))
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--url", help="a running `make run` (default: start a local stack)")
    parser.add_argument("--django-url", help="also measure the original Django API at this URL")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = parser.parse_args()
    if not 1 <= args.clients <= 100:
        parser.error("--clients must be 1 to 100")
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be 1 to 600")
    info = machine()
    try:
        rows = measure(args)
    except (RuntimeError, TransportError) as exc:
        print(f"bench/throughput.py: {exc}", file=sys.stderr)
        return 1
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    command = "make bench-throughput" + (f' BENCH_THROUGHPUT_ARGS="{" ".join(sys.argv[1:])}"' if sys.argv[1:] else "")
    text = (f"Machine: {info['cpus']} CPUs, Python {info['python']}; run {info['date']}; load average "
            f"{info['load_average_at_start']} at start, {info['load_average_at_end']} at end.\n\n" + report(rows, command))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "throughput-results.json"), "w") as f:
        json.dump({"machine": info, "rows": rows}, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
