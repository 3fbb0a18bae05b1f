"""Bounded inputs: body size, content type, malformed JSON, unknown fields, path ids, limits, seat numbers.

Every bad input gets a JSON 4xx with a ``Code``; none may reach a 500.
"""
import json

import pytest

from chalicelib import storage

MAX_BODY = 16 * 1024


def _assert_error(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.body)
    assert response.headers["Content-Type"] == "application/json"
    assert response.data["Code"]
    assert response.data["request_id"]


def _assert_each_is_error(responses, statuses, codes=None):
    """Every response in ``{input: response}`` is a JSON error with one of ``statuses`` (and ``codes``).

    Many inputs are checked in one test (one moto set-up each test) and every wrong answer is named.
    """
    wrong = []
    for case, response in responses.items():
        data = response.data if isinstance(response.data, dict) else {}
        if not (response.status_code in statuses
                and response.headers.get("Content-Type") == "application/json"
                and data.get("Code") and data.get("request_id")
                and (codes is None or data["Code"] in codes)):
            wrong.append(f"  {case}: {response.status_code} {response.body[:120]!r}")
    assert not wrong, f"expected {sorted(statuses)} for every input; wrong answers:\n" + "\n".join(wrong)


@pytest.fixture
def token(api, demo):
    return api.token_for("alice")


def _json_routes(token, refresh="x"):
    """(path, a valid-looking body, bearer token) for every route that reads a JSON body."""
    return [
        ("/signup", {"username": "carol", "password": "secret"}, None),
        ("/login", {"username": "alice", "password": "secret"}, None),
        ("/token/refresh", {"refresh": refresh}, None),
        ("/logout", {"refresh": refresh}, None),
        ("/shows/1/book/", {"seat_number": 1}, token),
    ]


def _padded(body, size):
    """``body`` as JSON, padded with an ignored field to exactly ``size`` bytes."""
    base = json.dumps({**body, "pad": ""})
    return base[:-2] + "x" * (size - len(base)) + '"}'


# --- body size -------------------------------------------------------------------------------

def test_body_over_16_kb_is_413_on_every_json_route(api, token):
    for path, body, bearer in _json_routes(token):
        response = api.post(path, raw=_padded(body, MAX_BODY + 1), token=bearer)
        _assert_error(response, 413)
        assert response.data["Code"] == "PayloadTooLarge", path


def test_body_of_exactly_16_kb_is_accepted(api, demo):
    raw = _padded({"username": "carol", "password": "secret"}, MAX_BODY)
    assert len(raw.encode()) == MAX_BODY
    assert api.post("/signup", raw=raw).status_code == 201


def test_body_of_one_megabyte_is_413(api, demo):
    response = api.post("/login", raw="x" * (1024 * 1024))
    _assert_error(response, 413)


# --- content type ----------------------------------------------------------------------------

NON_JSON_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/xml"]


def test_non_json_content_type_is_415_on_every_json_route(api, token):
    responses = {
        (path, content_type): api.post(path, raw=json.dumps(body), token=bearer,
                                       headers={"Content-Type": content_type})
        for path, body, bearer in _json_routes(token) for content_type in NON_JSON_TYPES
    }
    _assert_each_is_error(responses, {415}, {"UnsupportedMediaType"})


def test_json_content_type_with_charset_is_accepted(api, demo):
    response = api.post("/signup", {"username": "carol", "password": "secret"},
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201


# --- malformed JSON --------------------------------------------------------------------------

MALFORMED_JSON = {
    "truncated": '{"username": ', "text": "not json", "array": "[]", "string": '"text"', "null": "null",
    "number": "42", "empty": "", "nan": '{"username": NaN, "password": "secret"}',
    "infinity": '{"username": Infinity}', "single-quotes": "{'username': 'alice'}",
    "deeply-nested": "[" * 5000 + "]" * 5000, "deeply-nested-object": '{"a":' * 2000 + "1" + "}" * 2000,
}


def test_malformed_json_is_a_400_on_every_json_route(api, token):
    responses = {(path, name): api.post(path, raw=raw, token=bearer)
                 for path, _, bearer in _json_routes(token) for name, raw in MALFORMED_JSON.items()}
    _assert_each_is_error(responses, {400}, {"InvalidJSON", "ValidationError"})


def test_lone_surrogate_escape_in_any_string_is_a_400(api, demo):
    """JSON allows "\\ud800" but it cannot become UTF-8 (for bcrypt, PyJWT or DynamoDB): 400, not 500."""
    for path, raw in [
        ("/signup", '{"username": "carol", "password": "secret\\ud800"}'),
        ("/login", '{"username": "carol", "password": "\\udfffsecret"}'),
        ("/token/refresh", '{"refresh": "a.\\ud800.c"}'),
        ("/logout", '{"refresh": "a.b.c", "note": ["\\ud800"]}'),
    ]:
        response = api.post(path, raw=raw)
        _assert_error(response, 400)
        assert response.data["Code"] == "InvalidJSON", path


def test_surrogate_pair_escapes_are_valid_text(api, demo):
    response = api.post("/signup", raw='{"username": "carol", "password": "secret\\ud83d\\ude00"}')
    assert response.status_code == 201
    assert api.login("carol", "secret\U0001F600").status_code == 200


def test_body_that_is_not_utf8_is_a_400(api, demo):
    response = api.post("/signup", raw=b'{"username": "\xff\xfe", "password": "secret"}')
    _assert_error(response, 400)


def test_wrong_field_types_are_400_naming_the_field(api, demo):
    response = api.post("/signup", {"username": ["alice"], "password": "secret"})
    _assert_error(response, 400)
    assert response.data["field"] == "username"


def test_missing_fields_are_400(api, demo):
    _assert_error(api.post("/signup", {"username": "alice"}), 400)
    _assert_error(api.post("/login", {"password": "secret"}), 400)
    _assert_error(api.post("/token/refresh", {}), 400)


# --- unknown fields are ignored (one policy, everywhere) -------------------------------------

def test_unknown_fields_on_signup_are_ignored_and_cannot_grant_admin(api, demo, aws):
    response = api.post("/signup", {"username": "carol", "password": "secret", "role": "admin",
                                    "is_admin": True, "id": "root", "password_hash": "$2b$04$x"})
    assert response.status_code == 201
    assert response.data["role"] == "user"
    assert response.data["id"] == "carol"
    assert api.login("carol", "secret").status_code == 200


def test_unknown_fields_on_booking_are_ignored_and_cannot_set_owner_or_status(api, token, aws):
    response = api.post("/shows/1/book/", {"seat_number": 4, "user": "bob", "status": "cancelled",
                                           "id": "0" * 27, "show": 2}, token=token)
    assert response.status_code == 201
    assert response.data["status"] == "booked"
    assert response.data["show"] == 1
    assert response.data["id"] != "0" * 27
    mine = api.get("/my-bookings/", token=token).data
    assert [b["id"] for b in mine] == [response.data["id"]]


# --- path ids ----------------------------------------------------------------------------------

ILL_FORMED_PUBLIC_PATHS = [
    "/movies/abc/shows/", "/movies/0/shows/", "/movies/-1/shows/", "/movies/1.5/shows/", "/movies/1e3/shows/",
    "/movies/99999999999999/shows/", "/movies/%C2%B2/shows/", "/movies/\u0661/shows/", "/movies/%00/shows/",
    "/shows/-1/seats/", "/shows/99999999999999/seats/", "/shows/abc/seats/", "/shows/0x1/seats/",
]
ILL_FORMED_BOOKING_PATHS = [
    "/shows/-1/book/", "/shows/abc/book/", "/shows/99999999999999/book/", "/shows/0/book/",
    "/shows/%2e%2e/book/", "/shows/1%20OR%201=1/book/",
]
ILL_FORMED_CANCEL_PATHS = [
    "/bookings/../cancel/", "/bookings/%2e%2e/cancel/", "/bookings/abc/cancel/", "/bookings/-1/cancel/",
    "/bookings/" + "f" * 28 + "/cancel/", "/bookings/" + "A" * 27 + "/cancel/", "/bookings/%00/cancel/",
    "/bookings/" + "9" * 500 + "/cancel/", "/bookings/%27%20OR%20%271%27=%271/cancel/",
]


def test_ill_formed_ids_on_public_routes_are_404_or_400(api, demo):
    _assert_each_is_error({path: api.get(path) for path in ILL_FORMED_PUBLIC_PATHS}, {400, 404})


def test_ill_formed_show_ids_when_booking_are_404_or_400(api, token):
    responses = {path: api.post(path, {"seat_number": 1}, token=token) for path in ILL_FORMED_BOOKING_PATHS}
    _assert_each_is_error(responses, {400, 404})


def test_ill_formed_booking_ids_when_cancelling_are_404_or_400(api, token):
    responses = {path: api.post(path, token=token) for path in ILL_FORMED_CANCEL_PATHS}
    _assert_each_is_error(responses, {400, 404})


def test_well_formed_but_unknown_ids_are_404(api, token):
    _assert_error(api.get("/movies/999/shows/"), 404)
    _assert_error(api.get("/shows/999/seats/"), 404)
    _assert_error(api.post("/shows/999/book/", {"seat_number": 1}, token=token), 404)
    _assert_error(api.post("/bookings/" + "0" * 27 + "/cancel/", token=token), 404)


# --- limit and cursor --------------------------------------------------------------------------

LIST_ROUTES = ["/movies/", "/movies/1/shows/", "/my-bookings/"]


BAD_LIMITS = {
    "zero": "0", "101": "101", "negative": "-1", "fraction": "1.5", "letters": "abc", "empty": "",
    "exponent": "1e2", "leading-space": "%205", "hex": "0x10", "huge": "99999999999999999999",
    "superscript-two": "%C2%B2", "5000-digits": "9" * 5000,
}


def test_bad_limit_is_a_400_on_every_list_route(api, token):
    responses = {(path, name): api.get(f"{path}?limit={limit}", token=token)
                 for path in LIST_ROUTES for name, limit in BAD_LIMITS.items()}
    _assert_each_is_error(responses, {400})
    assert {r.data.get("field") for r in responses.values() if r.status_code == 400} == {"limit"}


def test_limit_bounds_1_and_100_are_accepted(api, token):
    for path in LIST_ROUTES:
        assert api.get(f"{path}?limit=1", token=token).status_code == 200
        assert api.get(f"{path}?limit=100", token=token).status_code == 200


FORGED_CURSORS = {"garbage": "garbage", "nul": "%00", "long": "A" * 2000, "unsigned-key": "eyJQSyI6Ik1PVklFUyJ9",
                  "padding": "====", "emoji": "%F0%9F%98%80"}


def test_forged_cursor_is_a_400_on_every_list_route(api, token):
    responses = {(path, name): api.get(f"{path}?cursor={cursor}", token=token)
                 for path in LIST_ROUTES for name, cursor in FORGED_CURSORS.items()}
    _assert_each_is_error(responses, {400}, {"InvalidCursor"})


def test_cursor_from_another_list_is_rejected(api, token):
    first = api.get("/movies/?limit=1")
    cursor = first.headers["Link"].split("cursor=")[1].split(">")[0]
    response = api.get(f"/my-bookings/?cursor={cursor}", token=token)
    _assert_error(response, 400)


# --- seat numbers -------------------------------------------------------------------------------

BAD_SEAT_NUMBERS = [
    "true", "false", "1.5", '"3"', "3.0", "0", "-1", "-0", "1e0", "121", "10000", "9" * 30, "9" * 5000,
    "null", "[3]", '{"n": 3}',
]  # show 1 has 120 seats


def test_seat_number_that_is_not_an_integer_in_range_is_a_400_and_takes_no_seat(api, token, aws):
    responses = {raw[:40]: api.post("/shows/1/book/", raw='{"seat_number": %s}' % raw, token=token)
                 for raw in BAD_SEAT_NUMBERS}
    _assert_each_is_error(responses, {400}, {"ValidationError", "InvalidJSON"})
    seats = aws.query(TableName=storage.table_name(), KeyConditionExpression="PK = :pk",
                      ExpressionAttributeValues={":pk": {"S": "SHOW#00000001"}})["Items"]
    assert [s for s in seats if s["SK"]["S"].startswith("SEAT#")] == []


def test_seat_number_bounds_1_and_total_seats_are_accepted(api, token):
    assert api.post("/shows/1/book/", {"seat_number": 1}, token=token).status_code == 201
    assert api.post("/shows/1/book/", {"seat_number": 120}, token=token).status_code == 201


def test_missing_seat_number_is_a_400(api, token):
    _assert_error(api.post("/shows/1/book/", {}, token=token), 400)


def test_invalid_idempotency_key_is_a_400(api, token):
    for key in ["", "x" * 65, "with space", "caf\u00e9"]:
        response = api.post("/shows/1/book/", {"seat_number": 2}, token=token,
                            headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
        _assert_error(response, 400)


def test_long_username_and_password_inside_the_size_limit_are_400_not_500(api, demo):
    response = api.post("/signup", {"username": "a" * 10000, "password": "p" * 5000})
    _assert_error(response, 400)
    response = api.post("/login", {"username": "a" * 10000, "password": "p" * 5000})
    _assert_error(response, 401)


# --- no input can become an outbound request (SSRF) ------------------------------------------

NETWORK_MODULES = {"socket", "ssl", "http.client", "urllib.request", "urllib3", "requests", "httpx", "aiohttp",
                   "ftplib", "smtplib", "xmlrpc.client"}


def test_app_code_opens_no_network_connections_of_its_own_but_for_webhook_deliveries():
    """The only outbound calls are boto3's, to endpoints from configuration, and webhook deliveries
    (chalicelib/webhooks.py, which checks every address first: tests/unit/test_webhook_rules.py)."""
    import ast
    import glob
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sources = [os.path.join(root, "app.py")] + glob.glob(os.path.join(root, "chalicelib", "*.py"))
    found = []
    for path in sources:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [(os.path.basename(path), n) for n in names
                      if n in NETWORK_MODULES or n.split(".")[0] in {"requests", "httpx", "aiohttp", "urllib3"}]
    assert {path for path, _ in found} <= {"webhooks.py"}
