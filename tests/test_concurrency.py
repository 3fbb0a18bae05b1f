"""Real threads racing over HTTP through `chalice local` against the serialised local DynamoDB endpoint."""
import concurrent.futures
import itertools
import json
import urllib.error
import urllib.request

import boto3
import pytest

from chalicelib import keys

_names = itertools.count()


def call(base_url, method, path, body=None, token=None, headers=None):
    request = urllib.request.Request(base_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def new_user(base_url):
    name = f"racer{next(_names)}"
    assert call(base_url, "POST", "/signup/", {"username": name, "password": "secret"})[0] == 201
    return call(base_url, "POST", "/login/", {"username": name, "password": "secret"})[1]["access"]


def in_parallel(jobs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: job(), jobs))


@pytest.fixture(scope="module")
def stack(live_stack):
    return live_stack


@pytest.fixture(scope="module")
def ddb(stack):
    return boto3.client("dynamodb", endpoint_url=stack.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


@pytest.fixture(scope="module")
def table(stack):
    return stack.env["TABLE_NAME"]


def seat_locks(ddb, table, show_id):
    items = ddb.query(TableName=table, KeyConditionExpression="PK = :pk AND begins_with(SK, :s)",
                      ExpressionAttributeValues={":pk": {"S": keys.show_pk(show_id)}, ":s": {"S": "SEAT#"}},
                      ConsistentRead=True)["Items"]
    return {int(i["seat_number"]["N"]): i["booking_id"]["S"] for i in items}


def bookings_of_show(ddb, table, show_id):
    items = ddb.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                      ExpressionAttributeValues={":pk": {"S": keys.bookings_of_show_gsi(show_id)}})["Items"]
    return [(int(i["seat_number"]["N"]), i["status"]["S"], i["id"]["S"]) for i in items]


def test_twenty_four_users_racing_for_one_seat_get_exactly_one_booking(stack, ddb, table):
    tokens = [new_user(stack.base_url) for _ in range(24)]
    results = in_parallel([
        (lambda t=t: call(stack.base_url, "POST", "/shows/4/book/", {"seat_number": 17}, token=t)) for t in tokens])
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 23, statuses
    winner = next(body for status, body in results if status == 201)
    assert seat_locks(ddb, table, 4) == {17: winner["id"]}
    assert [b for b in bookings_of_show(ddb, table, 4) if b[0] == 17] == [(17, "booked", winner["id"])]


def test_overlapping_group_bookings_never_share_a_seat(stack, ddb, table):
    tokens = [new_user(stack.base_url) for _ in range(12)]
    groups = [[n, n + 1, n + 2] for n in range(1, 13)]  # each overlaps its neighbours
    results = in_parallel([
        (lambda t=t, g=g: call(stack.base_url, "POST", "/shows/5/book/", {"seat_numbers": g}, token=t))
        for t, g in zip(tokens, groups)])
    assert {status for status, _ in results} <= {201, 409}
    won = [seat for status, body in results if status == 201 for seat in (b["seat_number"] for b in body["bookings"])]
    assert len(won) == len(set(won)), "a seat was booked twice"
    locks = seat_locks(ddb, table, 5)
    assert sorted(locks) == sorted(won)
    booked = [b for b in bookings_of_show(ddb, table, 5) if b[1] == "booked"]
    assert sorted(b[0] for b in booked) == sorted(won)
    assert {b[2] for b in booked} == set(locks.values())


def test_simultaneous_requests_with_one_idempotency_key_create_one_booking(stack, ddb, table):
    token = new_user(stack.base_url)
    results = in_parallel([
        (lambda: call(stack.base_url, "POST", "/shows/6/book/", {"seat_number": 9}, token=token,
                      headers={"Idempotency-Key": "same-moment"}))] * 10)
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1
    assert len([b for b in bookings_of_show(ddb, table, 6) if b[0] == 9]) == 1


def test_racing_cancel_and_rebook_leaves_a_consistent_seat(stack, ddb, table):
    owner, others = new_user(stack.base_url), [new_user(stack.base_url) for _ in range(8)]
    status, booking = call(stack.base_url, "POST", "/shows/7/book/", {"seat_number": 3}, token=owner)
    assert status == 201
    jobs = [lambda: call(stack.base_url, "POST", f"/bookings/{booking['id']}/cancel/", token=owner)] * 3
    jobs += [(lambda t=t: call(stack.base_url, "POST", "/shows/7/book/", {"seat_number": 3}, token=t)) for t in others]
    results = in_parallel(jobs)
    cancels, rebooks = results[:3], results[3:]
    assert sorted(s for s, _ in cancels) == [200, 409, 409]
    winners = [body for status, body in rebooks if status == 201]
    assert len(winners) <= 1
    locks = seat_locks(ddb, table, 7)
    active = [b for b in bookings_of_show(ddb, table, 7) if b[0] == 3 and b[1] == "booked"]
    assert [b[2] for b in active] == ([winners[0]["id"]] if winners else [])
    assert locks.get(3) == (winners[0]["id"] if winners else None)
