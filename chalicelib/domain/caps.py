"""The per-customer cap: at most ``limit`` seats of one show held or booked by one customer at a time.

The cap is kept in one *claims* record per (customer, show), a plain dict:
``booked`` (seats of active bookings), ``holds`` ({hold id: {"seats": n, "until": epoch}}),
``claimed`` (booked + the seats of every hold still listed, lapsed or not) and ``holds_until``
(no listed hold is live after it). ``claimed`` and ``holds_until`` are upper bounds that single
conditional writes keep without reading; :func:`current` is the exact count.
"""
from typing import Mapping

from chalicelib.errors import SeatLimitReached

DEFAULT_LIMIT = 10


def live_holds(claims: Mapping, now: float) -> dict:
    return {hold_id: claim for hold_id, claim in (claims.get("holds") or {}).items() if claim["until"] > now}


def current(claims: Mapping, now: float) -> int:
    """Seats the customer holds (in live holds) or has booked: expired, released and cancelled ones
    do not count."""
    held = sum(claim["seats"] for claim in live_holds(claims, now).values())
    return max(0, claims.get("booked", 0)) + held


def check_room(claims: Mapping, requested: int, limit: int, now: float) -> None:
    """SeatLimitReached (with ``limit`` and ``current``) unless ``requested`` more seats fit."""
    count = current(claims, now)
    if count + requested > limit:
        raise SeatLimitReached(
            f"You may hold or book at most {limit} seats of this show; you have {count}"
            f"{' and asked for ' + str(requested) + ' more' if count else ', and asked for ' + str(requested)}.",
            limit=limit, current=count)


def fits_without_reading(claims: Mapping, requested: int, limit: int, now: float) -> bool:
    """What the claim's conditional write checks when nothing was read first (the condition in
    ``db.claims``): sure to be within the cap whenever it says so, but may say no when a read would
    have found room (lapsed holds are still listed)."""
    if not claims:
        return requested <= limit
    room = limit - requested
    return claims["claimed"] <= room or (claims["booked"] <= room and claims.get("holds_until", 0) <= now)


def after_read(claims: Mapping, now: float, booked_delta: int = 0, add_hold: tuple = None) -> dict:
    """The exact record to write back after a read: lapsed holds dropped, ``add_hold``
    (hold id, seats, until) listed, ``booked`` moved by ``booked_delta``; bounds recomputed."""
    holds = live_holds(claims, now)
    if add_hold:
        hold_id, seats, until = add_hold
        holds[hold_id] = {"seats": seats, "until": until}
    booked = max(0, claims.get("booked", 0)) + booked_delta
    return {
        "booked": booked,
        "holds": holds,
        "claimed": booked + sum(claim["seats"] for claim in holds.values()),
        "holds_until": max((claim["until"] for claim in holds.values()), default=0),
    }
