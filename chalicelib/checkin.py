"""Door check-in (issue 19): let each ticket in once, online or from a door device's offline scans.

A scan is verified offline first (signature, key id, the door's show, doors open), then one
conditional UpdateItem on the booking's seat lock (``SHOW#show / SEAT#seat``, the code's show and
seat) sets ``checked_in_at`` / ``checked_in_by`` only if the lock names the code's booking and was
not checked in. Of any number of doors scanning one ticket at once, exactly one write succeeds; a
refused write returns the lock that refused it, which says why (ours and already in, since when;
none, or another booking's or a hold's: this booking was cancelled, since a validly signed code
always named a real booking), so nothing is read before the write. A DynamoDB Streams consumer
can take ``checked_in_at`` appearing on a seat lock item as the "checked in" event.
"""
from chalicelib import clock, ticket_keys
from chalicelib.db import ConditionFailed, bookings as booking_items, shows as show_items
from chalicelib.domain import layout, tickets as rules
from chalicelib.domain.seats import CANCELLED
from chalicelib.errors import (
    AlreadyCheckedIn, BookingCancelled, Conflict, NotFound, TooEarly, ValidationError, WrongShow)
from chalicelib.settings import get_settings

MAX_BATCH_SCANS = 50  # a batch of 50 codes stays well inside the 16 KB body limit


def _show_field(body: dict):
    show = body.get("show")
    if show is None:
        return None
    if type(show) is not int or show < 1:
        raise ValidationError("show must be a positive integer (the show this door checks in).", field="show")
    return show


def _code_field(body: dict):
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ValidationError("code is required: the ticket code as scanned.", field="code")
    return code.strip()


def _doors_open(show_id: int, at: float) -> dict:
    """The show, or TooEarly (409) before its doors open; the show as read in the last 30 s, read
    afresh before refusing (an admin may have moved the show)."""
    opens = get_settings().checkin_opens_minutes
    show = show_items.get_recent(show_id)
    if show is not None and rules.too_early(show["starts_at"], at, opens):
        show_items.forget(show_id)
        show = show_items.get_recent(show_id)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    if rules.too_early(show["starts_at"], at, opens):
        raise TooEarly(f"The doors of show {show_id} open at {clock.iso(rules.doors_open_at(show['starts_at'], opens))}.",
                       doors_open_at=clock.iso(rules.doors_open_at(show["starts_at"], opens)))
    return show


def _plan_of(show: dict):
    """The show's seating plan, built on first use only (a lock usually carries its seat's label,
    and building a large plan costs more than the rest of a check-in)."""
    built = []

    def plan():
        if not built:
            built.append(layout.plan_of_show(show))
        return built[0]
    return plan


def _seat_details(seat_lock: dict, seat_number: int, plan) -> tuple:
    """(seat label, category): as the booking's lock recorded them, else from the show's plan (a
    lock written before seating plans, or none); ``plan`` gives the plan when called."""
    if seat_lock.get("seat_label"):
        return seat_lock["seat_label"], seat_lock.get("category")
    try:
        details = plan().seat_details(seat_number)
    except KeyError:  # beyond the plan: the show shrank after this booking was cancelled
        return str(seat_number), None
    return details["seat_label"], details["category"]


def _admit(staff: str, code: str, door_show, at: float) -> dict:
    """Verify one scan and write it (the rules of POST /check-in/); raises the refusal."""
    ticket = ticket_keys.verify(code)
    if door_show is not None and ticket.show != door_show:
        raise WrongShow(f"This ticket is for show {ticket.show}, not show {door_show}.",
                        ticket_show=ticket.show, seat_number=ticket.seat_number)
    show = _doors_open(ticket.show, at)
    try:
        seat_lock = show_items.check_in_seat(ticket.show, ticket.seat_number, ticket.booking_id, clock.iso(at), staff)
    except ConditionFailed as refused:
        old = refused.old or {}
        seat_label, _ = _seat_details(old, ticket.seat_number, _plan_of(show))
        if old.get("booking_id") == ticket.booking_id and old.get("checked_in_at"):
            raise AlreadyCheckedIn(f"This ticket was already checked in at {old['checked_in_at']}.",
                                   checked_in_at=old["checked_in_at"], checked_in_by=old.get("checked_in_by"),
                                   seat_label=seat_label)
        # No lock, or one of another booking or hold: the seat was freed, so this booking was cancelled.
        raise BookingCancelled("This booking was cancelled; the ticket is void.", seat_label=seat_label)
    seat_label, category = _seat_details(seat_lock, ticket.seat_number, _plan_of(show))
    return {
        "result": "ok",
        "booking_id": ticket.booking_id,
        "show": ticket.show,
        "seat_number": ticket.seat_number,
        "seat_label": seat_label,
        "category": category,
        "checked_in_at": seat_lock["checked_in_at"],
        "checked_in_by": seat_lock["checked_in_by"],
    }


def check_in(staff: str, body: dict) -> dict:
    """POST /check-in/ ``{code, show?}``: 200 ``{result: "ok", seat_label, show, ...}`` or the refusal."""
    return _admit(staff, _code_field(body), _show_field(body), clock.now())


def _scan_time(raw, now: float) -> float:
    if raw is None:
        return now
    try:
        at = clock.parse_iso(raw) if isinstance(raw, str) else None
    except ValueError:
        at = None
    if at is None:
        raise ValidationError("scanned_at must be an ISO 8601 time with a zone.", field="scanned_at")
    return min(at, now)  # a device clock ahead of ours cannot check in "in the future"


def check_in_batch(staff: str, body: dict) -> dict:
    """POST /check-in/batch/ ``{scans: [{code, scanned_at?, show?}], show?}``: a door device's offline
    scans, uploaded later. Each is checked and written as a single check-in would be, at its
    ``scanned_at`` (earliest first, so the first scan of a ticket wins), and answered on its own:
    ``{results: [{index, result: "ok", ...} | {index, result: "refused", Code, Message, ...}], ok,
    refused}`` in the order sent."""
    scans = body.get("scans")
    if not isinstance(scans, list) or not 1 <= len(scans) <= MAX_BATCH_SCANS:
        raise ValidationError(f"scans must be a list of 1 to {MAX_BATCH_SCANS} scans.", field="scans")
    door_show = _show_field(body)
    now = clock.now()
    parsed = []
    for index, scan in enumerate(scans):
        if not isinstance(scan, dict):
            raise ValidationError(f"scans[{index}] must be an object with a code.", field="scans")
        try:
            parsed.append((_scan_time(scan.get("scanned_at"), now), index, _code_field(scan),
                           _show_field(scan) or door_show))
        except ValidationError as exc:
            raise ValidationError(f"scans[{index}]: {exc.message}", field="scans", index=index) from None
    results = [None] * len(scans)
    for at, index, code, show in sorted(parsed):
        try:
            results[index] = {"index": index, **_admit(staff, code, show, at)}
        except (ValidationError, Conflict, NotFound) as exc:  # not ServiceUnavailable: the device retries
            results[index] = {"index": index, "result": "refused", "Code": exc.code, "Message": exc.message,
                              **exc.details}
    admitted = sum(1 for r in results if r["result"] == "ok")
    return {"results": results, "ok": admitted, "refused": len(results) - admitted}


# --- a show's doors: who is in, and the list a device checks offline ----------------------------

def _booked_locks(show_id: int) -> tuple:
    """(show, its plan, the locks of its booked seats): one consistent Query of the show's partition."""
    show, locks = show_items.partition(show_id, consistent=True)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    return show, _plan_of(show), [lock for lock in locks if lock.get("booking_id")]


def show_check_ins(show_id: int) -> dict:
    """GET /shows/{id}/check-ins/: ``{show, booked, admitted, check_ins: [...]}`` (earliest first),
    from the show's seat locks (one consistent Query of its partition: a check-in is on the lock as
    soon as it is answered)."""
    _, plan, booked = _booked_locks(show_id)
    admitted = [{"booking_id": lock["booking_id"], "seat_number": lock["seat_number"],
                 "seat_label": _seat_details(lock, lock["seat_number"], plan)[0],
                 "checked_in_at": lock["checked_in_at"], "checked_in_by": lock.get("checked_in_by")}
                for lock in booked if lock.get("checked_in_at")]
    admitted.sort(key=lambda entry: entry["checked_in_at"])
    return {"show": show_id, "booked": len(booked), "admitted": len(admitted), "check_ins": admitted}


def door_list(show_id: int) -> dict:
    """GET /shows/{id}/door-list/: what a door device needs to admit offline: the show's time and
    doors, the public keys, the valid tickets (booking id, seat, and whether already admitted; from
    the seat locks, one Query of the show's partition) and the revoked ones (cancelled bookings,
    from the show's GSI1 partition)."""
    show, plan, booked = _booked_locks(show_id)
    valid = []
    for lock in booked:
        entry = {"booking_id": lock["booking_id"], "seat_number": lock["seat_number"],
                 "seat_label": _seat_details(lock, lock["seat_number"], plan)[0]}
        if lock.get("checked_in_at"):
            entry["checked_in_at"] = lock["checked_in_at"]
        valid.append(entry)
    revoked = [item["id"] for item in booking_items.of_show(show_id) if item["status"] == CANCELLED]
    opens = get_settings().checkin_opens_minutes
    return {
        "show": show_id,
        "date_time": show["date_time"],
        "doors_open_at": clock.iso(rules.doors_open_at(show["starts_at"], opens)),
        "generated_at": clock.now_iso(),
        "keys": ticket_keys.public_keys(),
        "valid": valid,
        "revoked": revoked,
    }
