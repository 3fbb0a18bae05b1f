"""Bookings: taking seats with conditional writes, cancelling, history and seat maps.

The rules are in ``domain.seats``; the items in ``db.shows`` and ``db.bookings``; this module puts
them together, one transaction per write.
"""
import logging
import re
import uuid

from chalicelib import clock, idempotency, pagination, seat_writes, validation
from chalicelib.db import Transaction, bookings as booking_items, claims, shows as show_items
from chalicelib.domain import layout, seats as rules
from chalicelib.domain.seats import BOOKED, CANCELLED, Refusal
from chalicelib.errors import AlreadyCancelled, AlreadyCheckedIn, NotFound
from chalicelib.idempotency import Outcome

log = logging.getLogger(__name__)

BOOKING_ID_PATTERN = re.compile(r"[0-9a-f]{27}\Z")


def booking_view(item: dict) -> dict:
    view = {
        "id": item["id"],
        "show": item["show"],
        "seat_number": item["seat_number"],
        "status": item["status"],
        "created_at": item["created_at"],
    }
    for optional in ("movie_id", "seat_label", "category", "price", "currency", "group_id", "hold_id",
                     "cancelled_at"):
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


def book(caller: str, show_id: int, body: dict, idempotency_key: str = None) -> Outcome:
    """Take one seat or a group of them, all or none: a warm booking is one TransactWriteItems.

    Seats the caller has already booked are returned as they are (a single seat with 200; in a
    group the others are booked and the whole group answered with 201).
    """
    seats, is_group = parse_seats(body)
    digest = idempotency.fingerprint("book", show_id, sorted(seats) if is_group else seats[0])
    group_id = rules.new_group_id() if is_group else None
    mine = []  # views of seats found already booked by the caller

    def build(tx, show, wanted, now) -> seat_writes.Attempt:
        plan = layout.plan_of_show(show)
        currency = plan.currency
        bookings = [{
            "id": rules.new_booking_id(now), "show": show["id"], "movie_id": show["movie_id"], "status": BOOKED,
            "created_at": clock.iso(now), "group_id": group_id, **plan.seat_details(seat), "currency": currency,
        } for seat in wanted]
        for booking in bookings:
            show_items.lock_seat_part(tx, ("seat", booking["seat_number"]), caller, booking, now)
            booking_items.add_part(tx, ("booking", booking["seat_number"]), caller, booking)
        views = sorted([booking_view(b) for b in bookings] + mine, key=lambda b: b["seat_number"])
        body = group_answer(group_id, views, currency) if is_group else views[0]
        return seat_writes.Attempt(Outcome(body, created=True), [b["id"] for b in bookings])

    def on_refusal(refusal, wanted, show):
        if refusal.reason not in (Refusal.ALREADY_CALLERS, Refusal.PARTLY_CALLERS):
            seat_writes.raise_refusal(refusal, show)
        mine.extend(booking_view({**lock, "id": lock["booking_id"], "status": BOOKED}) for lock in refusal.blocking)
        rest = [seat for seat in wanted if seat not in refusal.seat_numbers]
        return rest or _already_booked(caller, mine, is_group, idempotency_key, digest)

    return seat_writes.take_seats(caller, show_id, seats, build, on_refusal, idempotency_key, digest,
                                  field_name="seat_numbers" if is_group else "seat_number")


def group_answer(group_id: str, views: list, currency: str, **extra) -> dict:
    """``{group_id, bookings, total_price, currency}`` (prices of bookings made before seating
    plans count as 0)."""
    return {"group_id": group_id, **extra, "bookings": views,
            "total_price": sum(view.get("price", 0) for view in views), "currency": currency}


def _already_booked(caller, mine, is_group, idempotency_key, digest) -> Outcome:
    """Every seat asked for was already the caller's: their bookings, as a repeat answers (200)."""
    mine = sorted(mine, key=lambda b: b["seat_number"])
    body = (group_answer(mine[0].get("group_id"), mine, mine[0].get("currency", layout.DEFAULT_CURRENCY))
            if is_group else mine[0])
    outcome = Outcome(body)
    if idempotency_key:
        # The transactions were cancelled, so the key is not stored yet: store this answer under it.
        return idempotency.remember(caller, idempotency_key, digest, outcome)
    return outcome


def cancel(caller: str, booking_id: str, idempotency_key: str = None) -> Outcome:
    """Cancel the caller's booking and free its seat (GetItem + TransactWriteItems).

    The seat lock is deleted only if it still names this booking, so a repeated cancel can never
    free a seat that someone else has booked since, and only if it was not let in at the door
    (issue 19: check-in marks the lock), so a booking checked in is refused, AlreadyCheckedIn,
    even when the door scanned it between this read and this write.
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
        booking_items.cancel_part(tx, "booking", booking, BOOKED, CANCELLED, cancelled["cancelled_at"], cancel_id)
        if free_the_seat:
            show_items.free_seat_part(tx, "seat", booking["show"], booking["seat_number"], booking_id)
        claims.unbook_part(tx, seat_writes.CLAIMS_PART, caller, booking["show"])
        return tx

    done, result = idempotency.commit(transaction(True), caller, idempotency_key, digest, outcome,
                                      missing=AlreadyCancelled, missing_message=already)
    if done:
        return done
    if result.failed("booking"):
        if (result.old("booking") or {}).get("cancel_id") == cancel_id:
            return outcome  # our own earlier attempt landed; only its response was lost
        raise AlreadyCancelled(already)
    seat_lock = result.old("seat") or {}
    if result.failed("seat") and seat_lock.get("booking_id") == booking_id and seat_lock.get("checked_in_at"):
        raise _checked_in(seat_lock)  # let in at the door (before our read or since: the lock says so)
    # The seat lock does not name this booking: an invariant was broken elsewhere. Cancel anyway,
    # touching only the booking, and leave a trace for an operator.
    log.error("seat item of active booking %s is missing or foreign; cancelling booking only", booking_id)
    if not transaction(False).commit().ok:
        raise AlreadyCancelled(already)
    return outcome


def _checked_in(seat_lock: dict) -> AlreadyCheckedIn:
    return AlreadyCheckedIn("This booking was checked in at the door; it can no longer be cancelled.",
                            checked_in_at=seat_lock["checked_in_at"])


def my_bookings(caller: str, limit: int, cursor: str = None) -> tuple[list, str]:
    """One Query of the caller's partition per page, newest first."""
    scope = f"my-bookings:{caller}"
    page = booking_items.of_user_page(caller, limit, pagination.decode(scope, cursor))
    return [booking_view(item) for item in page.items], pagination.encode(scope, page.last_key)


def seat_map(show_id: int) -> dict:
    """Every seat of the show, row by row with labels, categories, prices and status, from one
    Query of the show's partition (the show item and its live seat locks)."""
    show, locks = show_items.partition(show_id)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    seats = rules.seat_map(show, locks, clock.now())
    plan = layout.plan_of_show(show)
    return {
        **seats.view(),
        "currency": plan.currency,
        "no_single_seat_gaps": bool(show.get("no_single_seat_gaps")),
        "max_seats_per_customer": seat_writes.seat_limit(show),
        "categories": plan.categories_view(),
        "rows": layout.seat_map_rows(plan, seats.status_of),
    }


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
