"""Taking seats, for bookings and holds alike: one transaction holding the show check, the seat
locks and records the caller builds, the customer's claim (the per-customer cap) and, on shows
with ``no_single_seat_gaps``, guards on the neighbouring seats.

The transaction is tried again when the show changed since it was read, when the claim written
without reading was refused (then the claims record is read and the exact count decides), or when
a guarded neighbour was taken meanwhile. Refused seats are explained (``domain.seats``) and
handed to the caller's ``on_refusal``.
"""
from dataclasses import dataclass
from typing import Callable, Optional

from chalicelib import clock, idempotency
from chalicelib.db import Transaction, claims, shows as show_items
from chalicelib.domain import caps, layout, picking, seats as rules
from chalicelib.domain.seats import Refusal
from chalicelib.errors import (
    Conflict, NotFound, SeatAlreadyYours, SeatTaken, ServiceUnavailable, ShowStarted, ValidationError,
    WouldLeaveSingleSeat)
from chalicelib.idempotency import Outcome

SHOW_PART, CLAIMS_PART = "show", "claims"
WRITE_ATTEMPTS = 12  # a refused claim or a changed show is read again and written again; racing writes
                     # of one customer (10 parallel tabs) each lose at most once to every other


@dataclass
class Attempt:
    """What one try of the caller's write added to the transaction."""

    outcome: Outcome  # the answer if it commits
    owner_ids: list  # the booking ids or hold id its locks name (a retry finding them is our own)
    hold: Optional[tuple] = None  # (hold id, held_until) when the seats are held rather than booked


def bookable_show(show_id: int, seats: list, field_name: str, now: float) -> dict:
    """The show, checked: the seats exist and it has not started.

    A recent copy (this process's cache) is enough to go ahead, since the transaction re-checks
    it; a refusal is only given after reading the show again, so an admin's change is never missed.
    """
    show = show_items.get_recent(show_id)
    if show is not None:
        try:
            rules.check_bookable(show, seats, now, field_name)
            return show
        except (ValidationError, ShowStarted):
            show_items.forget(show_id)
        show = show_items.get(show_id, consistent=True)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    rules.check_bookable(show, seats, now, field_name)
    return show


def reread_show(show_id: int, seats: list, now: float) -> dict:
    """The transaction found the show changed since it was read: read it again, or say why not."""
    show_items.forget(show_id)
    show = show_items.get(show_id, consistent=True)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    rules.check_not_started(show["starts_at"], now)
    if max(seats) > show["total_seats"]:
        raise Conflict(f"Show {show_id} was resized while booking; it now has {show['total_seats']} seats.")
    return show


def seat_limit(show: dict) -> int:
    return show.get("max_seats_per_customer", caps.DEFAULT_LIMIT)


def current_state(show_id: int, now: float) -> tuple:
    """(show, plan, busy seat numbers) from one strongly consistent Query of the show's partition."""
    show, locks = show_items.partition(show_id, consistent=True)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    return show, layout.plan_of_show(show), set(rules.taken_seat_numbers(locks, now))


def single_seat_guards(show_id: int, wanted: list, now: float, field_name: str) -> tuple:
    """On a show that keeps no single seats: (fresh show, the seats to guard), or
    WouldLeaveSingleSeat naming the seat that taking ``wanted`` would leave alone."""
    show, plan, busy = current_state(show_id, now)
    rules.check_bookable(show, wanted, now, field_name)
    alone = picking.single_seat_left(plan, busy, wanted)
    if alone is not None:
        raise WouldLeaveSingleSeat(
            f"Seat {alone.label} would be left empty on its own; choose seats next to it, or leave at "
            "least two seats free.", seat=alone.number, seat_label=alone.label)
    return show, picking.gap_guards(plan, busy, wanted)


class SeatsChanged(Exception):
    """A seat that a picked block's single-seat check relied on was taken meanwhile: pick again."""


def take_seats(caller: str, show_id: int, seats: list, build: Callable, on_refusal: Callable,
               idempotency_key: str = None, digest: str = None, field_name: str = "seat_numbers",
               picked_guards: list = None) -> Outcome:
    """Write ``build(tx, show, wanted, now)``'s parts (an :class:`Attempt`) with everything above.

    ``on_refusal(refusal, wanted, show)`` explains seats held by others or the caller: it raises,
    returns the Outcome to answer, or returns the seats to try again with. ``picked_guards`` are the
    free seats a best-available pick relied on (``picking.gap_guards`` of the map it picked from):
    they are guarded on every show, and :class:`SeatsChanged` is raised if one was taken meanwhile.
    """
    now = clock.now()
    show = bookable_show(show_id, seats, field_name, now)
    caps.check_room({}, len(seats), seat_limit(show), now)
    claims_read, wanted = None, list(seats)
    for _ in range(WRITE_ATTEMPTS):
        guards = []
        if picked_guards is not None:
            guards = picked_guards
        elif show.get("no_single_seat_gaps"):
            show, guards = single_seat_guards(show_id, wanted, now, field_name)
        tx = Transaction()
        show_items.check_unchanged_part(tx, SHOW_PART, show)
        for seat in guards:
            show_items.check_free_part(tx, ("guard", seat), show_id, seat, now)
        attempt = build(tx, show, wanted, now)
        add_claim_part(tx, caller, show, len(wanted), now, claims_read, hold=attempt.hold)
        done, result = idempotency.commit(tx, caller, idempotency_key, digest, attempt.outcome)
        if done:
            return done
        if result.failed(SHOW_PART):
            show = reread_show(show_id, seats, now)
            continue
        blocking = [result.old(("seat", seat)) for seat in wanted]
        if any(blocking):
            refusal = rules.classify_refusal(caller, wanted, attempt.owner_ids, False, blocking)
            if refusal.reason is Refusal.OWN_EARLIER_ATTEMPT:
                return attempt.outcome  # its response was lost and botocore retried: the write is done
            answer = on_refusal(refusal, wanted, show)
            if isinstance(answer, Outcome):
                return answer
            wanted = answer
            continue
        if any(result.failed(("guard", seat)) for seat in guards):
            if picked_guards is not None:
                raise SeatsChanged()
            continue  # a neighbour was taken meanwhile: look at the seats again
        if result.failed(CLAIMS_PART):
            claims_read = read_claims_or_refuse(caller, show, len(wanted), now)
            continue
        raise ServiceUnavailable("The seats could not be taken; retry shortly.")
    raise ServiceUnavailable("The seats are in heavy demand; retry shortly.", retry_after=1)


def add_claim_part(tx, caller: str, show: dict, seats: int, now: float, claims_read, hold: tuple = None):
    """The per-customer cap inside the write: a blind conditional claim, or (after a refusal) a
    rewrite of the record that was read."""
    if claims_read is None:
        claims.claim_part(tx, CLAIMS_PART, caller, show["id"], seats, seat_limit(show), now, hold=hold)
    else:
        hold_id, until = hold if hold else (None, None)
        record = caps.after_read(claims_read, now, booked_delta=0 if hold else seats,
                                 add_hold=(hold_id, seats, until) if hold else None)
        claims.rewrite_part(tx, CLAIMS_PART, caller, show["id"], claims_read, record)


def read_claims_or_refuse(caller: str, show: dict, seats: int, now: float) -> dict:
    """After a blind claim was refused: the exact count decides (SeatLimitReached, or the record)."""
    read = claims.get(caller, show["id"])
    caps.check_room(read, seats, seat_limit(show), now)
    return read


def raise_refusal(refusal: rules.SeatWriteRefusal, show: dict) -> None:
    """The 409 for seats that cannot be taken: others' (SeatTaken) or the caller's own; the
    message names the seats by label and number."""
    plan = layout.plan_of_show(show)
    label_of = (lambda number: plan.seat(number).label)
    phrase = rules.seats_phrase(refusal.seat_numbers, label_of)
    if refusal.reason is Refusal.IN_CALLERS_HOLD:
        hold_ids = sorted({lock["hold_id"] for lock in refusal.blocking})
        raise SeatAlreadyYours(f"{phrase} in your hold {', '.join(hold_ids)}; confirm or release that hold.",
                               seats=refusal.seat_numbers, hold_ids=hold_ids)
    if refusal.reason in (Refusal.ALREADY_CALLERS, Refusal.PARTLY_CALLERS):
        raise SeatAlreadyYours(f"{phrase} already booked by you.", seats=refusal.seat_numbers)
    if refusal.reason is Refusal.TAKEN:
        raise SeatTaken(rules.taken_message(refusal, label_of), taken=refusal.seat_numbers)
    raise ServiceUnavailable("The seats could not be taken; retry shortly.")


def priced(plan: layout.Plan, seat_numbers: list) -> tuple:
    """(each seat's details, their total price) for the records of a booking or hold."""
    details = [plan.seat_details(number) for number in seat_numbers]
    return details, sum(d["price"] for d in details)
