"""Bookings: taking seats with conditional writes, cancelling, history, seat maps and idempotent retries."""
import hashlib
import json
import logging
import re
import secrets
import time
import uuid

from chalicelib import catalog, keys, pagination, storage, validation
from chalicelib.errors import (
    AlreadyCancelled, Conflict, IdempotencyKeyReused, NotFound, SeatTaken, ServiceUnavailable, ShowStarted,
    ValidationError)
from chalicelib.settings import get_settings

log = logging.getLogger(__name__)

BOOKED, CANCELLED = "booked", "cancelled"
BOOKING_ID_PATTERN = re.compile(r"[0-9a-f]{27}\Z")
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,64}\Z")  # visible ASCII, 1-64 characters
CONDITION_FAILED = "ConditionalCheckFailed"


class Outcome:
    """What a booking operation produced: an HTTP-agnostic (status, body) pair, e.g. 201 or 200."""

    CREATED, OK = 201, 200

    def __init__(self, status, body):
        self.status, self.body = status, body


def new_booking_id():
    """Time-ordered (milliseconds, hex) then random, so a user's bookings sort newest first by key."""
    return f"{int(time.time() * 1000):011x}{secrets.token_hex(8)}"


def booking_view(item):
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


def check_idempotency_key(raw):
    if raw is not None and not IDEMPOTENCY_KEY_PATTERN.match(raw):
        raise ValidationError("Idempotency-Key must be 1 to 64 visible ASCII characters.",
                              field="Idempotency-Key")
    return raw


def parse_seats(body):
    """``{"seat_number": n}`` -> ([n], False); ``{"seat_numbers": [...]}`` -> (seats, True)."""
    if "seat_numbers" in body:
        validation.validate("seat_group", body)
        return list(body["seat_numbers"]), True
    validation.validate("single_seat", body)
    return [body["seat_number"]], False


def book(caller, show_id, body, idempotency_key=None):
    """Take one seat (2 requests: GetItem show, TransactWriteItems) or a group of them, all or none.

    The seat item's ``attribute_not_exists`` condition is what prevents double booking; nothing is
    read before writing except the show. A failed condition returns the blocking seat item, which
    tells "already mine" (answer with my booking) from "someone else's" (409 listing the seats).
    """
    seats, is_group = parse_seats(body)
    show = catalog.get_show(show_id)
    out_of_range = [s for s in seats if s > show["total_seats"]]
    if out_of_range:
        raise ValidationError(
            f"Seat numbers must be from 1 to {show['total_seats']}; got {out_of_range}.",
            field="seat_numbers" if is_group else "seat_number")
    if show["starts_at"] <= time.time():
        raise ShowStarted("This show has already started; it can no longer be booked.")

    created_at = _iso_now()
    group_id = secrets.token_hex(8) if is_group else None
    bookings = [{
        "id": new_booking_id(), "show": show_id, "movie_id": show["movie_id"], "seat_number": seat,
        "status": BOOKED, "created_at": created_at, "group_id": group_id,
    } for seat in seats]
    response = (Outcome(Outcome.CREATED, {"group_id": group_id, "bookings": [booking_view(b) for b in bookings]})
                if is_group else Outcome(Outcome.CREATED, booking_view(bookings[0])))

    # The show must still exist with these seats when the seats are taken (an admin may have
    # shrunk or deleted it since it was read): a ConditionCheck in the same transaction, no extra request.
    writes = [{"ConditionCheck": {
        "TableName": storage.table_name(),
        "Key": storage.to_item(keys.show_key(show_id)),
        "ConditionExpression": "attribute_exists(PK) AND total_seats >= :highest",
        "ExpressionAttributeValues": storage.to_item({":highest": max(seats)}),
    }}]
    for booking in bookings:
        writes.append({"Put": {
            "TableName": storage.table_name(),
            "Item": storage.to_item(_seat_item(caller, booking)),
            "ConditionExpression": "attribute_not_exists(PK)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }})
        writes.append({"Put": {
            "TableName": storage.table_name(),
            "Item": storage.to_item(_booking_item(caller, booking)),
            "ConditionExpression": "attribute_not_exists(PK)",
        }})
    fingerprint = _fingerprint("book", show_id, sorted(seats) if is_group else seats[0])
    done, reasons = _write_once(caller, writes, response, idempotency_key, fingerprint)
    if done:
        return done
    if reasons[0][0] == CONDITION_FAILED:
        raise Conflict(f"Show {show_id} was resized or removed while booking; reload it and try again.")
    ours = {b["id"] for b in bookings}
    blocking = [old for code, old in reasons[1:1 + 2 * len(bookings):2] if code == CONDITION_FAILED and old]
    if blocking and all(old["booking_id"] in ours for old in blocking):
        # Our own earlier attempt landed (its response was lost): the write is done.
        return response
    mine = [old for old in blocking if old.get("user") == caller]
    if mine and len(mine) == len(seats):
        existing = [booking_view(_seat_as_booking(old)) for old in mine]
        outcome = (Outcome(Outcome.OK, existing[0]) if not is_group else
                   Outcome(Outcome.OK, {"group_id": mine[0].get("group_id"), "bookings": existing}))
        if idempotency_key:
            # The transaction was cancelled, so the key is not stored yet: store this answer under it.
            return _remember(caller, idempotency_key, fingerprint, outcome)
        return outcome
    taken = sorted(old["seat_number"] for old in blocking)
    if not taken:
        raise ServiceUnavailable("The booking could not be completed; retry shortly.")
    raise SeatTaken(
        f"Seat{'s' if len(taken) > 1 else ''} {', '.join(map(str, taken))} "
        f"{'are' if len(taken) > 1 else 'is'} already booked.", taken=taken)


def cancel(caller, booking_id, idempotency_key=None):
    """Cancel the caller's booking and free its seat (2 requests: GetItem, TransactWriteItems).

    The seat item is deleted only if it still names this booking, so a repeated cancel can never
    free a seat that someone else has booked since.
    """
    if not BOOKING_ID_PATTERN.match(booking_id or ""):
        raise NotFound("No such booking.")
    ddb = storage.client()
    found = ddb.get_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.booking_key(caller, booking_id)),
        ConsistentRead=True)
    if "Item" not in found:
        raise NotFound("No such booking.")  # also for other users' bookings: ids are not disclosed
    booking = storage.from_item(found["Item"])
    fingerprint = _fingerprint("cancel", booking_id)
    if booking["status"] == CANCELLED:
        if idempotency_key:
            return _replay(caller, idempotency_key, fingerprint, missing=AlreadyCancelled)
        raise AlreadyCancelled("This booking is already cancelled.")

    cancelled = {**booking, "status": CANCELLED, "cancelled_at": _iso_now()}
    cancel_id = uuid.uuid4().hex  # recognises our own write if its response is lost and retried
    response = Outcome(Outcome.OK, booking_view(cancelled))
    mark_cancelled = {"Update": {
        "TableName": storage.table_name(),
        "Key": storage.to_item(keys.booking_key(caller, booking_id)),
        "UpdateExpression": "SET #status = :cancelled, cancelled_at = :at, cancel_id = :cid",
        "ConditionExpression": "#status = :booked",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": storage.to_item(
            {":cancelled": CANCELLED, ":booked": BOOKED, ":at": cancelled["cancelled_at"], ":cid": cancel_id}),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}
    free_seat = {"Delete": {
        "TableName": storage.table_name(),
        "Key": storage.to_item(keys.seat_key(booking["show"], booking["seat_number"])),
        "ConditionExpression": "booking_id = :id",
        "ExpressionAttributeValues": storage.to_item({":id": booking_id}),
    }}
    done, reasons = _write_once(caller, [mark_cancelled, free_seat], response, idempotency_key, fingerprint,
                                missing=AlreadyCancelled)
    if done:
        return done
    if reasons[0][0] == CONDITION_FAILED:
        if (reasons[0][1] or {}).get("cancel_id") == cancel_id:
            return response  # our own earlier attempt landed; only its response was lost
        raise AlreadyCancelled("This booking is already cancelled.")
    # The seat item does not name this booking: an invariant was broken elsewhere. Cancel anyway,
    # touching only the booking, and leave a trace for an operator.
    log.error("seat item of active booking %s is missing or foreign; cancelling booking only", booking_id)
    if storage.transact([mark_cancelled]) is not None:
        raise AlreadyCancelled("This booking is already cancelled.")
    return response


def my_bookings(caller, limit, cursor):
    """One Query of the caller's partition per page, newest first (booking ids are time-ordered)."""
    scope = f"my-bookings:{caller}"
    response = storage.client().query(
        TableName=storage.table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues=storage.to_item({":pk": keys.user_pk(caller), ":prefix": keys.BOOKING_PREFIX}),
        ScanIndexForward=False,
        Limit=limit,
        **storage.start_after(pagination.decode(scope, cursor)),
    )
    items = [booking_view(storage.from_item(i)) for i in response["Items"]]
    return items, pagination.encode(scope, storage.last_key(response))


def seat_map(show_id):
    """The show and all its seat items from one Query of the show's partition (paged internally)."""
    ddb = storage.client()
    show, taken, start = None, [], None
    while True:
        response = ddb.query(
            TableName=storage.table_name(),
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=storage.to_item({":pk": keys.show_pk(show_id)}),
            **storage.start_after(start),
        )
        for item in map(storage.from_item, response["Items"]):
            if item["SK"] == keys.show_key(show_id)["SK"]:
                show = item
            elif item["SK"].startswith(keys.SEAT_PREFIX):
                taken.append(item["seat_number"])
        start = storage.last_key(response)
        if not start:
            break
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    taken_set = set(taken)
    return {
        "show_id": show_id,
        "total_seats": show["total_seats"],
        "available": [n for n in range(1, show["total_seats"] + 1) if n not in taken_set],
        "taken": sorted(taken_set),
    }


def show_bookings(show_id, limit, cursor):
    """Every booking of a show, active and cancelled (admins): one GSI1 Query per page."""
    scope = f"show-bookings:{show_id}"
    response = storage.client().query(
        TableName=storage.table_name(),
        IndexName=storage.GSI1,
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues=storage.to_item({":pk": keys.bookings_of_show_gsi(show_id)}),
        Limit=limit,
        **storage.start_after(pagination.decode(scope, cursor)),
    )
    items = [{**booking_view(b), "user": b["user"]} for b in map(storage.from_item, response["Items"])]
    if not items and cursor is None:
        catalog.get_show(show_id)  # tell an unknown show (404) from one without bookings
    return items, pagination.encode(scope, storage.last_key(response))


def has_active_bookings(show_id):
    """True if any seat of the show is held (one Query, at most one item read)."""
    return highest_booked_seat(show_id) > 0


def highest_booked_seat(show_id):
    """The highest seat number currently held in a show, or 0 (one Query, newest-last order)."""
    response = storage.client().query(
        TableName=storage.table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :seat)",
        ExpressionAttributeValues=storage.to_item({":pk": keys.show_pk(show_id), ":seat": keys.SEAT_PREFIX}),
        ScanIndexForward=False,
        Limit=1,
    )
    return storage.from_item(response["Items"][0])["seat_number"] if response["Items"] else 0


def _seat_item(caller, booking):
    return {
        **keys.seat_key(booking["show"], booking["seat_number"]),
        "type": "seat",
        "booking_id": booking["id"],
        "user": caller,
        "show": booking["show"],
        "movie_id": booking["movie_id"],
        "seat_number": booking["seat_number"],
        "created_at": booking["created_at"],
        "group_id": booking["group_id"],
    }


def _seat_as_booking(seat):
    return {**seat, "id": seat["booking_id"], "status": BOOKED}


def _booking_item(caller, booking):
    return {
        **keys.booking_key(caller, booking["id"]),
        "type": "booking",
        **{k: v for k, v in booking.items() if v is not None},
        "user": caller,
        "GSI1PK": keys.bookings_of_show_gsi(booking["show"]),
        "GSI1SK": f"{keys.BOOKING_PREFIX}{booking['id']}",
    }


def _fingerprint(*parts):
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode("utf-8")).hexdigest()


def _idempotency_put(caller, key, fingerprint, outcome):
    now = int(time.time())
    item = {
        **keys.idempotency_key(caller, key),
        "type": "idempotency",
        "fingerprint": fingerprint,
        "status": outcome.status,
        "body": json.dumps(outcome.body, separators=(",", ":")),
        storage.TTL_ATTRIBUTE: now + get_settings().idempotency_ttl_seconds,
    }
    return {"Put": {
        "TableName": storage.table_name(),
        "Item": storage.to_item(item),
        # TTL deletion is lazy: an expired key that still exists counts as absent.
        "ConditionExpression": "attribute_not_exists(PK) OR #expires < :now",
        "ExpressionAttributeNames": {"#expires": storage.TTL_ATTRIBUTE},
        "ExpressionAttributeValues": storage.to_item({":now": now}),
    }}


def _remember(caller, key, fingerprint, outcome):
    """Store ``outcome`` under an Idempotency-Key on its own (one PutItem); if the key is already
    taken, the stored answer wins."""
    put = _idempotency_put(caller, key, fingerprint, outcome)["Put"]
    ddb = storage.client()
    try:
        ddb.put_item(**put)
    except ddb.exceptions.ConditionalCheckFailedException:
        return _replay(caller, key, fingerprint)
    return outcome


def _replay(caller, key, fingerprint, missing=None):
    """The stored first response for an Idempotency-Key, or 422 if the key was used for another request."""
    found = storage.client().get_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.idempotency_key(caller, key)),
        ConsistentRead=True)
    record = storage.from_item(found["Item"]) if "Item" in found else None
    if record is None or record[storage.TTL_ATTRIBUTE] < time.time():
        if missing is not None:
            raise missing("This booking is already cancelled.")
        raise ServiceUnavailable("The request could not be completed; retry shortly.")
    if record["fingerprint"] != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request.")
    return Outcome(record["status"], json.loads(record["body"]))


def _write_once(caller, writes, response, idempotency_key, fingerprint, missing=None):
    """Run ``writes`` (plus the Idempotency-Key record, in the same transaction).

    Returns (outcome, None) when the write happened or an earlier response was replayed, else
    (None, reasons) with the per-item cancellation reasons for the caller to interpret.
    """
    if idempotency_key:
        writes = writes + [_idempotency_put(caller, idempotency_key, fingerprint, response)]
    reasons = storage.transact(writes)
    if reasons is None:
        return response, None
    if idempotency_key and reasons[-1][0] == CONDITION_FAILED:
        return _replay(caller, idempotency_key, fingerprint, missing=missing), None
    return None, reasons


def _iso_now():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
