"""Access and refresh tokens: HS256 pinned, every claim checked, rotation with reuse detection, logout.

Forged tokens are built here with PyJWT (or by hand where PyJWT refuses to build them) and sent to a
protected route; each must be refused with 401 and the JSON error shape, never accepted and never a 500.
"""
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from chalicelib import clock as app_clock, keys, settings, storage

PROTECTED = "/my-bookings/"


# --- helpers ---------------------------------------------------------------------------------

def _secret():
    return settings.jwt_secret()


def _claims(**overrides):
    """Claims of a well-formed access token for alice; ``None`` values are removed."""
    s = settings.get_settings()
    now = int(time.time())
    claims = {"sub": "alice", "typ": "access", "role": "user", "iat": now, "exp": now + 300,
              "jti": "test-jti", "iss": s.jwt_issuer, "aud": s.jwt_audience}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hand_made(header, claims, signature=b""):
    """A token assembled by hand, for headers PyJWT would not produce."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signature)}"


def _hs256_signature(signing_input, key):
    return hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()


def _assert_401(response):
    assert response.status_code == 401, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert response.data["Code"] in {"InvalidToken", "Unauthorized", "TokenReused"}
    assert response.data["Message"]
    assert response.data["request_id"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _decode_unverified(token):
    return jwt.decode(token, options={"verify_signature": False})


GRACE = 5  # REFRESH_REUSE_GRACE_SECONDS' default


@pytest.fixture
def clock():
    """The app's clock, stopped at the real time and moved forward by the test."""
    with app_clock.frozen() as frozen:
        yield frozen


@pytest.fixture
def alice(api):
    """alice signed up and logged in: her token pair."""
    assert api.signup().status_code == 201
    response = api.login()
    assert response.status_code == 200
    return response.data


# --- a genuine token works (so every 401 below is caused by the forgery alone) ---------------

def test_genuine_access_token_is_accepted(api, alice):
    assert api.get(PROTECTED, token=alice["access"]).status_code == 200


def test_hand_built_token_with_the_real_key_is_accepted(api, alice):
    """The forging helpers are sound: a correctly signed HS256 token made by them passes."""
    token = jwt.encode(_claims(), _secret(), algorithm="HS256")
    assert api.get(PROTECTED, token=token).status_code == 200


# --- algorithms --------------------------------------------------------------------------------

def test_token_with_alg_none_is_rejected(api, alice):
    token = _hand_made({"alg": "none", "typ": "JWT"}, _claims())
    _assert_401(api.get(PROTECTED, token=token))


def test_token_with_alg_none_in_other_spellings_is_rejected(api, alice):
    for alg in ("None", "NONE", "nOnE"):
        _assert_401(api.get(PROTECTED, token=_hand_made({"alg": alg, "typ": "JWT"}, _claims())))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_signed_with_hs512_and_the_real_key_is_rejected(api, alice):
    token = jwt.encode(_claims(), _secret(), algorithm="HS512")
    _assert_401(api.get(PROTECTED, token=token))


def test_token_with_rs256_header_signed_with_the_hmac_key_is_rejected(api, alice):
    """Algorithm confusion: an RS256 header over an HMAC of the shared secret."""
    header, claims = {"alg": "RS256", "typ": "JWT"}, _claims()
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    token = f"{signing_input}.{_b64(_hs256_signature(signing_input, _secret()))}"
    _assert_401(api.get(PROTECTED, token=token))


def test_token_signed_with_a_real_rsa_key_is_rejected(api, alice):
    from cryptography.hazmat.primitives.asymmetric import rsa

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), private_key, algorithm="RS256")
    _assert_401(api.get(PROTECTED, token=token))


# --- signature and payload ---------------------------------------------------------------------

def test_token_signed_with_a_wrong_key_is_rejected(api, alice):
    token = jwt.encode(_claims(), "some-other-secret-that-is-long-enough-0123", algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


def test_token_with_a_changed_payload_is_rejected(api, alice):
    """The signature of alice's genuine token no longer matches once the payload says admin/bob."""
    header, _, signature = alice["access"].split(".")
    forged = {**_decode_unverified(alice["access"]), "sub": "bob", "role": "admin"}
    token = f"{header}.{_b64(json.dumps(forged).encode())}.{signature}"
    _assert_401(api.get(PROTECTED, token=token))


def test_token_without_a_signature_is_rejected(api, alice):
    header, payload, _ = alice["access"].split(".")
    _assert_401(api.get(PROTECTED, token=f"{header}.{payload}."))


# --- time claims ---------------------------------------------------------------------------------

def test_token_without_iat_is_rejected(api, alice):
    token = jwt.encode(_claims(iat=None), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


def test_token_issued_in_the_future_is_rejected(api, alice):
    now = int(time.time())
    token = jwt.encode(_claims(iat=now + 3600, exp=now + 7200), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


def test_expired_token_is_rejected(api, alice):
    now = int(time.time())
    token = jwt.encode(_claims(iat=now - 7200, exp=now - 3600), _secret(), algorithm="HS256")
    response = api.get(PROTECTED, token=token)
    _assert_401(response)
    assert "expired" in response.data["Message"]


def test_token_without_exp_is_rejected(api, alice):
    token = jwt.encode(_claims(exp=None), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


# --- issuer, audience, type ----------------------------------------------------------------------

def test_token_with_a_wrong_issuer_is_rejected(api, alice):
    token = jwt.encode(_claims(iss="someone-else"), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


def test_token_whose_issuer_is_a_substring_of_ours_is_rejected(api, alice):
    """Regression guard for partial issuer matching (CVE-2024-53861 in PyJWT 2.10.0)."""
    partial = settings.get_settings().jwt_issuer[:5]
    token = jwt.encode(_claims(iss=partial), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


def test_token_with_a_wrong_audience_is_rejected(api, alice):
    token = jwt.encode(_claims(aud="another-api"), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


def test_token_without_an_audience_is_rejected(api, alice):
    token = jwt.encode(_claims(aud=None), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


def test_refresh_token_used_as_access_token_is_rejected(api, alice):
    _assert_401(api.get(PROTECTED, token=alice["refresh"]))


def test_access_token_used_as_refresh_token_is_rejected(api, alice):
    _assert_401(api.post("/token/refresh", {"refresh": alice["access"]}))


def test_token_without_a_type_is_rejected(api, alice):
    token = jwt.encode(_claims(typ=None), _secret(), algorithm="HS256")
    _assert_401(api.get(PROTECTED, token=token))


# --- the Authorization header ----------------------------------------------------------------

def test_missing_authorization_header_is_rejected(api):
    response = api.get(PROTECTED)
    _assert_401(response)
    assert response.data["Code"] == "Unauthorized"


MALFORMED_HEADERS = {
    "bearer-only": "Bearer", "bearer-blank": "Bearer ", "basic-scheme": "Basic YWxpY2U6c2VjcmV0",
    "other-scheme": "Token abc.def.ghi", "not-a-jwt": "Bearer not-a-jwt", "three-junk-parts": "Bearer a.b.c",
    "only-dots": "Bearer ....", "very-long": "Bearer " + "A" * 4000, "lowercase-scheme-alone": "bearer",
    "two-tokens": "Bearer a.b.c d.e.f",
}


def test_malformed_authorization_header_is_rejected(api, alice):
    wrong = {}
    for name, header in MALFORMED_HEADERS.items():
        response = api.get(PROTECTED, headers={"Authorization": header})
        try:
            _assert_401(response)
        except (AssertionError, KeyError, TypeError):
            wrong[name] = (response.status_code, response.body[:120])
    assert wrong == {}


def test_bearer_scheme_is_case_insensitive(api, alice):
    """RFC 7235: the auth scheme is case-insensitive, so 'bearer <token>' is a valid header."""
    response = api.get(PROTECTED, headers={"Authorization": f"bearer {alice['access']}"})
    assert response.status_code == 200


# --- refresh rotation ------------------------------------------------------------------------

def test_refresh_returns_a_new_access_and_a_new_refresh_token(api, alice):
    response = api.post("/token/refresh", {"refresh": alice["refresh"]})
    assert response.status_code == 200, response.body
    assert set(response.data) >= {"access", "refresh"}
    assert response.data["access"] != alice["access"]
    assert response.data["refresh"] != alice["refresh"]
    assert api.get(PROTECTED, token=response.data["access"]).status_code == 200


def test_rotated_refresh_token_stays_in_the_same_family(api, alice):
    rotated = api.post("/token/refresh", {"refresh": alice["refresh"]}).data
    assert _decode_unverified(rotated["refresh"])["fam"] == _decode_unverified(alice["refresh"])["fam"]


def test_used_refresh_token_is_recorded_in_dynamodb_with_a_ttl(api, alice, aws):
    api.post("/token/refresh", {"refresh": alice["refresh"]})
    claims = _decode_unverified(alice["refresh"])
    item = aws.get_item(TableName=storage.table_name(),
                        Key=storage.to_item(keys.used_refresh_key(claims["jti"])))["Item"]
    assert storage.from_item(item)[storage.TTL_ATTRIBUTE] == claims["exp"]


def test_refresh_token_cannot_be_used_twice(api, alice, clock):
    assert api.post("/token/refresh", {"refresh": alice["refresh"]}).status_code == 200
    clock.advance(GRACE + 1)
    _assert_401(api.post("/token/refresh", {"refresh": alice["refresh"]}))


def test_reusing_a_refresh_token_revokes_the_whole_family(api, alice, clock):
    newest = api.post("/token/refresh", {"refresh": alice["refresh"]}).data["refresh"]
    clock.advance(GRACE + 1)
    reuse = api.post("/token/refresh", {"refresh": alice["refresh"]})
    _assert_401(reuse)
    assert reuse.data["Code"] == "TokenReused"
    # The thief (or the owner) holding the newest token is cut off too.
    _assert_401(api.post("/token/refresh", {"refresh": newest}))


def test_reuse_in_one_session_leaves_other_sessions_working(api, alice, clock):
    other_session = api.login().data
    api.post("/token/refresh", {"refresh": alice["refresh"]})
    clock.advance(GRACE + 1)
    assert api.post("/token/refresh", {"refresh": alice["refresh"]}).data["Code"] == "TokenReused"
    assert api.post("/token/refresh", {"refresh": other_session["refresh"]}).status_code == 200


def test_refresh_repeated_within_the_grace_window_gets_the_same_pair_and_revokes_nothing(api, alice, clock):
    first = api.post("/token/refresh", {"refresh": alice["refresh"]})
    clock.advance(GRACE - 1)
    second = api.post("/token/refresh", {"refresh": alice["refresh"]})
    assert first.status_code == second.status_code == 200
    assert second.data == first.data
    assert api.get(PROTECTED, token=second.data["access"]).status_code == 200
    assert api.post("/token/refresh", {"refresh": second.data["refresh"]}).status_code == 200


def test_reuse_just_after_the_grace_window_revokes_the_family(api, alice, clock):
    rotated = api.post("/token/refresh", {"refresh": alice["refresh"]}).data
    clock.advance(GRACE + 0.01)
    assert api.post("/token/refresh", {"refresh": alice["refresh"]}).data["Code"] == "TokenReused"
    _assert_401(api.post("/token/refresh", {"refresh": rotated["refresh"]}))


def test_grace_window_comes_from_the_environment(api, alice, clock, monkeypatch):
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")
    settings.reset()
    settings.get_settings()
    api.post("/token/refresh", {"refresh": alice["refresh"]})
    clock.advance(0.5)
    assert api.post("/token/refresh", {"refresh": alice["refresh"]}).data["Code"] == "TokenReused"
    settings.reset()


def test_refresh_token_without_a_session_generation_is_rejected(api, alice):
    """Refresh tokens issued before session generations existed: their holders log in again."""
    claims = {k: v for k, v in _decode_unverified(alice["refresh"]).items() if k != "gen"}
    _assert_401(api.post("/token/refresh", {"refresh": jwt.encode(claims, _secret(), algorithm="HS256")}))


def test_refresh_token_with_a_malformed_generation_is_rejected(api, alice):
    for generation in ("0", -1, True, 1.5, None):
        claims = {**_decode_unverified(alice["refresh"]), "gen": generation}
        _assert_401(api.post("/token/refresh", {"refresh": jwt.encode(claims, _secret(), algorithm="HS256")}))
    assert api.post("/token/refresh", {"refresh": alice["refresh"]}).status_code == 200  # the genuine one works


def test_refresh_with_a_forged_refresh_token_is_rejected(api, alice):
    claims = {**_decode_unverified(alice["refresh"]), "sub": "bob"}
    token = jwt.encode(claims, "not-the-secret-but-long-enough-for-hs256-00", algorithm="HS256")
    _assert_401(api.post("/token/refresh", {"refresh": token}))


def test_refresh_with_an_expired_refresh_token_is_rejected(api, alice):
    now = int(time.time())
    claims = {**_decode_unverified(alice["refresh"]), "iat": now - 7200, "exp": now - 3600}
    _assert_401(api.post("/token/refresh", {"refresh": jwt.encode(claims, _secret(), algorithm="HS256")}))


def test_refresh_of_a_deleted_account_is_rejected(api, alice, aws):
    aws.delete_item(TableName=storage.table_name(), Key=storage.to_item(keys.user_key("alice")))
    _assert_401(api.post("/token/refresh", {"refresh": alice["refresh"]}))


# --- logout ---------------------------------------------------------------------------------

def test_logout_answers_204_with_an_empty_body(api, alice):
    response = api.post("/logout", {"refresh": alice["refresh"]})
    assert response.status_code == 204
    assert not response.body


def test_logout_revokes_the_refresh_token(api, alice):
    api.post("/logout", {"refresh": alice["refresh"]})
    _assert_401(api.post("/token/refresh", {"refresh": alice["refresh"]}))


def test_logout_revokes_tokens_rotated_from_the_same_session(api, alice):
    rotated = api.post("/token/refresh", {"refresh": alice["refresh"]}).data
    assert api.post("/logout", {"refresh": rotated["refresh"]}).status_code == 204
    _assert_401(api.post("/token/refresh", {"refresh": rotated["refresh"]}))


def test_logout_with_the_owners_bearer_token_is_accepted(api, alice):
    response = api.post("/logout", {"refresh": alice["refresh"]}, token=alice["access"])
    assert response.status_code == 204
    _assert_401(api.post("/token/refresh", {"refresh": alice["refresh"]}))


def test_logout_of_another_users_session_is_refused_and_changes_nothing(api, alice):
    bob = api.token_for("bob")
    _assert_401(api.post("/logout", {"refresh": alice["refresh"]}, token=bob))
    assert api.post("/token/refresh", {"refresh": alice["refresh"]}).status_code == 200


def test_logout_with_an_invalid_bearer_token_is_rejected(api, alice):
    _assert_401(api.post("/logout", {"refresh": alice["refresh"]}, token="not.a.token"))


def test_logout_with_an_access_token_in_the_body_is_rejected(api, alice):
    _assert_401(api.post("/logout", {"refresh": alice["access"]}))


def test_logout_without_a_refresh_token_is_a_400(api, alice):
    response = api.post("/logout", {})
    assert response.status_code == 400
    assert response.data["Code"] == "ValidationError"


def test_logout_leaves_other_sessions_of_the_same_user_working(api, alice):
    other_session = api.login().data
    api.post("/logout", {"refresh": alice["refresh"]})
    assert api.post("/token/refresh", {"refresh": other_session["refresh"]}).status_code == 200


def _logout_everywhere(api, access):
    return api.request("POST", "/logout/", token=access, headers={"Content-Type": "application/json"})


def test_logout_with_only_a_bearer_token_ends_every_session_of_the_caller(api, clock):
    """All within one second of the clock: revocation is by session generation, not by issue time."""
    api.signup("alice")
    first, second = api.login("alice").data, api.login("alice").data
    rotated = api.post("/token/refresh", {"refresh": second["refresh"]}).data
    assert _logout_everywhere(api, first["access"]).status_code == 204
    for refresh_token in (first["refresh"], rotated["refresh"]):
        refreshed = api.post("/token/refresh", {"refresh": refresh_token})
        assert refreshed.status_code == 401
        assert refreshed.data["Code"] == "InvalidToken"
    fresh = api.login("alice").data
    assert api.post("/token/refresh", {"refresh": fresh["refresh"]}).status_code == 200


def test_refresh_token_rotated_in_the_same_second_as_logout_everywhere_is_refused(api, clock):
    api.signup("alice")
    session = api.login("alice").data
    assert _logout_everywhere(api, session["access"]).status_code == 204
    _assert_401(api.post("/token/refresh", {"refresh": session["refresh"]}))


def test_logout_everywhere_leaves_other_users_sessions_working(api, clock):
    api.signup("alice")
    api.signup("bob")
    alice_session, bob_session = api.login("alice").data, api.login("bob").data
    _logout_everywhere(api, alice_session["access"])
    assert api.post("/token/refresh", {"refresh": bob_session["refresh"]}).status_code == 200


def test_logout_everywhere_moves_the_profile_to_the_next_session_generation(api, aws, clock):
    api.signup("alice")
    session = api.login("alice").data
    assert _decode_unverified(session["refresh"])["gen"] == 0
    _logout_everywhere(api, session["access"])
    _logout_everywhere(api, session["access"])  # an access token outlives logout (15 min)
    profile = storage.from_item(aws.get_item(TableName=storage.table_name(),
                                             Key=storage.to_item(keys.user_key("alice")))["Item"])
    assert profile["session_generation"] == 2
    assert _decode_unverified(api.login("alice").data["refresh"])["gen"] == 2


def test_logout_everywhere_of_a_deleted_account_answers_204(api, aws):
    api.signup("alice")
    session = api.login("alice").data
    aws.delete_item(TableName=storage.table_name(), Key=storage.to_item(keys.user_key("alice")))
    assert _logout_everywhere(api, session["access"]).status_code == 204


def test_logout_without_a_body_or_a_token_is_a_400(api):
    assert api.request("POST", "/logout/").status_code == 400
