"""The movie-booking REST API: routes only. Each translates HTTP to a call into chalicelib and back."""
import time

from chalice import CORSConfig, Response

from chalicelib import auth, bookings, catalog, pagination, web
from chalicelib.settings import get_settings
from chalicelib.validation import validate

app = web.ThreadLocalChalice(app_name="movie-booking")
handles_errors = web.json_errors(app)

if get_settings().cors_allow_origin:
    app.api.cors = CORSConfig(
        allow_origin=get_settings().cors_allow_origin,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["Link", "Retry-After", "X-Request-Id"],
    )


@app.middleware("http")
def request_log(request, get_response):
    started = time.perf_counter()
    response = get_response(request)
    request_id = web.request_id(request)
    response.headers.setdefault("X-Request-Id", request_id)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if not isinstance(response.body, (str, bytes)):
        response.headers.setdefault("Content-Type", "application/json")
    if response.status_code >= 400 and isinstance(response.body, dict) and "Code" in response.body:
        response.body.setdefault("request_id", request_id)  # Chalice's own 405/415 answers too
    web.log_request(request, response, started)
    return response


def _caller():
    return web.caller_claims(app.current_request)["sub"]


def _limit_and_cursor():
    params = app.current_request.query_params or {}
    return pagination.parse_limit(params.get("limit")), params.get("cursor")


def _outcome(outcome):
    return Response(body=outcome.body, status_code=outcome.status)


# --- accounts --------------------------------------------------------------------------------

@app.route("/signup", methods=["POST"])
@handles_errors
def signup():
    body = validate("credentials", web.json_body(app.current_request))
    return Response(body=auth.create_user(body["username"], body["password"]), status_code=201)


@app.route("/login", methods=["POST"])
@handles_errors
def login():
    body = validate("credentials", web.json_body(app.current_request))
    return auth.login(body["username"], body["password"])


@app.route("/token/refresh", methods=["POST"])
@handles_errors
def refresh_token():
    body = validate("refresh", web.json_body(app.current_request))
    return auth.refresh(body["refresh"])


@app.route("/logout", methods=["POST"])
@handles_errors
def logout():
    body = validate("refresh", web.json_body(app.current_request))
    caller = _caller() if app.current_request.headers.get("authorization") else None
    auth.logout(body["refresh"], caller=caller)
    return Response(body="", status_code=204)


# --- catalog ---------------------------------------------------------------------------------

@app.route("/movies", methods=["GET"])
@handles_errors
def list_movies():
    limit, cursor = _limit_and_cursor()
    movies, next_cursor = catalog.list_movies(limit, cursor)
    return web.paged(app.current_request, movies, next_cursor, limit)


@app.route("/movies/{movie_id}/shows", methods=["GET"])
@handles_errors
def list_shows(movie_id):
    limit, cursor = _limit_and_cursor()
    date = (app.current_request.query_params or {}).get("date")
    shows, next_cursor = catalog.list_shows(catalog.parse_id(movie_id, "movie"), limit, cursor, date)
    return web.paged(app.current_request, shows, next_cursor, limit)


@app.route("/shows/{show_id}/seats", methods=["GET"])
@handles_errors
def seat_map(show_id):
    return bookings.seat_map(catalog.parse_id(show_id, "show"))


# --- bookings --------------------------------------------------------------------------------

@app.route("/shows/{show_id}/book", methods=["POST"])
@handles_errors
def book(show_id):
    caller = _caller()
    request = app.current_request
    key = bookings.check_idempotency_key(request.headers.get("idempotency-key"))
    body = web.json_body(request)
    return _outcome(bookings.book(caller, catalog.parse_id(show_id, "show"), body, key))


@app.route("/bookings/{booking_id}/cancel", methods=["POST"])
@handles_errors
def cancel(booking_id):
    caller = _caller()
    key = bookings.check_idempotency_key(app.current_request.headers.get("idempotency-key"))
    return _outcome(bookings.cancel(caller, booking_id, key))


@app.route("/my-bookings", methods=["GET"])
@handles_errors
def my_bookings():
    caller = _caller()
    limit, cursor = _limit_and_cursor()
    items, next_cursor = bookings.my_bookings(caller, limit, cursor)
    return web.paged(app.current_request, items, next_cursor, limit)
