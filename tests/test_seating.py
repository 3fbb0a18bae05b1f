"""Seating plans over the API (issue 12): layouts, labels and prices, best-available holds, and the
single-seat rule, in process."""
import pytest

from chalicelib import auth, clock

PLAN = {
    "layout": [
        {"label": "A", "seats": ["accessible", "companion", "standard", "standard", "companion", "accessible"]},
        {"label": "B", "seats": 6, "category": "standard"},
        {"label": "C", "seats": 6, "category": "premium"},
    ],
    "categories": {"standard": {"price": 950}, "premium": {"price": 1450}, "accessible": {"price": 700},
                   "companion": {"price": 700}},
    "currency": "EUR",
}
SHOW = {"screen_name": "Studio", "date_time": "2031-01-01T20:00:00Z"}


@pytest.fixture
def boss(api, demo):
    auth.create_user("boss", "boss-password", role=auth.ROLE_ADMIN)
    return api.login("boss", "boss-password").data["access"]


@pytest.fixture
def studio(api, boss):
    """A new 18-seat show with PLAN; its id."""
    response = api.post("/movies/1/shows/", {**SHOW, **PLAN}, token=boss)
    assert response.status_code == 201, response.body
    return response.data["id"]


def seat_map(api, show):
    return api.get(f"/shows/{show}/seats/").data


def best(api, token, show, **request):
    return api.post(f"/shows/{show}/holds/", request, token=token)


# --- the plan -----------------------------------------------------------------------------------

def test_a_layout_given_by_an_admin_is_the_seat_map_with_labels_categories_and_prices(api, boss, studio):
    seats = seat_map(api, studio)
    assert seats["total_seats"] == 18 and seats["currency"] == "EUR"
    assert [row["label"] for row in seats["rows"]] == ["A", "B", "C"]
    assert seats["rows"][0]["seats"][:2] == [
        {"seat_number": 1, "label": "A1", "category": "accessible", "status": "available"},
        {"seat_number": 2, "label": "A2", "category": "companion", "status": "available"}]
    assert seats["rows"][2]["seats"][-1] == {"seat_number": 18, "label": "C6", "category": "premium",
                                              "status": "available"}
    assert {c["name"]: c["price"] for c in seats["categories"]} == {
        "standard": 950, "premium": 1450, "accessible": 700, "companion": 700}
    assert all(c["currency"] == "EUR" for c in seats["categories"])
    shown = api.get(f"/movies/1/shows/").data
    assert [s["total_seats"] for s in shown if s["id"] == studio] == [18]


def test_the_layout_may_carry_its_categories_and_currency(api, boss):
    body = {**SHOW, "layout": {"rows": PLAN["layout"], "categories": PLAN["categories"], "currency": "GBP"}}
    response = api.post("/movies/1/shows/", body, token=boss)
    assert response.status_code == 201 and response.data["total_seats"] == 18 and response.data["currency"] == "GBP"


@pytest.mark.parametrize("change, field", [
    ({"total_seats": 20}, "total_seats"),
    ({"layout": [{"label": "A", "seats": 4, "category": "gold"}]}, "layout"),
    ({"layout": [{"label": "A", "seats": 4}], "currency": "euro"}, "currency"),
    ({"layout": [{"label": "A"}]}, "layout"),
    ({"layout": []}, "layout"),
])
def test_a_bad_layout_is_a_400_naming_the_field_and_creates_nothing(api, boss, change, field):
    before = api.get("/movies/1/shows/").data
    response = api.post("/movies/1/shows/", {**SHOW, **PLAN, **change}, token=boss)
    assert response.status_code == 400, response.body
    assert response.data["field"] == field and response.data["Message"]
    assert api.get("/movies/1/shows/").data == before


def test_a_show_created_without_a_layout_has_rows_of_ten_standard_seats(api, boss):
    response = api.post("/movies/1/shows/", {**SHOW, "total_seats": 25}, token=boss)
    seats = seat_map(api, response.data["id"])
    assert [(row["label"], len(row["seats"])) for row in seats["rows"]] == [("A", 10), ("B", 10), ("C", 5)]
    assert seats["categories"] == [{"name": "standard", "price": 950, "currency": "EUR"}]
    assert seats["rows"][2]["seats"][-1]["label"] == "C5"


def test_the_demo_shows_have_rows_a_to_j_a_premium_back_block_and_accessible_seats_with_companions(api, demo):
    seats = seat_map(api, 1)
    assert [row["label"] for row in seats["rows"]] == list("ABCDEFGHIJ")
    row_a = [seat["category"] for seat in seats["rows"][0]["seats"]]
    assert row_a[:2] == ["accessible", "companion"] and row_a[-2:] == ["companion", "accessible"]
    assert {seat["category"] for row in seats["rows"][8:] for seat in row["seats"]} == {"premium"}
    assert [s["no_single_seat_gaps"] for s in (seat_map(api, 9), seat_map(api, 10))] == [False, True]


def test_changing_the_layout_never_goes_below_a_held_seat(api, boss, studio, alice):
    best(api, alice, studio, seat_numbers=[17])
    smaller = {"layout": [{"label": "A", "seats": 8, "category": "standard"}, {"label": "B", "seats": 8,
                                                                              "category": "standard"}]}
    response = api.request("PATCH", f"/shows/{studio}", json_body={**smaller, "categories": {"standard": {"price": 1}}},
                           token=boss)
    assert response.status_code == 409 and response.data["highest_booked_seat"] == 17
    assert seat_map(api, studio)["total_seats"] == 18
    bigger = {"layout": PLAN["layout"] + [{"label": "D", "seats": 4, "category": "premium"}]}
    changed = api.request("PATCH", f"/shows/{studio}", json_body=bigger, token=boss)
    assert changed.status_code == 200 and changed.data["total_seats"] == 22


def test_total_seats_alone_resizes_the_back_of_a_seating_plan(api, boss, studio):
    grown = api.request("PATCH", f"/shows/{studio}", json_body={"total_seats": 28}, token=boss).data
    assert grown["total_seats"] == 28
    assert grown["layout"][3:] == [{"label": "D", "seats": 6, "category": "premium"},
                                   {"label": "E", "seats": 4, "category": "premium"}]
    shrunk = api.request("PATCH", f"/shows/{studio}", json_body={"total_seats": 10}, token=boss).data
    assert shrunk["layout"] == [PLAN["layout"][0], {"label": "B", "seats": 4, "category": "standard"}]
    assert seat_map(api, studio)["rows"][1]["seats"][-1]["label"] == "B4"


def test_new_prices_apply_to_new_bookings(api, boss, studio, alice):
    prices = {**PLAN["categories"], "premium": {"price": 1600}}
    assert api.request("PATCH", f"/shows/{studio}", json_body={"categories": prices}, token=boss).status_code == 200
    booking = api.post(f"/shows/{studio}/book/", {"seat_number": 14}, token=alice).data
    assert (booking["seat_label"], booking["price"]) == ("C2", 1600)


# --- labels and prices on bookings and holds ------------------------------------------------------

def test_bookings_carry_seat_label_category_and_price(api, studio, alice):
    one = api.post(f"/shows/{studio}/book/", {"seat_number": 15}, token=alice).data
    assert (one["seat_label"], one["category"], one["price"], one["currency"]) == ("C3", "premium", 1450, "EUR")
    group = api.post(f"/shows/{studio}/book/", {"seat_numbers": [8, 9]}, token=alice).data
    assert [b["seat_label"] for b in group["bookings"]] == ["B2", "B3"]
    assert (group["total_price"], group["currency"]) == (1900, "EUR")
    assert {b["seat_label"] for b in api.get("/my-bookings/", token=alice).data} == {"C3", "B2", "B3"}


def test_a_hold_and_its_confirm_carry_seats_prices_and_the_total(api, studio, alice):
    held = best(api, alice, studio, seat_numbers=[13, 14]).data
    assert held["seats"] == [
        {"seat_number": 13, "seat_label": "C1", "category": "premium", "price": 1450},
        {"seat_number": 14, "seat_label": "C2", "category": "premium", "price": 1450}]
    assert (held["total_price"], held["currency"]) == (2900, "EUR")
    confirmed = api.post(f"/holds/{held['id']}/confirm/", token=alice).data
    assert (confirmed["total_price"], confirmed["currency"]) == (2900, "EUR")
    assert [(b["seat_label"], b["price"]) for b in confirmed["bookings"]] == [("C1", 1450), ("C2", 1450)]


# --- best available -------------------------------------------------------------------------------

def test_best_available_holds_adjacent_seats_in_one_row_of_one_category(api, demo, alice):
    held = best(api, alice, 1, quantity=4)
    assert held.status_code == 201, held.body
    seats = held.data["seats"]
    rows = {seat["seat_label"][0] for seat in seats}
    assert len(rows) == 1 and len({seat["category"] for seat in seats}) == 1
    numbers = held.data["seat_numbers"]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    assert rows == {"G"}  # two-thirds of the way back from the screen (rows A-J)
    assert [int(seat["seat_label"][1:]) for seat in seats] == [5, 6, 7, 8]  # the middle of a 12-seat row


def test_best_available_of_4_in_a_half_full_show_leaves_no_single_seat(api, demo, alice):
    # Show 1 has rows A-J of 12: the left half of every row is booked (60 of 120 seats).
    left_halves = [list(range(row * 12 + 1, row * 12 + 7)) for row in range(10)]
    for number, seats in enumerate(left_halves):
        token = api.token_for(f"guest{number}")
        assert api.post("/shows/1/book/", {"seat_numbers": seats}, token=token).status_code == 201
    response = best(api, alice, 1, quantity=4)
    assert response.status_code == 201, response.body
    assert [seat["seat_label"] for seat in response.data["seats"]] == ["G7", "G8", "G9", "G10"]
    busy = set(seat_map(api, 1)["taken"]) | set(seat_map(api, 1)["held"])
    for row in seat_map(api, 1)["rows"]:
        states = [seat["seat_number"] in busy for seat in row["seats"]]
        for place, taken in enumerate(states):
            left = states[place - 1] if place > 0 else True
            right = states[place + 1] if place + 1 < len(states) else True
            assert taken or not (left and right), f"single seat left at {row['seats'][place]['label']}"


def test_no_block_of_the_size_asked_is_409_no_adjacent_seats_unless_split_is_allowed(api, studio, alice, bob):
    api.post(f"/shows/{studio}/book/", {"seat_numbers": [9, 10, 15, 16]}, token=bob)  # B3 B4, C3 C4 taken
    refused = best(api, alice, studio, quantity=4, category="standard")
    assert refused.status_code == 409 and refused.data["Code"] == "NoAdjacentSeats"
    assert "allow_split" in refused.data["Message"]
    split = best(api, alice, studio, quantity=4, category="premium", allow_split=True)
    assert split.status_code == 201 and split.data["seat_numbers"] == [13, 14, 17, 18]


def test_best_available_honours_the_category_and_never_picks_accessible_seats_unasked(api, studio, alice):
    premium = best(api, alice, studio, quantity=3, category="premium").data
    assert {seat["category"] for seat in premium["seats"]} == {"premium"}
    anything = best(api, alice, studio, quantity=2).data
    assert {seat["category"] for seat in anything["seats"]} & {"accessible", "companion"} == set()
    accessible = best(api, alice, studio, quantity=1, category="accessible").data
    assert accessible["seats"][0]["category"] == "accessible"


def test_best_available_of_an_unknown_category_is_a_400(api, studio, alice):
    response = best(api, alice, studio, quantity=2, category="gold")
    assert response.status_code == 400 and response.data["field"] == "category"


@pytest.mark.parametrize("body, field", [({"quantity": 0}, "quantity"), ({"quantity": 11}, "quantity"),
                                          ({"quantity": "2"}, "quantity"), ({"quantity": 2, "allow_split": "yes"},
                                                                            "allow_split")])
def test_bad_best_available_requests_are_400(api, demo, alice, body, field):
    response = api.post("/shows/1/holds/", body, token=alice)
    assert response.status_code == 400 and response.data["field"] == field


def test_best_available_counts_against_the_per_customer_cap(api, demo, alice):
    best(api, alice, 1, quantity=8)
    response = best(api, alice, 1, quantity=3)
    assert response.status_code == 409 and response.data["Code"] == "SeatLimitReached"


# --- no single seats ------------------------------------------------------------------------------

def test_a_booking_that_would_leave_a_single_seat_is_refused_naming_it(api, demo, alice):
    # show 10 keeps no single seats; its rows have 6 seats: booking A5 would leave A6 alone
    response = api.post("/shows/10/book/", {"seat_number": 5}, token=alice)
    assert response.status_code == 409 and response.data["Code"] == "WouldLeaveSingleSeat"
    assert (response.data["seat"], response.data["seat_label"]) == (6, "A6")
    assert "A6" in response.data["Message"]
    assert seat_map(api, 10)["taken"] == []


def test_holds_that_would_leave_a_single_seat_are_refused_too(api, demo, alice):
    response = best(api, alice, 10, seat_numbers=[9, 11])  # B3 and B5 would leave B4 alone
    assert response.status_code == 409 and response.data["seat_label"] == "B4"
    assert best(api, alice, 10, seat_numbers=[9, 10]).status_code == 201  # B1-B2 and B5-B6 stay pairs
    assert api.post("/shows/10/book/", {"seat_numbers": [11, 12]}, token=alice).status_code == 201


def test_cancelling_and_releasing_never_fail_on_the_single_seat_rule(api, demo, alice):
    group = api.post("/shows/10/book/", {"seat_numbers": [1, 2, 3]}, token=alice).data
    middle = next(b for b in group["bookings"] if b["seat_number"] == 2)
    assert api.post(f"/bookings/{middle['id']}/cancel/", token=alice).status_code == 200  # leaves A2 alone
    held = best(api, alice, 10, seat_numbers=[13, 14, 15]).data
    assert api.post(f"/holds/{held['id']}/release/", token=alice).status_code == 200


def test_shows_without_the_rule_sell_single_seats(api, demo, alice):
    assert api.post("/shows/9/book/", {"seat_number": 5}, token=alice).status_code == 201


def test_the_rule_counts_lapsed_holds_as_free(api, demo, alice, bob):
    with clock.frozen() as now:
        best(api, bob, 10, seat_numbers=[6])
        assert api.post("/shows/10/book/", {"seat_number": 4}, token=alice).data["Code"] == "WouldLeaveSingleSeat"
        now.advance(601)
        assert api.post("/shows/10/book/", {"seat_numbers": [5, 6]}, token=alice).status_code == 201


# --- aisles and what best available leaves behind (issue 18) -----------------------------------

def test_a_row_with_aisles_is_shown_with_them_and_no_party_is_split_by_one(api, boss, alice):
    rows = [{"label": "A", "seats": 10, "category": "standard", "aisles": [3, 7]}]  # 3 | 4 | 3 seats
    created = api.post("/movies/1/shows/", {**SHOW, "layout": rows}, token=boss)
    assert created.status_code == 201, created.body
    show = created.data["id"]
    assert seat_map(api, show)["rows"][0]["aisles"] == [3, 7]
    assert best(api, alice, show, quantity=5).data["Code"] == "NoAdjacentSeats"
    four = best(api, alice, show, quantity=4)
    assert [seat["seat_label"] for seat in four.data["seats"]] == ["A4", "A5", "A6", "A7"]


def test_an_aisle_outside_its_row_is_a_400_naming_the_row(api, boss):
    rows = [{"label": "A", "seats": 6, "aisles": [6]}]
    refused = api.post("/movies/1/shows/", {**SHOW, "layout": rows}, token=boss)
    assert refused.status_code == 400 and refused.data["Code"] == "ValidationError"
    assert "Row A: aisles" in refused.data["Message"]


def test_pairs_one_after_another_fill_three_rows_of_eight(api, boss):
    rows = [{"label": label, "seats": 8} for label in "ABC"]
    show = api.post("/movies/1/shows/", {**SHOW, "layout": rows}, token=boss).data["id"]
    first = None
    for number in range(12):
        held = best(api, api.token_for(f"pair{number}"), show, quantity=2)
        assert held.status_code == 201, (number, held.body)
        first = first or [seat["seat_label"] for seat in held.data["seats"]]
    assert first == ["B3", "B4"]  # not B4-B5, the exact centre, which leaves 3 + 3
    assert seat_map(api, show)["available"] == []
