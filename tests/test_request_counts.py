"""DynamoDB requests per API call, counted with botocore's event hooks (the costs in docs/data-model.md)."""
import contextlib

import pytest

from chalicelib import storage


@contextlib.contextmanager
def counting():
    calls = []

    def record(model, **_):
        calls.append(model.name)

    events = storage.client().meta.events
    events.register("before-call.dynamodb", record)
    try:
        yield calls
    finally:
        events.unregister("before-call.dynamodb", record)


@pytest.fixture
def token(api, demo):
    return api.token_for()


@pytest.fixture
def warm(api, token):
    """This process has read show 1 recently (any booking of it does), as a warm Lambda has."""
    assert api.post("/shows/1/book/", {"seat_number": 100}, token=token).status_code == 201


def test_first_booking_of_a_show_reads_it_then_writes_once(api, token):
    with counting() as calls:
        assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201
    assert calls == ["GetItem", "TransactWriteItems"]


def test_warm_single_seat_booking_is_one_conditional_write(api, token, warm):
    with counting() as calls:
        assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201
    assert calls == ["TransactWriteItems"]


def test_taken_seat_costs_the_same_one_request(api, token, warm):
    api.post("/shows/1/book/", {"seat_number": 1}, token=api.token_for("bob"))
    with counting() as calls:
        assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 409
    assert calls == ["TransactWriteItems"]


def test_group_booking_is_one_transaction(api, token, warm):
    with counting() as calls:
        assert api.post("/shows/1/book/", {"seat_numbers": [1, 2, 3, 4, 5]}, token=token).status_code == 201
    assert calls == ["TransactWriteItems"]


def test_idempotent_booking_adds_no_request(api, token, warm):
    with counting() as calls:
        api.post("/shows/1/book/", {"seat_number": 1}, token=token, headers={"Idempotency-Key": "abc"})
    assert calls == ["TransactWriteItems"]


def test_show_cached_by_the_process_is_read_again_after_it_expires(api, token, warm):
    from chalicelib import clock
    from chalicelib.db import shows

    with clock.frozen() as frozen, counting() as calls:
        frozen.advance(shows.SHOW_CACHE_SECONDS + 1)
        assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201
    assert calls == ["GetItem", "TransactWriteItems"]


def test_cancel_is_one_read_and_one_transaction(api, token):
    booking = api.post("/shows/1/book/", {"seat_number": 1}, token=token).data
    with counting() as calls:
        assert api.post(f"/bookings/{booking['id']}/cancel/", token=token).status_code == 200
    assert calls == ["GetItem", "TransactWriteItems"]


@pytest.mark.parametrize("path", ["/movies/", "/movies/1/shows/", "/shows/1/seats/"])
def test_public_lists_are_one_query(api, token, path):
    with counting() as calls:
        assert api.get(path).status_code == 200
    assert calls == ["Query"]


def test_my_bookings_is_one_query(api, token):
    with counting() as calls:
        assert api.get("/my-bookings/", token=token).status_code == 200
    assert calls == ["Query"]


def test_no_request_path_scans(api, token):
    booking = api.post("/shows/1/book/", {"seat_number": 1}, token=token).data
    with counting() as calls:
        api.get("/movies/")
        api.get("/movies/1/shows/?date=2000-01-01")
        api.get("/shows/1/seats/")
        api.get("/my-bookings/", token=token)
        api.post("/shows/1/book/", {"seat_numbers": [2, 3]}, token=token)
        api.post(f"/bookings/{booking['id']}/cancel/", token=token)
        api.post("/login", {"username": "alice", "password": "secret"})
    assert calls and "Scan" not in calls


def test_the_table_these_counts_are_taken_on_streams_every_change_so_the_outbox_adds_no_request(aws):
    described = aws.describe_table(TableName=storage.table_name())["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
