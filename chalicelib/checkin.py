"""Door check-in (issue 19): let each ticket in once, online or from a door device's offline scans.

A scan is verified offline first (signature, key id, the door's show, doors open), then one
conditional UpdateItem on the booking item sets ``checked_in_at`` / ``checked_in_by`` only if the
booking exists, is booked and was not checked in. Of any number of doors scanning one ticket at
once, exactly one write succeeds; a refused write returns the item that refused it, which says why
(already in, and since when; cancelled), so nothing is read before the write. A DynamoDB Streams
consumer can take ``checked_in_at`` appearing on a booking item as the "checked in" event.
"""
from chalicelib import clock, ticket_keys
from chalicelib.db import ConditionFailed, bookings as booking_items, shows as show_items
from chalicelib.domain import layout, tickets as rules
from chalicelib.domain.seats import BOOKED, CANCELLED
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


def _doors_open(show_id: int, at: float) -> None:
    """TooEarly (409) before the show's doors open; the show as read in the last 30 s, read afresh
    before refusing (an admin may have moved the show)."""
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


def _admitted_view(item: dict) -> dict:
    return {
        "result": "ok",
        "booking_id": item["id"],
        "show": item["show"],
        "seat_number": item["seat_number"],
        "seat_label": item.get("seat_label") or str(item["seat_number"]),
        "category": item.get("category"),
        "checked_in_at": item["checked_in_at"],
        "checked_in_by": item["checked_in_by"],
    }


def _admit(staff: str, code: str, door_show, at: float) -> dict:
    """Verify one scan and write it (the rules of POST /check-in/); raises the refusal."""
    ticket = ticket_keys.verify(code)
    if door_show is not None and ticket.show != door_show:
        raise WrongShow(f"This ticket is for show {ticket.show}, not show {door_show}.",
                        ticket_show=ticket.show, seat_number=ticket.seat_number)
    _doors_open(ticket.show, at)
    try:
        item = booking_items.check_in(ticket.owner, ticket.booking_id, clock.iso(at), staff, BOOKED)
    except ConditionFailed as refused:
        old = refused.old
        if old is None or old.get("show") != ticket.show:
            raise NotFound("This ticket's booking does not exist.")
        if old.get("checked_in_at"):
            raise AlreadyCheckedIn(f"This ticket was already checked in at {old['checked_in_at']}.",
                                   checked_in_at=old["checked_in_at"], checked_in_by=old.get("checked_in_by"),
                                   seat_label=old.get("seat_label"))
        if old.get("status") == CANCELLED:
            raise BookingCancelled("This booking was cancelled; the ticket is void.", seat_label=old.get("seat_label"))
        raise NotFound("This ticket's booking does not exist.")
    return _admitted_view(item)


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

def _show_or_404(show_id: int) -> dict:
    show = show_items.get_recent(show_id)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    return show


def _label(item: dict, plan) -> str:
    return item.get("seat_label") or plan.seat_details(item["seat_number"])["seat_label"]


def show_check_ins(show_id: int) -> dict:
    """GET /shows/{id}/check-ins/: ``{show, booked, admitted, check_ins: [...]}`` (earliest first),
    from the show's GSI1 partition (every booking of the show; bounded by its seats and their
    cancellations). The index is eventually consistent: a check-in of the last second may be missing."""
    show = _show_or_404(show_id)
    plan = layout.plan_of_show(show)
    booked, admitted = 0, []
    for item in booking_items.of_show(show_id):
        if item["status"] != BOOKED:
            continue
        booked += 1
        if item.get("checked_in_at"):
            admitted.append({"booking_id": item["id"], "seat_number": item["seat_number"],
                             "seat_label": _label(item, plan), "checked_in_at": item["checked_in_at"],
                             "checked_in_by": item.get("checked_in_by")})
    admitted.sort(key=lambda entry: entry["checked_in_at"])
    return {"show": show_id, "booked": booked, "admitted": len(admitted), "check_ins": admitted}


def door_list(show_id: int) -> dict:
    """GET /shows/{id}/door-list/: what a door device needs to admit offline: the show's time and
    doors, the public keys, the valid tickets (booking id, seat, and whether already admitted) and
    the revoked ones (cancelled bookings), from one Query of the show's GSI1 partition."""
    show = _show_or_404(show_id)
    plan = layout.plan_of_show(show)
    valid, revoked = [], []
    for item in booking_items.of_show(show_id):
        if item["status"] == BOOKED:
            entry = {"booking_id": item["id"], "seat_number": item["seat_number"], "seat_label": _label(item, plan)}
            if item.get("checked_in_at"):
                entry["checked_in_at"] = item["checked_in_at"]
            valid.append(entry)
        else:
            revoked.append(item["id"])
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
