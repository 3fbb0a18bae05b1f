"""Bookings: taking seats with conditional writes, cancelling, history and seat maps.

The rules are in ``domain.seats``; the items in ``db.shows`` and ``db.bookings``; this module puts
them together, one transaction per write.
"""
import logging
import re
import uuid

from chalicelib import clock, idempotency, pagination, validation
from chalicelib.db import Transaction, bookings as booking_items, shows as show_items
from chalicelib.domain import seats as rules
from chalicelib.domain.seats import BOOKED, CANCELLED, Refusal
from chalicelib.errors import (
    AlreadyCancelled, Conflict, NotFound, SeatTaken, ServiceUnavailable, ShowStarted, ValidationError)
from chalicelib.idempotency import Outcome

log = logging.getLogger(__name__)

BOOKING_ID_PATTERN = re.compile(r"[0-9a-f]{27}\Z")
SHOW_PART = "show"


def booking_view(item: dict) -> dict:
    view = {
        "id": item["id"],
        "show": item["show"],
        "seat_number": item["seat_number"],
        "status": item["status"],
        "created_at": item["created_at"],
    }
    for optional in ("movie_id", "group_id", "cancelled_at"):
        if item.get(optional) is not None:
            view[optional] = item[optional]
    return view


def parse_seats(body: dict) -> tuple[list, bool]:
    """``{"seat_number": n}`` -> ([n], False); ``{"seat_numbers": [...]}`` -> (seats, True)."""
    if "seat_numbers" in body:
        validation.validate("seat_group", body)
        return list(body["seat_numbers"]), True
    validation.validate("single_seat", body)
    return [body["seat_number"]], False


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


def book(caller: str, show_id: int, body: dict, idempotency_key: str = None) -> Outcome:
    """Take one seat or a group of them, all or none: a warm booking is one TransactWriteItems.

    The seat lock's ``attribute_not_exists`` condition is what prevents double booking. The show is
    read from this process's short-lived cache; the transaction re-checks it, and if the show
    changed meanwhile it is read again and the booking tried once more.
    """
    seats, is_group = parse_seats(body)
    field_name = "seat_numbers" if is_group else "seat_number"
    digest = idempotency.fingerprint("book", show_id, sorted(seats) if is_group else seats[0])
    now = clock.now()
    show = bookable_show(show_id, seats, field_name, now)
    for fresh_read in (False, True):
        if fresh_read:
            show = _reread_after_change(show_id, seats, field_name, now)
        outcome, refusal, attempt = _try_booking(caller, show, seats, is_group, now, idempotency_key, digest)
        if outcome is not None:
            return outcome
        if refusal.reason is not Refusal.SHOW_CHANGED:
            return _answer_refusal(caller, refusal, attempt, is_group, idempotency_key, digest)
    raise Conflict(f"Show {show_id} was resized or removed while booking; reload it and try again.")


def _try_booking(caller, show, seats, is_group, now, idempotency_key, digest):
    group_id = rules.new_group_id() if is_group else None
    created_at = clock.iso(now)
    bookings = [{
        "id": rules.new_booking_id(now), "show": show["id"], "movie_id": show["movie_id"], "seat_number": seat,
        "status": BOOKED, "created_at": created_at, "group_id": group_id,
    } for seat in seats]
    views = [booking_view(b) for b in bookings]
    outcome = Outcome({"group_id": group_id, "bookings": views} if is_group else views[0], created=True)

    tx = Transaction()
    show_items.check_bookable_part(tx, SHOW_PART, show["id"], max(seats), now)
    for booking in bookings:
        show_items.lock_seat_part(tx, ("seat", booking["seat_number"]), caller, booking)
        booking_items.add_part(tx, ("booking", booking["seat_number"]), caller, booking)
    done, result = idempotency.commit(tx, caller, idempotency_key, digest, outcome)
    if done:
        return done, None, None
    refusal = rules.classify_refusal(
        caller, seats, [b["id"] for b in bookings], show_changed=result.failed(SHOW_PART),
        blocking=[result.old(("seat", seat)) for seat in seats])
    return None, refusal, outcome


def _reread_after_change(show_id, seats, field_name, now):
    """The transaction found the show changed since it was read: read it again, or say why not."""
    show_items.forget(show_id)
    show = show_items.get(show_id, consistent=True)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    rules.check_not_started(show["starts_at"], now)
    if max(seats) > show["total_seats"]:
        raise Conflict(f"Show {show_id} was resized while booking; it now has {show['total_seats']} seats.")
    return show


def _answer_refusal(caller, refusal, attempt, is_group, idempotency_key, digest):
    if refusal.reason is Refusal.OWN_EARLIER_ATTEMPT:
        return attempt  # its response was lost and botocore retried: the write is done
    if refusal.reason is Refusal.ALREADY_CALLERS:
        existing = [booking_view({**lock, "id": lock["booking_id"], "status": BOOKED}) for lock in refusal.blocking]
        existing.sort(key=lambda b: b["seat_number"])
        body = ({"group_id": refusal.blocking[0].get("group_id"), "bookings": existing} if is_group
                else existing[0])
        outcome = Outcome(body, created=False)
        if idempotency_key:
            # The transaction was cancelled, so the key is not stored yet: store this answer under it.
            return idempotency.remember(caller, idempotency_key, digest, outcome)
        return outcome
    if refusal.reason is Refusal.UNEXPLAINED:
        raise ServiceUnavailable("The booking could not be completed; retry shortly.")
    taken = refusal.seat_numbers
    raise SeatTaken(rules.taken_message(taken), taken=taken)


def cancel(caller: str, booking_id: str, idempotency_key: str = None) -> Outcome:
    """Cancel the caller's booking and free its seat (GetItem + TransactWriteItems).

    The seat lock is deleted only if it still names this booking, so a repeated cancel can never
    free a seat that someone else has booked since.
    """
    if not BOOKING_ID_PATTERN.match(booking_id or ""):
        raise NotFound("No such booking.")
    booking = booking_items.get(caller, booking_id)
    if booking is None:
        raise NotFound("No such booking.")  # also for other users' bookings: ids are not disclosed
    digest = idempotency.fingerprint("cancel", booking_id)
    already = "This booking is already cancelled."
    if booking["status"] == CANCELLED:
        if idempotency_key:
            return idempotency.replay(caller, idempotency_key, digest, missing=AlreadyCancelled,
                                      missing_message=already)
        raise AlreadyCancelled(already)

    cancelled = {**booking, "status": CANCELLED, "cancelled_at": clock.now_iso()}
    cancel_id = uuid.uuid4().hex  # recognises our own write if its response is lost and retried
    outcome = Outcome(booking_view(cancelled))

    def transaction(free_the_seat: bool) -> Transaction:
        tx = Transaction()
        booking_items.cancel_part(tx, "booking", caller, booking_id, BOOKED, CANCELLED,
                                  cancelled["cancelled_at"], cancel_id)
        if free_the_seat:
            show_items.free_seat_part(tx, "seat", booking["show"], booking["seat_number"], booking_id)
        return tx

    done, result = idempotency.commit(transaction(True), caller, idempotency_key, digest, outcome,
                                      missing=AlreadyCancelled, missing_message=already)
    if done:
        return done
    if result.failed("booking"):
        if (result.old("booking") or {}).get("cancel_id") == cancel_id:
            return outcome  # our own earlier attempt landed; only its response was lost
        raise AlreadyCancelled(already)
    # The seat lock does not name this booking: an invariant was broken elsewhere. Cancel anyway,
    # touching only the booking, and leave a trace for an operator.
    log.error("seat item of active booking %s is missing or foreign; cancelling booking only", booking_id)
    if not transaction(False).commit().ok:
        raise AlreadyCancelled(already)
    return outcome


def my_bookings(caller: str, limit: int, cursor: str = None) -> tuple[list, str]:
    """One Query of the caller's partition per page, newest first."""
    scope = f"my-bookings:{caller}"
    page = booking_items.of_user_page(caller, limit, pagination.decode(scope, cursor))
    return [booking_view(item) for item in page.items], pagination.encode(scope, page.last_key)


def seat_map(show_id: int) -> dict:
    """The show and its live seat locks, from one Query of the show's partition."""
    show, locks = show_items.partition(show_id)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    return rules.seat_map(show, locks, clock.now()).view()


def show_bookings(show_id: int, limit: int, cursor: str = None) -> tuple[list, str]:
    """Every booking of a show, active and cancelled (admins): one GSI1 Query per page."""
    scope = f"show-bookings:{show_id}"
    page = booking_items.of_show_page(show_id, limit, pagination.decode(scope, cursor))
    items = [{**booking_view(b), "user": b["user"]} for b in page.items]
    if not items and cursor is None and show_items.get(show_id) is None:
        raise NotFound(f"No show with id {show_id}.")  # tell an unknown show from one without bookings
    return items, pagination.encode(scope, page.last_key)


def highest_booked_seat(show_id: int) -> int:
    """The highest seat number currently taken in a show, or 0 (one Query, at most one item)."""
    lock = show_items.highest_lock(show_id)
    return rules.highest_taken_seat([lock] if lock else [], clock.now())


def has_active_bookings(show_id: int) -> bool:
    return highest_booked_seat(show_id) > 0
