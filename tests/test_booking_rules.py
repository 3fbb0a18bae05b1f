"""Booking rules: one booking per seat, cancelling frees it, a stale cancel never frees someone else's seat."""
from chalicelib import keys, storage


def seat_item(show_id, seat):
    found = storage.client().get_item(TableName=storage.table_name(), Key=storage.to_item(keys.seat_key(show_id, seat)))
    return storage.from_item(found["Item"]) if "Item" in found else None


def test_cancelled_seat_can_be_rebooked_by_anyone(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    booking = api.post("/shows/1/book/", {"seat_number": 11}, token=alice).data
    api.post(f"/bookings/{booking['id']}/cancel/", token=alice)
    response = api.post("/shows/1/book/", {"seat_number": 11}, token=bob)
    assert response.status_code == 201
    assert seat_item(1, 11)["booking_id"] == response.data["id"]


def test_cancelled_booking_stays_in_owner_history_after_rebooking(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    booking = api.post("/shows/1/book/", {"seat_number": 11}, token=alice).data
    api.post(f"/bookings/{booking['id']}/cancel/", token=alice)
    api.post("/shows/1/book/", {"seat_number": 11}, token=bob)
    history = api.get("/my-bookings/", token=alice).data
    assert [(b["id"], b["status"]) for b in history] == [(booking["id"], "cancelled")]


def test_second_cancel_never_frees_a_seat_someone_else_booked_since(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    booking = api.post("/shows/1/book/", {"seat_number": 12}, token=alice).data
    api.post(f"/bookings/{booking['id']}/cancel/", token=alice)
    bobs = api.post("/shows/1/book/", {"seat_number": 12}, token=bob).data
    assert api.post(f"/bookings/{booking['id']}/cancel/", token=alice).status_code == 409
    assert seat_item(1, 12)["booking_id"] == bobs["id"]
    assert api.get("/my-bookings/", token=bob).data[0]["status"] == "booked"


def test_same_seat_in_different_shows_are_independent(api, demo):
    token = api.token_for()
    assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201
    assert api.post("/shows/2/book/", {"seat_number": 1}, token=token).status_code == 201


def test_rebooking_own_seat_returns_existing_booking_with_200(api, demo):
    token = api.token_for()
    first = api.post("/shows/1/book/", {"seat_number": 20}, token=token)
    again = api.post("/shows/1/book/", {"seat_number": 20}, token=token)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.data["id"] == first.data["id"]
    assert len(api.get("/my-bookings/", token=token).data) == 1


def test_failed_booking_stores_nothing(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    api.post("/shows/1/book/", {"seat_number": 30}, token=alice)
    api.post("/shows/1/book/", {"seat_number": 30}, token=bob)
    api.post("/shows/1/book/", {"seat_number": 500}, token=bob)
    assert api.get("/my-bookings/", token=bob).data == []


def test_show_that_has_started_cannot_be_booked(api, demo):
    import datetime as dt
    from chalicelib import importer

    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    importer.import_catalog([{"id": 50, "title": "Old", "duration_minutes": 90,
                              "shows": [{"id": 50, "screen_name": "S", "date_time": past, "total_seats": 40}]}])
    response = api.post("/shows/50/book/", {"seat_number": 1}, token=api.token_for())
    assert response.status_code == 409
    assert response.data["Code"] == "ShowStarted"
    assert seat_item(50, 1) is None


def test_booking_and_seat_lock_are_written_together(api, demo):
    token = api.token_for()
    booking = api.post("/shows/3/book/", {"seat_number": 77}, token=token).data
    lock = seat_item(3, 77)
    assert lock["booking_id"] == booking["id"]
    assert lock["user"] == "alice"
    api.post(f"/bookings/{booking['id']}/cancel/", token=token)
    assert seat_item(3, 77) is None


def test_booking_fails_cleanly_if_the_show_shrank_after_it_was_read(api, demo, monkeypatch):
    """The seat write re-checks the show in the same transaction (an admin may resize it meanwhile)."""
    from chalicelib.db import shows

    token = api.token_for()
    real_get_show = shows.get_recent

    def read_then_shrink(show_id):
        show = real_get_show(show_id)
        storage.client().update_item(
            TableName=storage.table_name(), Key=storage.to_item(keys.show_key(show_id)),
            UpdateExpression="SET total_seats = :n", ExpressionAttributeValues={":n": {"N": "10"}})
        return show

    monkeypatch.setattr(shows, "get_recent", read_then_shrink)
    response = api.post("/shows/1/book/", {"seat_number": 50}, token=token)
    assert response.status_code == 409
    assert seat_item(1, 50) is None
    assert api.get("/my-bookings/", token=token).data == []


# --- a show cached by this process (warm bookings skip the read) ---------------------------------

def _changed_elsewhere(show_id, **values):
    """An admin's change made through another function instance: this process's copy is now stale."""
    names = {f"#{k}": k for k in values}
    storage.client().update_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.show_key(show_id)),
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
        ExpressionAttributeNames=names, ExpressionAttributeValues=storage.to_item({f":{k}": v for k, v in values.items()}))


def test_seat_added_elsewhere_can_be_booked_although_this_process_cached_the_smaller_show(api, demo):
    token = api.token_for()
    assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201  # caches 120 seats
    from chalicelib.db import shows
    from chalicelib.domain import layout

    _changed_elsewhere(1, total_seats=150, layout=layout.resized(shows.get(1)["layout"], 150))
    response = api.post("/shows/1/book/", {"seat_number": 140}, token=token)
    assert response.status_code == 201, response.body
    assert seat_item(1, 140)["booking_id"] == response.data["id"]


def test_show_moved_into_the_past_elsewhere_cannot_be_booked_from_a_cached_copy(api, demo):
    import time

    token = api.token_for()
    assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201
    _changed_elsewhere(1, starts_at=int(time.time()) - 60)
    response = api.post("/shows/1/book/", {"seat_number": 2}, token=token)
    assert response.status_code == 409 and response.data["Code"] == "ShowStarted"
    assert seat_item(1, 2) is None


def test_show_shrunk_elsewhere_refuses_a_seat_beyond_its_end_from_a_cached_copy(api, demo):
    token = api.token_for()
    assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201
    _changed_elsewhere(1, total_seats=10)
    response = api.post("/shows/1/book/", {"seat_number": 50}, token=token)
    assert response.status_code == 409 and "resized" in response.data["Message"]  # as for a shrink mid-booking
    assert seat_item(1, 50) is None
