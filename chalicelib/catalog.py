"""The catalog: movies and their shows, read by the public API and written by admins and imports."""
import datetime as dt
import re

from chalicelib import keys, pagination, storage
from chalicelib.errors import NotFound, ValidationError

DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def movie_view(item):
    return {"id": item["id"], "title": item["title"], "duration_minutes": item["duration_minutes"]}


def show_view(item):
    return {
        "id": item["id"],
        "movie_id": item["movie_id"],
        "screen_name": item["screen_name"],
        "date_time": item["date_time"],
        "total_seats": item["total_seats"],
    }


def parse_id(raw, what):
    """Path ids are small positive integers; anything else is simply not found."""
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and 0 < len(raw) <= 9 and int(raw) > 0):
        raise NotFound(f"No {what} with id {raw!r}.")
    return int(raw)


def format_datetime(value):
    """Any aware datetime -> ISO 8601 in UTC with a Z suffix, to the second."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(raw):
    """ISO 8601 with an explicit offset (or Z) -> aware datetime; naive times are ambiguous and refused."""
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationError("date_time must be ISO 8601 with a time zone, e.g. 2026-12-01T18:30:00Z.",
                              field="date_time")
    return value


def list_movies(limit, cursor):
    """One Query of the catalog partition per page."""
    scope = "movies"
    response = storage.client().query(
        TableName=storage.table_name(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :movie)",
        ExpressionAttributeValues=storage.to_item({":pk": keys.MOVIES_PK, ":movie": "MOVIE#"}),
        Limit=limit,
        **storage.start_after(pagination.decode(scope, cursor)),
    )
    movies = [movie_view(storage.from_item(i)) for i in response["Items"]]
    return movies, pagination.encode(scope, storage.last_key(response))


def get_movie(movie_id):
    response = storage.client().get_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.movie_key(movie_id)))
    if "Item" not in response:
        raise NotFound(f"No movie with id {movie_id}.")
    return storage.from_item(response["Item"])


def list_shows(movie_id, limit, cursor, date=None):
    """One Query of the movie's GSI1 partition per page; a GetItem only when a first page is empty,
    to tell an unknown movie (404) from a movie with no shows."""
    if date is not None and not _valid_date(date):
        raise ValidationError("date must be YYYY-MM-DD.", field="date")
    scope = f"shows:{movie_id}:{date or ''}"
    prefix = f"SHOW#{date}" if date else "SHOW#"
    response = storage.client().query(
        TableName=storage.table_name(),
        IndexName=storage.GSI1,
        KeyConditionExpression="GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
        ExpressionAttributeValues=storage.to_item({":pk": keys.shows_of_movie_gsi(movie_id), ":prefix": prefix}),
        Limit=limit,
        **storage.start_after(pagination.decode(scope, cursor)),
    )
    shows = [show_view(storage.from_item(i)) for i in response["Items"]]
    if not shows and cursor is None:
        get_movie(movie_id)
    return shows, pagination.encode(scope, storage.last_key(response))


def get_show(show_id):
    response = storage.client().get_item(
        TableName=storage.table_name(), Key=storage.to_item(keys.show_key(show_id)))
    if "Item" not in response:
        raise NotFound(f"No show with id {show_id}.")
    return storage.from_item(response["Item"])


def movie_item(movie_id, title, duration_minutes):
    return {**keys.movie_key(movie_id), "type": "movie", "id": movie_id, "title": title,
            "duration_minutes": duration_minutes}


def show_item(show_id, movie_id, screen_name, starts, total_seats):
    date_time = format_datetime(starts)
    return {
        **keys.show_key(show_id),
        "type": "show",
        "id": show_id,
        "movie_id": movie_id,
        "screen_name": screen_name,
        "date_time": date_time,
        "starts_at": int(starts.timestamp()),
        "total_seats": total_seats,
        "GSI1PK": keys.shows_of_movie_gsi(movie_id),
        "GSI1SK": keys.show_gsi_sort(date_time, show_id),
    }


def _valid_date(raw):
    if not DATE_PATTERN.match(raw):
        return False
    try:
        dt.date.fromisoformat(raw)
    except ValueError:
        return False
    return True
