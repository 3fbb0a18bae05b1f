"""Catalog import: movies and shows from JSON or CSV, checked as a whole before anything is written.

Both `make run`'s demo data and ``python -m chalicelib.cli import-catalog`` go through
:func:`import_catalog`. It is idempotent: an id that already exists is skipped (never overwritten) and
the report says why. If any record is bad, every problem is reported with its line number and nothing
is written. After an import the id counters are at least the largest imported ids, so movies and
shows created later through the admin API get fresh ids.

JSON: ``[{"id", "title", "duration_minutes", "shows": [{"id", "screen_name", "date_time",
"total_seats"}]}]`` (or ``{"movies": [...]}``). CSV: a header row with the columns in ``CSV_COLUMNS``,
one row per show; a row with empty show columns is a movie without shows; a movie's columns repeat
on each of its rows and must agree.
"""
import bisect
import csv
import io
import json
import json.scanner
import re
from decimal import Decimal

from chalicelib import admin, catalog
from chalicelib.db import ConditionFailed, movies as movie_items, shows as show_items
from chalicelib.errors import ValidationError

CSV_COLUMNS = ("movie_id", "title", "duration_minutes", "show_id", "screen_name", "date_time", "total_seats")
SHOW_COLUMNS = CSV_COLUMNS[3:]
INTEGER_COLUMNS = frozenset({"movie_id", "duration_minutes", "show_id", "total_seats"})
MOVIE_FIELDS = ("title", "duration_minutes")
SHOW_FIELDS = ("movie_id", "screen_name", "date_time", "total_seats")
MAX_PROBLEMS = 50


class CatalogError(ValidationError):
    """The catalog has bad records; ``problems`` lists each as "line N: ..."; nothing was written."""

    code = "InvalidCatalog"

    def __init__(self, problems):
        self.problems = problems[:MAX_PROBLEMS]
        more = f" (first {MAX_PROBLEMS} shown)" if len(problems) > MAX_PROBLEMS else ""
        super().__init__(f"{len(problems)} problem(s) in the catalog{more}; nothing was imported.",
                         problems=self.problems)


class Located(dict):
    """A record that remembers the line of the file it came from (None when built in code)."""

    line = None


# --- reading ---------------------------------------------------------------------------------

def parse(text, fmt):
    """Records from the text of a ``"json"`` or ``"csv"`` catalog file."""
    if fmt == "json":
        return parse_json(text)
    if fmt == "csv":
        return parse_csv(text)
    raise ValueError(f"unknown catalog format {fmt!r}")


def parse_json(text):
    """A list of movie records, each object tagged with the line where it starts."""
    newlines = [i for i, char in enumerate(text) if char == "\n"]
    decoder = json.JSONDecoder(object_pairs_hook=Located, parse_float=Decimal)
    plain_parse_object = decoder.parse_object

    def parse_object(s_and_end, *args, **kwargs):
        obj, end = plain_parse_object(s_and_end, *args, **kwargs)
        obj.line = bisect.bisect_left(newlines, s_and_end[1]) + 1
        return obj, end

    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # the C scanner would bypass parse_object
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise CatalogError([f"line {exc.lineno}: not valid JSON: {exc.msg}"])
    if isinstance(data, dict) and "movies" in data:
        data = data["movies"]
    if not isinstance(data, list):
        raise CatalogError(['line 1: expected a JSON array of movies (or {"movies": [...]})'])
    return data


def parse_csv(text):
    """One movie record per row (holding that row's show, if any); :func:`check` merges a movie's rows."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        header = [name.strip() for name in reader.fieldnames or []]
    except csv.Error as exc:
        raise CatalogError([f"line 1: not valid CSV: {exc}"])
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise CatalogError([f"line 1: the header lacks column(s) {', '.join(missing)}; "
                            f"expected {','.join(CSV_COLUMNS)}"])
    reader.fieldnames = header
    records, problems = [], []
    try:
        for row in reader:
            line = reader.line_num
            if None in row or any(value is None for value in row.values()):
                problems.append(f"line {line}: expected {len(header)} columns")
                continue
            values = {name: _csv_value(name, row[name]) for name in CSV_COLUMNS}
            if all(values[name] == "" for name in CSV_COLUMNS):
                continue  # blank line
            movie = Located(id=values["movie_id"], **{k: values[k] for k in MOVIE_FIELDS}, shows=[])
            movie.line = line
            if any(values[name] != "" for name in SHOW_COLUMNS):
                show = Located(id=values["show_id"], **{k: values[k] for k in SHOW_FIELDS[1:]})
                show.line = line
                movie["shows"].append(show)
            records.append(movie)
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: not valid CSV: {exc}")
    if problems:
        raise CatalogError(problems)
    return records


def _csv_value(name, raw):
    raw = raw.strip()
    if name in INTEGER_COLUMNS and re.fullmatch(r"[0-9]{1,12}", raw):
        return int(raw)
    return raw


# --- checking --------------------------------------------------------------------------------

def check(records):
    """Validate every record; the movies as ``[{"id", "title", "duration_minutes", "shows": [...]}]``
    (shows carry an aware datetime ``starts``), or CatalogError listing every problem."""
    problems, movies, shows_seen = [], {}, {}
    for index, record in enumerate(records):
        where = _where(record, f"movies[{index}]")
        movie = _checked(record, "movie", admin.movie_fields, problems, where)
        if movie is None:
            continue
        earlier = movies.get(movie["id"])
        if earlier is None:
            movies[movie["id"]] = earlier = {**movie, "where": where, "shows": []}
        elif any(earlier[k] != movie[k] for k in MOVIE_FIELDS):
            problems.append(f"{where}: movie {movie['id']}: title or duration_minutes differ from "
                            f"{earlier['where']}")
            continue
        shows = record.get("shows", [])
        if not isinstance(shows, list):
            problems.append(f"{where}: movie {movie['id']}: shows must be a list")
            continue
        for number, raw_show in enumerate(shows):
            show_where = _where(raw_show, f"{where}.shows[{number}]")
            show = _checked(raw_show, "show", admin.show_fields, problems, show_where)
            if show is None:
                continue
            if show["id"] in shows_seen:
                problems.append(f"{show_where}: show {show['id']} is also defined at {shows_seen[show['id']]}")
                continue
            shows_seen[show["id"]] = show_where
            earlier["shows"].append(show)
    if problems:
        raise CatalogError(problems)
    return [{k: v for k, v in movie.items() if k != "where"} for movie in movies.values()]


def _checked(record, what, fields_of, problems, where):
    if not isinstance(record, dict):
        problems.append(f"{where}: expected a {what} object")
        return None
    label = f"{what} {record['id']}" if type(record.get("id")) is int else what
    try:
        return {"id": admin.check_id(record.get("id"), what), **fields_of(record)}
    except ValidationError as exc:
        problems.append(f"{where}: {label}: {exc.message}")
        return None


def _where(record, path):
    line = getattr(record, "line", None)
    return f"line {line}" if line else path


# --- writing ---------------------------------------------------------------------------------

def import_catalog(records):
    """Check ``records`` as a whole, then create what is missing.

    Returns ``{"created": ["movie 1", ...], "skipped": [{"item": "show 3", "reason": ...}]}``.
    Raises CatalogError (nothing written) if any record is bad. Running it again creates nothing.
    """
    movies = check(records)
    report = {"created": [], "skipped": []}
    show_ids = [show["id"] for movie in movies for show in movie["shows"]]
    # Counters first: an admin create racing this import then cannot take an id it is about to write.
    if movies:
        admin.raise_counter(admin.MOVIE_COUNTER, max(movie["id"] for movie in movies))
    if show_ids:
        admin.raise_counter(admin.SHOW_COUNTER, max(show_ids))
    for movie in movies:
        record = catalog.movie_record(movie["id"], movie["title"], movie["duration_minutes"])
        _put_new(movie_items.put_new, record, f"movie {movie['id']}", MOVIE_FIELDS, report)
        for show in movie["shows"]:
            record = catalog.show_record(show["id"], movie["id"], show["screen_name"], show["starts"],
                                         show["total_seats"], show.get("max_seats_per_customer"),
                                         **{name: show.get(name) for name in catalog.SEATING_FIELDS})
            _put_new(show_items.put_new, record, f"show {show['id']}", SHOW_FIELDS, report)
    return report


def _put_new(put_new, record, label, compared, report):
    """Conditional put; on an existing item, say whether it differs (it is never overwritten)."""
    try:
        put_new(record)
    except ConditionFailed as refused:
        existing = refused.old or {}
        differing = [name for name in compared if existing.get(name) != record[name]]
        reason = "already exists"
        if differing:
            reason += (" with different " + ", ".join(f"{name} ({existing.get(name)!r} in the table)"
                                                      for name in differing) + "; not overwritten")
        report["skipped"].append({"item": label, "reason": reason})
    else:
        report["created"].append(label)
