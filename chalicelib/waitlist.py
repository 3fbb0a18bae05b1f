"""The waitlist: customers who wanted a block of seats of a full show, offered seats when they come back.

A customer joins a show's list only when best-available finds no block of their size (``SeatsAvailable``
otherwise). When seats come back (``booking.cancelled``, ``hold.released``, ``hold.expired``: the outbox
hands every event here), the waiting entries are taken first come, first served (``domain.waitlist``):
each whose party fits is given a hold on the best block (the hold service's own rules: caps, single
seats, HOLD_SECONDS), and its entry turns ``offered`` -- the item change that is ``waitlist.offered``.
An offer that is confirmed is ``accepted``; released, ``declined``; left to expire (the sweep records
it: ``hold.expired``), ``lapsed``, and its seats go to the next entry that fits.
"""
import logging

from chalicelib import clock, holds, seat_writes, validation
from chalicelib.db import waitlist as entries
from chalicelib.domain import events, picking, seats as seat_rules, waitlist as rules
from chalicelib.domain.holds import new_hold_id
from chalicelib.errors import BookingAPIError, NotFound, SeatsAvailable, ValidationError
from chalicelib.idempotency import Outcome

log = logging.getLogger(__name__)


def entry_view(entry: dict, position=None) -> dict:
    view = {name: entry[name] for name in ("id", "show", "movie_id", "quantity", "category", "status", "joined_at",
                                           "offer_hold_id", "offered_until", "offer_seat_numbers")
            if entry.get(name) is not None}
    if position is not None:
        view["position"] = position
    return view


def join(caller: str, show_id: int, body: dict) -> Outcome:
    """201 with the new entry and its position; 200 with the entry the caller already has."""
    request = validation.validate("waitlist", body)
    quantity, category = request["quantity"], request.get("category")
    now = clock.now()
    show, plan, busy = seat_writes.current_state(show_id, now)
    seat_rules.check_not_started(show["starts_at"], now)
    if category is not None and category not in plan.categories:
        raise ValidationError(f"This show has no category {category!r}; it has {', '.join(plan.categories)}.",
                              field="category")
    if picking.best_block(plan, busy, quantity, category) is not None:
        raise SeatsAvailable(f"There are {quantity} adjacent seats available: hold them instead "
                             f"(POST /shows/{show_id}/holds/ with {{\"quantity\": {quantity}}}).", quantity=quantity)
    entry = {"id": new_hold_id(now), "show": show_id, "movie_id": show["movie_id"], "user": caller,
             "quantity": quantity, "category": category, "status": rules.WAITING, "joined_at": clock.iso(now)}
    created = entries.join(entry)
    if not created:
        entry = entries.get(show_id, caller)
    return Outcome(entry_view(entry, rules.position(entries.of_show(show_id), entry["id"])), created=created)


def my_entries(caller: str) -> list:
    """The caller's entries that are still waiting or offered, with their positions."""
    found = [e for e in entries.of_user(caller) if e["status"] in rules.ACTIVE]
    return [entry_view(e, rules.position(entries.of_show(e["show"]), e["id"])) for e in found]


def leave(caller: str, show_id: int) -> None:
    if not entries.leave(show_id, caller):
        raise NotFound("You are not on this show's waitlist.")


# --- reacting to events ----------------------------------------------------------------------------

def on_event(event: dict) -> None:
    """Settle an offer whose hold ended, then offer any seats that came back."""
    kind, data = event["type"], event["data"]
    show_id = data.get("show")
    if show_id is None or not (kind in events.SEATS_FREED or kind == events.HOLD_CONFIRMED):
        return
    listed = entries.of_show(show_id)
    settled = rules.settled_by(kind)
    for entry in listed:
        if entry["status"] == rules.OFFERED and entry.get("offer_hold_id") == data.get("id") and settled:
            entries.settle(entry, settled, clock.now_iso())
    if kind in events.SEATS_FREED:
        offer_seats(show_id, listed)


def offer_seats(show_id: int, listed: list = None) -> int:
    """Offer freed seats to the waiting entries that fit, first come first served; how many offers."""
    listed = entries.of_show(show_id) if listed is None else listed
    if not rules.in_order(listed):
        return 0
    now = clock.now()
    try:
        show, plan, busy = seat_writes.current_state(show_id, now)
        seat_rules.check_not_started(show["starts_at"], now)
    except BookingAPIError:
        return 0  # the show is gone or has started: nothing to offer
    made = 0
    for entry, seats in rules.plan_offers(listed, plan, busy, picking.best_block):
        try:
            hold = holds.hold_for(entry["user"], show_id, seats)
        except BookingAPIError as exc:  # at the cap, seats taken meanwhile...: keeps its place
            log.info("waitlist entry %s of show %s not offered %s: %s", entry["id"], show_id, seats, exc.code)
            continue
        if entries.mark_offered(entry, hold):
            made += 1
        else:  # left the list (or another round offered first) while the hold was made
            holds.release(entry["user"], hold["id"])
    return made
