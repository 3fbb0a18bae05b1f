"""Seat maps and atomic multi-seat bookings."""
import pytest

from chalicelib import keys, storage


def held_seats(show_id):
    response = storage.client().query(
        TableName=storage.table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :seat)",
        ExpressionAttributeValues=storage.to_item({":pk": keys.show_pk(show_id), ":seat": keys.SEAT_PREFIX}),
    )
    return sorted(storage.from_item(i)["seat_number"] for i in response["Items"])


def test_seat_map_of_a_fresh_show_has_every_seat_available(api, demo):
    response = api.get("/shows/2/seats/")
    assert response.status_code == 200
    seats = response.data
    assert {k: seats[k] for k in ("show_id", "total_seats", "available", "taken", "held")} == {
        "show_id": 2, "total_seats": 60, "available": list(range(1, 61)), "taken": [], "held": []}
    assert [seat["status"] for row in seats["rows"] for seat in row["seats"]] == ["available"] * 60


def test_seat_map_shows_booked_seats_as_taken_and_cancelled_as_available(api, demo):
    token = api.token_for()
    api.post("/shows/2/book/", {"seat_number": 5}, token=token)
    cancelled = api.post("/shows/2/book/", {"seat_number": 6}, token=token).data
    api.post(f"/bookings/{cancelled['id']}/cancel/", token=token)
    seats = api.get("/shows/2/seats").data
    assert seats["taken"] == [5]
    assert 5 not in seats["available"] and 6 in seats["available"]
    assert len(seats["available"]) == 59


def test_seat_map_of_unknown_show_is_404(api, demo):
    assert api.get("/shows/999/seats/").status_code == 404
    assert api.get("/shows/x/seats/").status_code == 404


def test_group_booking_takes_all_seats_with_one_group_id(api, demo):
    token = api.token_for()
    response = api.post("/shows/1/book/", {"seat_numbers": [3, 1, 2]}, token=token)
    assert response.status_code == 201
    bookings = response.data["bookings"]
    assert sorted(b["seat_number"] for b in bookings) == [1, 2, 3]
    assert len({b["id"] for b in bookings}) == 3
    assert {b["group_id"] for b in bookings} == {response.data["group_id"]}
    assert all(b["status"] == "booked" and b["show"] == 1 for b in bookings)
    assert held_seats(1) == [1, 2, 3]


def test_group_booking_is_all_or_nothing_and_lists_taken_seats(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    api.post("/shows/1/book/", {"seat_number": 4}, token=alice)
    api.post("/shows/1/book/", {"seat_number": 6}, token=alice)
    response = api.post("/shows/1/book/", {"seat_numbers": [3, 4, 5, 6]}, token=bob)
    assert response.status_code == 409
    assert response.data["Code"] == "SeatTaken"
    assert response.data["taken"] == [4, 6]
    assert held_seats(1) == [4, 6]
    assert api.get("/my-bookings/", token=bob).data == []


@pytest.mark.parametrize("seats", [[], [1, 1], list(range(1, 12)), [0, 1], [1, 121], [1, "2"], [1, 2.5], [True], "1,2"])
def test_group_booking_rejects_bad_seat_lists_with_400(api, demo, seats):
    response = api.post("/shows/1/book/", {"seat_numbers": seats}, token=api.token_for())
    assert response.status_code == 400, response.body
    assert held_seats(1) == []


def test_ten_seats_is_the_largest_group(api, demo):
    response = api.post("/shows/1/book/", {"seat_numbers": list(range(1, 11))}, token=api.token_for())
    assert response.status_code == 201
    assert len(response.data["bookings"]) == 10


def test_cancelling_one_seat_of_a_group_leaves_the_others(api, demo):
    token = api.token_for()
    bookings = api.post("/shows/1/book/", {"seat_numbers": [7, 8, 9]}, token=token).data["bookings"]
    middle = next(b for b in bookings if b["seat_number"] == 8)
    assert api.post(f"/bookings/{middle['id']}/cancel/", token=token).status_code == 200
    assert held_seats(1) == [7, 9]
    statuses = {b["seat_number"]: b["status"] for b in api.get("/my-bookings/", token=token).data}
    assert statuses == {7: "booked", 8: "cancelled", 9: "booked"}


def test_rebooking_a_group_i_already_hold_returns_it_with_200(api, demo):
    token = api.token_for()
    first = api.post("/shows/1/book/", {"seat_numbers": [40, 41]}, token=token)
    again = api.post("/shows/1/book/", {"seat_numbers": [41, 40]}, token=token)
    assert again.status_code == 200
    assert {b["id"] for b in again.data["bookings"]} == {b["id"] for b in first.data["bookings"]}


def test_single_seat_form_still_answers_a_single_booking(api, demo):
    response = api.post("/shows/1/book/", {"seat_number": 2}, token=api.token_for())
    assert response.status_code == 201
    assert response.data["seat_number"] == 2
    assert "bookings" not in response.data
