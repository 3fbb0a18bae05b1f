"""The seat and booking rules (chalicelib.domain.seats), on plain data: no DynamoDB, no HTTP."""
import pytest
from hypothesis import given, strategies as st

from chalicelib.domain import seats
from chalicelib.domain.seats import Refusal
from chalicelib.errors import ShowStarted, ValidationError

NOW = 1_800_000_000.0
seat_numbers = st.integers(min_value=1, max_value=400)


def lock(seat, user="bob", booking_id=None, **extra):
    """A booking's seat lock (or, with held_until, a hold's: no booking_id)."""
    if "held_until" in extra:
        return {"seat_number": seat, "user": user, "hold_id": booking_id or f"h{seat}", **extra}
    return {"seat_number": seat, "user": user, "booking_id": booking_id or f"b{seat}", **extra}


# --- the checks before a booking ----------------------------------------------------------------

def test_seat_beyond_the_last_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as refused:
        seats.check_seats_exist([3, 121], 120, "seat_numbers")
    assert refused.value.details["field"] == "seat_numbers"
    assert "121" in refused.value.message


def test_every_seat_of_the_show_can_be_asked_for():
    seats.check_seats_exist(list(range(1, 121)), 120, "seat_numbers")


def test_show_that_has_started_cannot_be_booked():
    with pytest.raises(ShowStarted):
        seats.check_not_started(starts_at=NOW, now=NOW)
    seats.check_not_started(starts_at=NOW + 1, now=NOW)


# --- live locks ---------------------------------------------------------------------------------

def test_a_bookings_lock_never_lapses():
    assert seats.lock_is_live(lock(1), now=NOW + 10**9)


@given(st.integers(min_value=-10**6, max_value=10**6))
def test_an_expiring_lock_holds_its_seat_until_exactly_its_expiry(offset_ms):
    expiring = lock(1, held_until=NOW)
    assert seats.lock_is_live(expiring, now=NOW + offset_ms / 1000) == (offset_ms < 0)


@given(st.lists(seat_numbers, unique=True, max_size=30), st.integers(min_value=1, max_value=400))
def test_seat_map_splits_the_seats_into_available_and_taken(taken, total):
    locks = [lock(s) for s in taken if s <= total]
    view = seats.seat_map({"id": 7, "total_seats": total}, locks, NOW).view()
    assert sorted(view["available"] + view["taken"]) == list(range(1, total + 1))
    assert view["taken"] == sorted(s for s in taken if s <= total)


def test_seat_map_tells_booked_from_held_and_frees_lapsed_holds():
    locks = [lock(1), lock(2, held_until=NOW - 1), lock(3, held_until=NOW + 60)]
    view = seats.seat_map({"id": 1, "total_seats": 4}, locks, NOW).view()
    assert (view["taken"], view["held"], view["available"]) == ([1], [3], [2, 4])


@given(st.lists(st.tuples(seat_numbers, st.sampled_from([None, NOW - 5, NOW, NOW + 5])), unique_by=lambda t: t[0],
                max_size=40))
def test_every_seat_is_exactly_one_of_available_taken_or_held(locked):
    locks = [lock(s) if until is None else lock(s, held_until=until) for s, until in locked]
    view = seats.seat_map({"id": 1, "total_seats": 400}, locks, NOW).view()
    groups = [set(view["available"]), set(view["taken"]), set(view["held"])]
    assert sum(map(len, groups)) == 400 and set().union(*groups) == set(range(1, 401))
    assert set(view["held"]) == {s for s, until in locked if until is not None and until > NOW}


def test_highest_taken_seat_ignores_lapsed_holds():
    assert seats.highest_taken_seat([lock(9, held_until=NOW - 1), lock(5)], NOW) == 5
    assert seats.highest_taken_seat([lock(9, held_until=NOW + 1), lock(5)], NOW) == 9
    assert seats.highest_taken_seat([], NOW) == 0


# --- what a refused write means -----------------------------------------------------------------

def test_show_changed_wins_over_everything_else():
    refusal = seats.classify_refusal("alice", [1], ["x"], show_changed=True, blocking=[lock(1)])
    assert refusal.reason is Refusal.SHOW_CHANGED


def test_a_lock_naming_our_own_attempt_means_the_write_landed():
    refusal = seats.classify_refusal("alice", [1, 2], ["a1", "a2"], False,
                                     [lock(1, "alice", "a1"), lock(2, "alice", "a2")])
    assert refusal.reason is Refusal.OWN_EARLIER_ATTEMPT


def test_every_seat_already_the_callers_is_not_a_conflict():
    refusal = seats.classify_refusal("alice", [1, 2], ["new1", "new2"], False,
                                     [lock(1, "alice", "old1"), lock(2, "alice", "old2")])
    assert refusal.reason is Refusal.ALREADY_CALLERS


def test_seats_held_by_others_are_listed():
    refusal = seats.classify_refusal("alice", [1, 2, 3], ["n1", "n2", "n3"], False, [lock(3), None, lock(1)])
    assert refusal.reason is Refusal.TAKEN
    assert refusal.seat_numbers == [1, 3]


def test_only_others_seats_are_listed_as_taken_when_some_are_the_callers():
    refusal = seats.classify_refusal("alice", [1, 2], ["n1", "n2"], False, [lock(1, "alice"), lock(2, "bob")])
    assert refusal.reason is Refusal.TAKEN and refusal.seat_numbers == [2]
    assert seats.taken_message(refusal) == "Seat 2 is already booked."


def test_a_seat_in_the_callers_own_hold_is_not_reported_as_someone_elses():
    refusal = seats.classify_refusal("alice", [1], ["n1"], False, [lock(1, "alice", held_until=NOW + 60)])
    assert refusal.reason is Refusal.IN_CALLERS_HOLD


def test_a_group_partly_booked_by_the_caller_already_is_told_apart():
    refusal = seats.classify_refusal("alice", [1, 2, 3], ["n1", "n2", "n3"], False, [None, lock(2, "alice"), None])
    assert refusal.reason is Refusal.PARTLY_CALLERS and refusal.seat_numbers == [2]


def test_message_says_held_for_seats_in_others_holds():
    refusal = seats.classify_refusal("alice", [4, 5], ["n"], False,
                                     [lock(4, held_until=NOW + 9), lock(5, held_until=NOW + 9)])
    assert seats.taken_message(refusal) == "Seats 4, 5 are held by another customer."


def test_a_refusal_no_part_explains_is_unexplained():
    assert seats.classify_refusal("alice", [1], ["n1"], False, [None]).reason is Refusal.UNEXPLAINED


@given(st.lists(st.tuples(seat_numbers, st.sampled_from(["alice", "bob"])), unique_by=lambda t: t[0],
                min_size=1, max_size=10))
def test_refusal_lists_exactly_the_seats_others_have_unless_every_seat_is_the_callers(holders):
    wanted = [seat for seat, _ in holders]
    blocking = [lock(seat, user) for seat, user in holders]
    refusal = seats.classify_refusal("alice", wanted, ["fresh"], False, blocking)
    if all(user == "alice" for _, user in holders):
        assert refusal.reason is Refusal.ALREADY_CALLERS
    else:
        assert refusal.reason is Refusal.TAKEN
        assert refusal.seat_numbers == sorted(seat for seat, user in holders if user == "bob")


# --- ids ----------------------------------------------------------------------------------------

@given(st.floats(min_value=1.6e9, max_value=4e9), st.floats(min_value=0.001, max_value=10**6))
def test_booking_ids_sort_in_time_order(earlier, gap):
    assert seats.new_booking_id(earlier) < seats.new_booking_id(earlier + gap)


def test_taken_message_speaks_of_one_or_many_seats():
    one = seats.SeatWriteRefusal(Refusal.TAKEN, [lock(5)])
    assert seats.taken_message(one) == "Seat 5 is already booked."
    assert seats.taken_message(seats.SeatWriteRefusal(Refusal.TAKEN, [lock(5), lock(6)])) == "Seats 5, 6 are already booked."
