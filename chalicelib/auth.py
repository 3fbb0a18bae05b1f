"""Accounts: sign-up, login with lockout, refresh-token rotation with reuse detection, logout."""
import re
import unicodedata
import uuid

import bcrypt

from chalicelib import clock, tokens
from chalicelib.db import ConditionFailed, Transaction, sessions, users
from chalicelib.errors import (
    InvalidCredentials, InvalidToken, ServiceUnavailable, TokenReused, TooManyAttempts, UsernameTaken,
    ValidationError)
from chalicelib.settings import get_settings

USERNAME_PATTERN = re.compile(r"[\w.@+-]+\Z")  # Django's rule: letters, digits and @.+-_
USERNAME_MIN, USERNAME_MAX = 3, 150
PASSWORD_MIN_CHARS, PASSWORD_MAX_BYTES = 6, 72  # bcrypt only ever reads the first 72 bytes
ROLE_USER, ROLE_ADMIN = "user", "admin"
REVOKE_ATTEMPTS = 3  # a revocation put that meets a rotation's transaction is repeated this many times


def normalize_username(raw):
    """(display name, uniqueness key): NFKC-normalised, and case-folded for the key."""
    name = unicodedata.normalize("NFKC", raw).strip()
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise ValidationError(
            f"Username must be {USERNAME_MIN} to {USERNAME_MAX} characters.", field="username")
    if not USERNAME_PATTERN.match(name) or "\n" in name:
        raise ValidationError(
            "Username may contain only letters, digits and @ . + - _", field="username")
    return name, unicodedata.normalize("NFKC", name.casefold())


def check_password_rules(password):
    """At least 6 characters and at most 72 UTF-8 bytes (all that bcrypt reads): never truncated."""
    if len(password) < PASSWORD_MIN_CHARS:
        raise ValidationError(
            f"Password must be at least {PASSWORD_MIN_CHARS} characters.", field="password")
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError("Password must be valid Unicode text.", field="password")
    if size > PASSWORD_MAX_BYTES:
        raise ValidationError(
            f"Password must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8 (accented letters and "
            f"other non-ASCII characters count 2 to 4 bytes each); this one has {size}.",
            field="password")
    if "\x00" in password:
        raise ValidationError("Password must not contain NUL characters.", field="password")


def hash_password(password, rounds=None):
    rounds = rounds or get_settings().bcrypt_rounds
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


# Salt and digest of a bcrypt hash of a random string that was thrown away: no password matches it.
_DUMMY_SALT_AND_DIGEST = "qIapYgRGXi3.xiYPHBR39esWaGZ.Blh4O.Gu/fQETpjKOlnNlPY6u"


def _dummy_hash():
    """Checked for unknown users so that they cost the same bcrypt time as a wrong password.

    It carries the configured cost and is built, not hashed, so that even the first unknown-user
    login of a cold start costs exactly one bcrypt check, like every other login.
    """
    return f"$2b${get_settings().bcrypt_rounds:02d}${_DUMMY_SALT_AND_DIGEST}".encode("ascii")


def public_user(user):
    return {"id": user["user_id"], "username": user["username"], "role": user.get("role", ROLE_USER)}


def create_user(username: str, password: str, role: str = ROLE_USER) -> dict:
    """Store a new user; UsernameTaken if the case-insensitive name exists."""
    name, key = normalize_username(username)
    check_password_rules(password)
    user = {
        "user_id": key,
        "username": name,
        "role": role,
        "password_hash": hash_password(password),
        "created_at": clock.now_iso(),
    }
    try:
        users.put_new(user)
    except ConditionFailed as refused:
        # botocore retries a put whose response was lost; the hash (random salt) proves it was ours.
        if (refused.old or {}).get("password_hash") != user["password_hash"]:
            raise UsernameTaken("That username is already taken.")
    return public_user(user)


def set_role(username: str, role: str) -> None:
    """Grant or withdraw a role (used only by the CLI; /signup never grants admin)."""
    _, key = normalize_username(username)
    if not users.set_role(key, role):
        raise InvalidCredentials("No such user.")


def login(username: str, password: str) -> dict:
    """Check credentials and return a fresh token pair.

    One Query reads the profile and the failure counter together. Unknown users and wrong passwords
    get the same answer and cost the same bcrypt time; after too many failures every attempt,
    a correct one included, is refused until the back-off ends.
    """
    try:
        _, key = normalize_username(username)
    except ValidationError:
        key = None
    user, failures = users.login_state(key) if key else (None, None)
    now = clock.now_int()
    locked_until = (failures or {}).get("locked_until", 0)
    if locked_until > now:
        raise TooManyAttempts("Too many failed logins; try again later.", retry_after=locked_until - now)

    stored = user["password_hash"].encode("ascii") if user else _dummy_hash()
    try:
        matches = bcrypt.checkpw(password.encode("utf-8"), stored)
    except ValueError:  # over 72 bytes: never a match, never a 500
        matches = False
    if not (user and matches):
        if key:
            _record_failure(key, failures, now)
        raise InvalidCredentials("Invalid username or password.")
    if failures:
        users.clear_failures(key)
    return tokens.issue_pair(user["user_id"], user.get("role", ROLE_USER))


def _record_failure(key: str, failures: dict, now: int) -> None:
    """Count a failure in the current window; the last allowed failure starts the back-off."""
    settings = get_settings()
    window_open = failures and failures.get("window_ends", 0) > now
    count = (failures["count"] + 1) if window_open else 1
    window_ends = failures["window_ends"] if window_open else now + settings.login_window_seconds
    counter = {"count": count, "window_ends": window_ends}
    if count >= settings.login_max_failures:
        counter["locked_until"] = now + settings.login_backoff_seconds
    counter["expires_at"] = max(window_ends, counter.get("locked_until", 0))
    # Concurrent failures may overwrite each other's count: the lockout is a brake, not a ledger.
    users.put_failures(key, counter)


def refresh(refresh_token: str) -> dict:
    """Rotate: mark the presented refresh token used and hand out a new pair of the same family.

    One TransactWriteItems checks that the family is not revoked and records the token's jti.
    A token presented twice revokes its whole family (someone else may hold a copy).
    """
    claims = tokens.verify(refresh_token, tokens.REFRESH)
    _record_rotation(claims)
    user = users.get(claims["sub"])
    if user is None:
        raise InvalidToken("The account no longer exists.")
    if claims["iat"] < user.get("sessions_revoked_at", 0):
        raise InvalidToken("This session has been revoked.")
    # The role is read again so that a withdrawn admin right does not live on in rotated tokens.
    return tokens.issue_pair(user["user_id"], user.get("role", ROLE_USER), family=claims["fam"])


def _record_rotation(claims: dict) -> None:
    """Record the refresh token's jti as used, or refuse the token.

    Each rotation carries its own id (also the ClientRequestToken): when botocore retries a
    transaction whose response was lost, finding our own id on the used-jti item means the first
    attempt landed, so the retry is not mistaken for a reuse (which would revoke the session).
    """
    rotation = str(uuid.uuid4())
    tx = Transaction(token=rotation)
    sessions.family_not_revoked_part(tx, "family", claims["fam"])
    sessions.mark_used_part(tx, "token", claims["jti"], claims["fam"], rotation, claims["exp"])
    result = tx.commit()  # a TransactionConflict is retried in there (a new rotation id is not needed)
    if result.ok:
        return
    if result.failed("family"):
        raise InvalidToken("This session has been revoked.")
    if not result.failed("token"):
        raise ServiceUnavailable("The session store is busy; retry shortly.")
    if (result.old("token") or {}).get("rotation") == rotation:
        return  # our own first attempt landed; its response was lost
    revoke_family(claims["fam"], claims["exp"] + get_settings().refresh_token_ttl)
    raise TokenReused("This refresh token was already used; its session is revoked.")


def revoke_family(family: str, expires_at: int) -> None:
    """Mark a token family revoked."""
    if not sessions.revoke_family(family, expires_at, attempts=REVOKE_ATTEMPTS):
        raise ServiceUnavailable("The session store is busy; retry shortly.")


def logout_everywhere(caller: str) -> None:
    """Revoke every refresh token the caller was issued before now (one UpdateItem on the profile;
    /token/refresh already reads the profile, so this costs refreshes nothing)."""
    users.revoke_sessions(caller, clock.now_int())


def logout(refresh_token: str, caller: str = None) -> None:
    """Revoke the session that ``refresh_token`` belongs to (every token rotated from it)."""
    claims = tokens.verify(refresh_token, tokens.REFRESH)
    if caller is not None and claims["sub"] != caller:
        raise InvalidToken("The refresh token does not belong to the caller.")
    revoke_family(claims["fam"], claims["exp"] + get_settings().refresh_token_ttl)
