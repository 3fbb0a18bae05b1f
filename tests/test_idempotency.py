"""Idempotency-Key on booking and cancelling: retries return the first response and create nothing new.

The same-moment race is in test_concurrency.py: it needs real threads against the serialised endpoint.
"""
import time

import pytest

from chalicelib import keys, storage


def key_header(key):
    return {"Idempotency-Key": key}


def test_same_key_and_body_returns_the_first_booking(api, demo):
    token = api.token_for()
    first = api.post("/shows/1/book/", {"seat_number": 5}, token=token, headers=key_header("k-1"))
    again = api.post("/shows/1/book/", {"seat_number": 5}, token=token, headers=key_header("k-1"))
    assert first.status_code == again.status_code == 201
    assert again.data == first.data
    assert len(api.get("/my-bookings/", token=token).data) == 1


def test_same_key_for_a_group_returns_the_same_booking_ids(api, demo):
    token = api.token_for()
    first = api.post("/shows/1/book/", {"seat_numbers": [1, 2]}, token=token, headers=key_header("grp"))
    again = api.post("/shows/1/book/", {"seat_numbers": [1, 2]}, token=token, headers=key_header("grp"))
    assert again.status_code == 201
    assert again.data == first.data


def test_same_key_with_a_different_body_is_422(api, demo):
    token = api.token_for()
    api.post("/shows/1/book/", {"seat_number": 5}, token=token, headers=key_header("k-2"))
    response = api.post("/shows/1/book/", {"seat_number": 6}, token=token, headers=key_header("k-2"))
    assert response.status_code == 422
    assert response.data["Code"] == "IdempotencyKeyReused"
    assert len(api.get("/my-bookings/", token=token).data) == 1


def test_keys_are_per_user(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    assert api.post("/shows/1/book/", {"seat_number": 5}, token=alice, headers=key_header("same")).status_code == 201
    assert api.post("/shows/1/book/", {"seat_number": 6}, token=bob, headers=key_header("same")).status_code == 201


def test_cancel_with_the_same_key_returns_the_first_response(api, demo):
    token = api.token_for()
    booking = api.post("/shows/1/book/", {"seat_number": 5}, token=token).data
    first = api.post(f"/bookings/{booking['id']}/cancel/", token=token, headers=key_header("c-1"))
    again = api.post(f"/bookings/{booking['id']}/cancel/", token=token, headers=key_header("c-1"))
    assert first.status_code == again.status_code == 200
    assert again.data == first.data


def test_cancel_repeated_with_a_new_key_is_409(api, demo):
    token = api.token_for()
    booking = api.post("/shows/1/book/", {"seat_number": 5}, token=token).data
    api.post(f"/bookings/{booking['id']}/cancel/", token=token, headers=key_header("c-1"))
    assert api.post(f"/bookings/{booking['id']}/cancel/", token=token, headers=key_header("c-2")).status_code == 409


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "tab\tkey", "ünïcode"])
def test_malformed_idempotency_key_is_400(api, demo, key):
    response = api.post("/shows/1/book/", {"seat_number": 5}, token=api.token_for(), headers=key_header(key))
    assert response.status_code == 400
    assert api.get("/shows/1/seats/").data["taken"] == []


def test_sixty_four_character_key_is_accepted(api, demo):
    response = api.post("/shows/1/book/", {"seat_number": 5}, token=api.token_for(), headers=key_header("k" * 64))
    assert response.status_code == 201


def test_idempotency_record_expires_after_24_hours(api, demo):
    token = api.token_for()
    api.post("/shows/1/book/", {"seat_number": 5}, token=token, headers=key_header("old"))
    record = storage.client().get_item(TableName=storage.table_name(),
                                       Key=storage.to_item(keys.idempotency_key("alice", "old")))["Item"]
    expires_at = int(record[storage.TTL_ATTRIBUTE]["N"])
    assert 24 * 3600 - 60 <= expires_at - time.time() <= 24 * 3600


def test_expired_but_undeleted_key_counts_as_absent(api, demo):
    """DynamoDB deletes expired items lazily: a lingering record must not replay an old response."""
    token = api.token_for()
    first = api.post("/shows/1/book/", {"seat_number": 5}, token=token, headers=key_header("stale")).data
    storage.client().update_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.idempotency_key("alice", "stale")),
        UpdateExpression="SET expires_at = :past", ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}})
    response = api.post("/shows/1/book/", {"seat_number": 6}, token=token, headers=key_header("stale"))
    assert response.status_code == 201
    assert response.data["id"] != first["id"]
    assert response.data["seat_number"] == 6


def test_key_answered_with_an_existing_booking_keeps_that_answer(api, demo):
    """A keyed re-booking of my own seat answers 200; replaying the key later must not book again."""
    token = api.token_for()
    first = api.post("/shows/1/book/", {"seat_number": 5}, token=token).data
    keyed = api.post("/shows/1/book/", {"seat_number": 5}, token=token, headers=key_header("k1"))
    assert keyed.status_code == 200 and keyed.data["id"] == first["id"]
    api.post(f"/bookings/{first['id']}/cancel/", token=token)
    replay = api.post("/shows/1/book/", {"seat_number": 5}, token=token, headers=key_header("k1"))
    assert replay.status_code == 200
    assert replay.data["id"] == first["id"]
    assert len(api.get("/my-bookings/", token=token).data) == 1
