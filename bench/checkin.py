"""E-tickets and door check-in (issue 19): verification time per code, and DynamoDB requests per check-in.

In process, against moto's in-process mock: a show whose doors are open, ``--tickets`` bookings, and
their ticket codes. Then:

- **verify**: ``ticket_keys.verify(code)`` per code (base64url decode, field unpacking, key-id
  lookup, Ed25519 verification with ``cryptography``): what a door device or the check-in route
  spends before any I/O; also signing (``ticket_keys.sign``) and the QR SVG (``tickets.qr_svg``);
- **check-in**: each ticket checked in through ``app(event, context)`` as Lambda does, warm (the
  show read by this process in the last 30 s), then each again (the refusal); botocore hooks count
  the DynamoDB requests and time moto's share, which is subtracted: what is left is the handler.

``.venv/bin/python bench/checkin.py [--tickets 200] [--json]`` (also run by ``make bench-checkin``).
"""
import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time

from inprocess import ROOT, DynamoDBMeter, configure_environment  # noqa: F401 (sets sys.path)


def _p(values, q):
    return round(sorted(values)[min(len(values) - 1, int(len(values) * q))], 3)


def _event(path, resource, body, token):
    return {"resource": resource, "path": path, "httpMethod": "POST",
            "headers": {"Host": "localhost", "Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": None, "stageVariables": None, "body": json.dumps(body), "isBase64Encoded": False,
            "requestContext": {"resourcePath": resource, "httpMethod": "POST", "path": "/api" + path,
                               "requestId": "bench", "stage": "api", "identity": {"sourceIp": "127.0.0.1"}}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_environment()
    import os

    os.environ["LOCAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-checkin-")  # a key ring of this run
    from moto import mock_aws

    with mock_aws():
        from chalicelib import admin, auth, bookings, storage, ticket_keys, tickets, tokens
        from chalicelib.db import bookings as booking_items

        storage.create_table()
        admin.create_movie({"title": "Bench", "duration_minutes": 100})
        starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = [{"label": chr(ord("A") + i), "seats": 20, "category": "standard"} for i in range(20)]
        show = admin.create_show(1, {"screen_name": "Big", "date_time": starts, "layout": rows,
                                     "max_seats_per_customer": 1000})["id"]
        auth.create_user("bench", "bench-password")
        auth.create_user("door", "door-password", role=auth.ROLE_STAFF)
        for first in range(1, args.tickets + 1, 10):
            bookings.book("bench", show, {"seat_numbers": list(range(first, min(first + 10, args.tickets + 1)))})
        items = list(booking_items.of_user_page("bench", 1000).items)
        codes = [tickets.code_for(item) for item in items]

        sign_ms, verify_ms, qr_ms = [], [], []
        for item in items:
            started = time.perf_counter()
            tickets.code_for(item)
            sign_ms.append((time.perf_counter() - started) * 1000)
        for _ in range(5):
            for code in codes:
                started = time.perf_counter()
                ticket_keys.verify(code)
                verify_ms.append((time.perf_counter() - started) * 1000)
        for code in codes[:50]:
            started = time.perf_counter()
            tickets.qr_svg(code)
            qr_ms.append((time.perf_counter() - started) * 1000)

        from app import app
        token = tokens.issue_pair("door", auth.ROLE_STAFF)["access"]
        meter = DynamoDBMeter(storage.client())
        app(_event("/check-in", "/check-in", {"code": "warm-up"}, token), None)  # imports, routing
        app(_event("/check-in", "/check-in", {"code": codes[0]}, token), None)  # reads the show: warm from here
        results = {}
        for name, wanted in (("ok", 200), ("again", 409)):
            handler_ms, requests = [], []
            for code in codes[1:]:
                meter.reset()
                started = time.perf_counter()
                response = app(_event("/check-in", "/check-in", {"code": code, "show": show}, token), None)
                total = time.perf_counter() - started
                assert response["statusCode"] == wanted, response
                handler_ms.append((total - meter.seconds) * 1000)
                requests.append(tuple(meter.operations))
            results[name] = {"requests": sorted(set(requests)), "handler_ms_p50": _p(handler_ms, 0.5),
                             "handler_ms_p95": _p(handler_ms, 0.95)}
        result = {
            "tickets": len(codes), "code_chars": sorted({len(c) for c in codes}),
            "verify_ms_p50": _p(verify_ms, 0.5), "verify_ms_p95": _p(verify_ms, 0.95),
            "verify_per_second": round(1000 / statistics.mean(verify_ms)),
            "sign_ms_p50": _p(sign_ms, 0.5), "qr_svg_ms_p50": _p(qr_ms, 0.5),
            "check_in_ok": results["ok"], "check_in_again": results["again"],
        }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
