"""Holds (issue 11), in process: the checkout flow, exact expiry, extension limits, the per-customer
cap, and how holds meet direct bookings. Time is moved with the app's clock, never slept."""
import pytest

from chalicelib import auth, clock, keys, storage


@pytest.fixture
def now():
    """The app's clock, frozen at the real time; tests move it with .advance()."""
    with clock.frozen() as frozen:
        yield frozen


def hold(api, token, seats, show=1, **kw):
    return api.post(f"/shows/{show}/holds/", {"seat_numbers": seats}, token=token, **kw)


def seat_lock(show_id, seat):
    found = storage.client().get_item(TableName=storage.table_name(), Key=storage.to_item(keys.seat_key(show_id, seat)))
    return storage.from_item(found["Item"]) if "Item" in found else None


def bookings_of(api, token):
    return api.get("/my-bookings/", token=token).data


# --- the flow -----------------------------------------------------------------------------------

def test_a_hold_keeps_the_seats_for_hold_seconds(api, alice, now):
    response = hold(api, alice, [12, 10, 11])
    assert response.status_code == 201
    created = response.data
    assert set(created) == {"id", "show", "seat_numbers", "status", "created_at", "expires_at", "extensions_left",
                            "seats", "total_price", "currency"}
    assert created["seat_numbers"] == [10, 11, 12] and created["status"] == "held" and created["show"] == 1
    assert clock.parse_iso(created["expires_at"]) - clock.parse_iso(created["created_at"]) == pytest.approx(600, abs=0.002)
    assert created["extensions_left"] == 2
    assert api.get(f"/holds/{created['id']}/", token=alice).data == created


def test_held_seats_are_listed_as_held_and_not_available(api, alice, bob, now):
    hold(api, alice, [5, 6])
    api.post("/shows/1/book/", {"seat_number": 7}, token=bob)
    seats = api.get("/shows/1/seats/").data
    assert seats["held"] == [5, 6] and seats["taken"] == [7]
    assert not {5, 6, 7} & set(seats["available"])


def test_confirm_books_every_held_seat_with_the_hold_and_group_ids(api, alice, now):
    created = hold(api, alice, [20, 21]).data
    response = api.post(f"/holds/{created['id']}/confirm/", token=alice)
    assert response.status_code == 201
    answer = response.data
    assert answer["hold_id"] == created["id"] and answer["group_id"]
    assert [b["seat_number"] for b in answer["bookings"]] == [20, 21]
    assert all(b["hold_id"] == created["id"] and b["group_id"] == answer["group_id"] and b["status"] == "booked"
               for b in answer["bookings"])
    assert {b["id"] for b in bookings_of(api, alice)} == {b["id"] for b in answer["bookings"]}
    assert api.get(f"/holds/{created['id']}/", token=alice).data["status"] == "confirmed"
    seats = api.get("/shows/1/seats/").data
    assert seats["taken"] == [20, 21] and seats["held"] == []


def test_a_repeated_confirm_answers_the_same_bookings_with_200(api, alice, now):
    created = hold(api, alice, [30]).data
    first = api.post(f"/holds/{created['id']}/confirm/", token=alice)
    again = api.post(f"/holds/{created['id']}/confirm/", token=alice)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data == first.data
    assert len(bookings_of(api, alice)) == 1


def test_bookings_made_by_a_confirm_are_cancelled_one_by_one(api, alice, bob, now):
    created = hold(api, alice, [40, 41]).data
    booked = api.post(f"/holds/{created['id']}/confirm/", token=alice).data["bookings"]
    assert api.post(f"/bookings/{booked[0]['id']}/cancel/", token=alice).status_code == 200
    assert api.post("/shows/1/book/", {"seat_number": 40}, token=bob).status_code == 201
    assert api.post("/shows/1/book/", {"seat_number": 41}, token=bob).status_code == 409


def test_release_gives_the_seats_back_at_once(api, alice, bob, now):
    created = hold(api, alice, [50, 51]).data
    response = api.post(f"/holds/{created['id']}/release/", token=alice)
    assert response.status_code == 200 and response.data["status"] == "released"
    assert api.post(f"/holds/{created['id']}/release/", token=alice).status_code == 200  # repeated: same answer
    assert hold(api, bob, [50, 51]).status_code == 201
    assert seat_lock(1, 50)["user"] == "bob"


def test_a_released_hold_cannot_be_confirmed_or_extended(api, alice, now):
    created = hold(api, alice, [52]).data
    api.post(f"/holds/{created['id']}/release/", token=alice)
    for action in ("confirm", "extend"):
        response = api.post(f"/holds/{created['id']}/{action}/", token=alice)
        assert response.status_code == 409 and response.data["Code"] == "HoldReleased"
    assert bookings_of(api, alice) == []


def test_a_confirmed_hold_cannot_be_released_or_extended(api, alice, now):
    created = hold(api, alice, [53]).data
    api.post(f"/holds/{created['id']}/confirm/", token=alice)
    for action in ("release", "extend"):
        response = api.post(f"/holds/{created['id']}/{action}/", token=alice)
        assert response.status_code == 409 and response.data["Code"] == "HoldConfirmed"
    assert seat_lock(1, 53)["booking_id"]


def test_someone_elses_hold_is_not_found(api, alice, bob, now):
    created = hold(api, alice, [54]).data
    for method, path in [("GET", ""), ("POST", "confirm/"), ("POST", "release/"), ("POST", "extend/")]:
        response = api.request(method, f"/holds/{created['id']}/{path}", token=bob)
        assert response.status_code == 404, path
    assert api.get("/holds/not-a-hold/", token=alice).status_code == 404
    assert api.get(f"/holds/{created['id']}/").status_code == 401


# --- exact expiry -------------------------------------------------------------------------------

def test_one_second_after_expiry_the_seats_are_free_and_the_hold_cannot_be_confirmed(api, alice, bob, now):
    created = hold(api, alice, [60, 61]).data
    now.advance(600 + 1)  # no clean-up has run: the lock items are all still there
    assert seat_lock(1, 60)["hold_id"] == created["id"]
    assert api.get(f"/holds/{created['id']}/", token=alice).data["status"] == "expired"
    assert api.get("/shows/1/seats/").data["held"] == []
    assert hold(api, bob, [60]).status_code == 201
    assert api.post("/shows/1/book/", {"seat_number": 61}, token=bob).status_code == 201
    response = api.post(f"/holds/{created['id']}/confirm/", token=alice)
    assert response.status_code == 409 and response.data["Code"] == "HoldExpired"
    assert bookings_of(api, alice) == []


@pytest.mark.parametrize("action", ["confirm", "release", "extend"])
def test_a_hold_that_lapses_while_its_write_is_on_the_way_is_expired_not_a_503(api, alice, bob, now, action):
    """The request read the clock just before expiry; before its transaction arrives the hold lapses
    and another customer takes a seat (their write commits first): the answer is HoldExpired."""
    created = hold(api, alice, [70]).data
    now.advance(599.95)
    rival = {}

    def rival_takes_the_seat_first(**_):
        if not rival:
            rival["at"] = now.advance(0.1)  # the hold lapses...
            rival["hold"] = hold(api, bob, [70])  # ...and Bob's hold commits before Alice's write
    events = storage.client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", rival_takes_the_seat_first)
    try:
        response = api.post(f"/holds/{created['id']}/{action}/", token=alice)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", rival_takes_the_seat_first)
    assert rival["hold"].status_code == 201
    assert response.status_code == 409 and response.data["Code"] == "HoldExpired", response.body
    assert seat_lock(1, 70)["hold_id"] == rival["hold"].data["id"]


def test_a_hold_is_live_until_the_instant_it_expires(api, alice, bob, now):
    created = hold(api, alice, [62]).data
    now.advance(599.9)
    assert hold(api, bob, [62]).status_code == 409
    assert api.post(f"/holds/{created['id']}/confirm/", token=alice).status_code == 201


def test_an_expired_hold_cannot_be_released_or_extended(api, alice, now):
    created = hold(api, alice, [63]).data
    now.advance(601)
    for action in ("release", "extend"):
        response = api.post(f"/holds/{created['id']}/{action}/", token=alice)
        assert response.status_code == 409 and response.data["Code"] == "HoldExpired"


# --- extensions ---------------------------------------------------------------------------------

def test_extend_moves_expiry_to_now_plus_hold_seconds_twice_then_refuses(api, alice, bob, now):
    created = hold(api, alice, [70]).data
    for left in (1, 0):
        now.advance(500)
        response = api.post(f"/holds/{created['id']}/extend/", token=alice)
        assert response.status_code == 200
        assert response.data["extensions_left"] == left
        assert response.data["expires_at"] == clock.iso(clock.now() + 600)
    refused = api.post(f"/holds/{created['id']}/extend/", token=alice)
    assert refused.status_code == 409 and refused.data["Code"] == "HoldExtensionLimit"
    now.advance(599)
    assert hold(api, bob, [70]).status_code == 409  # extended: still alice's
    now.advance(2)
    assert hold(api, bob, [70]).status_code == 201


def test_a_hold_never_lives_past_hold_max_seconds(api, alice, monkeypatch, now):
    from chalicelib import settings

    monkeypatch.setenv("HOLD_MAX_SECONDS", "900")
    settings.reset()
    created = hold(api, alice, [71]).data
    now.advance(500)
    extended = api.post(f"/holds/{created['id']}/extend/", token=alice).data
    assert clock.parse_iso(extended["expires_at"]) == pytest.approx(clock.parse_iso(created["created_at"]) + 900, abs=0.002)
    now.advance(100)
    refused = api.post(f"/holds/{created['id']}/extend/", token=alice)
    assert refused.status_code == 409 and refused.data["Code"] == "HoldExtensionLimit"


# --- holds and direct bookings --------------------------------------------------------------------

def test_booking_a_seat_someone_else_holds_is_seat_taken(api, alice, bob, now):
    hold(api, alice, [80])
    response = api.post("/shows/1/book/", {"seat_number": 80}, token=bob)
    assert response.status_code == 409 and response.data["Code"] == "SeatTaken"
    assert response.data["taken"] == [80] and "held" in response.data["Message"]
    response = hold(api, bob, [80, 81])
    assert response.status_code == 409 and response.data["taken"] == [80]
    assert seat_lock(1, 81) is None  # all or none


def test_booking_a_seat_of_ones_own_hold_points_to_the_hold(api, alice, now):
    created = hold(api, alice, [82]).data
    response = api.post("/shows/1/book/", {"seat_number": 82}, token=alice)
    assert response.status_code == 409 and response.data["Code"] == "SeatAlreadyYours"
    assert response.data["hold_ids"] == [created["id"]]


def test_holding_a_seat_one_has_booked_is_refused_as_already_yours(api, alice, now):
    api.post("/shows/1/book/", {"seat_number": 83}, token=alice)
    response = hold(api, alice, [83, 84])
    assert response.status_code == 409 and response.data["Code"] == "SeatAlreadyYours"
    assert response.data["seats"] == [83]


def test_hold_of_a_started_show_is_refused(api, alice, now):
    now.advance(40 * 24 * 3600)  # every demo show has started
    response = hold(api, alice, [1])
    assert response.status_code == 409 and response.data["Code"] == "ShowStarted"


@pytest.mark.parametrize("body, field", [
    ({"seat_numbers": []}, "seat_numbers"), ({"seat_numbers": [1, 1]}, "seat_numbers"),
    ({"seat_numbers": list(range(1, 12))}, "seat_numbers"), ({"seat_numbers": [0]}, "seat_numbers"),
    ({"seat_numbers": [121]}, "seat_numbers"), ({}, "seat_numbers"), ({"seat_numbers": "5"}, "seat_numbers")])
def test_bad_hold_requests_are_400_naming_the_field(api, alice, body, field):
    response = api.post("/shows/1/holds/", body, token=alice)
    assert response.status_code == 400 and response.data["field"] == field
    assert api.get("/my-holds/", token=alice).data == []


def test_hold_of_an_unknown_show_is_404(api, alice):
    assert hold(api, alice, [1], show=999).status_code == 404


def test_idempotency_key_on_holds_returns_the_first_hold(api, alice, now):
    first = hold(api, alice, [90, 91], headers={"Idempotency-Key": "order-1"})
    again = hold(api, alice, [91, 90], headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 201 and again.data == first.data
    other = hold(api, alice, [92], headers={"Idempotency-Key": "order-1"})
    assert other.status_code == 422
    assert len(api.get("/my-holds/", token=alice).data) == 1


def test_my_holds_lists_the_callers_holds_newest_first_with_paging(api, alice, bob, now):
    ids = []
    for seat in (100, 101, 102):
        ids.append(hold(api, alice, [seat]).data["id"])
        now.advance(1)
    hold(api, bob, [103])
    first = api.get("/my-holds/?limit=2", token=alice)
    assert [h["id"] for h in first.data] == ids[:0:-1]
    assert 'rel="next"' in first.headers["Link"]
    cursor = first.headers["Link"].split("cursor=")[1].split(">")[0]
    rest = api.get(f"/my-holds/?limit=2&cursor={cursor}", token=alice).data
    assert [h["id"] for h in rest] == ids[:1]


# --- the per-customer cap -----------------------------------------------------------------------

def test_more_seats_than_the_show_allows_per_customer_are_refused_with_limit_and_current(api, alice, now):
    hold(api, alice, [1, 2, 3, 4, 5, 6])
    api.post("/shows/1/book/", {"seat_numbers": [7, 8, 9]}, token=alice)
    response = hold(api, alice, [10, 11])
    assert response.status_code == 409 and response.data["Code"] == "SeatLimitReached"
    assert (response.data["limit"], response.data["current"]) == (10, 9)
    refused = api.post("/shows/1/book/", {"seat_numbers": [10, 11]}, token=alice)
    assert refused.status_code == 409 and refused.data["Code"] == "SeatLimitReached"
    assert seat_lock(1, 10) is None and seat_lock(1, 11) is None
    assert api.post("/shows/1/book/", {"seat_number": 10}, token=alice).status_code == 201


def test_expired_released_and_cancelled_seats_do_not_count_against_the_cap(api, alice, now):
    released = hold(api, alice, [1, 2, 3]).data
    api.post(f"/holds/{released['id']}/release/", token=alice)
    hold(api, alice, [4, 5, 6])
    cancelled = api.post("/shows/1/book/", {"seat_numbers": [7, 8, 9, 10]}, token=alice).data["bookings"]
    for booking in cancelled:
        api.post(f"/bookings/{booking['id']}/cancel/", token=alice)
    now.advance(601)  # the hold of 4-6 has expired
    response = hold(api, alice, list(range(11, 21)))
    assert response.status_code == 201, response.body


def test_the_cap_is_per_customer_and_per_show(api, alice, bob, now):
    hold(api, alice, list(range(1, 11)))
    assert hold(api, bob, list(range(11, 21))).status_code == 201
    assert hold(api, alice, [1], show=2).status_code == 201


def test_admins_set_the_cap_per_show(api, alice, now):
    auth.create_user("boss", "boss-password", role=auth.ROLE_ADMIN)
    boss = api.login("boss", "boss-password").data["access"]
    changed = api.request("PATCH", "/shows/1", json_body={"max_seats_per_customer": 2}, token=boss)
    assert changed.status_code == 200 and changed.data["max_seats_per_customer"] == 2
    response = hold(api, alice, [1, 2, 3])
    assert response.status_code == 409 and response.data["limit"] == 2
    assert hold(api, alice, [1, 2]).status_code == 201


# --- a group that includes seats already yours (issue 13, finding 7) ------------------------------

def test_a_group_including_seats_you_booked_books_the_rest_and_answers_the_whole_group(api, alice, now):
    sixty = api.post("/shows/1/book/", {"seat_number": 60}, token=alice).data
    response = api.post("/shows/1/book/", {"seat_numbers": [59, 60, 61]}, token=alice)
    assert response.status_code == 201, response.body
    by_seat = {b["seat_number"]: b for b in response.data["bookings"]}
    assert sorted(by_seat) == [59, 60, 61]
    assert by_seat[60]["id"] == sixty["id"]  # the seat you had is yours as it was
    assert by_seat[59]["group_id"] == by_seat[61]["group_id"] == response.data["group_id"]
    assert len(bookings_of(api, alice)) == 3
    again = api.post("/shows/1/book/", {"seat_number": 60}, token=alice)
    assert again.status_code == 200 and again.data["id"] == sixty["id"]


def test_a_group_with_seats_of_others_names_only_their_seats(api, alice, bob, now):
    api.post("/shows/1/book/", {"seat_number": 60}, token=alice)
    api.post("/shows/1/book/", {"seat_number": 62}, token=bob)
    response = api.post("/shows/1/book/", {"seat_numbers": [60, 61, 62]}, token=alice)
    assert response.status_code == 409
    assert response.data["taken"] == [62] and response.data["Message"] == "Seat F2 (62) is already booked."
    assert seat_lock(1, 61) is None
