"""A show's partition (``SHOW#id``): the show item and one lock item per taken seat; and the
movie's GSI1 partition that lists its shows by start time."""
import json
import math
import threading
from typing import Optional

from chalicelib import clock, keys, storage
from chalicelib.storage import Page, Transaction

SHOW_CACHE_SECONDS = 30.0  # bookings re-check the show inside their transaction, so this is safe
SHOW_CACHE_SIZE = 512


# --- the show item -------------------------------------------------------------------------------

# The seating plan's rows are stored as one JSON string: a plan of 1,000 seats is hundreds of nested
# values otherwise, which every read of the show's partition (each seat map) would decode one by one.
PACKED_FIELDS = ("layout",)


def _packed(values: dict) -> dict:
    return {name: json.dumps(value, separators=(",", ":")) if name in PACKED_FIELDS and value is not None
            else value for name, value in values.items()}


def _unpacked(item: Optional[dict]) -> Optional[dict]:
    if item is not None:
        for name in PACKED_FIELDS:
            if isinstance(item.get(name), str):
                item[name] = json.loads(item[name])
    return item


def show_item(show: dict) -> dict:
    """The stored item of a show record (``id``, ``movie_id``, ``screen_name``, ``date_time``,
    ``starts_at``, ``total_seats`` and the seating fields), with its table and GSI1 keys."""
    return {
        **keys.show_key(show["id"]),
        "type": "show",
        "revision": 1,
        **_packed(show),
        "GSI1PK": keys.shows_of_movie_gsi(show["movie_id"]),
        "GSI1SK": keys.show_gsi_sort(show["date_time"], show["id"]),
    }


def get(show_id: int, consistent: bool = False) -> Optional[dict]:
    return _unpacked(storage.get(keys.show_key(show_id), consistent=consistent))


class _ShowCache:
    """Show items read recently by this process, for at most SHOW_CACHE_SECONDS each."""

    def __init__(self):
        self._items: dict = {}
        self._lock = threading.Lock()

    def get(self, show_id: int) -> Optional[dict]:
        entry = self._items.get(show_id)
        if entry and clock.now() - entry[1] < SHOW_CACHE_SECONDS:
            return entry[0]
        return None

    def put(self, show_id: int, item: dict) -> None:
        with self._lock:
            if len(self._items) >= SHOW_CACHE_SIZE:
                self._items.pop(next(iter(self._items)))
            self._items[show_id] = (item, clock.now())

    def forget(self, show_id: int) -> None:
        self._items.pop(show_id, None)

    def clear(self) -> None:
        self._items.clear()


_cache = _ShowCache()
storage.on_reset(_cache.clear)


def get_recent(show_id: int) -> Optional[dict]:
    """The show as read at most SHOW_CACHE_SECONDS ago by this process (one GetItem when it was not).

    Only for callers whose writes re-check the show (:func:`check_bookable_part`)."""
    item = _cache.get(show_id)
    if item is None:
        item = get(show_id)
        if item is not None:
            _cache.put(show_id, item)
    return item


def forget(show_id: int) -> None:
    """Drop the cached copy (after a write to the show, or when a transaction found it changed)."""
    _cache.forget(show_id)


def put_new(show: dict) -> None:
    """Store a show unless its id exists (ConditionFailed carries the existing item)."""
    try:
        storage.put(show_item(show), condition="attribute_not_exists(PK)", return_old=True)
    except storage.ConditionFailed as refused:
        raise storage.ConditionFailed(_unpacked(refused.old)) from None


def put_part(tx: Transaction, name, show: dict) -> None:
    tx.put(name, show_item(show), condition="attribute_not_exists(PK)")


def check_unchanged_part(tx: Transaction, name, show: dict) -> None:
    """The show is still as it was read: it exists with the same ``revision`` (every admin change
    bumps it), the same seats and start time (also for a change made outside this code)."""
    values = {":total": show["total_seats"], ":starts": show["starts_at"]}
    condition = "attribute_exists(PK) AND total_seats = :total AND starts_at = :starts AND "
    if "revision" in show:
        condition += "revision = :revision"
        values[":revision"] = show["revision"]
    else:
        condition += "attribute_not_exists(revision)"
    tx.check(name, keys.show_key(show["id"]), condition, values=values)


def update(show_id: int, values: dict) -> Optional[dict]:
    """SET ``values`` on the show (and its GSI1 sort key with ``date_time``); the whole new item, or
    None if there is no such show."""
    forget(show_id)
    if "date_time" in values:
        values = {**values, "GSI1SK": keys.show_gsi_sort(values["date_time"], show_id)}
    try:
        return _unpacked(storage.set_fields(keys.show_key(show_id), _packed(values), increment={"revision": 1}))
    except storage.ConditionFailed:
        return None


def delete(show_id: int) -> Optional[dict]:
    """Delete the show item; the deleted item, or None if there was none."""
    forget(show_id)
    try:
        return _unpacked(storage.delete(keys.show_key(show_id), condition="attribute_exists(PK)", return_old=True))
    except storage.ConditionFailed:
        return None


def restore(item: dict) -> None:
    """Put a deleted show item back, unless one exists again."""
    storage.put(_packed(item), condition="attribute_not_exists(PK)")


def delete_part(tx: Transaction, name, show_id: int) -> None:
    forget(show_id)
    tx.delete(name, keys.show_key(show_id))


# --- a movie's shows (GSI1) ------------------------------------------------------------------------

def of_movie_page(movie_id: int, date: str = None, limit: int = None, start: dict = None) -> Page:
    """A page of a movie's shows by start time, all or those on ``date`` (eventually consistent)."""
    return storage.query_page(
        "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
        {":pk": keys.shows_of_movie_gsi(movie_id), ":prefix": keys.shows_on_date_prefix(date)},
        index=storage.GSI1, limit=limit, start=start)


def ids_of_movie(movie_id: int) -> list:
    """Every show id of a movie (GSI1 pages, eventually consistent)."""
    return [item["id"] for item in storage.query_all(
        "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
        {":pk": keys.shows_of_movie_gsi(movie_id), ":prefix": keys.shows_on_date_prefix()},
        index=storage.GSI1, projection="id")]


# --- seat locks ------------------------------------------------------------------------------------
# A lock is free to take when there is none or it is a hold that has lapsed ("held_until <= now"; a
# booking's lock has no held_until, so the comparison is false for it). TTL removes lapsed locks
# later; nothing waits for it.
_FREE = "attribute_not_exists(PK) OR held_until <= :now"


def booking_lock_item(caller: str, booking: dict) -> dict:
    return {
        **keys.seat_key(booking["show"], booking["seat_number"]),
        "type": "seat",
        "booking_id": booking["id"],
        "user": caller,
        "show": booking["show"],
        "movie_id": booking["movie_id"],
        "seat_number": booking["seat_number"],
        "created_at": booking["created_at"],
        "group_id": booking.get("group_id"),
        "hold_id": booking.get("hold_id"),
        # so that a repeated booking can answer with the booking from the lock alone
        **{k: booking.get(k) for k in ("seat_label", "category", "price", "currency")},
    }


def lock_seat_part(tx: Transaction, name, caller: str, booking: dict, now: float) -> None:
    """Book the seat unless it is taken: the double-booking guard. A refusal returns the lock that
    holds the seat."""
    tx.put(name, booking_lock_item(caller, booking), condition=_FREE, values={":now": now}, return_old=True)


def hold_seat_part(tx: Transaction, name, caller: str, hold: dict, seat_number: int, now: float) -> None:
    """Hold the seat until ``hold["held_until"]`` unless it is taken (the same guard as booking)."""
    tx.put(name, {
        **keys.seat_key(hold["show"], seat_number),
        "type": "seat",
        "hold_id": hold["id"],
        "user": caller,
        "show": hold["show"],
        "seat_number": seat_number,
        "created_at": hold["created_at"],
        "held_until": hold["held_until"],
        storage.TTL_ATTRIBUTE: math.ceil(hold["held_until"]),
    }, condition=_FREE, values={":now": now}, return_old=True)


def confirm_seat_part(tx: Transaction, name, caller: str, booking: dict, now: float) -> None:
    """Turn the seat's hold lock into the booking's lock, while the hold is live."""
    tx.put(name, booking_lock_item(caller, booking), condition="hold_id = :hold AND held_until > :now",
           values={":hold": booking["hold_id"], ":now": now}, return_old=True)


def extend_seat_part(tx: Transaction, name, show_id: int, seat_number: int, hold_id: str, until: float,
                     now: float) -> None:
    tx.update(name, keys.seat_key(show_id, seat_number), "SET held_until = :until, #ttl = :ttl",
              condition="hold_id = :hold AND held_until > :now", names={"#ttl": storage.TTL_ATTRIBUTE},
              values={":until": until, ":ttl": math.ceil(until), ":hold": hold_id, ":now": now})


def check_free_part(tx: Transaction, name, show_id: int, seat_number: int, now: float) -> None:
    """The seat is still free (no lock, or a lapsed hold's)."""
    tx.check(name, keys.seat_key(show_id, seat_number), _FREE, values={":now": now})


def release_seat_part(tx: Transaction, name, show_id: int, seat_number: int, hold_id: str) -> None:
    """Give a held seat back: delete its lock only while it is still this hold's (not booked)."""
    tx.delete(name, keys.seat_key(show_id, seat_number),
              condition="hold_id = :hold AND attribute_not_exists(booking_id)", values={":hold": hold_id})


def free_seat_part(tx: Transaction, name, show_id: int, seat_number: int, booking_id: str) -> None:
    """Delete the seat's lock only if it still names ``booking_id`` and was not let in at the door
    (no ``checked_in_at``: the customer is in the hall, the seat stays theirs). A refusal returns
    the lock, which says which of the two it was."""
    tx.delete(name, keys.seat_key(show_id, seat_number),
              condition="booking_id = :id AND attribute_not_exists(checked_in_at)",
              values={":id": booking_id}, return_old=True)


def seat_lock(show_id: int, seat_number: int) -> Optional[dict]:
    """The seat's lock (one GetItem, eventually consistent), or None if the seat is free."""
    return storage.get(keys.seat_key(show_id, seat_number))


def check_in_seat(show_id: int, seat_number: int, booking_id: str, at: str, by: str) -> dict:
    """Let the booking in at the door (issue 19): SET ``checked_in_at`` and ``checked_in_by`` on
    its seat lock, in one conditional UpdateItem, only while the lock names ``booking_id`` and has
    no ``checked_in_at``; the whole new lock. ConditionFailed carries the lock that refused it (None
    if the seat has none), so nothing is read before the write: ours with ``checked_in_at`` is a
    second admission; none, or another booking's or a hold's, means this booking was cancelled."""
    return storage.update(
        keys.seat_key(show_id, seat_number), "SET checked_in_at = :at, checked_in_by = :by",
        condition="booking_id = :booking AND attribute_not_exists(checked_in_at)",
        values={":booking": booking_id, ":at": at, ":by": by}, returning="ALL_NEW", return_old=True)


def partition(show_id: int, consistent: bool = False) -> tuple:
    """(show item or None, its seat locks): one Query of the show's partition (paged past 1 MB)."""
    show, locks = None, []
    for item in storage.query_all("PK = :pk", {":pk": keys.show_pk(show_id)}, consistent=consistent):
        if item["SK"] == keys.SHOW_SK:
            show = _unpacked(item)
        elif item["SK"].startswith(keys.SEAT_PREFIX):
            locks.append(item)
    return show, locks


def locks_from_the_back(show_id: int, page_size: int = 10):
    """The show's seat locks, highest seat first, a few per Query (callers usually need the first)."""
    return storage.query_all("PK = :pk AND begins_with(SK, :seat)",
                             {":pk": keys.show_pk(show_id), ":seat": keys.SEAT_PREFIX},
                             newest_first=True, limit=page_size)

