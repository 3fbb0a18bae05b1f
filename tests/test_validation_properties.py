"""Property tests (Hypothesis) of the validators: whatever the input, a validator returns a valid value or
raises its own 4xx error, never anything else (which would become a 500).
"""
import json
import string
import time
import unicodedata
from decimal import Decimal

import bcrypt
import pytest
from hypothesis import HealthCheck, assume, given, settings as hsettings, strategies as st

from chalicelib import auth, bookings, catalog, pagination, settings, tokens, validation, web
from chalicelib.errors import InvalidCursor, InvalidJSON, InvalidToken, NotFound, ValidationError

FAST = hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]  # JSON can carry them as \u escapes
USERNAME_ALPHABET = string.ascii_letters + string.digits + "@.+-_"
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


@pytest.fixture(autouse=True, scope="module")
def _test_stage_settings():
    """Settings of the test stage (the environment conftest sets), whatever an earlier test cached."""
    settings.reset()
    yield
    settings.reset()


# --- usernames -----------------------------------------------------------------------------------

@FAST
@given(st.text(max_size=200))
def test_username_normaliser_returns_a_valid_name_or_raises_validation_error(raw):
    try:
        name, key = auth.normalize_username(raw)
    except ValidationError as exc:
        assert exc.details["field"] == "username"
        return
    assert auth.USERNAME_MIN <= len(name) <= auth.USERNAME_MAX
    assert auth.USERNAME_PATTERN.match(name)
    assert name == unicodedata.normalize("NFKC", name) == name.strip()
    assert key == unicodedata.normalize("NFKC", name.casefold())


@FAST
@given(st.text(max_size=200))
def test_username_normaliser_is_idempotent(raw):
    try:
        name, key = auth.normalize_username(raw)
    except ValidationError:
        return
    assert auth.normalize_username(name) == (name, key)


@FAST
@given(st.text(alphabet=USERNAME_ALPHABET + "ÀÉÎÕÜàéîõüßẞΣσςДд", min_size=3, max_size=150))
def test_username_key_is_the_same_in_any_letter_case(name):
    key = auth.normalize_username(name)[1]
    assert auth.normalize_username(name.upper())[1] == key
    assert auth.normalize_username(name.lower())[1] == key
    assert auth.normalize_username(name.swapcase())[1] == key


@FAST
@given(st.text(min_size=3, max_size=150))
def test_username_key_always_fits_a_dynamodb_partition_key(raw):
    try:
        _, key = auth.normalize_username(raw)
    except ValidationError:
        return
    assert len(f"USER#{key}".encode("utf-8")) <= 2048


@FAST
@given(st.text(alphabet=USERNAME_ALPHABET, min_size=3, max_size=150))
def test_every_username_made_of_the_allowed_ascii_characters_is_accepted(name):
    assert auth.normalize_username(name) == (name, name.lower())


# --- passwords -----------------------------------------------------------------------------------

def _password_is_acceptable(password):
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return len(password) >= 6 and size <= 72 and "\x00" not in password


@FAST
@given(st.text(alphabet=st.characters() | st.sampled_from(LONE_SURROGATES), max_size=80))
def test_password_rule_accepts_exactly_6_chars_to_72_utf8_bytes(password):
    try:
        auth.check_password_rules(password)
    except ValidationError as exc:
        assert exc.details["field"] == "password"
        assert not _password_is_acceptable(password)
    else:
        assert _password_is_acceptable(password)


@SLOW
@given(st.text(min_size=6, max_size=72))
def test_every_accepted_password_hashes_and_verifies_without_truncation(password):
    assume(_password_is_acceptable(password))
    hashed = auth.hash_password(password, rounds=4).encode("ascii")
    assert bcrypt.checkpw(password.encode("utf-8"), hashed)
    assert not bcrypt.checkpw(password.encode("utf-8")[:-1] or b"x", hashed)


# --- JSON bodies ---------------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=300))
def test_parse_json_returns_a_dict_or_raises_invalid_json_for_any_bytes(raw):
    try:
        body = validation.parse_json(raw)
    except InvalidJSON:
        return
    assert isinstance(body, dict)


@FAST
@given(st.text(alphabet='{}[]":,.-+eE0123456789 \\ud800tfnrlsau', max_size=60))
def test_parse_json_returns_a_dict_or_raises_invalid_json_for_json_like_text(raw):
    try:
        body = validation.parse_json(raw.encode("utf-8", "surrogatepass"))
    except InvalidJSON:
        return
    assert isinstance(body, dict)


@FAST
@given(json_objects)
def test_parse_json_round_trips_any_json_object(body):
    assert validation.parse_json(json.dumps(body).encode("utf-8")) == body


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_json_never_turns_a_json_fraction_into_a_float_or_an_int(number):
    parsed = validation.parse_json(json.dumps({"n": number}).encode())["n"]
    assert isinstance(parsed, Decimal)


@FAST
@given(st.sampled_from(["credentials", "refresh", "single_seat", "seat_group"]), json_values)
def test_validate_returns_the_body_or_raises_validation_error(schema, body):
    try:
        assert validation.validate(schema, body) is body
    except ValidationError as exc:
        assert exc.details["field"]


@FAST
@given(json_values | st.decimals(allow_nan=False, allow_infinity=False))
def test_seat_number_is_accepted_only_as_a_positive_integer(seat):
    body = {"seat_number": seat}
    valid = isinstance(seat, int) and not isinstance(seat, bool) and seat >= 1
    try:
        validation.validate("single_seat", body)
    except ValidationError:
        assert not valid
    else:
        assert valid


@FAST
@given(st.text(max_size=70))
def test_idempotency_key_check_returns_the_key_or_raises_validation_error(raw):
    try:
        assert web.check_idempotency_key(raw) == raw
    except ValidationError:
        return
    assert raw.isascii() and 1 <= len(raw) <= 64


# --- query parameters and path ids ---------------------------------------------------------------

@FAST
@given(st.text(max_size=30) | st.text(alphabet="0123456789²³¹٣۴߅", max_size=8)
       | st.integers(min_value=-10**6, max_value=10**6).map(str) | st.just("9" * 5000))
def test_parse_limit_returns_1_to_100_or_raises_validation_error(raw):
    try:
        limit = pagination.parse_limit(raw)
    except ValidationError as exc:
        assert exc.details["field"] == "limit"
        return
    assert 1 <= limit <= pagination.MAX_LIMIT


@FAST
@given(st.integers(min_value=1, max_value=100))
def test_parse_limit_accepts_every_integer_from_1_to_100(limit):
    assert pagination.parse_limit(str(limit)) == limit


@FAST
@given(st.text(max_size=20) | st.integers().map(str))
def test_parse_id_returns_a_positive_id_or_raises_not_found(raw):
    try:
        value = web.path_id(raw, "show")
    except NotFound:
        return
    assert 1 <= value < 10**9
    assert str(value) == raw.lstrip("0")


# --- page cursors --------------------------------------------------------------------------------

cursor_keys = st.dictionaries(st.sampled_from(["PK", "SK", "GSI1PK", "GSI1SK"]),
                              st.text(max_size=30) | st.integers(), min_size=1)


@FAST
@given(st.text(max_size=200))
def test_cursor_decode_returns_a_key_or_raises_invalid_cursor_for_any_text(cursor):
    try:
        key = pagination.decode("movies", cursor)
    except InvalidCursor:
        return
    assert isinstance(key, dict)


@FAST
@given(st.binary(max_size=120))
def test_cursor_decode_raises_invalid_cursor_for_any_unsigned_payload(payload):
    import base64
    cursor = base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")
    with pytest.raises(InvalidCursor):
        pagination.decode("movies", cursor)


@FAST
@given(cursor_keys, st.text(max_size=20))
def test_cursor_round_trips_within_its_query(key, scope):
    assert pagination.decode(scope, pagination.encode(scope, key)) == key


@FAST
@given(cursor_keys, st.text(max_size=20), st.text(max_size=20))
def test_cursor_is_rejected_by_any_other_query(key, scope, other):
    assume(scope != other)
    with pytest.raises(InvalidCursor):
        pagination.decode(other, pagination.encode(scope, key))


@FAST
@given(cursor_keys, st.data())
def test_tampered_cursor_never_decodes_to_a_different_key(key, data):
    cursor = pagination.encode("movies", key)
    position = data.draw(st.integers(min_value=0, max_value=len(cursor) - 1))
    replacement = data.draw(st.sampled_from(string.ascii_letters + string.digits + "-_"))
    tampered = cursor[:position] + replacement + cursor[position + 1:]
    try:
        assert pagination.decode("movies", tampered) == key
    except InvalidCursor:
        pass


# --- tokens --------------------------------------------------------------------------------------

@FAST
@given(st.text(max_size=300) | st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-_=",
                                                 max_size=40), min_size=3, max_size=3).map(".".join))
def test_token_verify_raises_invalid_token_for_any_text(token):
    for expected in (tokens.ACCESS, tokens.REFRESH):
        with pytest.raises(InvalidToken):
            tokens.verify(token, expected)


def _signed(claims):
    """An HS256 token with the real key over any claims (built by hand: PyJWT refuses odd claim types)."""
    import base64
    import hashlib
    import hmac

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    signing_input = f"{b64(header)}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(settings.jwt_secret().encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


claim_values = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10) \
    | st.lists(st.text(max_size=5), max_size=2)


@FAST
@given(st.dictionaries(st.sampled_from(["sub", "typ", "iat", "exp", "jti", "iss", "aud", "fam", "nbf"]),
                       claim_values))
def test_token_verify_returns_claims_or_raises_invalid_token_for_any_signed_claims(claims):
    token = _signed(claims)
    try:
        verified = tokens.verify(token, tokens.ACCESS)
    except InvalidToken:
        return
    assert verified["typ"] == tokens.ACCESS  # reached only by a fully valid set of claims
    assert verified["exp"] > time.time() - tokens.CLOCK_SKEW_SECONDS


@FAST
@given(st.sampled_from([tokens.ACCESS, tokens.REFRESH]), st.text(min_size=1, max_size=20))
def test_issued_tokens_verify_only_as_their_own_type(token_type, subject):
    pair = tokens.issue_pair(subject, "user")
    other = tokens.REFRESH if token_type == tokens.ACCESS else tokens.ACCESS
    assert tokens.verify(pair[token_type], token_type)["sub"] == subject
    with pytest.raises(InvalidToken):
        tokens.verify(pair[token_type], other)
