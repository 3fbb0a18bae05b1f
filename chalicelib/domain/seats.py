"""Seats and bookings: which seats a request may take, which seat locks are live, and what a
refused seat write means.

A *seat lock* is the item that exists while a seat of a show is taken. Locks are plain dicts with
``seat_number`` and ``user``, and either ``booking_id`` (the seat is booked; a booking made by
confirming a hold also keeps its ``hold_id``) or ``hold_id`` with ``held_until`` (epoch seconds: the
seat is held until that instant and free from it on, whatever TTL's lazy deletion has done).
"""
import enum
import functools
import secrets
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Sequence

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
    """A lock holds its seat until it lapses: a booking's never does, a hold's at ``held_until``."""
    held_until = lock.get("held_until")
    return held_until is None or held_until > now


def is_hold_lock(lock: Mapping) -> bool:
    """The seat is held (not booked) by the lock."""
    return "booking_id" not in lock


def lock_owner(lock: Mapping) -> Optional[str]:
    """The id of what the lock stands for: its booking, or its hold while not booked."""
    return lock.get("booking_id") or lock.get("hold_id")


def live_locks(locks: Iterable[Mapping], now: float) -> list:
    return [lock for lock in locks if lock_is_live(lock, now)]


def taken_seat_numbers(locks: Iterable[Mapping], now: float) -> list:
    """The seat numbers of live locks (booked or held), ascending."""
    return sorted({lock["seat_number"] for lock in live_locks(locks, now)})


def highest_taken_seat(locks_from_the_back: Iterable[Mapping], now: float) -> int:
    """The highest seat number booked or held by a live lock, or 0, from locks in descending seat
    order (only as many are consumed as it takes to find a live one)."""
    return next((lock["seat_number"] for lock in locks_from_the_back if lock_is_live(lock, now)), 0)


@dataclass(frozen=True)
class SeatMap:
    """Every seat of a show is exactly one of available, taken (booked) or held (in a live hold)."""

    show_id: int
    total_seats: int
    taken: list
    held: list

    @functools.cached_property
    def _statuses(self) -> dict:
        return {**{n: "taken" for n in self.taken}, **{n: "held" for n in self.held}}

    @property
    def available(self) -> list:
        return [n for n in range(1, self.total_seats + 1) if n not in self._statuses]

    def status_of(self, seat_number: int) -> str:
        return self._statuses.get(seat_number, "available")

    def view(self) -> dict:
        return {"show_id": self.show_id, "total_seats": self.total_seats, "available": self.available,
                "taken": self.taken, "held": self.held}


def seat_map(show: Mapping, locks: Iterable[Mapping], now: float) -> SeatMap:
    live = live_locks(locks, now)
    return SeatMap(show["id"], show["total_seats"],
                   taken=sorted(lock["seat_number"] for lock in live if not is_hold_lock(lock)),
                   held=sorted(lock["seat_number"] for lock in live if is_hold_lock(lock)))


# --- refused seat writes ---------------------------------------------------------------------------

class Refusal(enum.Enum):
    """Why a transaction taking seats was cancelled."""

    OWN_EARLIER_ATTEMPT = "our own earlier attempt landed; only its response was lost"
    ALREADY_CALLERS = "every seat is already booked by the caller"
    PARTLY_CALLERS = "some seats are booked by the caller, the others were free"
    IN_CALLERS_HOLD = "some seats are in a live hold of the caller's"
    TAKEN = "some seats are booked or held by others"
    SHOW_CHANGED = "the show changed since it was read"
    UNEXPLAINED = "no part says why"


@dataclass(frozen=True)
class SeatWriteRefusal:
    reason: Refusal
    blocking: list = field(default_factory=list)  # the locks that explain it (for TAKEN: others' only)

    @property
    def seat_numbers(self) -> list:
        return sorted(lock["seat_number"] for lock in self.blocking)


def classify_refusal(caller: str, seats: Sequence[int], attempt_ids: Iterable[str], show_changed: bool,
                     blocking: Iterable[Optional[Mapping]]) -> SeatWriteRefusal:
    """Explain a cancelled seat-taking transaction from its parts.

    ``blocking`` are the locks returned (ALL_OLD) by the refused seat puts; ``attempt_ids`` the
    booking or hold ids this attempt wrote, so that a retry finding its own first attempt is
    recognised. Others' locks outrank the caller's own, which outrank "already yours".
    """
    if show_changed:
        return SeatWriteRefusal(Refusal.SHOW_CHANGED)
    locks = [lock for lock in blocking if lock]
    if not locks:
        return SeatWriteRefusal(Refusal.UNEXPLAINED)
    ours = set(attempt_ids)
    if all(lock_owner(lock) in ours for lock in locks):
        return SeatWriteRefusal(Refusal.OWN_EARLIER_ATTEMPT, locks)
    others = [lock for lock in locks if lock.get("user") != caller]
    if others:
        return SeatWriteRefusal(Refusal.TAKEN, others)
    held = [lock for lock in locks if is_hold_lock(lock)]
    if held:
        return SeatWriteRefusal(Refusal.IN_CALLERS_HOLD, held)
    if len(locks) == len(seats):
        return SeatWriteRefusal(Refusal.ALREADY_CALLERS, locks)
    return SeatWriteRefusal(Refusal.PARTLY_CALLERS, locks)


def seats_phrase(seat_numbers: Sequence[int], label_of: Callable[[int], str] = None) -> str:
    """"Seat 5 is" / "Seats F7, F8 (67, 68) are": labels first when ``label_of`` names them."""
    many = len(seat_numbers) > 1
    numbers = ", ".join(map(str, seat_numbers))
    named = f"{', '.join(map(label_of, seat_numbers))} ({numbers})" if label_of else numbers
    return f"Seat{'s' if many else ''} {named} {'are' if many else 'is'}"


def taken_message(refusal: SeatWriteRefusal, label_of: Callable[[int], str] = None) -> str:
    """"Seat A5 (5) is already booked." / "Seats 5, 6 are held by another customer." — true to the locks."""
    booked = any(not is_hold_lock(lock) for lock in refusal.blocking)
    held = any(is_hold_lock(lock) for lock in refusal.blocking)
    what = "already booked or held by others" if booked and held else (
        "held by another customer" if held else "already booked")
    return f"{seats_phrase(refusal.seat_numbers, label_of)} {what}."
