"""Seat map of a large show: DynamoDB requests and the app's own time (issue 12).

A 400-seat show (20 rows of 20: accessible + companion seats in row A, the back four rows premium)
with half its seats booked or held, in moto's in-process mock. Each run calls the seat map through
``app(event, context)`` as Lambda does; botocore hooks count the requests and time DynamoDB's
(moto's) share, which is subtracted: what is left is the handler (routing, rules, plan, JSON).

``.venv/bin/python bench/seatmap.py [--runs 200] [--json]`` (also run by ``make bench-seatmap``).
"""
import argparse
import datetime as dt
import json
import statistics
import sys
import time

from inprocess import ROOT, DynamoDBMeter, configure_environment  # noqa: F401 (sets sys.path)

ROWS, PER_ROW = 20, 20


def layout():
    rows = []
    for index in range(ROWS):
        label = chr(ord("A") + index)
        if index == 0:
            rows.append({"label": label, "seats": ["accessible", "companion"] + ["standard"] * (PER_ROW - 4)
                         + ["companion", "accessible"]})
        else:
            rows.append({"label": label, "seats": PER_ROW, "category": "premium" if index >= ROWS - 4 else "standard"})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_environment()
    from moto import mock_aws

    with mock_aws():
        from chalicelib import admin, auth, bookings, holds, storage

        storage.create_table()
        admin.create_movie({"title": "Bench", "duration_minutes": 100})
        starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        show = admin.create_show(1, {"screen_name": "Big", "date_time": starts, "layout": layout(),
                                     "categories": {"standard": {"price": 950}, "premium": {"price": 1450},
                                                    "accessible": {"price": 950}, "companion": {"price": 950}},
                                     "currency": "EUR", "max_seats_per_customer": 1000})["id"]
        auth.create_user("bench", "bench-password")
        for first in range(1, 401, 20):  # the left half of every row: 100 booked, 100 held
            seats = list(range(first, first + 10))
            if (first // 20) % 2:
                holds.create("bench", show, {"seat_numbers": seats})
            else:
                bookings.book("bench", show, {"seat_numbers": seats})

        from app import app
        meter = DynamoDBMeter(storage.client())
        event = {"resource": "/shows/{show_id}/seats", "path": f"/shows/{show}/seats", "httpMethod": "GET",
                 "headers": {"Host": "localhost"}, "multiValueHeaders": {}, "queryStringParameters": None,
                 "multiValueQueryStringParameters": None, "pathParameters": {"show_id": str(show)},
                 "stageVariables": None, "body": None, "isBase64Encoded": False,
                 "requestContext": {"resourcePath": "/shows/{show_id}/seats", "httpMethod": "GET", "path": "/api/x",
                                    "requestId": "bench", "stage": "api", "identity": {"sourceIp": "127.0.0.1"}}}
        totals, app_times, requests = [], [], []
        for run in range(args.runs + 10):
            meter.reset()
            started = time.perf_counter()
            response = app(event, None)
            total = time.perf_counter() - started
            if run < 10:
                continue  # warm-up
            assert response["statusCode"] == 200, response
            totals.append(total * 1000)
            app_times.append((total - meter.seconds) * 1000)
            requests.append(tuple(meter.operations))
        body = json.loads(response["body"])
        result = {
            "seats": body["total_seats"], "taken": len(body["taken"]), "held": len(body["held"]),
            "requests": sorted(set(requests)), "response_bytes": len(response["body"]),
            "app_ms_p50": round(statistics.median(app_times), 2),
            "app_ms_p95": round(sorted(app_times)[int(len(app_times) * 0.95)], 2),
            "total_ms_p50": round(statistics.median(totals), 2), "runs": args.runs,
        }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
