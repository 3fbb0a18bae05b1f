"""The catalog: movies and their shows, read by the public API and written by admins and imports."""
import datetime as dt
import re

from chalicelib import pagination
from chalicelib.db import movies as movie_items, shows as show_items
from chalicelib.domain import caps, layout
from chalicelib.errors import NotFound, ValidationError

DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def movie_view(item: dict) -> dict:
    return {"id": item["id"], "title": item["title"], "duration_minutes": item["duration_minutes"]}


def show_view(item: dict) -> dict:
    return {
        "id": item["id"],
        "movie_id": item["movie_id"],
        "screen_name": item["screen_name"],
        "date_time": item["date_time"],
        "total_seats": item["total_seats"],
    }


def show_settings_view(item: dict) -> dict:
    """A show as admins see it: the public fields, its seating plan and the settings they manage."""
    return {
        **show_view(item),
        "max_seats_per_customer": item.get("max_seats_per_customer", caps.DEFAULT_LIMIT),
        "no_single_seat_gaps": bool(item.get("no_single_seat_gaps")),
        "layout": item.get("layout") or layout.default_layout(item["total_seats"]),
        "categories": item.get("categories") or layout.default_categories(),
        "currency": item.get("currency") or layout.DEFAULT_CURRENCY,
    }


def format_datetime(value: dt.datetime) -> str:
    """Any aware datetime -> ISO 8601 in UTC with a Z suffix, to the second."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(raw) -> dt.datetime:
    """ISO 8601 with an explicit offset (or Z) -> aware datetime; naive times are ambiguous and refused."""
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationError("date_time must be ISO 8601 with a time zone, e.g. 2026-12-01T18:30:00Z.",
                              field="date_time")
    return value


def movie_record(movie_id: int, title: str, duration_minutes: int) -> dict:
    return {"id": movie_id, "title": title, "duration_minutes": duration_minutes}


SEATING_FIELDS = ("layout", "categories", "currency", "no_single_seat_gaps")


def show_record(show_id: int, movie_id: int, screen_name: str, starts: dt.datetime, total_seats: int,
                max_seats_per_customer: int = None, **seating) -> dict:
    """A show as stored; ``seating`` holds the SEATING_FIELDS given (a show without a layout has the
    default one for its total_seats)."""
    return {
        "id": show_id,
        "movie_id": movie_id,
        "screen_name": screen_name,
        "date_time": format_datetime(starts),
        "starts_at": int(starts.timestamp()),
        "total_seats": total_seats,
        "max_seats_per_customer": max_seats_per_customer or caps.DEFAULT_LIMIT,
        **{name: seating[name] for name in SEATING_FIELDS if seating.get(name) is not None},
    }


def list_movies(limit: int, cursor: str = None) -> tuple[list, str]:
    """One Query of the catalog partition per page."""
    scope = "movies"
    page = movie_items.page(limit, pagination.decode(scope, cursor))
    return [movie_view(item) for item in page.items], pagination.encode(scope, page.last_key)


def get_movie(movie_id: int) -> dict:
    movie = movie_items.get(movie_id)
    if movie is None:
        raise NotFound(f"No movie with id {movie_id}.")
    return movie


def list_shows(movie_id: int, limit: int, cursor: str = None, date: str = None) -> tuple[list, str]:
    """One Query of the movie's GSI1 partition per page; a GetItem only when a first page is empty,
    to tell an unknown movie (404) from a movie with no shows."""
    if date is not None and not _valid_date(date):
        raise ValidationError("date must be YYYY-MM-DD.", field="date")
    scope = f"shows:{movie_id}:{date or ''}"
    page = show_items.of_movie_page(movie_id, date, limit, pagination.decode(scope, cursor))
    shows = [show_view(item) for item in page.items]
    if not shows and cursor is None:
        get_movie(movie_id)
    return shows, pagination.encode(scope, page.last_key)


def get_show(show_id: int) -> dict:
    show = show_items.get(show_id)
    if show is None:
        raise NotFound(f"No show with id {show_id}.")
    return show


def _valid_date(raw: str) -> bool:
    if not DATE_PATTERN.match(raw):
        return False
    try:
        dt.date.fromisoformat(raw)
    except ValueError:
        return False
    return True
