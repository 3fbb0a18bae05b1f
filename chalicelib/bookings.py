"""Bookings: taking seats with conditional writes, cancelling, history and seat maps.

The rules are in ``domain.seats``; the items in ``db.shows`` and ``db.bookings``; this module puts
them together, one transaction per write.
"""
import logging
import re
import uuid

from chalicelib import clock, idempotency, pagination, validation
from chalicelib.db import Transaction, bookings as booking_items, claims, shows as show_items
from chalicelib.domain import caps, seats as rules
from chalicelib.domain.seats import BOOKED, CANCELLED, Refusal
from chalicelib.errors import (
    AlreadyCancelled, Conflict, NotFound, SeatAlreadyYours, SeatTaken, ServiceUnavailable, ShowStarted,
    ValidationError)
from chalicelib.idempotency import Outcome

log = logging.getLogger(__name__)

BOOKING_ID_PATTERN = re.compile(r"[0-9a-f]{27}\Z")
SHOW_PART, CLAIMS_PART = "show", "claims"
WRITE_ATTEMPTS = 12  # a refused claim or a changed show is re-read and written again; racing writes of
                     # one customer (10 parallel tabs) each lose at most once to every other


def booking_view(item: dict) -> dict:
    view = {
        "id": item["id"],
        "show": item["show"],
        "seat_number": item["seat_number"],
        "status": item["status"],
        "created_at": item["created_at"],
    }
    for optional in ("movie_id", "group_id", "hold_id", "cancelled_at"):
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


def book(caller: str, show_id: int, body: dict, idempotency_key: str = None) -> Outcome:
    """Take one seat or a group of them, all or none: a warm booking is one TransactWriteItems.

    The seat lock's condition (free, or a lapsed hold) is what prevents double booking; the claims
    part keeps the per-customer cap. The show is read from this process's short-lived cache; the
    transaction re-checks it. Seats the caller has already booked are returned as they are (a
    single seat with 200; in a group, the others are booked and the whole group answered).
    """
    seats, is_group = parse_seats(body)
    field_name = "seat_numbers" if is_group else "seat_number"
    digest = idempotency.fingerprint("book", show_id, sorted(seats) if is_group else seats[0])
    now = clock.now()
    show = bookable_show(show_id, seats, field_name, now)
    caps.check_room({}, len(seats), seat_limit(show), now)
    group_id = rules.new_group_id() if is_group else None
    mine, claims_read, wanted = [], None, list(seats)
    for _ in range(WRITE_ATTEMPTS):
        if not wanted:
            return _already_booked(caller, mine, is_group, idempotency_key, digest)
        bookings = [{
            "id": rules.new_booking_id(now), "show": show["id"], "movie_id": show["movie_id"], "seat_number": seat,
            "status": BOOKED, "created_at": clock.iso(now), "group_id": group_id,
        } for seat in wanted]
        views = sorted([booking_view(b) for b in bookings] + mine, key=lambda b: b["seat_number"])
        outcome = Outcome({"group_id": group_id, "bookings": views} if is_group else views[0], created=True)
        tx = Transaction()
        show_items.check_unchanged_part(tx, SHOW_PART, show)
        for booking in bookings:
            show_items.lock_seat_part(tx, ("seat", booking["seat_number"]), caller, booking, now)
            booking_items.add_part(tx, ("booking", booking["seat_number"]), caller, booking)
        add_claim_part(tx, caller, show, len(bookings), now, claims_read)
        done, result = idempotency.commit(tx, caller, idempotency_key, digest, outcome)
        if done:
            return done
        if result.failed(SHOW_PART):
            show = reread_show(show_id, seats, now)
            continue
        blocking = [result.old(("seat", seat)) for seat in wanted]
        if any(blocking):
            refusal = rules.classify_refusal(caller, wanted, [b["id"] for b in bookings], False, blocking)
            if refusal.reason is Refusal.OWN_EARLIER_ATTEMPT:
                return outcome  # its response was lost and botocore retried: the write is done
            if refusal.reason in (Refusal.ALREADY_CALLERS, Refusal.PARTLY_CALLERS):
                mine += [_lock_as_booking(lock) for lock in refusal.blocking]
                wanted = [seat for seat in wanted if seat not in refusal.seat_numbers]
                continue
            raise_seat_refusal(refusal)
        if result.failed(CLAIMS_PART):
            claims_read = read_claims_or_refuse(caller, show, len(wanted), now)
            continue
        raise ServiceUnavailable("The booking could not be completed; retry shortly.")
    raise ServiceUnavailable("The seats are in heavy demand; retry shortly.", retry_after=1)


def raise_seat_refusal(refusal: rules.SeatWriteRefusal) -> None:
    """The 409 for seats that cannot be taken: others' (SeatTaken) or in the caller's own hold."""
    if refusal.reason is Refusal.IN_CALLERS_HOLD:
        hold_ids = sorted({lock["hold_id"] for lock in refusal.blocking})
        raise SeatAlreadyYours(
            f"{rules.seats_phrase(refusal.seat_numbers)} in your hold {', '.join(hold_ids)}; "
            "confirm or release that hold.", seats=refusal.seat_numbers, hold_ids=hold_ids)
    if refusal.reason is Refusal.TAKEN:
        raise SeatTaken(rules.taken_message(refusal), taken=refusal.seat_numbers)
    raise ServiceUnavailable("The booking could not be completed; retry shortly.")


def _lock_as_booking(lock: dict) -> dict:
    return booking_view({**lock, "id": lock["booking_id"], "status": BOOKED})


def _already_booked(caller, mine, is_group, idempotency_key, digest) -> Outcome:
    """Every seat asked for was already the caller's: their bookings, as a repeat answers (200)."""
    mine = sorted(mine, key=lambda b: b["seat_number"])
    outcome = Outcome({"group_id": mine[0].get("group_id"), "bookings": mine} if is_group else mine[0])
    if idempotency_key:
        # The transactions were cancelled, so the key is not stored yet: store this answer under it.
        return idempotency.remember(caller, idempotency_key, digest, outcome)
    return outcome


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
        claims.unbook_part(tx, CLAIMS_PART, caller, booking["show"])
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
    """The highest seat number currently booked or held in a show, or 0 (one small Query, more only
    past lapsed holds)."""
    return rules.highest_taken_seat(show_items.locks_from_the_back(show_id), clock.now())


def has_active_bookings(show_id: int) -> bool:
    return highest_booked_seat(show_id) > 0
