"""The single-table key design: every partition and sort key the app writes is built here.

See docs/data-model.md for the access patterns these keys serve.
"""

SEAT_DIGITS = 4  # zero-padded so seat items sort numerically; total_seats is capped below 10**4
ID_DIGITS = 8


def _pad(number, digits=ID_DIGITS):
    return str(int(number)).zfill(digits)


# Catalog: every movie lives in one small partition so that listing movies is one Query.
MOVIES_PK = "MOVIES"


def movie_key(movie_id):
    return {"PK": MOVIES_PK, "SK": f"MOVIE#{_pad(movie_id)}"}


def show_key(show_id):
    return {"PK": show_pk(show_id), "SK": "#SHOW"}


def show_pk(show_id):
    return f"SHOW#{_pad(show_id)}"


def shows_of_movie_gsi(movie_id):
    """GSI1 partition holding a movie's shows, sorted by start time."""
    return f"MOVIE#{_pad(movie_id)}"


def show_gsi_sort(date_time, show_id):
    return f"SHOW#{date_time}#{_pad(show_id)}"


def seat_key(show_id, seat_number):
    """The seat lock: at most one item per (show, seat), so a conditional put cannot double book."""
    return {"PK": show_pk(show_id), "SK": seat_sort(seat_number)}


def seat_sort(seat_number):
    return f"SEAT#{_pad(seat_number, SEAT_DIGITS)}"


SEAT_PREFIX = "SEAT#"


# Users own their bookings: one partition per user holds profile, bookings and idempotency keys.
def user_pk(username_key):
    return f"USER#{username_key}"


def user_key(username_key):
    return {"PK": user_pk(username_key), "SK": "#PROFILE"}


def login_failures_key(username_key):
    return {"PK": user_pk(username_key), "SK": "#LOGINFAIL"}


BOOKING_PREFIX = "BOOKING#"


def booking_key(username_key, booking_id):
    return {"PK": user_pk(username_key), "SK": f"{BOOKING_PREFIX}{booking_id}"}


def bookings_of_show_gsi(show_id):
    """GSI1 partition listing every booking (active or cancelled) of a show, for admins."""
    return f"BOOKINGS#{_pad(show_id)}"


def idempotency_key(username_key, key):
    return {"PK": user_pk(username_key), "SK": f"IDEMPOTENCY#{key}"}


def used_refresh_key(jti):
    return {"PK": f"REFRESH#{jti}", "SK": "#USED"}


def revoked_family_key(family):
    return {"PK": f"FAMILY#{family}", "SK": "#REVOKED"}


def counter_key(name):
    return {"PK": "COUNTER", "SK": name}
