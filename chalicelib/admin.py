"""Admin catalog writes: creating, changing and deleting movies and shows, and allocating their ids.

These functions know nothing of HTTP; app.py checks that the caller is an admin before calling them.
Admin writes are rare, so plain correctness beats request counts here: ids come from a counter item
(``keys.counter_key``) and every write is conditional, so nothing is ever silently overwritten.
"""

from chalicelib import bookings, catalog, keys, storage, validation
from chalicelib.errors import Conflict, HasActiveBookings, NotFound, ServiceUnavailable, ValidationError

MOVIE_COUNTER, SHOW_COUNTER = "MOVIE", "SHOW"
MAX_ID = 10 ** keys.ID_DIGITS - 1  # ids are zero-padded to ID_DIGITS in keys, so they must fit
ALLOCATION_ATTEMPTS = 20  # a counter behind existing ids (a table filled by older code) catches up
TRANSACTION_LIMIT = 100  # items per TransactWriteItems
CONDITION_FAILED = "ConditionalCheckFailed"


class TotalSeatsBelowBookedSeat(Conflict):
    """Shrinking a show would strand a booked seat beyond its new last seat."""

    code = "TotalSeatsBelowBookedSeat"


# --- validation ------------------------------------------------------------------------------

def movie_fields(body, partial=False):
    """The movie fields present in ``body`` (title, duration_minutes), checked; both unless ``partial``."""
    validation.validate("movie_patch" if partial else "movie", body)
    return _known(body, validation.MOVIE["properties"])


def show_fields(body, partial=False):
    """Show fields (screen_name, date_time -> aware datetime ``starts``, total_seats), checked."""
    validation.validate("show_patch" if partial else "show", body)
    fields = _known(body, validation.SHOW["properties"])
    if "date_time" in fields:
        fields["starts"] = catalog.parse_datetime(fields.pop("date_time"))
    return fields


def _known(body, properties):
    """The schema's fields present in ``body`` (unknown ones are ignored), text stripped."""
    return {name: body[name].strip() if isinstance(body[name], str) else body[name]
            for name in properties if name in body}


def check_id(value, what):
    """Ids given by a catalog file: positive integers that fit the key padding."""
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise ValidationError(f"{what} id must be an integer from 1 to {MAX_ID}.", field="id")
    return value


# --- id counters -----------------------------------------------------------------------------

def next_id(counter):
    """Allocate the next id: one conditional UpdateItem of the PK=COUNTER item (never past MAX_ID)."""
    ddb = storage.client()
    try:
        response = ddb.update_item(
            TableName=storage.table_name(),
            Key=storage.to_item(keys.counter_key(counter)),
            UpdateExpression="ADD #value :one",
            ConditionExpression="attribute_not_exists(#value) OR #value < :max",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues=storage.to_item({":one": 1, ":max": MAX_ID}),
            ReturnValues="UPDATED_NEW",
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        raise Conflict(f"No {counter.lower()} ids are left (the largest is {MAX_ID}).")
    return int(response["Attributes"]["value"]["N"])


def raise_counter(counter, at_least):
    """Make sure the counter is at least ``at_least`` (after an import of explicit ids); never lowers it."""
    ddb = storage.client()
    try:
        ddb.update_item(
            TableName=storage.table_name(),
            Key=storage.to_item(keys.counter_key(counter)),
            UpdateExpression="SET #value = :value",
            ConditionExpression="attribute_not_exists(#value) OR #value < :value",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues=storage.to_item({":value": at_least}),
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        pass  # already there or beyond


# --- movies ----------------------------------------------------------------------------------

def create_movie(body):
    """A new movie with the next free id (UpdateItem counter + conditional PutItem)."""
    fields = movie_fields(body)
    ddb = storage.client()
    for _ in range(ALLOCATION_ATTEMPTS):
        item = catalog.movie_item(next_id(MOVIE_COUNTER), fields["title"], fields["duration_minutes"])
        try:
            ddb.put_item(TableName=storage.table_name(), Item=storage.to_item(item),
                         ConditionExpression="attribute_not_exists(PK)",
                         ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ddb.exceptions.ConditionalCheckFailedException as exc:
            if storage.from_item(exc.response.get("Item") or {}) == item:
                return catalog.movie_view(item)  # our own write, retried by botocore after a lost answer
            continue  # the id was taken outside the counter (e.g. imported before counters existed)
        return catalog.movie_view(item)
    raise ServiceUnavailable("Could not allocate a movie id; retry shortly.")


def update_movie(movie_id, body):
    """Change title and/or duration_minutes (one conditional UpdateItem); 404 if there is no such movie."""
    fields = movie_fields(body, partial=True)
    return catalog.movie_view(_update(keys.movie_key(movie_id), fields, f"No movie with id {movie_id}."))


def delete_movie(movie_id):
    """Delete a movie and all its shows; 409 HasActiveBookings if any show still has booked seats."""
    catalog.get_movie(movie_id)
    show_ids = _show_ids_of(movie_id)
    busy = [show_id for show_id in show_ids if bookings.has_active_bookings(show_id)]
    if busy:
        raise HasActiveBookings(
            f"Movie {movie_id} has shows with active bookings ({', '.join(map(str, busy))}); "
            "cancel those bookings first.", shows=busy)
    deletes = [{"Delete": {"TableName": storage.table_name(), "Key": storage.to_item(keys.show_key(s))}}
               for s in show_ids]
    deletes.append({"Delete": {  # last, so that an interrupted delete can simply be repeated
        "TableName": storage.table_name(), "Key": storage.to_item(keys.movie_key(movie_id)),
        "ConditionExpression": "attribute_exists(PK)",
    }})
    for start in range(0, len(deletes), TRANSACTION_LIMIT):
        reasons = storage.transact(deletes[start:start + TRANSACTION_LIMIT])
        if reasons is not None:
            raise NotFound(f"No movie with id {movie_id}.")  # deleted concurrently


def _show_ids_of(movie_id):
    """Every show id of a movie: GSI1 Query pages (eventually consistent, like the public listing)."""
    ids, start = [], None
    while True:
        response = storage.client().query(
            TableName=storage.table_name(),
            IndexName=storage.GSI1,
            KeyConditionExpression="GSI1PK = :pk AND begins_with(GSI1SK, :show)",
            ExpressionAttributeValues=storage.to_item(
                {":pk": keys.shows_of_movie_gsi(movie_id), ":show": "SHOW#"}),
            ProjectionExpression="id",
            **storage.start_after(start),
        )
        ids.extend(storage.from_item(item)["id"] for item in response["Items"])
        start = storage.last_key(response)
        if not start:
            return ids


# --- shows -----------------------------------------------------------------------------------

def create_show(movie_id, body):
    """A new show of an existing movie: counter UpdateItem + TransactWriteItems(movie exists, put show)."""
    fields = show_fields(body)
    catalog.get_movie(movie_id)
    for _ in range(ALLOCATION_ATTEMPTS):
        item = catalog.show_item(next_id(SHOW_COUNTER), movie_id, fields["screen_name"], fields["starts"],
                                 fields["total_seats"])
        reasons = storage.transact([
            {"ConditionCheck": {
                "TableName": storage.table_name(),
                "Key": storage.to_item(keys.movie_key(movie_id)),
                "ConditionExpression": "attribute_exists(PK)",
            }},
            {"Put": {
                "TableName": storage.table_name(),
                "Item": storage.to_item(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }},
        ])
        if reasons is None:
            return catalog.show_view(item)
        if reasons[0][0] == CONDITION_FAILED:
            raise NotFound(f"No movie with id {movie_id}.")  # deleted meanwhile
    raise ServiceUnavailable("Could not allocate a show id; retry shortly.")


def update_show(show_id, body):
    """Change screen_name, date_time and/or total_seats; total_seats may not drop below a booked seat.

    A shrink is written first and checked after: a booking re-checks total_seats inside its own
    transaction, so once the smaller number is stored no seat beyond it can be taken, and any seat
    taken before is seen by the second Query (then the old number is put back and 409 answered).
    """
    fields = show_fields(body, partial=True)
    shrinking_from = None
    if "total_seats" in fields:
        _refuse_below_booked(show_id, fields["total_seats"])
        shrinking_from = catalog.get_show(show_id)["total_seats"]
    values = {k: v for k, v in fields.items() if k != "starts"}
    if "starts" in fields:
        date_time = catalog.format_datetime(fields["starts"])
        values.update(date_time=date_time, starts_at=int(fields["starts"].timestamp()),
                      GSI1SK=keys.show_gsi_sort(date_time, show_id))
    show = _update(keys.show_key(show_id), values, f"No show with id {show_id}.")
    if shrinking_from is not None and fields["total_seats"] < shrinking_from:
        try:
            _refuse_below_booked(show_id, fields["total_seats"])
        except TotalSeatsBelowBookedSeat:
            _update(keys.show_key(show_id), {"total_seats": shrinking_from}, f"No show with id {show_id}.")
            raise
    return catalog.show_view(show)


def _refuse_below_booked(show_id, total_seats):
    highest = bookings.highest_booked_seat(show_id)
    if total_seats < highest:
        raise TotalSeatsBelowBookedSeat(
            f"Seat {highest} of show {show_id} is booked; total_seats cannot be less than {highest}.",
            highest_booked_seat=highest)


def delete_show(show_id):
    """Delete a show; 409 HasActiveBookings while any of its seats is booked (Query + DeleteItem).

    Cancelled bookings stay in their owners' histories.
    """
    if bookings.has_active_bookings(show_id):
        raise HasActiveBookings(f"Show {show_id} has active bookings; cancel them first.")
    ddb = storage.client()
    try:
        deleted = ddb.delete_item(TableName=storage.table_name(), Key=storage.to_item(keys.show_key(show_id)),
                                  ConditionExpression="attribute_exists(PK)", ReturnValues="ALL_OLD")
    except ddb.exceptions.ConditionalCheckFailedException:
        raise NotFound(f"No show with id {show_id}.")
    # A booking that landed between the check and the delete is seen now (bookings re-check the
    # show inside their transaction, so none can land after it): put the show back and refuse.
    if bookings.has_active_bookings(show_id):
        ddb.put_item(TableName=storage.table_name(), Item=deleted["Attributes"],
                     ConditionExpression="attribute_not_exists(PK)")
        raise HasActiveBookings(f"Show {show_id} has active bookings; cancel them first.")


# --- helpers ---------------------------------------------------------------------------------

def _update(key, values, not_found):
    """SET ``values`` on an existing item and return the whole new item."""
    names = {f"#f{i}": name for i, name in enumerate(values)}
    ddb = storage.client()
    try:
        response = ddb.update_item(
            TableName=storage.table_name(),
            Key=storage.to_item(key),
            UpdateExpression="SET " + ", ".join(f"{n} = :v{i}" for i, n in enumerate(names)),
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=storage.to_item({f":v{i}": v for i, v in enumerate(values.values())}),
            ReturnValues="ALL_NEW",
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        raise NotFound(not_found)
    return storage.from_item(response["Attributes"])
