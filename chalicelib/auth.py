"""Accounts: sign-up (one account per look of a name), login throttled per address and per
username, refresh-token rotation with reuse detection and a grace window, logout (one session or
every session)."""
import ipaddress
import re
import unicodedata
import uuid

import bcrypt

from chalicelib import clock, tokens
from chalicelib.db import Transaction, login_throttle, sessions, users
from chalicelib.errors import (
    InvalidCredentials, InvalidToken, ServiceUnavailable, TokenReused, TooManyAttempts, UsernameTaken,
    ValidationError)
from chalicelib.settings import get_settings

USERNAME_PATTERN = re.compile(r"[\w.@+-]+\Z")  # Django's rule: letters, digits and @.+-_
USERNAME_MIN, USERNAME_MAX = 3, 150
PASSWORD_MIN_CHARS, PASSWORD_MAX_BYTES = 6, 72  # bcrypt only ever reads the first 72 bytes
ROLE_USER, ROLE_ADMIN = "user", "admin"
ROLE_STAFF = "staff"  # door staff: check tickets in (issue 19); made only by the CLI, like admins
REVOKE_ATTEMPTS = 3  # a revocation put that meets a rotation's transaction is repeated this many times
UNKNOWN_ADDRESS = "unknown"  # where the gateway gave no usable client address
IPV6_PREFIX = 64  # one IPv6 subscriber usually holds a whole /64: it counts as one address
TRUST_REWRITE_SECONDS = 24 * 3600  # a trusted address is written again at most once a day


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


def check_username_script(name: str) -> None:
    """400 for a name that mixes scripts (``mаllory`` with a Cyrillic ``а``), as Unicode TR39's
    single-script rule says; the scripts one writing system uses together (Han with Hiragana and
    Katakana, Han with Hangul) count as one."""
    import disarm  # deferred: only sign-up pays for its import

    if disarm.is_mixed_script(name):
        raise ValidationError(
            "Username must be written in one script: letters of different alphabets (such as Latin "
            "and Cyrillic) cannot be mixed.", field="username")


def username_skeleton(name: str) -> str:
    """The name's confusable skeleton (Unicode TR39, with ``1``/``l`` and ``0``/``O`` alike, case
    folded): two names with one skeleton look the same, so only one account may have it."""
    import disarm

    return disarm.skeleton_key(name, digit_policy="tr39")


def create_user(username: str, password: str, role: str = ROLE_USER) -> dict:
    """Store a new user; UsernameTaken if the case-insensitive name, or one that looks the same, exists.

    One transaction writes the profile and the claim on the name's skeleton, so of two look-alike
    names signing up at once exactly one gets it.
    """
    name, key = normalize_username(username)
    check_username_script(name)
    check_password_rules(password)
    user = {
        "user_id": key,
        "username": name,
        "role": role,
        "password_hash": hash_password(password),
        "created_at": clock.now_iso(),
    }
    tx = Transaction()
    users.put_new_part(tx, "profile", user)
    users.claim_lookalike_part(tx, "lookalike", username_skeleton(name), key)
    result = tx.commit()
    # botocore retries a transaction whose response was lost; the hash (random salt) proves it was ours.
    if result.ok or (result.old("profile") or {}).get("password_hash") == user["password_hash"]:
        return public_user(user)
    if result.failed("profile"):
        raise UsernameTaken("That username is already taken.")
    if result.failed("lookalike"):
        raise UsernameTaken("That username is already taken: an existing one looks the same.")
    raise ServiceUnavailable("The account store is busy; retry shortly.")


def set_role(username: str, role: str) -> None:
    """Grant or withdraw a role (used only by the CLI; /signup never grants admin)."""
    _, key = normalize_username(username)
    if not users.set_role(key, role):
        raise InvalidCredentials("No such user.")


# --- login -----------------------------------------------------------------------------------------

def address_bucket(raw) -> str:
    """The client address a login is counted under: an IPv4 address, or an IPv6 /64 network (an
    IPv4-mapped IPv6 address counts as its IPv4 address); "unknown" when there is none."""
    try:
        address = ipaddress.ip_address((raw or "").strip())
    except ValueError:
        return UNKNOWN_ADDRESS
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def username_delay(failures: int, settings) -> int:
    """Seconds between two password checks for a username with ``failures`` in its window (at or
    over ``login_username_max_failures``): 1 s at the limit, doubling every 10 more, capped."""
    steps = (failures - settings.login_username_max_failures) // 10
    return min(settings.login_username_max_delay_seconds, 2 ** min(steps, 16))


def login(username: str, password: str, address: str = None) -> dict:
    """Check credentials from client ``address`` and return a fresh token pair.

    Throttling (docs/security.md, "Login throttling"): every attempt is counted for its
    (username, address) before the password is checked, atomically, so parallel guesses cannot
    slip past the limit; past it that address gets 429 until its back-off ends, whatever the
    password. A username with many failures from all addresses together is slowed down, not
    locked: one password check per short slot, and not at all for addresses the user has logged
    in from. Unknown users and wrong passwords get the same answers and cost the same bcrypt time.
    """
    try:
        _, key = normalize_username(username)
    except ValidationError:
        key = None
    if key is None:
        _password_matches(password, None)
        raise InvalidCredentials("Invalid username or password.")
    settings = get_settings()
    where = address_bucket(address)
    now = clock.now_int()
    state = users.login_state(key)
    attempts = login_throttle.count_attempt(key, where, now, settings.login_window_seconds)
    if attempts["count"] > settings.login_max_failures:
        raise TooManyAttempts("Too many failed logins; try again later.", retry_after=attempts["window_ends"] - now)
    trusted_until = state.trusted.get(where, 0)
    if trusted_until <= now:
        _wait_for_a_slot(key, where, state.failures, now, settings)
    user = state.profile
    if not _password_matches(password, user):
        if attempts["count"] >= settings.login_max_failures:
            login_throttle.lock_address(key, where, now + settings.login_backoff_seconds)
        login_throttle.count_failure(key, now, settings.login_window_seconds, settings.login_username_max_delay_seconds)
        raise InvalidCredentials("Invalid username or password.")
    login_throttle.forget_attempts(key, where)
    trust = settings.login_trusted_address_seconds
    if trusted_until < now + trust - min(TRUST_REWRITE_SECONDS, trust // 2):
        users.trust_address(key, where, now + trust)
    return tokens.issue_pair(user["user_id"], user.get("role", ROLE_USER), generation=users.generation_of(user))


def _wait_for_a_slot(key: str, where: str, failures, now: int, settings) -> None:
    """For a username over its failure limit: go on only with the next slot, else 429 (and the
    attempt is not held against the address: the owner's address is never locked by this)."""
    failures = failures or {}
    count = failures.get("count", 0) if failures.get("window_ends", 0) > now else 0
    if count < settings.login_username_max_failures:
        return
    delay = username_delay(count, settings)
    if login_throttle.take_slot(key, now, now + delay):
        return
    login_throttle.uncount_attempt(key, where, now)
    slot_until = failures.get("slot_until", 0)
    raise TooManyAttempts("Too many failed logins; try again later.",
                          retry_after=slot_until - now if slot_until > now else delay)


def _password_matches(password: str, user) -> bool:
    """One bcrypt check, against the user's hash or (no user) the dummy one."""
    stored = user["password_hash"].encode("ascii") if user else _dummy_hash()
    try:
        return bcrypt.checkpw(password.encode("utf-8"), stored) and user is not None
    except ValueError:  # over 72 bytes: never a match, never a 500
        return False


# --- sessions --------------------------------------------------------------------------------------

def refresh(refresh_token: str) -> dict:
    """Rotate: mark the presented refresh token used and hand out a new pair of the same session.

    One TransactWriteItems checks that the family is not revoked and the user has not logged out
    everywhere since the token was issued (its ``gen`` is the profile's session generation), and
    records the token's jti. The same token presented again within the grace window (two tabs
    refreshing at once, a retry after a lost answer) gets the very pair the first rotation handed
    out; presented later, it revokes its whole family (someone else may hold a copy).
    """
    claims = tokens.verify(refresh_token, tokens.REFRESH)
    user = users.get(claims["sub"])
    if user is None:
        raise InvalidToken("The account no longer exists.")
    if users.generation_of(user) != claims["gen"]:
        raise InvalidToken("This session has been revoked.")
    # The role is read again so that a withdrawn admin right does not live on in rotated tokens.
    role, issued_at = user.get("role", ROLE_USER), clock.now_int()
    rotation = {"rotation": str(uuid.uuid4()), "used_at": clock.now(), "role": role, "issued_at": issued_at}
    earlier = _record_rotation(claims, rotation)
    if earlier is not None:
        role, issued_at = earlier["role"], earlier["issued_at"]
    return tokens.rotated_pair(claims, role, issued_at)


def _record_rotation(claims: dict, rotation: dict):
    """Record the refresh token's jti as used (None), or return the earlier rotation to repeat, or
    refuse the token.

    Each rotation carries its own id (also the ClientRequestToken): when botocore retries a
    transaction whose response was lost, finding our own id on the used-jti item means the first
    attempt landed, so the retry is not mistaken for a reuse (which would revoke the session).
    """
    tx = Transaction(token=rotation["rotation"])
    sessions.family_not_revoked_part(tx, "family", claims["fam"])
    users.session_generation_part(tx, "session", claims["sub"], claims["gen"])
    sessions.mark_used_part(tx, "token", claims["jti"], claims["fam"], rotation, claims["exp"])
    result = tx.commit()  # a TransactionConflict is retried in there (a new rotation id is not needed)
    if result.ok:
        return None
    if result.failed("family") or result.failed("session"):
        raise InvalidToken("This session has been revoked.")
    if not result.failed("token"):
        raise ServiceUnavailable("The session store is busy; retry shortly.")
    earlier = result.old("token") or {}
    if earlier.get("rotation") == rotation["rotation"]:
        return None  # our own first attempt landed; its response was lost
    grace = get_settings().refresh_reuse_grace_seconds
    if {"role", "issued_at"} <= set(earlier) and clock.now() - earlier.get("used_at", 0) <= grace:
        return earlier  # a parallel or repeated refresh of the same token: the same new pair
    revoke_family(claims["fam"], claims["exp"] + get_settings().refresh_token_ttl)
    raise TokenReused("This refresh token was already used; its session is revoked.")


def revoke_family(family: str, expires_at: int) -> None:
    """Mark a token family revoked."""
    if not sessions.revoke_family(family, expires_at, attempts=REVOKE_ATTEMPTS):
        raise ServiceUnavailable("The session store is busy; retry shortly.")


def logout_everywhere(caller: str) -> None:
    """Revoke every refresh token the caller holds: one atomic ADD moves the profile to its next
    session generation, and /token/refresh checks the token's generation in its transaction, so no
    token issued before this returns can be rotated again (none is exempt for sharing a second)."""
    users.next_session_generation(caller)  # False: the account is gone, and so are its sessions


def logout(refresh_token: str, caller: str = None) -> None:
    """Revoke the session that ``refresh_token`` belongs to (every token rotated from it)."""
    claims = tokens.verify(refresh_token, tokens.REFRESH)
    if caller is not None and claims["sub"] != caller:
        raise InvalidToken("The refresh token does not belong to the caller.")
    revoke_family(claims["fam"], claims["exp"] + get_settings().refresh_token_ttl)
