"""Holds: seats kept for one customer for a few minutes, then confirmed (booked) or given back.

A hold is a plain dict: ``id``, ``show``, ``seat_numbers``, ``status`` (as stored: held, confirmed,
released), ``held_since``/``held_until`` (epoch seconds) and ``extensions_left``. Whether a hold has
expired is decided here, from ``held_until`` and the time, never by whether TTL has deleted it.
"""
import secrets
from dataclasses import dataclass
from typing import Mapping

from chalicelib.errors import HoldConfirmed, HoldExpired, HoldExtensionLimit, HoldReleased

HELD, CONFIRMED, RELEASED, EXPIRED = "held", "confirmed", "released", "expired"


@dataclass(frozen=True)
class HoldPolicy:
    """How long holds last: ``hold_seconds`` each time, at most ``max_extensions`` extensions, never
    past ``max_seconds`` after the hold was made."""

    hold_seconds: float = 600
    max_extensions: int = 2
    max_seconds: float = 1800

    def first_expiry(self, now: float) -> float:
        return min(now + self.hold_seconds, now + self.max_seconds)


def new_hold_id(now: float) -> str:
    """Time-ordered then random (like booking ids), so a customer's holds sort newest first."""
    return f"{int(now * 1000):011x}{secrets.token_hex(8)}"


def status(hold: Mapping, now: float) -> str:
    """held, confirmed, released — or expired from the instant ``held_until`` has passed."""
    if hold["status"] == HELD and hold["held_until"] <= now:
        return EXPIRED
    return hold["status"]


def check_held(hold: Mapping, now: float, doing: str) -> None:
    """The hold can still be ``doing`` (confirmed, released, extended): it is held and not expired."""
    current = status(hold, now)
    if current == EXPIRED:
        raise HoldExpired(f"This hold expired; its seats are free again and it can no longer be {doing}.")
    if current == RELEASED:
        raise HoldReleased(f"This hold was released; it can no longer be {doing}.")
    if current == CONFIRMED:
        raise HoldConfirmed(f"This hold is already confirmed; it can no longer be {doing}.")


def extended_expiry(hold: Mapping, now: float, policy: HoldPolicy) -> float:
    """The new ``held_until`` for an extension at ``now``: now + hold_seconds, capped at
    created_at + max_seconds; HoldExtensionLimit when no extension is left or it would gain nothing."""
    check_held(hold, now, "extended")
    if hold["extensions_left"] <= 0:
        raise HoldExtensionLimit(f"This hold has been extended {policy.max_extensions} times, the most allowed.",
                                 extensions_left=0)
    until = min(now + policy.hold_seconds, hold["held_since"] + policy.max_seconds)
    if until <= hold["held_until"]:
        raise HoldExtensionLimit(
            f"A hold lasts at most {int(policy.max_seconds)} seconds from when it was made.",
            extensions_left=hold["extensions_left"])
    return until
