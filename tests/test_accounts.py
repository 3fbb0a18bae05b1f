"""Accounts: username and password rules, case-insensitive uniqueness, login lockout, no user enumeration."""
import time

import bcrypt
import pytest

from chalicelib import auth, clock as app_clock, keys, settings, storage


def _stored_user(aws, key):
    item = aws.get_item(TableName=storage.table_name(), Key=storage.to_item(keys.user_key(key)))
    return storage.from_item(item["Item"]) if "Item" in item else None


def _assert_400(response, field):
    assert response.status_code == 400, response.body
    assert response.data["Code"] == "ValidationError"
    assert response.data["field"] == field
    assert response.data["request_id"]


@pytest.fixture
def clock():
    """The app's clock, stopped at the real time and moved forward by the test."""
    with app_clock.frozen() as frozen:
        yield frozen


@pytest.fixture
def lockout_of(monkeypatch):
    """Apply smaller lockout settings from the environment (as a stage would) for the test's duration.

    Settings are re-read here, outside any request: chalice.test.Client swaps in the 'dev' stage's
    environment while it serves one, and the test stage must stay in force.
    """
    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        settings.reset()
        settings.get_settings()
        settings.jwt_secret()
    yield apply
    settings.reset()


# --- usernames -----------------------------------------------------------------------------

def test_username_of_3_characters_is_accepted(api):
    assert api.signup("bob").status_code == 201


def test_username_shorter_than_3_characters_is_rejected(api):
    _assert_400(api.signup("bo"), "username")


def test_username_of_150_characters_is_accepted(api):
    assert api.signup("a" * 150).status_code == 201


def test_username_longer_than_150_characters_is_rejected(api):
    _assert_400(api.signup("a" * 151), "username")


def test_username_may_use_letters_digits_and_at_dot_plus_minus_underscore(api):
    response = api.signup("Jo.e+1-x_y@example")
    assert response.status_code == 201
    assert response.data["username"] == "Jo.e+1-x_y@example"


def test_username_may_use_non_ascii_letters(api):
    assert api.signup("Łukasz").status_code == 201
    assert api.signup("山田太郎").status_code == 201


DISALLOWED_USERNAMES = {
    "space": "al ice", "bang": "alice!", "slash": "al/ice", "hash": "al#ice", "markup": "<script>",
    "zero-width-space": "al\u200bice", "newline": "ali\nce", "nul": "al\x00ice", "quote": "al'ice",
    "semicolon": "ali;ce", "percent": "a%2e", "combining-mark-only": "ab\u0301\u0301",
}


def test_username_with_other_characters_is_rejected(api):
    wrong = {}
    for name, username in DISALLOWED_USERNAMES.items():
        response = api.signup(username)
        if not (response.status_code == 400 and response.data.get("field") == "username"):
            wrong[name] = (response.status_code, response.body[:120])
    assert wrong == {}


def test_username_is_nfkc_normalised(api):
    response = api.signup("ｊｏｈｎ")  # fullwidth letters
    assert response.status_code == 201
    assert response.data["username"] == "john"
    assert api.login("john").status_code == 200


def test_composed_and_decomposed_accents_are_the_same_username(api):
    assert api.signup("Jos\u00e9").status_code == 201
    assert api.signup("Jose\u0301").status_code == 409


def test_usernames_differing_only_in_case_cannot_both_exist(api):
    assert api.signup("Alice").status_code == 201
    response = api.signup("alice")
    assert response.status_code == 409
    assert response.data["Code"] == "UsernameTaken"


def test_usernames_are_compared_with_full_case_folding(api):
    assert api.signup("straße").status_code == 201
    assert api.signup("STRASSE").status_code == 409


def test_login_is_case_insensitive_and_keeps_the_display_name(api, aws):
    api.signup("Alice")
    assert api.login("ALICE").status_code == 200
    assert _stored_user(aws, "alice")["username"] == "Alice"


# --- passwords -----------------------------------------------------------------------------

def test_password_secret_from_the_original_readme_works(api):
    assert api.signup("alice", "secret").status_code == 201
    assert api.login("alice", "secret").status_code == 200


def test_password_shorter_than_6_characters_is_rejected(api):
    _assert_400(api.signup("alice", "12345"), "password")


def test_password_minimum_is_counted_in_characters_not_bytes(api):
    _assert_400(api.signup("alice", "ééééé"), "password")  # 10 bytes but 5 characters


def test_password_of_72_bytes_is_accepted_and_works(api):
    assert api.signup("alice", "p" * 72).status_code == 201
    assert api.login("alice", "p" * 72).status_code == 200


def test_password_of_73_bytes_is_a_clear_400(api):
    response = api.signup("alice", "p" * 73)
    _assert_400(response, "password")
    assert "72 bytes" in response.data["Message"]


def test_multibyte_password_is_measured_in_utf8_bytes(api):
    assert api.signup("alice", "é" * 36).status_code == 201  # 36 characters, 72 bytes
    _assert_400(api.signup("bob", "é" * 37), "password")  # 37 characters, 74 bytes


def test_four_byte_characters_count_four_bytes(api):
    assert api.signup("alice", "😀" * 18).status_code == 201  # 72 bytes
    _assert_400(api.signup("bob", "😀" * 19), "password")  # 76 bytes


def test_password_with_a_nul_character_is_rejected(api):
    _assert_400(api.signup("alice", "secret\x00more"), "password")


def test_login_with_a_password_over_72_bytes_is_refused_not_truncated(api):
    """bcrypt 5 rejects such input; an older one would compare only the first 72 bytes."""
    api.signup("alice", "p" * 72)
    response = api.login("alice", "p" * 72 + "extra")
    assert response.status_code == 401
    assert response.data["Code"] == "InvalidCredentials"


def test_signup_answer_and_stored_user_never_expose_the_password(api, aws):
    response = api.signup("alice", "secret")
    assert response.status_code == 201
    assert "secret" not in response.body.decode()
    assert not {"password", "password_hash"} & set(response.data)
    stored = _stored_user(aws, "alice")
    assert "password" not in stored
    assert stored["password_hash"].startswith("$2b$")
    assert bcrypt.checkpw(b"secret", stored["password_hash"].encode())


def test_password_hash_uses_the_configured_bcrypt_cost(api, aws):
    api.signup("alice")
    cost = int(_stored_user(aws, "alice")["password_hash"].split("$")[2])
    assert cost == settings.get_settings().bcrypt_rounds


# --- no user enumeration ---------------------------------------------------------------------

def _comparable(response):
    body = {k: v for k, v in response.data.items() if k != "request_id"}
    headers = {k: v for k, v in response.headers.items() if k.lower() != "x-request-id"}
    return response.status_code, body, headers


def test_unknown_user_and_wrong_password_get_identical_answers(api):
    api.signup("alice")
    wrong_password = api.login("alice", "not-her-password")
    unknown_user = api.login("nobody", "not-her-password")
    assert wrong_password.status_code == 401
    assert _comparable(unknown_user) == _comparable(wrong_password)


def test_invalid_username_at_login_gets_the_same_answer_as_a_wrong_password(api):
    api.signup("alice")
    assert _comparable(api.login("a!", "whatever")) == _comparable(api.login("alice", "whatever"))


@pytest.fixture
def checkpw_calls(monkeypatch):
    """Every (password, hash) that bcrypt.checkpw is asked to compare."""
    calls = []
    real = bcrypt.checkpw

    def counting(password, hashed):
        calls.append((password, hashed))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


def test_unknown_user_login_checks_the_password_against_a_dummy_hash(api, checkpw_calls):
    response = api.login("nobody", "secret")
    assert response.status_code == 401
    assert len(checkpw_calls) == 1
    _, hashed = checkpw_calls[0]
    assert hashed == auth._dummy_hash()


def test_wrong_password_login_costs_exactly_one_bcrypt_check_too(api, checkpw_calls):
    api.signup("alice")
    api.login("alice", "wrong-password")
    assert len(checkpw_calls) == 1


def test_invalid_username_login_still_costs_one_bcrypt_check(api, checkpw_calls):
    api.login("a!", "secret")
    assert len(checkpw_calls) == 1


def test_dummy_hash_has_the_configured_bcrypt_cost(api):
    api.signup("alice")
    real_cost = settings.get_settings().bcrypt_rounds
    assert auth._dummy_hash().startswith(f"$2b${real_cost:02d}$".encode())
    assert len(auth._dummy_hash()) == 60  # a well-formed bcrypt hash, so checkpw does the full work


def test_dummy_hash_is_not_hashed_at_login_time(api, monkeypatch):
    """The first unknown-user login of a cold start must not pay for an extra hashpw."""
    def refuse(*args):
        raise AssertionError("hashpw called during login")

    monkeypatch.setattr(bcrypt, "hashpw", refuse)
    assert api.login("nobody", "secret").status_code == 401


# --- lockout -----------------------------------------------------------------------------------

def _fail(api, username, times):
    for _ in range(times):
        assert api.login(username, "wrong-password").status_code == 401


def test_ten_failures_lock_the_login_even_for_the_correct_password(api):
    api.signup("alice")
    _fail(api, "alice", 10)
    response = api.login("alice", "secret")
    assert response.status_code == 429
    assert response.data["Code"] == "TooManyAttempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60


def test_nine_failures_do_not_lock_the_login(api):
    api.signup("alice")
    _fail(api, "alice", 9)
    assert api.login("alice", "secret").status_code == 200


def test_locked_login_answers_429_for_a_wrong_password_too(api):
    api.signup("alice")
    _fail(api, "alice", 10)
    response = api.login("alice", "wrong-password")
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_locked_login_does_not_check_the_password(api, checkpw_calls):
    api.signup("alice")
    _fail(api, "alice", 10)
    checkpw_calls.clear()
    api.login("alice", "secret")
    assert checkpw_calls == []


def test_failures_are_counted_in_dynamodb_with_a_ttl(api, aws):
    api.signup("alice")
    _fail(api, "alice", 3)
    item = aws.get_item(TableName=storage.table_name(), Key=storage.to_item(keys.login_failures_key("alice")))
    failures = storage.from_item(item["Item"])
    assert failures["count"] == 3
    assert failures[storage.TTL_ATTRIBUTE] >= failures["window_ends"] > time.time()


def test_lockout_counts_every_spelling_of_the_username_together(api):
    api.signup("alice")
    for spelling in ["alice", "ALICE", "Alice", "ａｌｉｃｅ", "aLiCe"] * 2:
        api.login(spelling, "wrong-password")
    assert api.login("alice", "secret").status_code == 429


def test_unknown_usernames_are_locked_out_the_same_way(api):
    """Otherwise the 429 would tell an attacker which usernames exist."""
    api.signup("alice")
    _fail(api, "alice", 10)
    _fail(api, "nobody", 10)
    known, unknown = api.login("alice", "x" * 6), api.login("nobody", "x" * 6)
    assert _comparable(known)[:2] == _comparable(unknown)[:2]


def test_successful_login_clears_the_failure_count(api):
    api.signup("alice")
    _fail(api, "alice", 9)
    assert api.login("alice", "secret").status_code == 200
    _fail(api, "alice", 9)
    assert api.login("alice", "secret").status_code == 200


def test_failures_older_than_the_window_are_forgotten(api, clock):
    api.signup("alice")
    _fail(api, "alice", 9)
    clock.advance(15 * 60 + 1)
    _fail(api, "alice", 1)
    assert api.login("alice", "secret").status_code == 200


def test_login_works_again_once_the_backoff_is_over(api, clock):
    api.signup("alice")
    _fail(api, "alice", 10)
    assert api.login("alice", "secret").status_code == 429
    clock.advance(15 * 60 + 1)
    assert api.login("alice", "secret").status_code == 200


def test_retry_after_counts_down_the_backoff(api, clock):
    api.signup("alice")
    _fail(api, "alice", 10)
    first = int(api.login("alice", "secret").headers["Retry-After"])
    clock.advance(600)
    later = int(api.login("alice", "secret").headers["Retry-After"])
    assert later <= first - 599


def test_lockout_thresholds_come_from_the_environment(api, lockout_of):
    lockout_of(LOGIN_MAX_FAILURES=3, LOGIN_BACKOFF_SECONDS=42)
    api.signup("alice")
    _fail(api, "alice", 3)
    response = api.login("alice", "secret")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 42


# --- look-alike usernames (Unicode TR39) -------------------------------------------------------

CYRILLIC_SCOPE = "\u0455\u0441\u043e\u0440\u0435"  # ѕсоре: every letter Cyrillic, reads "scope"


def test_name_that_looks_like_an_existing_one_is_refused_with_409(api):
    assert api.signup("scope").status_code == 201
    response = api.signup(CYRILLIC_SCOPE)
    assert response.status_code == 409
    assert response.data["Code"] == "UsernameTaken"


def test_the_existing_name_is_refused_too_when_the_look_alike_came_first(api):
    assert api.signup(CYRILLIC_SCOPE).status_code == 201
    assert api.signup("Scope").status_code == 409


@pytest.mark.parametrize("existing, look_alike", [
    ("paypal", "paypa1"), ("Iris", "lris"), ("g00gle", "gOOgle"), ("bob", "\U0001d41b\U0001d428\U0001d41b"),
], ids=["one-for-l", "capital-i-for-l", "zero-for-o", "mathematical-bold"])
def test_tr39_confusables_of_an_existing_name_are_refused(api, existing, look_alike):
    assert api.signup(existing).status_code == 201
    assert api.signup(look_alike).data["Code"] == "UsernameTaken"


def test_names_that_only_share_letters_are_both_accepted(api):
    assert api.signup("iris").status_code == 201  # lower-case i does not look like l
    assert api.signup("lris").status_code == 201
    assert api.signup("mallory").status_code == 201
    assert api.signup("malory").status_code == 201


def test_mixed_script_name_is_a_400(api):
    assert api.signup("mallory").status_code == 201
    response = api.signup("m\u0430llory")  # Cyrillic а among Latin letters
    _assert_400(response, "username")
    assert "script" in response.data["Message"]


def test_mixed_script_name_is_refused_even_with_nothing_to_be_confused_with(api):
    _assert_400(api.signup("\u0391lpha"), "username")  # Greek capital alpha, then Latin


def test_the_scripts_of_one_writing_system_are_not_mixed(api):
    assert api.signup("山田たろう").status_code == 201  # Han with Hiragana: Japanese
    assert api.signup("김철수金").status_code == 201  # Hangul with Han: Korean


def test_refused_look_alike_stores_nothing(api, aws):
    api.signup("scope")
    before = aws.scan(TableName=storage.table_name())["Count"]
    api.signup(CYRILLIC_SCOPE)
    api.signup("sc\u043epe")  # mixed: 400
    assert aws.scan(TableName=storage.table_name())["Count"] == before


def test_a_signup_retried_after_the_profile_was_removed_reclaims_its_own_look(api, aws):
    api.signup("alice")
    aws.delete_item(TableName=storage.table_name(), Key=storage.to_item(keys.user_key("alice")))
    assert api.signup("alice").status_code == 201
    assert api.signup("a1ice").status_code == 409


def test_login_does_not_import_the_confusables_library():
    """Only sign-up pays for it: login and refresh stay as fast to cold-start as before."""
    import subprocess
    import sys

    code = "import sys, chalicelib.auth; print('disarm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "False"


# --- throttling per (username, address) and per username --------------------------------------

@pytest.fixture
def from_address(monkeypatch):
    """Make the test client's requests come from ``address`` (requestContext.identity.sourceIp)."""
    from chalice.local import LambdaEventConverter

    def use(address):
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)
    return use


def _attempts_item(aws, username, address):
    item = aws.get_item(TableName=storage.table_name(),
                        Key=storage.to_item(keys.address_attempts_key(username, address)), ConsistentRead=True)
    return storage.from_item(item["Item"]) if "Item" in item else None


def test_lockout_of_one_address_leaves_the_owner_at_another_logging_in(api, from_address):
    api.signup("alice")
    from_address("198.51.100.7")  # the attacker
    _fail(api, "alice", 10)
    assert api.login("alice", "secret").status_code == 429  # even the right password, from there
    from_address("203.0.113.20")  # the owner
    assert api.login("alice", "secret").status_code == 200


def test_attempts_are_counted_per_address(api, aws, from_address):
    api.signup("alice")
    from_address("198.51.100.7")
    _fail(api, "alice", 4)
    from_address("198.51.100.8")
    _fail(api, "alice", 2)
    assert _attempts_item(aws, "alice", "198.51.100.7")["count"] == 4
    assert _attempts_item(aws, "alice", "198.51.100.8")["count"] == 2


def test_an_ipv6_client_is_counted_by_its_64_network(api, from_address):
    api.signup("alice")
    for host in range(10):  # one subscriber's /64 holds 2**64 addresses
        from_address(f"2001:db8:1:2::{host + 1:x}")
        assert api.login("alice", "wrong-password").status_code == 401
    from_address("2001:db8:1:2:ffff::1")
    assert api.login("alice", "secret").status_code == 429
    from_address("2001:db8:1:3::1")
    assert api.login("alice", "secret").status_code == 200


def test_client_address_buckets():
    assert auth.address_bucket("203.0.113.5") == "203.0.113.5"
    assert auth.address_bucket("::ffff:203.0.113.5") == "203.0.113.5"
    assert auth.address_bucket("2001:db8::1") == "2001:db8::/64"
    assert auth.address_bucket(None) == auth.address_bucket("") == auth.address_bucket("not an ip") == "unknown"


def _slow_settings(lockout_of):
    lockout_of(LOGIN_MAX_FAILURES=3, LOGIN_USERNAME_MAX_FAILURES=6, LOGIN_USERNAME_MAX_DELAY_SECONDS=30)


def _hammer_from_many_addresses(api, from_address, failures=6):
    for n in range(failures):
        from_address(f"198.51.100.{n // 3 + 1}")  # 3 per address: each locks only itself; the name is slowed
        assert api.login("alice", "wrong-password").status_code == 401


def test_many_failures_from_many_addresses_slow_the_name_down_with_a_short_retry_after(api, from_address,
                                                                                         lockout_of, clock):
    _slow_settings(lockout_of)
    api.signup("alice")
    _hammer_from_many_addresses(api, from_address)
    from_address("198.51.100.50")  # a new address: one password check per slot
    assert api.login("alice", "wrong-password").status_code == 401  # took the slot
    response = api.login("alice", "secret")
    assert response.status_code == 429
    assert response.data["Code"] == "TooManyAttempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    clock.advance(int(response.headers["Retry-After"]))
    assert api.login("alice", "secret").status_code == 200  # slowed, never locked


def test_an_address_the_owner_logged_in_from_is_not_slowed_down(api, from_address, lockout_of, clock):
    _slow_settings(lockout_of)
    api.signup("alice")
    from_address("203.0.113.20")
    assert api.login("alice", "secret").status_code == 200  # now a trusted address for alice
    _hammer_from_many_addresses(api, from_address)
    from_address("198.51.100.50")
    assert api.login("alice", "wrong-password").status_code == 401
    assert api.login("alice", "secret").status_code == 429  # a stranger's address waits for a slot
    from_address("203.0.113.20")
    for _ in range(3):
        assert api.login("alice", "secret").status_code == 200


def test_waiting_for_a_slot_never_locks_the_waiting_address(api, from_address, lockout_of, clock):
    _slow_settings(lockout_of)
    api.signup("alice")
    _hammer_from_many_addresses(api, from_address)
    from_address("198.51.100.50")
    api.login("alice", "wrong-password")
    for _ in range(10):  # more than LOGIN_MAX_FAILURES refusals
        assert api.login("alice", "secret").status_code == 429
    clock.advance(31)
    assert api.login("alice", "secret").status_code == 200


def test_the_slow_down_grows_with_the_failures_and_is_capped():
    s = settings.Settings.from_environ()
    limit = s.login_username_max_failures
    delays = [auth.username_delay(limit + extra, s) for extra in (0, 9, 10, 20, 30, 40, 1000)]
    assert delays == [1, 1, 2, 4, 8, 16, s.login_username_max_delay_seconds]


def test_the_name_counts_failures_from_every_address(api, aws, from_address):
    api.signup("alice")
    _hammer_from_many_addresses(api, from_address, failures=7)
    item = aws.get_item(TableName=storage.table_name(), Key=storage.to_item(keys.login_failures_key("alice")))
    assert storage.from_item(item["Item"])["count"] == 7


def test_a_locked_address_answers_429_without_checking_the_password(api, from_address, checkpw_calls):
    api.signup("alice")
    from_address("198.51.100.7")
    _fail(api, "alice", 10)
    checkpw_calls.clear()
    for _ in range(5):
        assert api.login("alice", "secret").status_code == 429
    assert checkpw_calls == []


def test_login_from_a_gateway_event_is_counted_under_its_source_ip(api, aws):
    """The address comes from requestContext.identity.sourceIp of the event API Gateway sends."""
    import json
    import uuid

    from app import app

    api.signup("alice")
    event = {
        "resource": "/login", "path": "/login", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "X-Forwarded-For": "10.9.9.9"},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": "/login", "httpMethod": "POST", "path": "/api/login", "stage": "api",
                           "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "192.0.2.44"}},
        "body": json.dumps({"username": "alice", "password": "wrong-password"}), "isBase64Encoded": False,
    }
    assert app(event, None)["statusCode"] == 401
    assert _attempts_item(aws, "alice", "192.0.2.44")["count"] == 1
    assert _attempts_item(aws, "alice", "10.9.9.9") is None  # never a header the client wrote
