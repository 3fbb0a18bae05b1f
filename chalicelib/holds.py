"""Holds: seats kept for one customer for HOLD_SECONDS, then confirmed into bookings (all or none)
or released. Expiry is exact: from ``held_until`` on, the seats are free for anyone and the hold
can no longer be confirmed, whatever TTL has or has not deleted yet.

The rules are in ``domain.holds`` (lifecycle), ``domain.seats`` (locks) and ``domain.caps`` (the
per-customer cap); each operation here is one transaction over the hold item, its seat locks and
the customer's claims on the show.
"""
import logging
import random
import time

from chalicelib import bookings, clock, idempotency, pagination, seat_writes, validation
from chalicelib.db import Transaction, bookings as booking_items, claims, holds as hold_items, shows as show_items
from chalicelib.domain import caps, holds as rules, layout, picking, seats as seat_rules
from chalicelib.domain.seats import BOOKED, Refusal
from chalicelib.errors import NoAdjacentSeats, NotFound, ServiceUnavailable, ValidationError
from chalicelib.idempotency import Outcome
from chalicelib.seat_writes import CLAIMS_PART, WRITE_ATTEMPTS
from chalicelib.settings import get_settings

log = logging.getLogger(__name__)

HOLD_PART = "hold"
HOLD_ID_LENGTH = 27


def policy() -> rules.HoldPolicy:
    settings = get_settings()
    return rules.HoldPolicy(settings.hold_seconds, settings.hold_max_extensions, settings.hold_max_seconds)


def hold_view(hold: dict, now: float) -> dict:
    view = {
        "id": hold["id"],
        "show": hold["show"],
        "seat_numbers": hold["seat_numbers"],
        "status": rules.status(hold, now),
        "created_at": hold["created_at"],
        "expires_at": clock.iso(hold["held_until"]),
        "extensions_left": hold["extensions_left"],
    }
    for priced in ("seats", "total_price", "currency"):
        if priced in hold:
            view[priced] = hold[priced]
    return view


def _own_hold(caller: str, hold_id: str) -> dict:
    hold = hold_items.get(caller, hold_id) if _plausible_id(hold_id) else None
    if hold is None:
        raise NotFound("No such hold.")  # also for other customers' holds: ids are not disclosed
    return hold


def _plausible_id(hold_id: str) -> bool:
    return isinstance(hold_id, str) and len(hold_id) == HOLD_ID_LENGTH and all(
        c in "0123456789abcdef" for c in hold_id)


# --- making a hold -------------------------------------------------------------------------------

def create(caller: str, show_id: int, body: dict, idempotency_key: str = None) -> Outcome:
    """Hold the seats asked for (``seat_numbers``) or the best ``quantity`` adjacent seats."""
    if "quantity" in body and "seat_numbers" not in body:
        return _best_available(caller, show_id, validation.validate("best_available", body), idempotency_key)
    seats = sorted(validation.validate("hold", body)["seat_numbers"])
    return _hold(caller, show_id, seats, idempotency_key, idempotency.fingerprint("hold", show_id, seats))


def _hold(caller: str, show_id: int, seats: list, idempotency_key: str, digest: str, on_taken=None,
          picked_guards: list = None) -> Outcome:
    """Hold ``seats`` for HOLD_SECONDS, all or none: one TransactWriteItems (seat locks, hold,
    claims) when warm."""
    hold_id = None

    def build(tx, show, wanted, now) -> seat_writes.Attempt:
        nonlocal hold_id
        plan = layout.plan_of_show(show)
        details, total = seat_writes.priced(plan, wanted)
        hold_id = hold_id or rules.new_hold_id(now)
        hold = {
            "id": hold_id, "show": show["id"], "movie_id": show["movie_id"], "seat_numbers": wanted,
            "seats": details, "total_price": total, "currency": plan.currency,
            "status": rules.HELD, "created_at": clock.iso(now), "held_since": now,
            "held_until": policy().first_expiry(now), "extensions_left": policy().max_extensions,
        }
        for seat in wanted:
            show_items.hold_seat_part(tx, ("seat", seat), caller, hold, seat, now)
        hold_items.add_part(tx, HOLD_PART, caller, hold)
        return seat_writes.Attempt(Outcome(hold_view(hold, now), created=True), [hold_id],
                                   hold=(hold_id, hold["held_until"]))

    def on_refusal(refusal, wanted, show):
        if on_taken and refusal.reason is Refusal.TAKEN:
            on_taken(refusal)
        seat_writes.raise_refusal(refusal, show)

    return seat_writes.take_seats(caller, show_id, seats, build, on_refusal, idempotency_key, digest,
                                  picked_guards=picked_guards)


class _LostRace(Exception):
    """The picked seats were taken between the pick and the write."""


PICK_ATTEMPTS = 12  # each lost race to another party picking at the same moment costs one more pick
RETRY_JITTER_SECONDS = 0.02  # losers wait up to this long, so parties that lost together spread out


def _best_available(caller: str, show_id: int, request: dict, idempotency_key: str) -> Outcome:
    """Pick the best ``quantity`` adjacent seats from the current map (domain.picking) and hold
    them; if another party took them, or a seat beside them, first, pick again from the new map.

    The write guards the free seats beside the pick (whatever the show's ``no_single_seat_gaps``),
    so two parties picking at once never leave a single seat between them that neither pick would.
    """
    quantity, category = request["quantity"], request.get("category")
    digest = idempotency.fingerprint("best", show_id, quantity, category, bool(request.get("allow_split")))
    for _ in range(PICK_ATTEMPTS):
        now = clock.now()
        show, plan, busy = seat_writes.current_state(show_id, now)
        seat_rules.check_not_started(show["starts_at"], now)
        if category is not None and category not in plan.categories:
            raise ValidationError(f"This show has no category {category!r}; it has "
                                  f"{', '.join(plan.categories)}.", field="category")
        caps.check_room({}, quantity, seat_writes.seat_limit(show), now)
        seats = picking.best_block(plan, busy, quantity, category)
        if seats is None and request.get("allow_split"):
            seats = picking.best_split(plan, busy, quantity, category)
        if seats is None:
            kind = f" {category}" if category else ""
            raise NoAdjacentSeats(
                f"There are no {quantity} adjacent{kind} seats in one row that leave no single seat"
                + (", even split over rows." if request.get("allow_split") else
                   '; send "allow_split": true to accept seats in more than one row.'),
                quantity=quantity)
        try:
            return _hold(caller, show_id, seats, idempotency_key, digest, on_taken=_raise_lost_race,
                         picked_guards=picking.gap_guards(plan, busy, seats))
        except (_LostRace, seat_writes.SeatsChanged):
            time.sleep(random.uniform(0, RETRY_JITTER_SECONDS))
            continue
    raise ServiceUnavailable("The seats are in heavy demand; retry shortly.", retry_after=1)


def _raise_lost_race(refusal):
    raise _LostRace()


def get(caller: str, hold_id: str) -> dict:
    return hold_view(_own_hold(caller, hold_id), clock.now())


def my_holds(caller: str, limit: int, cursor: str = None) -> tuple[list, str]:
    """One Query of the caller's partition per page, newest first."""
    scope = f"my-holds:{caller}"
    now = clock.now()
    page = hold_items.of_user_page(caller, limit, pagination.decode(scope, cursor))
    return [hold_view(item, now) for item in page.items], pagination.encode(scope, page.last_key)


# --- extending -----------------------------------------------------------------------------------

def extend(caller: str, hold_id: str) -> dict:
    """Push ``expires_at`` to now + HOLD_SECONDS (at most HOLD_MAX_EXTENSIONS times, never past
    created_at + HOLD_MAX_SECONDS): the hold, its seat locks and the claims record, in one transaction."""
    hold, now = _own_hold(caller, hold_id), clock.now()
    for _ in range(WRITE_ATTEMPTS):
        until = rules.extended_expiry(hold, now, policy())
        read = claims.get(caller, hold["show"])
        record = caps.after_read(read, now, add_hold=(hold_id, len(hold["seat_numbers"]), until))
        tx = Transaction()
        hold_items.extend_part(tx, HOLD_PART, caller, hold_id, until, now)
        for seat in hold["seat_numbers"]:
            show_items.extend_seat_part(tx, ("seat", seat), hold["show"], seat, hold_id, until, now)
        claims.rewrite_part(tx, CLAIMS_PART, caller, hold["show"], read, record)
        result = tx.commit()
        if result.ok:
            return hold_view({**hold, "held_until": until, "extensions_left": hold["extensions_left"] - 1}, now)
        if result.failed(HOLD_PART):
            hold = result.old(HOLD_PART) or _own_hold(caller, hold_id)  # then the rules say why
            continue
        if result.failed(CLAIMS_PART):
            continue  # the record changed since it was read: read it again
        # A seat lock refused it while the hold item did not: the hold lapsed between this request's
        # clock reading and the commit, and another customer took a seat. Then it is expired, not broken.
        rules.check_held(hold, clock.now(), "extended")
        log.error("seat locks of live hold %s are missing or foreign; not extended", hold_id)
        raise ServiceUnavailable("The hold could not be extended; retry shortly.")
    raise ServiceUnavailable("The hold is in heavy demand; retry shortly.", retry_after=1)


# --- confirming ----------------------------------------------------------------------------------

def confirm(caller: str, hold_id: str) -> Outcome:
    """Book every held seat or none (201 ``{group_id, hold_id, bookings}``); a repeated confirm
    answers the same bookings (200). One transaction: the hold (still held, not expired), each seat
    lock turned from the hold's into its booking's, the bookings, the claims record."""
    hold, now = _own_hold(caller, hold_id), clock.now()
    group_id = seat_rules.new_group_id()
    listed = True
    for _ in range(WRITE_ATTEMPTS):
        if hold["status"] == rules.CONFIRMED:
            return Outcome(hold_items.confirmation(hold))
        rules.check_held(hold, now, "confirmed")
        details = hold.get("seats") or [{"seat_number": seat} for seat in hold["seat_numbers"]]
        currency = hold.get("currency", layout.DEFAULT_CURRENCY)
        new = [{
            "id": seat_rules.new_booking_id(now), "show": hold["show"], "movie_id": hold["movie_id"],
            **seat, "currency": currency, "status": BOOKED, "created_at": clock.iso(now), "group_id": group_id,
            "hold_id": hold_id,
        } for seat in details]
        answer = bookings.group_answer(group_id, [bookings.booking_view(b) for b in new], currency, hold_id=hold_id)
        tx = Transaction()
        hold_items.confirm_part(tx, HOLD_PART, caller, hold_id, now, answer)
        for booking in new:
            show_items.confirm_seat_part(tx, ("seat", booking["seat_number"]), caller, booking, now)
            booking_items.add_part(tx, ("booking", booking["seat_number"]), caller, booking)
        claims.hold_booked_part(tx, CLAIMS_PART, caller, hold["show"], hold_id, len(new), listed=listed)
        result = tx.commit()
        if result.ok:
            return Outcome(answer, created=True)
        if result.failed(HOLD_PART):
            hold = result.old(HOLD_PART) or _own_hold(caller, hold_id)  # confirmed, released or expired
            continue
        if result.failed(CLAIMS_PART) and listed:
            listed = False  # the hold lapsed by another request's clock and was dropped from the record
            continue
        # A seat lock refused it while the hold item did not: the hold lapsed between this request's
        # clock reading and the commit, and another customer took a seat. Then it is expired, not broken.
        rules.check_held(hold, clock.now(), "confirmed")
        log.error("seat locks of live hold %s are missing or foreign; not confirmed", hold_id)
        raise ServiceUnavailable("The hold could not be confirmed; retry shortly.")
    raise ServiceUnavailable("The hold is in heavy demand; retry shortly.", retry_after=1)


# --- releasing -----------------------------------------------------------------------------------

def release(caller: str, hold_id: str) -> dict:
    """Give the seats back now (200 with ``status: released``; repeating it answers the same)."""
    hold, now = _own_hold(caller, hold_id), clock.now()
    listed = True
    for _ in range(WRITE_ATTEMPTS):
        if hold["status"] == rules.RELEASED:
            return hold_view(hold, now)
        rules.check_held(hold, now, "released")
        tx = Transaction()
        hold_items.release_part(tx, HOLD_PART, caller, hold_id, now, clock.iso(now))
        for seat in hold["seat_numbers"]:
            show_items.release_seat_part(tx, ("seat", seat), hold["show"], seat, hold_id)
        if listed:
            claims.hold_released_part(tx, CLAIMS_PART, caller, hold["show"], hold_id, len(hold["seat_numbers"]))
        result = tx.commit()
        if result.ok:
            return hold_view({**hold, "status": rules.RELEASED}, now)
        if result.failed(HOLD_PART):
            hold = result.old(HOLD_PART) or _own_hold(caller, hold_id)
            continue
        if result.failed(CLAIMS_PART):
            listed = False  # dropped from the record already: nothing to take back there
            continue
        # A seat lock refused it while the hold item did not: the hold lapsed between this request's
        # clock reading and the commit, and another customer took a seat. Then it is expired, not broken.
        rules.check_held(hold, clock.now(), "released")
        log.error("seat locks of live hold %s are missing or foreign; not released", hold_id)
        raise ServiceUnavailable("The hold could not be released; retry shortly.")
    raise ServiceUnavailable("The hold is in heavy demand; retry shortly.", retry_after=1)


# --- offers to the waitlist (issue 20) ------------------------------------------------------------

def hold_for(caller: str, show_id: int, seats: list) -> dict:
    """Hold ``seats`` for ``caller`` as a hold request of theirs would (caps, single-seat rule,
    HOLD_SECONDS): the waitlist's offer. Raises as a hold request would when it cannot be made."""
    seats = sorted(seats)
    return _hold(caller, show_id, seats, None, idempotency.fingerprint("offer", show_id, seats)).body
