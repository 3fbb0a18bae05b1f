"""Seats and bookings: which seats a request may take, which seat locks are live, and what a
refused seat write means.

A *seat lock* is the item that exists while a seat of a show is taken: it names the booking (or,
later, the hold) that owns it. Locks are plain dicts with at least ``seat_number`` and ``user``;
``booking_id`` for a booking; ``expires_at`` (epoch seconds) when the lock lapses by itself.
"""
import enum
import secrets
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

from chalicelib.errors import ShowStarted, ValidationError

BOOKED, CANCELLED = "booked", "cancelled"


# --- requests ------------------------------------------------------------------------------------

def check_seats_exist(seats: Sequence[int], total_seats: int, field_name: str) -> None:
    """Every seat number is within 1..total_seats (the schema already checked ``>= 1``)."""
    out_of_range = [s for s in seats if not 1 <= s <= total_seats]
    if out_of_range:
        raise ValidationError(f"Seat numbers must be from 1 to {total_seats}; got {out_of_range}.",
                              field=field_name)


def check_not_started(starts_at: float, now: float) -> None:
    if starts_at <= now:
        raise ShowStarted("This show has already started; it can no longer be booked.")


def check_bookable(show: Mapping, seats: Sequence[int], now: float, field_name: str) -> None:
    """The seat and show checks a booking passes before anything is written."""
    check_seats_exist(seats, show["total_seats"], field_name)
    check_not_started(show["starts_at"], now)


def new_booking_id(now: float) -> str:
    """Time-ordered (milliseconds, hex) then random, so a user's bookings sort newest first by key."""
    return f"{int(now * 1000):011x}{secrets.token_hex(8)}"


def new_group_id() -> str:
    return secrets.token_hex(8)


# --- seat locks ----------------------------------------------------------------------------------

def lock_is_live(lock: Mapping, now: float) -> bool:
    """A lock holds its seat until it lapses: a booking's never does, a lock with ``expires_at``
    lapses at that instant (whatever TTL's lazy deletion has done with the item)."""
    expires_at = lock.get("expires_at")
    return expires_at is None or expires_at > now


def live_locks(locks: Iterable[Mapping], now: float) -> list:
    return [lock for lock in locks if lock_is_live(lock, now)]


def taken_seat_numbers(locks: Iterable[Mapping], now: float) -> list:
    """The seat numbers held by live locks, ascending."""
    return sorted({lock["seat_number"] for lock in live_locks(locks, now)})


def highest_taken_seat(locks: Iterable[Mapping], now: float) -> int:
    """The highest seat number held by a live lock, or 0."""
    return max((lock["seat_number"] for lock in live_locks(locks, now)), default=0)


@dataclass(frozen=True)
class SeatMap:
    show_id: int
    total_seats: int
    taken: list

    @property
    def available(self) -> list:
        taken = set(self.taken)
        return [n for n in range(1, self.total_seats + 1) if n not in taken]

    def view(self) -> dict:
        return {"show_id": self.show_id, "total_seats": self.total_seats, "available": self.available,
                "taken": self.taken}


def seat_map(show: Mapping, locks: Iterable[Mapping], now: float) -> SeatMap:
    return SeatMap(show["id"], show["total_seats"], taken_seat_numbers(locks, now))


# --- refused seat writes ---------------------------------------------------------------------------

class Refusal(enum.Enum):
    """Why a transaction taking seats was cancelled."""

    OWN_EARLIER_ATTEMPT = "our own earlier attempt landed; only its response was lost"
    ALREADY_CALLERS = "every seat is already the caller's"
    TAKEN = "some seats are held by others"
    SHOW_CHANGED = "the show was resized or removed meanwhile"
    UNEXPLAINED = "no part says why"


@dataclass(frozen=True)
class SeatWriteRefusal:
    reason: Refusal
    blocking: list = field(default_factory=list)  # the locks that refused the write

    @property
    def seat_numbers(self) -> list:
        return sorted(lock["seat_number"] for lock in self.blocking)


def classify_refusal(caller: str, seats: Sequence[int], attempt_ids: Iterable[str], show_changed: bool,
                     blocking: Iterable[Optional[Mapping]]) -> SeatWriteRefusal:
    """Explain a cancelled seat-taking transaction from its parts.

    ``blocking`` are the locks returned (ALL_OLD) by the refused seat puts; ``attempt_ids`` the
    booking ids this attempt wrote, so that a retry finding its own first attempt is recognised.
    """
    if show_changed:
        return SeatWriteRefusal(Refusal.SHOW_CHANGED)
    locks = [lock for lock in blocking if lock]
    if not locks:
        return SeatWriteRefusal(Refusal.UNEXPLAINED)
    ours = set(attempt_ids)
    if all(lock.get("booking_id") in ours for lock in locks):
        return SeatWriteRefusal(Refusal.OWN_EARLIER_ATTEMPT, locks)
    if len(locks) == len(seats) and all(lock.get("user") == caller for lock in locks):
        return SeatWriteRefusal(Refusal.ALREADY_CALLERS, locks)
    return SeatWriteRefusal(Refusal.TAKEN, locks)


def taken_message(seat_numbers: Sequence[int]) -> str:
    many = len(seat_numbers) > 1
    return f"Seat{'s' if many else ''} {', '.join(map(str, seat_numbers))} {'are' if many else 'is'} already booked."
