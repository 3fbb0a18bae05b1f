"""Holds under real concurrency: threads over HTTP through `chalice local` against the serialised
local DynamoDB, with the live stack's HOLD_SECONDS=2 waited out for real (issue 11)."""
import random
import time

import pytest

from conftest import LIVE_HOLD_SECONDS
from test_concurrency import call, in_parallel, new_user, seat_locks


@pytest.fixture(scope="module")
def stack(live_stack):
    return live_stack


@pytest.fixture(scope="module")
def ddb(stack):
    return stack.dynamodb()


@pytest.fixture(scope="module")
def table(stack):
    return stack.env["TABLE_NAME"]


def hold(stack, token, show, seats):
    return call(stack.base_url, "POST", f"/shows/{show}/holds/", {"seat_numbers": seats}, token=token)


def act(stack, token, hold_id, action):
    return call(stack.base_url, "POST", f"/holds/{hold_id}/{action}/", token=token)


def test_twenty_customers_racing_to_hold_one_seat_get_exactly_one_hold(stack, ddb, table):
    show = stack.add_show()
    tokens = [new_user(stack.base_url) for _ in range(20)]
    results = in_parallel([(lambda t=t: hold(stack, t, show, [7])) for t in tokens])
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and statuses.count(409) == 19, statuses
    winner = next(body for status, body in results if status == 201)
    assert all(body["Code"] == "SeatTaken" and body["taken"] == [7] for status, body in results if status == 409)
    assert list(seat_locks_with_holds(ddb, table, show)) == [(7, winner["id"])]


def seat_locks_with_holds(ddb, table, show):
    items = ddb.query(TableName=table, KeyConditionExpression="PK = :pk AND begins_with(SK, :s)",
                      ExpressionAttributeValues={":pk": {"S": f"SHOW#{show:08d}"}, ":s": {"S": "SEAT#"}},
                      ConsistentRead=True)["Items"]
    for item in items:
        yield int(item["seat_number"]["N"]), (item.get("booking_id") or item["hold_id"])["S"]


def test_after_hold_seconds_another_customer_gets_the_seats_and_the_first_confirm_is_refused(stack, ddb, table):
    show = stack.add_show()
    first, second = new_user(stack.base_url), new_user(stack.base_url)
    status, held = hold(stack, first, show, [3, 4])
    assert status == 201
    assert hold(stack, second, show, [4])[0] == 409
    time.sleep(LIVE_HOLD_SECONDS + 0.2)
    status, again = hold(stack, second, show, [4])
    assert status == 201, again
    status, refused = act(stack, first, held["id"], "confirm")
    assert status == 409 and refused["Code"] == "HoldExpired"
    assert call(stack.base_url, "GET", "/my-bookings/", token=first)[1] == []
    assert call(stack.base_url, "POST", f"/shows/{show}/book/", {"seat_number": 3}, token=second)[0] == 201


def test_extensions_run_out_over_http(stack):
    show = stack.add_show()
    token = new_user(stack.base_url)
    held = hold(stack, token, show, [1])[1]
    lefts = [act(stack, token, held["id"], "extend") for _ in range(3)]
    assert [(s, b.get("Code") or b["extensions_left"]) for s, b in lefts] == [
        (200, 1), (200, 0), (409, "HoldExtensionLimit")]


def test_ten_parallel_requests_of_one_customer_cannot_pass_the_cap(stack, ddb, table):
    show = stack.add_show()
    token = new_user(stack.base_url)
    pairs = [[2 * n + 1, 2 * n + 2] for n in range(10)]  # 20 free seats asked for, 10 allowed
    jobs = [(lambda p=p: hold(stack, token, show, p)) for p in pairs[:5]]
    jobs += [(lambda p=p: call(stack.base_url, "POST", f"/shows/{show}/book/", {"seat_numbers": p}, token=token))
             for p in pairs[5:]]
    results = in_parallel(jobs)
    assert {status for status, _ in results} <= {201, 409}, results
    won = [seat for status, body in results if status == 201
           for seat in body.get("seat_numbers") or [b["seat_number"] for b in body["bookings"]]]
    assert len(won) == 10, results  # every seat was free: the cap, and only the cap, stopped the rest
    assert all(body["Code"] == "SeatLimitReached" and body["limit"] == 10
               for status, body in results if status == 409)
    assert sorted(seat for seat, _ in seat_locks_with_holds(ddb, table, show)) == sorted(won)


def test_parallel_confirms_of_one_hold_book_once_and_all_answer_the_same_bookings(stack, ddb, table):
    show = stack.add_show()
    token = new_user(stack.base_url)
    held = hold(stack, token, show, [10, 11, 12])[1]
    results = in_parallel([lambda: act(stack, token, held["id"], "confirm")] * 6)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 5 + [201], results
    answers = {tuple(b["id"] for b in body["bookings"]) for _, body in results}
    assert len(answers) == 1
    assert sorted(seat_locks(ddb, table, show).items()) == sorted(
        (b["seat_number"], b["id"]) for b in results[0][1]["bookings"])


@pytest.mark.parametrize("trial", range(4))
def test_confirm_racing_release_has_exactly_one_outcome(stack, ddb, table, trial):
    show = stack.add_show()
    token = new_user(stack.base_url)
    held = hold(stack, token, show, [5, 6])[1]
    jobs = [lambda: act(stack, token, held["id"], "confirm"), lambda: act(stack, token, held["id"], "release")]
    if trial % 2:
        jobs.reverse()
    results = dict(zip(("confirm", "release") if trial % 2 == 0 else ("release", "confirm"), in_parallel(jobs)))
    confirmed = results["confirm"][0] == 201
    if confirmed:
        assert results["release"][0] == 409 and results["release"][1]["Code"] == "HoldConfirmed"
        assert sorted(seat_locks(ddb, table, show)) == [5, 6]
    else:
        assert results["release"][0] == 200 and results["confirm"][1]["Code"] == "HoldReleased"
        assert list(seat_locks_with_holds(ddb, table, show)) == []
    status = call(stack.base_url, "GET", f"/holds/{held['id']}/", token=token)[1]["status"]
    assert status == ("confirmed" if confirmed else "released")


@pytest.mark.parametrize("trial", range(3))
def test_confirm_racing_the_expiry_instant_has_exactly_one_outcome(stack, ddb, table, trial):
    from chalicelib import clock

    show = stack.add_show()
    owner, rival = new_user(stack.base_url), new_user(stack.base_url)
    held = hold(stack, owner, show, [9])[1]
    time.sleep(max(0.0, clock.parse_iso(held["expires_at"]) - time.time() + random.uniform(-0.08, 0.05)))
    results = in_parallel([lambda: act(stack, owner, held["id"], "confirm")] +
                          [lambda: hold(stack, rival, show, [9])] * 3)
    confirm, rivals = results[0], results[1:]
    rival_holds = [body["id"] for status, body in rivals if status == 201]
    owners_bookings = call(stack.base_url, "GET", "/my-bookings/", token=owner)[1]
    locks = list(seat_locks_with_holds(ddb, table, show))
    if confirm[0] == 201:
        assert rival_holds == [] and [b["seat_number"] for b in owners_bookings] == [9]
        assert locks == [(9, confirm[1]["bookings"][0]["id"])]
    else:
        assert confirm[1]["Code"] == "HoldExpired" and owners_bookings == []
        assert len(rival_holds) <= 1
        assert locks == [(9, rival_holds[0] if rival_holds else held["id"])]


def test_eight_parties_asking_for_the_best_seats_at_once_get_disjoint_seats(stack, ddb, table):
    from chalicelib import clock

    show = stack.add_show(total_seats=100)  # the plain layout: rows A-J of 10
    tokens = [new_user(stack.base_url) for _ in range(8)]
    results = in_parallel([(lambda t=t: call(stack.base_url, "POST", f"/shows/{show}/holds/", {"quantity": 4}, token=t))
                           for t in tokens])
    assert [status for status, _ in results] == [201] * 8, results
    holds = [body for _, body in results]
    for hold_ in holds:  # each party sits together in one row
        seats = hold_["seat_numbers"]
        assert seats == list(range(seats[0], seats[0] + 4)) and (seats[0] - 1) // 10 == (seats[-1] - 1) // 10
    # No seat is ever in two live holds: parties sharing a seat never overlap in time (the live stack's
    # holds last LIVE_HOLD_SECONDS, which a slow machine may outlast while the eight race).
    for first in holds:
        for second in holds:
            if first is not second and set(first["seat_numbers"]) & set(second["seat_numbers"]):
                earlier, later = sorted((first, second), key=lambda h: h["created_at"])
                assert clock.parse_iso(earlier["expires_at"]) <= clock.parse_iso(later["created_at"])


@pytest.mark.parametrize("no_single_seat_gaps", [False, True])
def test_eight_pairs_asking_at_once_on_three_rows_of_eight_all_get_seats(stack, no_single_seat_gaps):
    """Issue 18: the losers of a race pick again from the new map; no pair is refused while the
    hall can still seat it, and no single seat is left between the pairs."""
    rows = [{"label": label, "seats": 8, "category": "standard"} for label in "ABC"]
    show = stack.add_show(total_seats=24, layout=rows, categories={"standard": {"price": 950}},
                          no_single_seat_gaps=no_single_seat_gaps)
    tokens = [new_user(stack.base_url) for _ in range(8)]
    results = in_parallel([(lambda t=t: call(stack.base_url, "POST", f"/shows/{show}/holds/", {"quantity": 2}, token=t))
                           for t in tokens])
    from chalicelib import clock

    assert [status for status, _ in results] == [201] * 8, results
    holds = sorted((body for _, body in results), key=lambda h: h["created_at"])
    # The holds live at the moment the last one was made (all eight unless the machine was slower
    # than LIVE_HOLD_SECONDS) share no seat and leave no single seat between them.
    last_made = clock.parse_iso(holds[-1]["created_at"])
    live = [h for h in holds if clock.parse_iso(h["expires_at"]) > last_made]
    seats = [seat for hold_ in live for seat in hold_["seat_numbers"]]
    assert len(set(seats)) == len(seats) == 2 * len(live)
    for row in range(3):  # each row: every free stretch 0 or at least 2 seats
        free = "".join("." if row * 8 + place + 1 not in seats else "#" for place in range(8))
        assert all(len(run) != 1 for run in free.split("#")), free
