"""The admin API: only admins change the catalog; ids stay small; booked seats and active bookings are protected."""
import pytest

from chalicelib import admin, auth, keys, storage, tokens

FUTURE = "2031-03-01T18:30:00Z"
NEW_MOVIE = {"title": "Dune", "duration_minutes": 155}
NEW_SHOW = {"screen_name": "Screen 9", "date_time": FUTURE, "total_seats": 50}


@pytest.fixture
def admin_token(api):
    auth.create_user("boss", "boss-password", role=auth.ROLE_ADMIN)
    return api.login("boss", "boss-password").data["access"]


def patch(api, path, body, token):
    return api.request("PATCH", path, json_body=body, token=token)


def delete(api, path, token):
    return api.request("DELETE", path, token=token)


ADMIN_ROUTES = [
    ("POST", "/movies", NEW_MOVIE),
    ("PATCH", "/movies/1", {"title": "New"}),
    ("DELETE", "/movies/1", None),
    ("POST", "/movies/1/shows", NEW_SHOW),
    ("PATCH", "/shows/1", {"total_seats": 10}),
    ("DELETE", "/shows/1", None),
    ("GET", "/shows/1/bookings", None),
]


# --- who may ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
def test_non_admin_gets_403_and_nothing_changes(api, demo, method, path, body):
    response = api.request(method, path, json_body=body, token=api.token_for("alice"))
    assert response.status_code == 403
    assert response.data["Code"] == "Forbidden"
    assert response.data["request_id"]
    assert [m["title"] for m in api.get("/movies").data][0] == "Inception"
    assert len(api.get("/movies/1/shows").data) == 3


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
def test_admin_routes_without_a_valid_token_get_401(api, demo, method, path, body):
    assert api.request(method, path, json_body=body).status_code == 401
    assert api.request(method, path, json_body=body, token="not.a.token").status_code == 401


def test_signup_never_grants_the_admin_role(api, demo):
    response = api.post("/signup", {"username": "mallory", "password": "secret", "role": "admin"})
    assert response.status_code == 201
    assert response.data.get("role", "user") == "user"
    token = api.login("mallory", "secret").data["access"]
    assert tokens.verify(token, tokens.ACCESS)["role"] == "user"
    assert api.post("/movies", NEW_MOVIE, token=token).status_code == 403


def test_withdrawn_admin_role_ends_with_the_next_token_refresh(api, demo, admin_token):
    pair = api.login("boss", "boss-password").data
    auth.set_role("boss", auth.ROLE_USER)
    refreshed = api.post("/token/refresh", {"refresh": pair["refresh"]}).data["access"]
    assert api.post("/movies", NEW_MOVIE, token=refreshed).status_code == 403


# --- movies ----------------------------------------------------------------------------------

def test_admin_creates_a_movie_with_the_next_small_id(api, demo, admin_token):
    response = api.post("/movies/", NEW_MOVIE, token=admin_token)
    assert response.status_code == 201
    assert response.data == {"id": 5, **NEW_MOVIE}  # the demo import left the counter at 4
    assert response.headers["Location"] == "/movies/5/shows/"
    assert api.post("/movies", {"title": "Heat", "duration_minutes": 170}, token=admin_token).data["id"] == 6
    assert {"id": 5, **NEW_MOVIE} in api.get("/movies").data


@pytest.mark.parametrize("body", [
    {}, {"title": "Dune"}, {"duration_minutes": 155}, {"title": "", "duration_minutes": 155},
    {"title": "   ", "duration_minutes": 155}, {"title": 7, "duration_minutes": 155},
    {"title": "Dune", "duration_minutes": True}, {"title": "Dune", "duration_minutes": 155.0},
    {"title": "Dune", "duration_minutes": "155"}, {"title": "Dune", "duration_minutes": 0},
    {"title": "Dune", "duration_minutes": 100000}, {"title": "x" * 201, "duration_minutes": 155},
])
def test_invalid_movie_is_refused_with_400(api, demo, admin_token, body):
    response = api.post("/movies", body, token=admin_token)
    assert response.status_code == 400
    assert response.data["Code"] == "ValidationError" and response.data["field"]
    assert len(api.get("/movies").data) == 4


def test_malformed_json_body_is_400(api, demo, admin_token):
    assert api.post("/movies", raw="{nope", token=admin_token).status_code == 400


def test_admin_renames_a_movie_and_keeps_the_rest(api, demo, admin_token):
    response = patch(api, "/movies/1/", {"title": "Inception (IMAX)"}, admin_token)
    assert response.status_code == 200
    assert response.data == {"id": 1, "title": "Inception (IMAX)", "duration_minutes": 148}
    assert api.get("/movies").data[0] == response.data


def test_patch_without_a_known_field_is_400(api, demo, admin_token):
    response = patch(api, "/movies/1", {"name": "typo"}, admin_token)
    assert response.status_code == 400
    assert "title" in response.data["Message"]


def test_changing_an_unknown_movie_or_show_is_404(api, demo, admin_token):
    assert patch(api, "/movies/99", {"title": "x"}, admin_token).status_code == 404
    assert patch(api, "/shows/99", {"total_seats": 5}, admin_token).status_code == 404
    assert delete(api, "/movies/99", admin_token).status_code == 404
    assert delete(api, "/shows/99", admin_token).status_code == 404
    assert delete(api, "/shows/abc", admin_token).status_code == 404
    assert api.post("/movies/99/shows", NEW_SHOW, token=admin_token).status_code == 404
    assert api.get("/shows/99/bookings", token=admin_token).status_code == 404
    assert storage.client().get_item(TableName=storage.table_name(), Key=storage.to_item(keys.movie_key(99))).get(
        "Item") is None


def test_deleting_a_movie_deletes_its_shows(api, demo, admin_token):
    assert delete(api, "/movies/4", admin_token).status_code == 204
    assert 4 not in [m["id"] for m in api.get("/movies").data]
    assert api.get("/movies/4/shows").status_code == 404
    assert api.get("/shows/9/seats").status_code == 404
    assert api.get("/shows/10/seats").status_code == 404


def test_deleting_a_movie_with_an_active_booking_is_409_and_deletes_nothing(api, demo, admin_token):
    api.post("/shows/10/book", {"seat_number": 6}, token=api.token_for("alice"))
    response = delete(api, "/movies/4", admin_token)
    assert response.status_code == 409
    assert response.data["Code"] == "HasActiveBookings"
    assert response.data["shows"] == [10]
    assert [s["id"] for s in api.get("/movies/4/shows").data] == [9, 10]


def test_a_movie_whose_bookings_were_all_cancelled_can_be_deleted(api, demo, admin_token):
    alice = api.token_for("alice")
    booking = api.post("/shows/10/book", {"seat_number": 6}, token=alice).data
    api.post(f"/bookings/{booking['id']}/cancel", token=alice)
    assert delete(api, "/movies/4", admin_token).status_code == 204
    assert api.get("/my-bookings", token=alice).data[0]["status"] == "cancelled"


# --- shows -----------------------------------------------------------------------------------

def test_admin_creates_a_show_that_is_listed_and_bookable(api, demo, admin_token):
    response = api.post("/movies/2/shows/", {**NEW_SHOW, "date_time": "2031-03-01T20:30:00+02:00"},
                        token=admin_token)
    assert response.status_code == 201
    show = response.data
    assert show == {"id": 11, "movie_id": 2, "screen_name": "Screen 9", "date_time": "2031-03-01T18:30:00Z",
                    "total_seats": 50, "max_seats_per_customer": 10, "no_single_seat_gaps": False,
                    "layout": [{"label": label, "seats": 10, "category": "standard"} for label in "ABCDE"],
                    "categories": {"standard": {"price": 950}}, "currency": "EUR"}
    public = {k: show[k] for k in ("id", "movie_id", "screen_name", "date_time", "total_seats")}
    assert public in api.get("/movies/2/shows").data
    assert api.post("/shows/11/book", {"seat_number": 50}, token=api.token_for("alice")).status_code == 201


@pytest.mark.parametrize("body", [
    {"screen_name": "S", "total_seats": 50},
    {**NEW_SHOW, "date_time": "2031-03-01T18:30:00"},  # no time zone
    {**NEW_SHOW, "date_time": "tomorrow"},
    {**NEW_SHOW, "total_seats": 0}, {**NEW_SHOW, "total_seats": 1001}, {**NEW_SHOW, "total_seats": "50"},
    {**NEW_SHOW, "screen_name": ""},
])
def test_invalid_show_is_refused_with_400(api, demo, admin_token, body):
    assert api.post("/movies/1/shows", body, token=admin_token).status_code == 400
    assert len(api.get("/movies/1/shows").data) == 3


def test_rescheduling_a_show_moves_it_in_the_date_filtered_listing(api, demo, admin_token):
    response = patch(api, "/shows/1", {"date_time": FUTURE}, admin_token)
    assert response.status_code == 200 and response.data["date_time"] == FUTURE
    assert [s["id"] for s in api.get("/movies/1/shows?date=2031-03-01").data] == [1]
    assert api.get("/movies/1/shows").data[-1]["id"] == 1  # now the latest


def test_total_seats_cannot_drop_below_a_booked_seat(api, demo, admin_token):
    api.post("/shows/1/book", {"seat_number": 40}, token=api.token_for("alice"))
    response = patch(api, "/shows/1", {"total_seats": 39}, admin_token)
    assert response.status_code == 409
    assert response.data["highest_booked_seat"] == 40
    assert api.get("/shows/1/seats").data["total_seats"] == 120


def test_total_seats_can_drop_to_the_highest_booked_seat_or_grow(api, demo, admin_token):
    api.post("/shows/1/book", {"seat_number": 40}, token=api.token_for("alice"))
    assert patch(api, "/shows/1", {"total_seats": 40}, admin_token).data["total_seats"] == 40
    assert patch(api, "/shows/1", {"total_seats": 300}, admin_token).data["total_seats"] == 300


def test_a_cancelled_booking_does_not_hold_total_seats_up(api, demo, admin_token):
    alice = api.token_for("alice")
    booking = api.post("/shows/1/book", {"seat_number": 100}, token=alice).data
    api.post(f"/bookings/{booking['id']}/cancel", token=alice)
    assert patch(api, "/shows/1", {"total_seats": 10}, admin_token).status_code == 200


def test_deleting_a_show_with_an_active_booking_is_409(api, demo, admin_token):
    api.post("/shows/2/book", {"seat_number": 1}, token=api.token_for("alice"))
    response = delete(api, "/shows/2", admin_token)
    assert response.status_code == 409 and response.data["Code"] == "HasActiveBookings"
    assert api.get("/shows/2/seats").status_code == 200


def test_deleting_a_show_keeps_cancelled_bookings_in_their_owners_history(api, demo, admin_token):
    alice = api.token_for("alice")
    booking = api.post("/shows/2/book", {"seat_number": 1}, token=alice).data
    api.post(f"/bookings/{booking['id']}/cancel", token=alice)
    assert delete(api, "/shows/2/", admin_token).status_code == 204
    assert api.get("/shows/2/seats").status_code == 404
    assert 2 not in [s["id"] for s in api.get("/movies/1/shows").data]
    assert [b["id"] for b in api.get("/my-bookings", token=alice).data] == [booking["id"]]


# --- a show's bookings -----------------------------------------------------------------------

def test_admin_lists_a_shows_bookings_with_their_owners_including_cancelled(api, demo, admin_token):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    first = api.post("/shows/3/book", {"seat_number": 1}, token=alice).data
    api.post(f"/bookings/{first['id']}/cancel", token=alice)
    second = api.post("/shows/3/book", {"seat_number": 2}, token=bob).data
    api.post("/shows/4/book", {"seat_number": 2}, token=bob)  # another show
    listing = api.get("/shows/3/bookings/", token=admin_token)
    assert listing.status_code == 200
    assert {(b["id"], b["user"], b["status"]) for b in listing.data} == {
        (first["id"], "alice", "cancelled"), (second["id"], "bob", "booked")}


def test_a_shows_bookings_are_paged_with_a_link(api, demo, admin_token):
    alice = api.token_for("alice")
    for seat in (1, 2, 3):
        api.post("/shows/3/book", {"seat_number": seat}, token=alice)
    first = api.get("/shows/3/bookings?limit=2", token=admin_token)
    assert len(first.data) == 2 and 'rel="next"' in first.headers["Link"]
    cursor = first.headers["Link"].split("cursor=")[1].split(">")[0]
    rest = api.get(f"/shows/3/bookings?limit=2&cursor={cursor}", token=admin_token)
    assert len(rest.data) == 1
    assert api.get(f"/shows/4/bookings?cursor={cursor}", token=admin_token).status_code == 400


# --- ids -------------------------------------------------------------------------------------

def test_ids_skip_rows_that_exist_beyond_the_counter_without_overwriting_them(api, demo, admin_token):
    storage.client().delete_item(TableName=storage.table_name(), Key=storage.to_item(keys.counter_key("MOVIE")))
    response = api.post("/movies", NEW_MOVIE, token=admin_token)
    assert response.data["id"] == 5
    assert [m["title"] for m in api.get("/movies").data][:4] == [
        "Inception", "The Grand Budapest Hotel", "Spirited Away", "Arrival"]


def test_raising_a_counter_never_lowers_it(aws):
    for _ in range(3):
        admin.next_id(admin.SHOW_COUNTER)
    admin.raise_counter(admin.SHOW_COUNTER, 2)
    assert admin.next_id(admin.SHOW_COUNTER) == 4
    admin.raise_counter(admin.SHOW_COUNTER, 10)
    assert admin.next_id(admin.SHOW_COUNTER) == 11


def test_ids_stop_at_the_key_padding_limit(aws):
    admin.raise_counter(admin.MOVIE_COUNTER, admin.MAX_ID)
    with pytest.raises(admin.Conflict):
        admin.next_id(admin.MOVIE_COUNTER)


def _booking_lands_after_the_first_check(monkeypatch, api, check_name, seat):
    """Simulate a booking that commits between the admin's pre-check and its write."""
    from chalicelib import bookings

    real_check = getattr(bookings, check_name)
    calls = []

    def racing_check(show_id):
        calls.append(show_id)
        if len(calls) == 1:
            answer = real_check(show_id)
            assert api.post("/shows/1/book", {"seat_number": seat}, token=api.token_for("racer")).status_code == 201
            return answer
        return real_check(show_id)

    monkeypatch.setattr(bookings, check_name, racing_check)


def test_shrink_racing_a_booking_is_undone_and_refused(api, demo, admin_token, monkeypatch):
    _booking_lands_after_the_first_check(monkeypatch, api, "highest_booked_seat", seat=100)
    response = patch(api, "/shows/1", {"total_seats": 50}, admin_token)
    assert response.status_code == 409
    assert api.get("/shows/1/seats").data["total_seats"] == 120
    assert 100 in api.get("/shows/1/seats").data["taken"]


def test_delete_racing_a_booking_puts_the_show_back_and_is_refused(api, demo, admin_token, monkeypatch):
    _booking_lands_after_the_first_check(monkeypatch, api, "has_active_bookings", seat=7)
    response = delete(api, "/shows/1", admin_token)
    assert response.status_code == 409
    assert api.get("/shows/1/seats").data["taken"] == [7]
    assert 1 in [s["id"] for s in api.get("/movies/1/shows/").data]
