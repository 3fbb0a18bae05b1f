"""Domain events: what an item change in the table means to the outside world.

The table's stream (NEW_AND_OLD_IMAGES) says "this item was inserted / modified / removed, it was
this before and is this now"; ``event_of_change`` turns one such change into at most one domain
event, from plain dicts (the images as stored, deserialised). Everything else an item change can be
(seat locks but for a check-in, claims, idempotency records, webhook deliveries, ...) means nothing
outside: None.

An event is ``{"id", "type", "data"}``. Its id comes from the stream record (``change_id``), so the
same change delivered twice (a retried batch, a restarted poller) carries the same id and consumers
can deduplicate on it.
"""
from typing import Mapping, Optional

INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"

BOOKING_CREATED = "booking.created"
BOOKING_CANCELLED = "booking.cancelled"
HOLD_CREATED = "hold.created"
HOLD_CONFIRMED = "hold.confirmed"
HOLD_RELEASED = "hold.released"
HOLD_EXPIRED = "hold.expired"
SHOW_CHANGED = "show.changed"
CHECKIN_OK = "checkin.ok"
WAITLIST_OFFERED = "waitlist.offered"
WEBHOOK_TEST = "webhook.test"

EVENT_TYPES = (BOOKING_CREATED, BOOKING_CANCELLED, HOLD_CREATED, HOLD_CONFIRMED, HOLD_RELEASED, HOLD_EXPIRED,
               SHOW_CHANGED, CHECKIN_OK, WAITLIST_OFFERED)
# Events after which seats of a show may be free again (the waitlist reacts to them).
SEATS_FREED = frozenset({BOOKING_CANCELLED, HOLD_RELEASED, HOLD_EXPIRED})

_BOOKING_FIELDS = ("id", "show", "movie_id", "seat_number", "seat_label", "category", "price", "currency",
                   "status", "group_id", "hold_id", "created_at", "cancelled_at", "user")
_CHECKIN_FIELDS = ("booking_id", "show", "movie_id", "seat_number", "seat_label", "category", "checked_in_at",
                   "checked_in_by", "user")
_HOLD_FIELDS = ("id", "show", "movie_id", "seat_numbers", "seats", "total_price", "currency", "status",
                "created_at", "held_until", "released_at", "expired_at", "user")
_SHOW_FIELDS = ("id", "movie_id", "screen_name", "date_time", "starts_at", "total_seats", "revision",
                "max_seats_per_customer", "no_single_seat_gaps")
_WAITLIST_FIELDS = ("id", "show", "user", "quantity", "category", "status", "joined_at", "offer_hold_id",
                    "offered_until", "offer_seat_numbers")


def change_id(sequence_number: str, event_id: str = "") -> str:
    """The event id of a stream record: ``evt_`` + the record's eventID (stable for the record: the
    local engine keeps it across restarts, DynamoDB gives each record one)."""
    return f"evt_{event_id or sequence_number}"


def _pick(item: Mapping, fields) -> dict:
    return {name: item[name] for name in fields if item.get(name) is not None}


def _changed_to(old: Optional[Mapping], new: Optional[Mapping], field: str, value) -> bool:
    return bool(new) and new.get(field) == value and (not old or old.get(field) != value)


def event_type(event_name: str, old: Optional[Mapping], new: Optional[Mapping]) -> Optional[str]:
    """The domain event type of one item change, or None when the change means nothing outside."""
    item = new or old or {}
    kind = item.get("type")
    if kind == "booking":
        if event_name == INSERT and new.get("status") == "booked":
            return BOOKING_CREATED
        if event_name == MODIFY and _changed_to(old, new, "status", "cancelled"):
            return BOOKING_CANCELLED
        return None
    if kind == "seat":
        # A check-in marks the booking's seat lock (one conditional write at the door, issue 19).
        if event_name == MODIFY and new.get("checked_in_at") and not old.get("checked_in_at"):
            return CHECKIN_OK
        return None
    if kind == "hold":
        if event_name == INSERT and new.get("status") == "held":
            return HOLD_CREATED
        if event_name == MODIFY:
            for status, name in (("confirmed", HOLD_CONFIRMED), ("released", HOLD_RELEASED),
                                 ("expired", HOLD_EXPIRED)):
                if _changed_to(old, new, "status", status):
                    return name
        return None
    if kind == "show":
        # Only admin writes (create, edit, delete) touch the show item; bookings only check it.
        return SHOW_CHANGED
    if kind == "waitlist":
        if event_name == MODIFY and new.get("status") == "offered" and (
                old.get("offer_hold_id") != new.get("offer_hold_id")):
            return WAITLIST_OFFERED
        return None
    return None


def event_of_change(event_name: str, old: Optional[Mapping], new: Optional[Mapping], event_id: str,
                    at: str) -> Optional[dict]:
    """The domain event ``{"id", "type", "timestamp", "data"}`` of one item change, or None."""
    kind = event_type(event_name, old, new)
    if kind is None:
        return None
    item = new or old
    if kind == SHOW_CHANGED:
        data = {**_pick(item, _SHOW_FIELDS), "change": {INSERT: "created", MODIFY: "updated",
                                                         REMOVE: "deleted"}[event_name]}
    elif item.get("type") == "booking":
        data = _pick(item, _BOOKING_FIELDS)
    elif kind == CHECKIN_OK:
        data = _pick(item, _CHECKIN_FIELDS)
    elif item.get("type") == "hold":
        data = _pick(item, _HOLD_FIELDS)
    else:
        data = _pick(item, _WAITLIST_FIELDS)
    return {"id": event_id, "type": kind, "timestamp": at, "data": data}
