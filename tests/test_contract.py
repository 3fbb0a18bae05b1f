"""The original API's contract, route by route: paths with and without the slash, fields, statuses."""
import pytest


def test_signup_returns_201_and_the_user_without_password(api):
    response = api.signup("alice", "secret")
    assert response.status_code == 201
    assert response.data["username"] == "alice"
    assert "id" in response.data
    assert not {"password", "password_hash"} & set(response.data)
    assert "secret" not in response.body.decode()


def test_signup_with_trailing_slash_works(api):
    assert api.post("/signup/", {"username": "bob", "password": "secret"}).status_code == 201


def test_signup_rejects_taken_username_with_409(api):
    api.signup("alice")
    response = api.signup("alice", "another")
    assert response.status_code == 409
    assert response.data["Code"] == "UsernameTaken"


@pytest.mark.parametrize("body", [{}, {"username": "alice"}, {"password": "secret"},
                                  {"username": 5, "password": "secret"}, {"username": "alice", "password": None}])
def test_signup_rejects_invalid_body_with_400(api, body):
    response = api.post("/signup", body)
    assert response.status_code == 400
    assert response.data["Code"] == "ValidationError"
    assert response.data["Message"]


def test_login_returns_access_and_refresh(api):
    api.signup()
    response = api.post("/login/", {"username": "alice", "password": "secret"})
    assert response.status_code == 200
    assert set(response.data) >= {"access", "refresh"}


def test_token_responses_are_never_cached(api):
    api.signup()
    tokens = api.login()
    assert tokens.headers["Cache-Control"] == "no-store"
    assert api.post("/token/refresh", {"refresh": tokens.data["refresh"]}).headers["Cache-Control"] == "no-store"


def test_login_gives_same_401_for_unknown_user_and_wrong_password(api):
    api.signup()
    wrong_password = api.login("alice", "not-secret")
    unknown_user = api.login("nobody", "secret")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.data["Code"] == unknown_user.data["Code"]
    assert wrong_password.data["Message"] == unknown_user.data["Message"]


def test_login_rejects_invalid_body_with_400(api):
    assert api.post("/login", {"username": "alice"}).status_code == 400


def test_refresh_token_returns_new_access_token(api):
    api.signup()
    tokens = api.login().data
    response = api.post("/token/refresh/", {"refresh": tokens["refresh"]})
    assert response.status_code == 200
    assert response.data["access"]
    assert api.get("/my-bookings/", token=response.data["access"]).status_code == 200


def test_refresh_rejects_access_token_and_garbage_with_401(api):
    token = api.token_for()
    assert api.post("/token/refresh", {"refresh": token}).status_code == 401
    assert api.post("/token/refresh", {"refresh": "not.a.jwt"}).status_code == 401


def test_refresh_requires_a_refresh_field(api):
    assert api.post("/token/refresh", {}).status_code == 400


@pytest.mark.parametrize("path", ["/movies", "/movies/"])
def test_movies_lists_id_title_duration(api, demo, path):
    response = api.get(path)
    assert response.status_code == 200
    assert [m["title"] for m in response.data] == [m["title"] for m in demo]
    assert set(response.data[0]) == {"id", "title", "duration_minutes"}
    assert response.data[0] == {"id": 1, "title": "Inception", "duration_minutes": 148}


def test_movies_is_an_empty_array_without_catalog(api):
    response = api.get("/movies/")
    assert response.status_code == 200
    assert response.data == []


@pytest.mark.parametrize("path", ["/movies/1/shows", "/movies/1/shows/"])
def test_shows_of_a_movie_have_the_original_fields(api, demo, path):
    response = api.get(path)
    assert response.status_code == 200
    expected_ids = [s["id"] for s in demo[0]["shows"]]
    assert [s["id"] for s in response.data] == expected_ids
    show = response.data[0]
    assert set(show) == {"id", "movie_id", "screen_name", "date_time", "total_seats"}
    assert show["movie_id"] == 1
    assert show["date_time"].endswith("Z")


def test_shows_are_sorted_by_start_time(api, demo):
    times = [s["date_time"] for s in api.get("/movies/1/shows/").data]
    assert times == sorted(times)


@pytest.mark.parametrize("movie_id", ["999", "abc", "0", "-1", "1.5"])
def test_shows_of_unknown_movie_is_404(api, demo, movie_id):
    response = api.get(f"/movies/{movie_id}/shows/")
    assert response.status_code == 404
    assert response.data["Code"] == "NotFound"


def test_booking_returns_201_with_the_original_fields(api, demo):
    token = api.token_for()
    response = api.post("/shows/1/book/", {"seat_number": 7}, token=token)
    assert response.status_code == 201
    booking = response.data
    assert booking["show"] == 1
    assert booking["seat_number"] == 7
    assert booking["status"] == "booked"
    assert isinstance(booking["id"], str) and booking["id"]
    assert booking["created_at"].endswith("Z")


def test_booking_without_trailing_slash_works(api, demo):
    token = api.token_for()
    assert api.post("/shows/1/book", {"seat_number": 8}, token=token).status_code == 201


def test_booking_requires_a_token(api, demo):
    response = api.post("/shows/1/book/", {"seat_number": 1})
    assert response.status_code == 401
    assert response.data["Code"] == "Unauthorized"
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_booking_unknown_show_is_404(api, demo):
    token = api.token_for()
    assert api.post("/shows/999/book/", {"seat_number": 1}, token=token).status_code == 404


@pytest.mark.parametrize("seat", [0, -1, 121, True, False, 1.5, 3.0, "3", None, [3], {"n": 3}, 10 ** 30])
def test_seat_number_must_be_an_integer_in_range(api, demo, seat):
    token = api.token_for()
    response = api.post("/shows/1/book/", {"seat_number": seat}, token=token)  # show 1 has 120 seats
    assert response.status_code == 400, response.body
    assert response.data["Code"] == "ValidationError"


def test_seat_number_is_required(api, demo):
    token = api.token_for()
    assert api.post("/shows/1/book/", {}, token=token).status_code == 400


def test_last_seat_of_a_show_can_be_booked(api, demo):
    token = api.token_for()
    assert api.post("/shows/1/book/", {"seat_number": 120}, token=token).status_code == 201


def test_seat_taken_by_someone_else_is_409(api, demo):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    assert api.post("/shows/1/book/", {"seat_number": 3}, token=alice).status_code == 201
    response = api.post("/shows/1/book/", {"seat_number": 3}, token=bob)
    assert response.status_code == 409
    assert response.data["Code"] == "SeatTaken"
    assert response.data["taken"] == [3]


def test_cancel_returns_booking_with_status_cancelled(api, demo):
    token = api.token_for()
    booking = api.post("/shows/1/book/", {"seat_number": 4}, token=token).data
    response = api.post(f"/bookings/{booking['id']}/cancel/", token=token)
    assert response.status_code == 200
    assert response.data["id"] == booking["id"]
    assert response.data["status"] == "cancelled"


def test_cancel_without_trailing_slash_works(api, demo):
    token = api.token_for()
    booking = api.post("/shows/1/book/", {"seat_number": 4}, token=token).data
    assert api.post(f"/bookings/{booking['id']}/cancel", token=token).status_code == 200


def test_cancel_requires_a_token(api, demo):
    token = api.token_for()
    booking = api.post("/shows/1/book/", {"seat_number": 4}, token=token).data
    assert api.post(f"/bookings/{booking['id']}/cancel/").status_code == 401


def test_cancel_unknown_booking_is_404(api, demo):
    token = api.token_for()
    assert api.post("/bookings/0000000000000000000000000ff/cancel/", token=token).status_code == 404
    assert api.post("/bookings/not-an-id/cancel/", token=token).status_code == 404


def test_cancel_someone_elses_booking_is_404_and_changes_nothing(api, demo):
    alice, mallory = api.token_for("alice"), api.token_for("mallory")
    booking = api.post("/shows/1/book/", {"seat_number": 9}, token=alice).data
    response = api.post(f"/bookings/{booking['id']}/cancel/", token=mallory)
    assert response.status_code == 404
    assert api.get("/my-bookings/", token=alice).data[0]["status"] == "booked"
    assert 9 in api.get("/shows/1/seats/").data["taken"]


def test_second_cancel_is_409(api, demo):
    token = api.token_for()
    booking = api.post("/shows/1/book/", {"seat_number": 4}, token=token).data
    api.post(f"/bookings/{booking['id']}/cancel/", token=token)
    response = api.post(f"/bookings/{booking['id']}/cancel/", token=token)
    assert response.status_code == 409
    assert response.data["Code"] == "AlreadyCancelled"


def test_my_bookings_requires_a_token(api):
    assert api.get("/my-bookings/").status_code == 401


@pytest.mark.parametrize("path", ["/my-bookings", "/my-bookings/"])
def test_my_bookings_lists_only_mine_newest_first_with_cancelled(api, demo, path):
    alice, bob = api.token_for("alice"), api.token_for("bob")
    first = api.post("/shows/1/book/", {"seat_number": 1}, token=alice).data
    second = api.post("/shows/2/book/", {"seat_number": 2}, token=alice).data
    api.post("/shows/1/book/", {"seat_number": 3}, token=bob)
    api.post(f"/bookings/{first['id']}/cancel/", token=alice)
    response = api.get(path, token=alice)
    assert response.status_code == 200
    assert [b["id"] for b in response.data] == [second["id"], first["id"]]
    assert [b["status"] for b in response.data] == ["booked", "cancelled"]


def test_original_readme_walkthrough(api, demo):
    """signup -> login -> movies -> shows -> book -> my-bookings -> cancel, with password 'secret'."""
    assert api.post("/signup/", {"username": "alice", "password": "secret"}).status_code == 201
    access = api.post("/login/", {"username": "alice", "password": "secret"}).data["access"]
    movie = api.get("/movies/").data[0]
    show = api.get(f"/movies/{movie['id']}/shows/").data[0]
    booking = api.post(f"/shows/{show['id']}/book/", {"seat_number": 5}, token=access)
    assert booking.status_code == 201
    assert api.get("/my-bookings/", token=access).data[0]["id"] == booking.data["id"]
    cancelled = api.post(f"/bookings/{booking.data['id']}/cancel/", token=access)
    assert cancelled.data["status"] == "cancelled"


def test_errors_share_one_json_shape(api, demo):
    token = api.token_for()
    responses = [
        api.post("/signup", raw="{not json"),
        api.get("/my-bookings/"),
        api.get("/movies/999/shows/"),
        api.post("/shows/1/book/", {"seat_number": 0}, token=token),
        api.post("/signup", raw="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    for response in responses:
        assert response.headers["Content-Type"].startswith("application/json")
        assert {"Code", "Message", "request_id"} <= set(response.data), response.body
        assert response.data["request_id"] == response.headers["X-Request-Id"]
