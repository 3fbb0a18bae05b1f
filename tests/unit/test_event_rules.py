"""domain.events: one item change -> at most one domain event, with the stream record's id."""
from chalicelib.domain import events

BOOKING = {"PK": "USER#alice", "SK": "BOOKING#b1", "type": "booking", "id": "b1", "show": 3, "seat_number": 7,
           "status": "booked", "user": "alice", "created_at": "2026-12-01T18:00:00.000Z"}
HOLD = {"PK": "USER#alice", "SK": "HOLD#h1", "type": "hold", "id": "h1", "show": 3, "seat_numbers": [4, 5],
        "status": "held", "held_until": 1000.0, "user": "alice"}


def kind(name, old, new):
    event = events.event_of_change(name, old, new, "evt_x", "2026-12-01T18:00:00.000Z")
    return event and event["type"]


def test_a_new_booking_is_booking_created_with_its_fields():
    event = events.event_of_change("INSERT", None, BOOKING, "evt_1", "t")
    assert event["type"] == "booking.created" and event["id"] == "evt_1"
    assert event["data"]["seat_number"] == 7 and "PK" not in event["data"]


def test_a_booking_turning_cancelled_is_booking_cancelled():
    assert kind("MODIFY", BOOKING, {**BOOKING, "status": "cancelled"}) == "booking.cancelled"


SEAT_LOCK = {"PK": "SHOW#00000003", "SK": "SEAT#0007", "type": "seat", "booking_id": "b1", "user": "alice",
             "show": 3, "seat_number": 7, "seat_label": "A7", "category": "standard"}


def test_a_seat_lock_gaining_checked_in_at_is_checkin_ok_with_the_booking_and_seat():
    event = events.event_of_change("MODIFY", SEAT_LOCK, {**SEAT_LOCK, "checked_in_at": "t", "checked_in_by": "door"},
                                   "evt_9", "t")
    assert event["type"] == "checkin.ok"
    assert event["data"] == {"booking_id": "b1", "show": 3, "seat_number": 7, "seat_label": "A7",
                             "category": "standard", "checked_in_at": "t", "checked_in_by": "door", "user": "alice"}


def test_a_seat_lock_already_checked_in_changing_again_is_no_checkin():
    checked = {**SEAT_LOCK, "checked_in_at": "t"}
    assert kind("MODIFY", checked, {**checked, "note": "x"}) is None


def test_booking_or_holding_a_seat_lock_is_no_event_of_its_own():
    assert kind("INSERT", None, SEAT_LOCK) is None and kind("REMOVE", SEAT_LOCK, None) is None


def test_hold_lifecycle_changes_are_their_events():
    assert kind("INSERT", None, HOLD) == "hold.created"
    for status, name in (("confirmed", "hold.confirmed"), ("released", "hold.released"), ("expired", "hold.expired")):
        assert kind("MODIFY", HOLD, {**HOLD, "status": status}) == name


def test_extending_a_hold_is_no_event():
    assert kind("MODIFY", HOLD, {**HOLD, "held_until": 2000.0}) is None


def test_show_items_written_by_admins_are_show_changed_with_what_happened():
    show = {"PK": "SHOW#00000003", "SK": "#SHOW", "type": "show", "id": 3, "movie_id": 1, "total_seats": 100}
    assert events.event_of_change("REMOVE", show, None, "e", "t")["data"]["change"] == "deleted"
    assert events.event_of_change("MODIFY", show, {**show, "total_seats": 90}, "e", "t")["data"]["change"] == "updated"


def test_seat_locks_claims_and_other_items_are_no_event():
    lock = {"PK": "SHOW#00000003", "SK": "SEAT#0007", "type": "seat", "booking_id": "b1"}
    assert kind("INSERT", None, lock) is None
    assert kind("INSERT", None, {"PK": "USER#alice", "SK": "CLAIMS#00000003", "booked": 1}) is None
    assert kind("REMOVE", BOOKING, None) is None


def test_a_waitlist_entry_receiving_an_offer_is_waitlist_offered():
    entry = {"type": "waitlist", "show": 3, "user": "bob", "quantity": 2, "status": "waiting"}
    assert kind("MODIFY", entry, {**entry, "status": "offered", "offer_hold_id": "h9"}) == "waitlist.offered"
    assert kind("INSERT", None, entry) is None


def test_the_event_id_is_derived_from_the_stream_record_so_a_redelivered_record_has_the_same_one():
    assert events.change_id("110000000001", "abc") == events.change_id("110000000001", "abc") == "evt_abc"
    assert events.change_id("110000000001", "") == "evt_110000000001"
