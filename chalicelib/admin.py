"""Admin catalog writes: creating, changing and deleting movies and shows, and allocating their ids.

These functions know nothing of HTTP; app.py lets only admins call them. Admin writes are rare, so
plain correctness beats request counts here: ids come from a counter item and every write is
conditional, so nothing is ever silently overwritten.
"""
from chalicelib import bookings, catalog, keys, validation
from chalicelib.db import ConditionFailed, Transaction, counters, movies as movie_items, shows as show_items
from chalicelib.domain import layout
from chalicelib.errors import Conflict, HasActiveBookings, NotFound, ServiceUnavailable, ValidationError

MOVIE_COUNTER, SHOW_COUNTER = "MOVIE", "SHOW"
MAX_ID = 10 ** keys.ID_DIGITS - 1  # ids are zero-padded to ID_DIGITS in keys, so they must fit
ALLOCATION_ATTEMPTS = 20  # a counter behind existing ids (a table filled by older code) catches up
TRANSACTION_LIMIT = 100  # items per TransactWriteItems


class TotalSeatsBelowBookedSeat(Conflict):
    """Shrinking a show would strand a booked seat beyond its new last seat."""

    code = "TotalSeatsBelowBookedSeat"


# --- validation ------------------------------------------------------------------------------

def movie_fields(body: dict, partial: bool = False) -> dict:
    """The movie fields present in ``body`` (title, duration_minutes), checked; both unless ``partial``."""
    validation.validate("movie_patch" if partial else "movie", body)
    return _known(body, validation.MOVIE["properties"])


def show_fields(body: dict, partial: bool = False, current: dict = None) -> dict:
    """Show fields, checked: screen_name, date_time (-> aware datetime ``starts``), total_seats,
    max_seats_per_customer, no_single_seat_gaps, and the seating plan (layout, categories,
    currency), from which total_seats follows. ``current`` is the stored show, for a change."""
    validation.validate("show_patch" if partial else "show", body)
    fields = _known(body, validation.SHOW["properties"])
    if "date_time" in fields:
        fields["starts"] = catalog.parse_datetime(fields.pop("date_time"))
    fields.update(_seating(fields, current))
    if not partial and "total_seats" not in fields:
        raise ValidationError("total_seats or a layout is required.", field="total_seats")
    return fields


def _seating(fields: dict, current: dict = None) -> dict:
    """The checked seating plan from ``layout`` (rows, or ``{"rows", "categories", "currency"}``),
    ``categories`` and ``currency`` (each taken out of ``fields``), with total_seats following it."""
    rows, categories, currency = (fields.pop(name, None) for name in ("layout", "categories", "currency"))
    if isinstance(rows, dict):
        for name, inner in (("categories", rows.get("categories")), ("currency", rows.get("currency"))):
            given = categories if name == "categories" else currency
            if inner is not None and given is not None and inner != given:
                raise ValidationError(f"{name} is given twice, differently (in layout and beside it).", field=name)
        categories = categories if categories is not None else rows.get("categories")
        currency = currency or rows.get("currency")
        rows = rows["rows"]
    current = current or {}
    if rows is None and current.get("layout") and "total_seats" in fields:
        rows = layout.resized(current["layout"], fields["total_seats"])  # seats off or onto the back rows
    if rows is None and categories is None and currency is None:
        return {}
    categories = categories or current.get("categories") or layout.default_categories()
    currency = currency or current.get("currency") or layout.DEFAULT_CURRENCY
    if rows is None:  # new prices or currency for the rows the show has
        total = fields.get("total_seats", current.get("total_seats"))
        rows = current.get("layout") or layout.default_layout(total or 0)
        plan = layout.plan(rows, categories, currency)
        return {"categories": categories, "currency": currency,
                **({"layout": rows} if current.get("layout") else {"total_seats": plan.total_seats})}
    plan = layout.plan(rows, categories, currency)
    if "total_seats" in fields and fields["total_seats"] != plan.total_seats:
        raise ValidationError(f"total_seats follows from the layout ({plan.total_seats} seats); "
                              f"leave it out or make it {plan.total_seats}.", field="total_seats")
    return {"layout": rows, "categories": categories, "currency": currency, "total_seats": plan.total_seats}


def _known(body: dict, properties: dict) -> dict:
    """The schema's fields present in ``body`` (unknown ones are ignored), text stripped."""
    return {name: body[name].strip() if isinstance(body[name], str) else body[name]
            for name in properties if name in body}


def check_id(value, what: str) -> int:
    """Ids given by a catalog file: positive integers that fit the key padding."""
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise ValidationError(f"{what} id must be an integer from 1 to {MAX_ID}.", field="id")
    return value


# --- id counters -----------------------------------------------------------------------------

def next_id(counter: str) -> int:
    """Allocate the next id (one conditional UpdateItem of the counter; never past MAX_ID)."""
    value = counters.next_value(counter, MAX_ID)
    if value is None:
        raise Conflict(f"No {counter.lower()} ids are left (the largest is {MAX_ID}).")
    return value


def raise_counter(counter: str, at_least: int) -> None:
    """Make sure the counter is at least ``at_least`` (after an import of explicit ids); never lowers it."""
    counters.raise_to(counter, at_least)


# --- movies ----------------------------------------------------------------------------------

def create_movie(body: dict) -> dict:
    """A new movie with the next free id (UpdateItem counter + conditional PutItem)."""
    fields = movie_fields(body)
    for _ in range(ALLOCATION_ATTEMPTS):
        movie = catalog.movie_record(next_id(MOVIE_COUNTER), fields["title"], fields["duration_minutes"])
        try:
            movie_items.put_new(movie)
        except ConditionFailed as refused:
            if refused.old and catalog.movie_view(refused.old) == movie:
                return movie  # our own write, retried by botocore after a lost answer
            continue  # the id was taken outside the counter (e.g. imported before counters existed)
        return catalog.movie_view(movie)
    raise ServiceUnavailable("Could not allocate a movie id; retry shortly.")


def update_movie(movie_id: int, body: dict) -> dict:
    """Change title and/or duration_minutes (one conditional UpdateItem); 404 if there is no such movie."""
    movie = movie_items.update(movie_id, movie_fields(body, partial=True))
    if movie is None:
        raise NotFound(f"No movie with id {movie_id}.")
    return catalog.movie_view(movie)


def delete_movie(movie_id: int) -> None:
    """Delete a movie and all its shows; 409 HasActiveBookings if any show still has booked seats."""
    catalog.get_movie(movie_id)
    show_ids = show_items.ids_of_movie(movie_id)
    busy = [show_id for show_id in show_ids if bookings.has_active_bookings(show_id)]
    if busy:
        raise HasActiveBookings(
            f"Movie {movie_id} has shows with active bookings ({', '.join(map(str, busy))}); "
            "cancel those bookings first.", shows=busy)
    # The movie last, so that an interrupted delete can simply be repeated.
    parts = [("show", show_id) for show_id in show_ids] + [("movie", movie_id)]
    for start in range(0, len(parts), TRANSACTION_LIMIT):
        tx = Transaction()
        for kind, ident in parts[start:start + TRANSACTION_LIMIT]:
            if kind == "show":
                show_items.delete_part(tx, ("show", ident), ident)
            else:
                movie_items.delete_part(tx, "movie", ident)
        if not tx.commit().ok:
            raise NotFound(f"No movie with id {movie_id}.")  # deleted concurrently


# --- shows -----------------------------------------------------------------------------------

def create_show(movie_id: int, body: dict) -> dict:
    """A new show of an existing movie: counter UpdateItem + TransactWriteItems(movie exists, put show)."""
    fields = show_fields(body)
    catalog.get_movie(movie_id)
    for _ in range(ALLOCATION_ATTEMPTS):
        show = catalog.show_record(next_id(SHOW_COUNTER), movie_id, fields["screen_name"], fields["starts"],
                                   fields["total_seats"], fields.get("max_seats_per_customer"),
                                   **{name: fields.get(name) for name in catalog.SEATING_FIELDS})
        tx = Transaction()
        movie_items.exists_part(tx, "movie", movie_id)
        show_items.put_part(tx, "show", show)
        result = tx.commit()
        if result.ok:
            return catalog.show_settings_view(show)
        if result.failed("movie"):
            raise NotFound(f"No movie with id {movie_id}.")  # deleted meanwhile
    raise ServiceUnavailable("Could not allocate a show id; retry shortly.")


def update_show(show_id: int, body: dict) -> dict:
    """Change screen_name, date_time and/or total_seats; total_seats may not drop below a booked seat.

    A shrink is written first and checked after: a booking re-checks total_seats inside its own
    transaction, so once the smaller number is stored no seat beyond it can be taken, and any seat
    taken before is seen by the second Query (then the old number is put back and 409 answered).
    """
    seating_change = any(name in body for name in ("layout", "categories", "currency", "total_seats"))
    current = catalog.get_show(show_id) if seating_change else None
    fields = show_fields(body, partial=True, current=current)
    shrinking_from = None
    if "total_seats" in fields:
        _refuse_below_booked(show_id, fields["total_seats"])
        shrinking_from = current["total_seats"]
    values = {k: v for k, v in fields.items() if k != "starts"}
    if "starts" in fields:
        starts = fields["starts"]
        values.update(date_time=catalog.format_datetime(starts), starts_at=int(starts.timestamp()))
    show = _updated_show(show_id, values)
    if shrinking_from is not None and fields["total_seats"] < shrinking_from:
        try:
            _refuse_below_booked(show_id, fields["total_seats"])
        except TotalSeatsBelowBookedSeat:
            # Put the seats back as they were (a show without a stored layout had the default one).
            _updated_show(show_id, {"total_seats": current["total_seats"],
                                    "layout": current.get("layout") or layout.default_layout(current["total_seats"]),
                                    "categories": current.get("categories") or layout.default_categories(),
                                    "currency": current.get("currency") or layout.DEFAULT_CURRENCY})
            raise
    return catalog.show_settings_view(show)


def _updated_show(show_id: int, values: dict) -> dict:
    show = show_items.update(show_id, values)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    return show


def _refuse_below_booked(show_id: int, total_seats: int) -> None:
    highest = bookings.highest_booked_seat(show_id)
    if total_seats < highest:
        raise TotalSeatsBelowBookedSeat(
            f"Seat {highest} of show {show_id} is booked or held; the show cannot have fewer than {highest} seats.",
            highest_booked_seat=highest)


def delete_show(show_id: int) -> None:
    """Delete a show; 409 HasActiveBookings while any of its seats is booked (Query + DeleteItem).

    Cancelled bookings stay in their owners' histories.
    """
    if bookings.has_active_bookings(show_id):
        raise HasActiveBookings(f"Show {show_id} has active bookings; cancel them first.")
    deleted = show_items.delete(show_id)
    if deleted is None:
        raise NotFound(f"No show with id {show_id}.")
    # A booking that landed between the check and the delete is seen now (bookings re-check the
    # show inside their transaction, so none can land after it): put the show back and refuse.
    if bookings.has_active_bookings(show_id):
        show_items.restore(deleted)
        raise HasActiveBookings(f"Show {show_id} has active bookings; cancel them first.")
