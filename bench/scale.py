"""`make bench-scale`: does the local stack's cost stay flat as the table grows? (issue 9)

Starts the stack `make run` runs (bench/stack.py: the serialised endpoint with moto_speedups and a data
folder, `chalice local`), then for each table size (extra items: 0, 2,000, 5,000, 10,000, 20,000 by
default) measures over HTTP, one client, each call ``--repeat`` times (default 15), the median and p95:
a single-seat booking, the show list, a page of my-bookings (20 bookings), a cancel, a seat map (of a
show with 60 seats taken) and a 5-seat group booking. The extra items are bookings of other users
and other shows, half of them in GSI1 (as a show's bookings are), written straight into the table with
BatchWriteItem. ``--stock-moto`` measures moto without the speedups, for the "before" numbers.

Result: a Markdown table (stdout and build/bench/scale-report.md) with the ratio of each median at the
largest size to the one at demo size, and build/bench/scale-results.json. Nothing here asserts a time.

    make bench-scale
    make bench-scale BENCH_SCALE_ARGS="--sizes 0,2000 --repeat 5"
    make bench-scale BENCH_SCALE_ARGS="--stock-moto --sizes 0,2000,5000"
"""
import argparse
import json
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path[:0] = [BENCH]

from bench import machine  # noqa: E402  (bench/bench.py: imported before stack puts the checkout on sys.path)
from stack import LocalStack, extra_movie, latency_summary, table_item_count  # noqa: E402

SCALE_MOVIE, BOOKING_SHOW, GROUP_SHOW, SEAT_MAP_SHOW = 901, 9101, 9102, 9103
SEATS = 1000  # the most a show may have
DEMO_MOVIE = 1
MY_BOOKINGS = 20
SEAT_MAP_TAKEN = 40
OTHER_USERS, OTHER_SHOWS = 1000, 200
GROUP = 5

GROUP_BOOKING = f"book {GROUP}-seat group"
OPERATIONS = ["book 1 seat", "list shows", "my-bookings page", "cancel", "seat map", GROUP_BOOKING]


def extra_items(start, count):
    """``count`` bookings of other users and shows, numbered from ``start``; every other one in GSI1."""
    from chalicelib import keys, storage

    for n in range(start, start + count):
        show_id = 600_000 + n % OTHER_SHOWS
        booking_id = f"scale{n:010d}"
        item = {**keys.booking_key(f"scale-user-{n % OTHER_USERS}", booking_id), "id": booking_id,
                "show": show_id, "movie_id": 600, "seat_number": n % 1000 + 1, "status": "booked",
                "created_at": "2026-01-01T00:00:00.000Z"}
        if n % 2 == 0:
            item.update(GSI1PK=keys.bookings_of_show_gsi(show_id), GSI1SK=f"BOOKING#{booking_id}")
        yield storage.to_item(item)


def add_items(start, count):
    from chalicelib import storage

    ddb, name = storage.client(), storage.table_name()
    batch = []
    for item in extra_items(start, count):
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            _write(ddb, name, batch)
            batch = []
    if batch:
        _write(ddb, name, batch)


def _write(ddb, name, batch):
    pending = {name: batch}
    while pending:
        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None


def timed(http, token, method, path, body=None, expect=(200, 201)):
    reply = http.request(method, path, body=body, token=token)
    if reply.status not in expect:
        raise RuntimeError(f"{method} {path}: {reply.status} {reply.data}")
    return reply


def measure_size(http, token, booker, size, repeat, seat_base):
    """Every operation ``repeat`` times against the current table; {operation: latency summary}.

    ``booker`` (a new user per size) makes the bookings, so that the partition my-bookings reads keeps its
    20 bookings: what is measured is the table's size, not one partition's.
    """
    samples = {name: [] for name in OPERATIONS}
    booked = []
    for i in range(repeat):
        reply = timed(http, booker, "POST", f"/shows/{BOOKING_SHOW}/book", {"seat_number": seat_base + i + 1})
        samples["book 1 seat"].append(reply.seconds)
        booked.append(reply.data["id"])
        samples["list shows"].append(timed(http, token, "GET", f"/movies/{DEMO_MOVIE}/shows").seconds)
        samples["my-bookings page"].append(timed(http, token, "GET", f"/my-bookings?limit={MY_BOOKINGS}").seconds)
        samples["seat map"].append(timed(http, token, "GET", f"/shows/{SEAT_MAP_SHOW}/seats").seconds)
        first = seat_base + GROUP * i + 1
        reply = timed(http, booker, "POST", f"/shows/{GROUP_SHOW}/book",
                      {"seat_numbers": list(range(first, first + GROUP))})
        samples[GROUP_BOOKING].append(reply.seconds)
    for booking_id in booked:
        samples["cancel"].append(timed(http, booker, "POST", f"/bookings/{booking_id}/cancel").seconds)
    return {name: latency_summary(values) for name, values in samples.items()}


def run(sizes, repeat, stock_moto):
    movie = extra_movie(SCALE_MOVIE, [BOOKING_SHOW, GROUP_SHOW, SEAT_MAP_SHOW], total_seats=SEATS)
    results = []
    with LocalStack(stock_moto=stock_moto) as stack:
        stack.setup_table([movie])
        http = stack.http()
        token = http.signup_and_login("scale-user")
        other = http.signup_and_login("scale-other")
        for seat in range(1, SEAT_MAP_TAKEN + 1):  # a seat map with taken seats (by someone else)
            timed(http, other, "POST", f"/shows/{SEAT_MAP_SHOW}/book", {"seat_number": seat})
        for seat in range(1, MY_BOOKINGS + 1):  # my-bookings pages of 20 real bookings
            timed(http, token, "POST", f"/shows/{SEAT_MAP_SHOW}/book", {"seat_number": 500 + seat})
        for _ in range(3):  # warm the code paths and connections
            timed(http, token, "GET", f"/movies/{DEMO_MOVIE}/shows")
            timed(http, token, "GET", "/my-bookings")
        added = 0
        for index, size in enumerate(sizes):
            started = time.perf_counter()
            add_items(added, size - added)
            added = size
            print(f"  {size:>6} extra items (table: {table_item_count()} items, loaded in "
                  f"{time.perf_counter() - started:.1f} s) ...", file=sys.stderr, flush=True)
            booker = http.signup_and_login(f"scale-booker-{index}")
            cells = measure_size(http, token, booker, size, repeat, seat_base=index * repeat * GROUP)
            stack.check_alive()
            results.append({"extra_items": size, "table_items": table_item_count(), "cells": cells})
            print("    " + "  ".join(f"{name} {cell['p50']} ms" for name, cell in cells.items()),
                  file=sys.stderr, flush=True)
        http.close()
    return results


def report(results, repeat, stock_moto, command):
    engine = "stock moto 5.2.5 (no speedups)" if stock_moto else "moto 5.2.5 + scripts/moto_speedups.py"
    lines = [f"Engine: {engine}, serialised, journaling to a data folder; one client over HTTP; "
             f"median (p50) and, in brackets, p95 of {repeat} calls, in ms. Command: `{command}`.", ""]
    header = "| operation | " + " | ".join(f"{r['extra_items']:,} extra" for r in results) + \
             f" | {results[-1]['extra_items']:,} / {results[0]['extra_items']:,} (p50) |"
    lines += [header, "|---|" + "---:|" * (len(results) + 1)]
    for name in OPERATIONS:
        cells = [r["cells"][name] for r in results]
        ratio = f"{cells[-1]['p50'] / cells[0]['p50']:.2f}×" if cells[0]["p50"] else "–"
        lines.append(f"| {name} | " + " | ".join(f"{c['p50']} ({c['p95']})" for c in cells) + f" | {ratio} |")
    lines.append("")
    lines.append("Table items at each size: " + ", ".join(f"{r['table_items']:,}" for r in results) + ".")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,2000,5000,10000,20000",
                        help="extra items in the table, comma-separated, ascending (default 0,2000,5000,10000,20000)")
    parser.add_argument("--repeat", type=int, default=15, help="calls per operation and size (default 15)")
    parser.add_argument("--stock-moto", action="store_true", help="measure moto without scripts/moto_speedups.py")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"), help="where to write results")
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes must be numbers separated by commas, e.g. 0,2000,5000")
    if not sizes or sizes != sorted(sizes) or sizes[0] < 0:
        parser.error("--sizes must be ascending and not negative, e.g. 0,2000,5000")
    if not 1 <= args.repeat <= 100:
        parser.error("--repeat must be 1 to 100")
    if len(sizes) * args.repeat * GROUP > SEATS:
        parser.error(f"--repeat x sizes x {GROUP} must stay within {SEATS} seats")

    info = machine()
    print(f"table sizes {sizes}, {args.repeat} calls each, "
          f"{'stock moto' if args.stock_moto else 'moto + speedups'} ...", file=sys.stderr, flush=True)
    results = run(sizes, args.repeat, args.stock_moto)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    command = "make bench-scale" + (f' BENCH_SCALE_ARGS="{" ".join(sys.argv[1:])}"' if sys.argv[1:] else "")
    text = f"Machine: {info['cpus']} CPUs, Python {info['python']}; run {info['date']}; load average " \
           f"{info['load_average_at_start']} at start, {info['load_average_at_end']} at end.\n\n" + \
           report(results, args.repeat, args.stock_moto, command)
    os.makedirs(args.out, exist_ok=True)
    suffix = "-stock" if args.stock_moto else ""
    with open(os.path.join(args.out, f"scale-results{suffix}.json"), "w") as f:
        json.dump({"machine": info, "repeat": args.repeat, "stock_moto": args.stock_moto, "sizes": results}, f,
                  indent=1)
    with open(os.path.join(args.out, f"scale-report{suffix}.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
