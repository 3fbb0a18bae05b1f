"""Bookings: one item per booked seat in its owner's partition (``USER#k / BOOKING#id``), also in
the show's GSI1 partition (``BOOKINGS#show``) for admins."""
from typing import Optional

from chalicelib import keys, storage
from chalicelib.storage import Page, Transaction


def booking_item(caller: str, booking: dict) -> dict:
    return {
        **keys.booking_key(caller, booking["id"]),
        "type": "booking",
        **{k: v for k, v in booking.items() if v is not None},
        "user": caller,
        "GSI1PK": keys.bookings_of_show_gsi(booking["show"]),
        "GSI1SK": keys.booking_gsi_sort(booking["id"]),
    }


def add_part(tx: Transaction, name, caller: str, booking: dict) -> None:
    tx.put(name, booking_item(caller, booking), condition="attribute_not_exists(PK)")


def get(caller: str, booking_id: str) -> Optional[dict]:
    """The caller's booking (strongly consistent), or None; other users' bookings are not there."""
    return storage.get(keys.booking_key(caller, booking_id), consistent=True)


def cancel_part(tx: Transaction, name, stored: dict, from_status: str, to_status: str, at: str,
                cancel_id: str) -> None:
    """Replace the booking as read (``stored``, the whole item) by its new status, only if it still
    has ``from_status`` (its only attribute that ever changes); ``cancel_id`` lets a retry recognise
    its own landed write in the returned item. A conditional Put, not an UpdateItem: the same
    guarantee for less work."""
    tx.put(name, {**stored, "status": to_status, "cancelled_at": at, "cancel_id": cancel_id},
           condition="#status = :from", names={"#status": "status"}, values={":from": from_status},
           return_old=True)


def of_user_page(caller: str, limit: int, start: dict = None) -> Page:
    """A page of the caller's bookings, newest first (booking ids are time-ordered)."""
    return storage.query_page("PK = :pk AND begins_with(SK, :prefix)",
                              {":pk": keys.user_pk(caller), ":prefix": keys.BOOKING_PREFIX},
                              limit=limit, start=start, newest_first=True)


def of_show_page(show_id: int, limit: int, start: dict = None) -> Page:
    """A page of every booking of a show, active and cancelled (GSI1)."""
    return storage.query_page("GSI1PK = :pk", {":pk": keys.bookings_of_show_gsi(show_id)},
                              index=storage.GSI1, limit=limit, start=start)


def of_show(show_id: int):
    """Every booking of a show, active and cancelled (GSI1, eventually consistent; one request per 1 MB)."""
    return storage.query_all("GSI1PK = :pk", {":pk": keys.bookings_of_show_gsi(show_id)}, index=storage.GSI1)
