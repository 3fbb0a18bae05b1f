"""The movie-booking REST API: routes only. Each translates HTTP to a call into chalicelib and back."""
import time

from chalice import CORSConfig, Rate, Response

from chalicelib import admin, auth, bookings, box_office, catalog, checkin, docs, door, holds, settings, tickets, web
from chalicelib import outbox, sweep as sweep_service, waitlist, webhooks  # events (issue 20)
from chalicelib.errors import ConfigurationError
from chalicelib.settings import get_settings
from chalicelib.validation import validate

settings.configure_logging()
app = web.ThreadLocalChalice(app_name="movie-booking")
handles_errors = web.json_errors(app)
admin_only = web.admin_only(app)
staff_only = web.staff_only(app)

if get_settings().cors_allow_origin:
    app.api.cors = CORSConfig(
        allow_origin=get_settings().cors_allow_origin,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["Link", "Retry-After", "X-Request-Id"],
    )


@app.middleware("http")
def request_log(request, get_response):
    started = time.perf_counter()
    web.start_request(request)
    response = get_response(request)
    request_id = web.request_id(request)
    response.headers.setdefault("X-Request-Id", request_id)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")  # tokens and personal data (RFC 6749 5.1)
    if not isinstance(response.body, (str, bytes)):
        response.headers.setdefault("Content-Type", "application/json")
    if response.status_code >= 400 and isinstance(response.body, dict) and "Code" in response.body:
        response.body.setdefault("request_id", request_id)  # Chalice's own 405/415 answers too
    web.log_request(request, response, started)
    return response


@app.middleware("http")
def refuse_when_misconfigured(request, get_response):
    """Deployed stages without a usable JWT secret answer 503 to everything (logged by request_log)."""
    try:
        settings.require_secret()
    except ConfigurationError as exc:
        return web.error_response(request, exc)
    return get_response(request)


def _caller():
    return web.caller(app.current_request)


def _limit_and_cursor():
    return web.limit_and_cursor(app.current_request)


# --- accounts --------------------------------------------------------------------------------

@app.route("/signup", methods=["POST"])
@handles_errors
def signup():
    body = validate("credentials", web.json_body(app.current_request))
    return Response(body=auth.create_user(body["username"], body["password"]), status_code=201)


@app.route("/login", methods=["POST"])
@handles_errors
def login():
    request = app.current_request
    body = validate("credentials", web.json_body(request))
    return auth.login(body["username"], body["password"], address=web.client_address(request))


@app.route("/token/refresh", methods=["POST"])
@handles_errors
def refresh_token():
    body = validate("refresh", web.json_body(app.current_request))
    return auth.refresh(body["refresh"])


@app.route("/logout", methods=["POST"])
@handles_errors
def logout():
    request = app.current_request
    if not request.raw_body and request.headers.get("authorization"):
        auth.logout_everywhere(_caller())  # no refresh token named: end all of the caller's sessions
        return Response(body="", status_code=204)
    body = validate("refresh", web.json_body(request))
    caller = _caller() if request.headers.get("authorization") else None
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
    shows, next_cursor = catalog.list_shows(web.path_id(movie_id, "movie"), limit, cursor, date)
    return web.paged(app.current_request, shows, next_cursor, limit)


@app.route("/shows/{show_id}/seats", methods=["GET"])
@handles_errors
def seat_map(show_id):
    return bookings.seat_map(web.path_id(show_id, "show"))


# --- bookings --------------------------------------------------------------------------------

@app.route("/shows/{show_id}/book", methods=["POST"])
@handles_errors
def book(show_id):
    caller = _caller()
    request = app.current_request
    key = web.idempotency_key(request)
    body = web.json_body(request)
    return web.outcome_response(bookings.book(caller, web.path_id(show_id, "show"), body, key))


@app.route("/bookings/{booking_id}/cancel", methods=["POST"])
@handles_errors
def cancel(booking_id):
    caller = _caller()
    key = web.idempotency_key(app.current_request)
    return web.outcome_response(bookings.cancel(caller, booking_id, key))


@app.route("/my-bookings", methods=["GET"])
@handles_errors
def my_bookings():
    caller = _caller()
    limit, cursor = _limit_and_cursor()
    items, next_cursor = bookings.my_bookings(caller, limit, cursor)
    return web.paged(app.current_request, items, next_cursor, limit)


# --- holds: seats kept for a few minutes, then confirmed or released ---------------------------

@app.route("/shows/{show_id}/holds", methods=["POST"])
@handles_errors
def create_hold(show_id):
    caller = _caller()
    request = app.current_request
    key = web.idempotency_key(request)
    body = web.json_body(request)
    return web.outcome_response(holds.create(caller, web.path_id(show_id, "show"), body, key))


@app.route("/holds/{hold_id}", methods=["GET"])
@handles_errors
def get_hold(hold_id):
    return holds.get(_caller(), hold_id)


@app.route("/holds/{hold_id}/extend", methods=["POST"])
@handles_errors
def extend_hold(hold_id):
    return holds.extend(_caller(), hold_id)


@app.route("/holds/{hold_id}/confirm", methods=["POST"])
@handles_errors
def confirm_hold(hold_id):
    return web.outcome_response(holds.confirm(_caller(), hold_id))


@app.route("/holds/{hold_id}/release", methods=["POST"])
@handles_errors
def release_hold(hold_id):
    return holds.release(_caller(), hold_id)


@app.route("/my-holds", methods=["GET"])
@handles_errors
def my_holds():
    caller = _caller()
    limit, cursor = _limit_and_cursor()
    items, next_cursor = holds.my_holds(caller, limit, cursor)
    return web.paged(app.current_request, items, next_cursor, limit)


# --- documentation ---------------------------------------------------------------------------
# The OpenAPI document, Swagger UI and ReDoc, all served from chalicelib/static/ (built by `make assets`).


@app.route("/api/schema", methods=["GET"])
@handles_errors
def api_schema():
    return docs.schema_response(app.current_request)


@app.route("/openapi.yaml", methods=["GET"])
@handles_errors
def openapi_yaml():
    return docs.schema_response(app.current_request, "yaml")


@app.route("/openapi.json", methods=["GET"])
@handles_errors
def openapi_json():
    return docs.schema_response(app.current_request, "json")


@app.route("/swagger", methods=["GET"])
@handles_errors
def swagger_ui():
    return docs.page_response(app.current_request, "swagger")


@app.route("/swagger/{asset}", methods=["GET"])
@handles_errors
def swagger_asset(asset):
    return docs.asset_response("swagger", asset)


@app.route("/redoc", methods=["GET"])
@handles_errors
def redoc():
    return docs.page_response(app.current_request, "redoc")


@app.route("/redoc/{asset}", methods=["GET"])
@handles_errors
def redoc_asset(asset):
    return docs.asset_response("redoc", asset)


# The box office (issue 14): seat maps, holds and bookings for people, from chalicelib/static/box-office/.

@app.route("/box-office", methods=["GET"])
@handles_errors
def box_office_page():
    return box_office.page_response(app.current_request)


@app.route("/box-office/{asset}", methods=["GET"])
@handles_errors
def box_office_asset(asset):
    return box_office.asset_response(asset)


# --- admin -----------------------------------------------------------------------------------
# Catalog writes and a show's bookings, for callers whose token says role "admin" (granted only by
# `python -m chalicelib.cli create-admin`, never by /signup).

@app.route("/movies", methods=["POST"])
@handles_errors
@admin_only
def create_movie():
    movie = admin.create_movie(web.json_body(app.current_request))
    return Response(body=movie, status_code=201, headers={"Location": f"/movies/{movie['id']}/shows/"})


@app.route("/movies/{movie_id}", methods=["PATCH"])
@handles_errors
@admin_only
def update_movie(movie_id):
    return admin.update_movie(web.path_id(movie_id, "movie"), web.json_body(app.current_request))


@app.route("/movies/{movie_id}", methods=["DELETE"])
@handles_errors
@admin_only
def delete_movie(movie_id):
    admin.delete_movie(web.path_id(movie_id, "movie"))
    return Response(body="", status_code=204)


@app.route("/movies/{movie_id}/shows", methods=["POST"])
@handles_errors
@admin_only
def create_show(movie_id):
    show = admin.create_show(web.path_id(movie_id, "movie"), web.json_body(app.current_request))
    return Response(body=show, status_code=201, headers={"Location": f"/shows/{show['id']}/seats/"})


@app.route("/shows/{show_id}", methods=["PATCH"])
@handles_errors
@admin_only
def update_show(show_id):
    return admin.update_show(web.path_id(show_id, "show"), web.json_body(app.current_request))


@app.route("/shows/{show_id}", methods=["DELETE"])
@handles_errors
@admin_only
def delete_show(show_id):
    admin.delete_show(web.path_id(show_id, "show"))
    return Response(body="", status_code=204)


@app.route("/shows/{show_id}/bookings", methods=["GET"])
@handles_errors
@admin_only
def show_bookings(show_id):
    limit, cursor = _limit_and_cursor()
    items, next_cursor = bookings.show_bookings(web.path_id(show_id, "show"), limit, cursor)
    return web.paged(app.current_request, items, next_cursor, limit)


# --- e-tickets and door check-in (issue 19) ----------------------------------------------------
# A booking's signed QR ticket for its owner; check-in for callers whose role is "staff" or "admin"
# (staff are made only by `python -m chalicelib.cli create-staff`); the door page for them.

@app.route("/bookings/{booking_id}/ticket", methods=["GET"])
@handles_errors
def booking_ticket(booking_id):
    caller = _caller()
    wants_svg = web.ticket_format(app.current_request) == "svg"
    ticket = tickets.ticket(caller, booking_id)
    if wants_svg:
        return Response(body=ticket["qr_svg"], status_code=200, headers={"Content-Type": "image/svg+xml"})
    return ticket


@app.route("/tickets/keys", methods=["GET"])
@handles_errors
def ticket_public_keys():
    return tickets.public_keys()


@app.route("/check-in", methods=["POST"])
@handles_errors
@staff_only
def check_in():
    return checkin.check_in(_caller(), web.json_body(app.current_request))


@app.route("/check-in/batch", methods=["POST"])
@handles_errors
@staff_only
def check_in_batch():
    return checkin.check_in_batch(_caller(), web.json_body(app.current_request))


@app.route("/shows/{show_id}/check-ins", methods=["GET"])
@handles_errors
@staff_only
def show_check_ins(show_id):
    return checkin.show_check_ins(web.path_id(show_id, "show"))


@app.route("/shows/{show_id}/door-list", methods=["GET"])
@handles_errors
@staff_only
def door_list(show_id):
    return checkin.door_list(web.path_id(show_id, "show"))


@app.route("/door", methods=["GET"])
@handles_errors
def door_page():
    return door.page_response(app.current_request)


@app.route("/door/{asset}", methods=["GET"])
@handles_errors
def door_asset(asset):
    return door.asset_response(asset)
# --- events (issue 20): the table's stream, webhook deliveries, the sweep, webhooks admin, waitlist ----
# Deployed, the stream and queue ARNs come from infra/template.yaml (which overrides these placeholders,
# adds bisect-on-error, the retry limit and the on-failure queue); locally scripts/local_events.py
# calls these handlers as the event source mappings and the schedule would.

STREAM_ARN_PLACEHOLDER = "arn:aws:dynamodb:us-east-1:123456789012:table/movie-booking/stream/set-by-infra-template"
QUEUE_ARN_PLACEHOLDER = "arn:aws:sqs:us-east-1:123456789012:set-by-infra-template"


@app.on_dynamodb_record(stream_arn=STREAM_ARN_PLACEHOLDER, batch_size=100, starting_position="TRIM_HORIZON")
def table_changes(event):
    return outbox.handle_batch(event.to_dict()["Records"])


@app.on_sqs_message(queue_arn=QUEUE_ARN_PLACEHOLDER, batch_size=1)
def webhook_deliveries(event):
    return web.queue_batch(event.to_dict()["Records"], webhooks.deliver)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event):
    return sweep_service.run()


@app.route("/webhooks", methods=["POST"])
@handles_errors
@admin_only
def create_webhook():
    return web.outcome_response(webhooks.create(web.json_body(app.current_request)))


@app.route("/webhooks", methods=["GET"])
@handles_errors
@admin_only
def list_webhooks():
    limit, cursor = _limit_and_cursor()
    items, next_cursor = webhooks.list_endpoints(limit, cursor)
    return web.paged(app.current_request, items, next_cursor, limit)


@app.route("/webhooks/{webhook_id}", methods=["DELETE"])
@handles_errors
@admin_only
def delete_webhook(webhook_id):
    webhooks.delete(webhook_id)
    return Response(body="", status_code=204)


@app.route("/webhooks/{webhook_id}/test", methods=["POST"])
@handles_errors
@admin_only
def test_webhook(webhook_id):
    return Response(body=webhooks.send_test(webhook_id), status_code=202)


@app.route("/webhooks/{webhook_id}/deliveries", methods=["GET"])
@handles_errors
@admin_only
def webhook_delivery_list(webhook_id):
    limit, cursor = _limit_and_cursor()
    items, next_cursor = webhooks.deliveries(webhook_id, limit, cursor)
    return web.paged(app.current_request, items, next_cursor, limit)


@app.route("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", methods=["POST"])
@handles_errors
@admin_only
def retry_webhook_delivery(webhook_id, delivery_id):
    return Response(body=webhooks.retry(webhook_id, delivery_id), status_code=202)


@app.route("/shows/{show_id}/waitlist", methods=["POST"])
@handles_errors
def join_waitlist(show_id):
    caller = _caller()
    return web.outcome_response(waitlist.join(caller, web.path_id(show_id, "show"), web.json_body(app.current_request)))


@app.route("/shows/{show_id}/waitlist", methods=["DELETE"])
@handles_errors
def leave_waitlist(show_id):
    waitlist.leave(_caller(), web.path_id(show_id, "show"))
    return Response(body="", status_code=204)


@app.route("/my-waitlist", methods=["GET"])
@handles_errors
def my_waitlist():
    return waitlist.my_entries(_caller())
