"""The single-table key design: every partition and sort key the app writes is built here, and no
key prefix is spelled anywhere else.

See docs/data-model.md for the access patterns these keys serve.
"""
import hashlib

SEAT_DIGITS = 4  # zero-padded so seat items sort numerically; total_seats is capped below 10**4
ID_DIGITS = 8


def _pad(number: int, digits: int = ID_DIGITS) -> str:
    return str(int(number)).zfill(digits)


# --- catalog: every movie lives in one small partition so that listing movies is one Query -------
MOVIES_PK = "MOVIES"
MOVIE_PREFIX = "MOVIE#"


def movie_key(movie_id: int) -> dict:
    return {"PK": MOVIES_PK, "SK": f"{MOVIE_PREFIX}{_pad(movie_id)}"}


# --- a show's partition: the show item, then one lock item per taken seat -------------------------
SHOW_PREFIX, SHOW_SK = "SHOW#", "#SHOW"


def show_pk(show_id: int) -> str:
    """The show's partition: its item and its seat locks, read together by the seat map's Query."""
    return f"{SHOW_PREFIX}{_pad(show_id)}"


def show_key(show_id: int) -> dict:
    """The show item: it sorts before the seat locks in its partition."""
    return {"PK": show_pk(show_id), "SK": SHOW_SK}


def shows_of_movie_gsi(movie_id: int) -> str:
    """GSI1 partition holding a movie's shows, sorted by start time."""
    return f"{MOVIE_PREFIX}{_pad(movie_id)}"


def show_gsi_sort(date_time: str, show_id: int) -> str:
    return f"{SHOW_PREFIX}{date_time}#{_pad(show_id)}"


def shows_on_date_prefix(date: str = None) -> str:
    """GSI1SK prefix of a movie's shows, all of them or those starting on ``date`` (YYYY-MM-DD)."""
    return f"{SHOW_PREFIX}{date}" if date else SHOW_PREFIX


SEAT_PREFIX = "SEAT#"


def seat_key(show_id: int, seat_number: int) -> dict:
    """The seat lock: at most one item per (show, seat), so a conditional put cannot double book."""
    return {"PK": show_pk(show_id), "SK": seat_sort(seat_number)}


def seat_sort(seat_number: int) -> str:
    return f"{SEAT_PREFIX}{_pad(seat_number, SEAT_DIGITS)}"


# --- a user's partition: profile, login throttling, bookings, holds, claims, idempotency keys
# The account items (profile, per-username failure counter, trusted addresses) sort first, under
# ACCOUNT_PREFIX, read by one Query. Per-address attempt counters sort outside it: an attacker makes
# one per address, and they must not grow what every login reads.
ACCOUNT_PREFIX = "#"
PROFILE_SK, LOGIN_FAILURES_SK = "#PROFILE", "#LOGINFAIL"
TRUSTED_ADDRESS_PREFIX = "#TRUSTED#"
ADDRESS_ATTEMPTS_PREFIX = "LOGINATTEMPTS#"
BOOKING_PREFIX = "BOOKING#"


def user_pk(username_key: str) -> str:
    """The user's partition; ``username_key`` is the NFKC-normalised, case-folded username."""
    return f"USER#{username_key}"


def user_key(username_key: str) -> dict:
    return {"PK": user_pk(username_key), "SK": PROFILE_SK}


def login_failures_key(username_key: str) -> dict:
    """The username's failure counter (failures from every address)."""
    return {"PK": user_pk(username_key), "SK": LOGIN_FAILURES_SK}


def address_attempts_key(username_key: str, address: str) -> dict:
    """The login attempts for this username from one client address (an IPv4 address or IPv6 /64)."""
    return {"PK": user_pk(username_key), "SK": f"{ADDRESS_ATTEMPTS_PREFIX}{address}"}


def trusted_address_key(username_key: str, address: str) -> dict:
    """An address this user logged in from: exempt from the username-wide slow-down."""
    return {"PK": user_pk(username_key), "SK": f"{TRUSTED_ADDRESS_PREFIX}{address}"}


def lookalike_key(skeleton: str) -> dict:
    """The claim on a username's confusable skeleton (Unicode TR39): one account per look.

    The skeleton is hashed: it can be longer than the name and hold any character.
    """
    digest = hashlib.sha256(skeleton.encode("utf-8")).hexdigest()
    return {"PK": f"LOOKALIKE#{digest}", "SK": "#CLAIM"}


def booking_key(username_key: str, booking_id: str) -> dict:
    return {"PK": user_pk(username_key), "SK": f"{BOOKING_PREFIX}{booking_id}"}


def bookings_of_show_gsi(show_id: int) -> str:
    """GSI1 partition listing every booking (active or cancelled) of a show, for admins."""
    return f"BOOKINGS#{_pad(show_id)}"


def booking_gsi_sort(booking_id: str) -> str:
    return f"{BOOKING_PREFIX}{booking_id}"


HOLD_PREFIX = "HOLD#"


def hold_key(username_key: str, hold_id: str) -> dict:
    return {"PK": user_pk(username_key), "SK": f"{HOLD_PREFIX}{hold_id}"}


def claims_key(username_key: str, show_id: int) -> dict:
    """The customer's seats in one show, for the per-customer cap."""
    return {"PK": user_pk(username_key), "SK": f"CLAIMS#{_pad(show_id)}"}


def idempotency_key(username_key: str, key: str) -> dict:
    return {"PK": user_pk(username_key), "SK": f"IDEMPOTENCY#{key}"}


# --- sessions and counters -------------------------------------------------------------------------

def used_refresh_key(jti: str) -> dict:
    return {"PK": f"REFRESH#{jti}", "SK": "#USED"}


def revoked_family_key(family: str) -> dict:
    return {"PK": f"FAMILY#{family}", "SK": "#REVOKED"}


def counter_key(name: str) -> dict:
    return {"PK": "COUNTER", "SK": name}


# --- events (issue 20): webhooks, their deliveries, expiring holds, waitlists ----------------------
WEBHOOKS_PK, WEBHOOK_PREFIX, DELIVERY_PREFIX = "WEBHOOKS", "WEBHOOK#", "DELIVERY#"
PENDING_DELIVERIES_GSI = "DELIVERIES#PENDING"  # sparse GSI1 partition: deliveries waiting for an attempt
HELD_HOLDS_GSI = "HOLDS#HELD"  # sparse GSI1 partition: holds still held, by expiry, for the sweep
WAITLIST_PREFIX, WAITLIST_ENTRY_PREFIX = "WAITLIST#", "ENTRY#"


def webhook_key(webhook_id: str) -> dict:
    """Every webhook endpoint in one small partition: listing them is one Query."""
    return {"PK": WEBHOOKS_PK, "SK": f"{WEBHOOK_PREFIX}{webhook_id}"}


def delivery_key(webhook_id: str, delivery_id: str) -> dict:
    """A delivery of one event to one endpoint, in the endpoint's partition (newest last by id)."""
    return {"PK": f"{WEBHOOK_PREFIX}{webhook_id}", "SK": f"{DELIVERY_PREFIX}{delivery_id}"}


def deliveries_pk(webhook_id: str) -> str:
    return f"{WEBHOOK_PREFIX}{webhook_id}"


def time_sort(epoch: float, suffix: str) -> str:
    """A GSI1SK that sorts by time (epoch seconds with milliseconds, zero-padded), then ``suffix``."""
    return f"{epoch:017.3f}#{suffix}"


def waitlist_pk(show_id: int) -> str:
    """A show's waitlist: one item per waiting customer, read whole (first come, first served)."""
    return f"{WAITLIST_PREFIX}{_pad(show_id)}"


def waitlist_key(show_id: int, username_key: str) -> dict:
    """One entry per customer and show: joining twice is the same entry."""
    return {"PK": waitlist_pk(show_id), "SK": f"{WAITLIST_ENTRY_PREFIX}{username_key}"}


def waitlists_of_user_gsi(username_key: str) -> str:
    """GSI1 partition of a customer's waitlist entries (GET /my-waitlist/)."""
    return f"WAITLISTS#{username_key}"
