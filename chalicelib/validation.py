"""Request bodies: JSON parsing and JSON Schema validation (fastjsonschema), failing as ValidationError."""
import functools
import json
import re
from decimal import Decimal

import fastjsonschema

from chalicelib.errors import InvalidJSON, ValidationError

MAX_SEATS_PER_BOOKING = 10
MAX_TOTAL_SEATS = 1000  # seat keys are padded to 4 digits; a hall of 1,000 is plenty
NON_BLANK = r"\S"

# Unknown fields are ignored (additionalProperties is left open), as the original API did.
CREDENTIALS = {
    "type": "object",
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    "required": ["username", "password"],
}
REFRESH = {
    "type": "object",
    "properties": {"refresh": {"type": "string", "minLength": 1}},
    "required": ["refresh"],
}
SINGLE_SEAT = {
    "type": "object",
    "properties": {"seat_number": {"type": "integer", "minimum": 1}},
    "required": ["seat_number"],
}
SEAT_GROUP = {
    "type": "object",
    "properties": {
        "seat_numbers": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "minItems": 1,
            "maxItems": MAX_SEATS_PER_BOOKING,
            "uniqueItems": True,
        },
    },
    "required": ["seat_numbers"],
}

HOLD = {
    "type": "object",
    "properties": {"seat_numbers": SEAT_GROUP["properties"]["seat_numbers"]},
    "required": ["seat_numbers"],
}
BEST_AVAILABLE = {
    "type": "object",
    "properties": {
        "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_SEATS_PER_BOOKING},
        "category": {"type": "string", "minLength": 1, "maxLength": 32},
        "allow_split": {"type": "boolean"},
    },
    "required": ["quantity"],
}

# Catalog writes (admin API and catalog imports). Patches need at least one known field.
_ROW = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "minLength": 1, "maxLength": 3},
        "seats": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 100},
                            {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string"}}]},
        "category": {"type": "string"},
        "aisles": {"type": "array", "maxItems": 99, "items": {"type": "integer", "minimum": 1, "maximum": 99}},
    },
    "required": ["label", "seats"],
}
_ROWS = {"type": "array", "minItems": 1, "maxItems": 100, "items": _ROW}
_CATEGORIES = {
    "description": 'an object of categories like {"standard": {"price": 950}} (prices in minor units)',
    "type": "object", "minProperties": 1, "maxProperties": 20,
    "additionalProperties": {"type": "object", "required": ["price"],
                             "properties": {"price": {"type": "integer", "minimum": 0, "maximum": 10 ** 7}}},
}
_CURRENCY = {"description": "an ISO 4217 currency code such as EUR", "type": "string", "pattern": "^[A-Z]{3}$"}
_MOVIE_FIELDS = {
    "title": {"type": "string", "pattern": NON_BLANK, "maxLength": 200},
    "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 24 * 60},
}
_SHOW_FIELDS = {
    "screen_name": {"type": "string", "pattern": NON_BLANK, "maxLength": 100},
    "date_time": {"type": "string", "maxLength": 64},  # then parsed: ISO 8601 with a time zone
    "total_seats": {"type": "integer", "minimum": 1, "maximum": MAX_TOTAL_SEATS},
    "max_seats_per_customer": {"type": "integer", "minimum": 1, "maximum": MAX_TOTAL_SEATS},
    "no_single_seat_gaps": {"type": "boolean"},
    "layout": {
        "description": 'a list of rows like {"label": "A", "seats": 12, "category": "standard"} (or '
                       '{"rows": [...], "categories": {...}, "currency": "EUR"})',
        "oneOf": [_ROWS, {"type": "object", "properties": {"rows": _ROWS, "categories": _CATEGORIES,
                                                          "currency": _CURRENCY}, "required": ["rows"]}],
    },
    "categories": _CATEGORIES,
    "currency": _CURRENCY,
}
_REQUIRED_SHOW_FIELDS = ["screen_name", "date_time"]  # and total_seats or a layout (checked in admin)
MOVIE = {"type": "object", "properties": _MOVIE_FIELDS, "required": list(_MOVIE_FIELDS)}
MOVIE_PATCH = {"type": "object", "properties": _MOVIE_FIELDS,
               "anyOf": [{"required": [name]} for name in _MOVIE_FIELDS]}
SHOW = {"type": "object", "properties": _SHOW_FIELDS, "required": _REQUIRED_SHOW_FIELDS}
SHOW_PATCH = {"type": "object", "properties": _SHOW_FIELDS,
              "anyOf": [{"required": [name]} for name in _SHOW_FIELDS]}


def parse_json(raw):
    """Bytes -> dict. Non-integral numbers become Decimal so that 3.0 is never taken for an integer."""
    if not raw:
        raise InvalidJSON("The request body must be a JSON object.")
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidJSON("The request body is not valid JSON.")
    if not isinstance(body, dict):
        raise InvalidJSON("The request body must be a JSON object.")
    if _has_lone_surrogate(body):
        # JSON allows "\ud800", but such a string cannot be encoded as UTF-8: bcrypt, PyJWT and
        # DynamoDB would fail on it later with a 500.
        raise InvalidJSON("The request body contains a string that is not valid Unicode.")
    return body


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value):
    """True if any key or string in a parsed JSON value holds an unpaired UTF-16 surrogate.

    Iterative, so that a body nested as deeply as the parser allows cannot exhaust the stack here.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


@functools.lru_cache(maxsize=None)
def _compiled(schema_id):
    return fastjsonschema.compile(_SCHEMAS[schema_id])


_SCHEMAS = {
    "credentials": CREDENTIALS, "refresh": REFRESH, "single_seat": SINGLE_SEAT, "seat_group": SEAT_GROUP,
    "movie": MOVIE, "movie_patch": MOVIE_PATCH, "show": SHOW, "show_patch": SHOW_PATCH, "hold": HOLD,
    "best_available": BEST_AVAILABLE,
}

# --- events (issue 20): webhook endpoints and waitlist entries -------------------------------------
from chalicelib.domain import events as _events  # noqa: E402

WEBHOOK = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "events": {"type": "array", "minItems": 1, "maxItems": 20, "uniqueItems": True,
                   "items": {"type": "string", "enum": ["*", *_events.EVENT_TYPES]},
                   "description": f"a list of event types (any of {', '.join(_events.EVENT_TYPES)}, or *)"},
        "description": {"type": "string", "maxLength": 200},
    },
    "required": ["url", "events"],
}
WAITLIST = {
    "type": "object",
    "properties": {
        "quantity": BEST_AVAILABLE["properties"]["quantity"],
        "category": BEST_AVAILABLE["properties"]["category"],
    },
    "required": ["quantity"],
}
_SCHEMAS.update(webhook=WEBHOOK, waitlist=WAITLIST)


def validate(schema_id, body):
    """Check ``body`` against a named schema; the message names the offending field and its rule."""
    schema = _SCHEMAS[schema_id]
    try:
        _compiled(schema_id)(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        field, message = _explain(exc, schema, body)
        raise ValidationError(message, field=field)
    return body


def _explain(exc, schema, body):
    """(field, human message) for a schema failure, worded from the field's own schema."""
    properties = schema.get("properties", {})
    if len(exc.path) < 2:  # the object itself: a required field is missing, or no known field given
        if exc.rule == "anyOf":
            return "body", f"Send at least one of: {', '.join(properties)}."
        missing = [name for name in schema.get("required", []) if not isinstance(body, dict) or name not in body]
        field = missing[0] if missing else "body"
        return field, f"{field} is required." if missing else "The body must be a JSON object."
    field = str(exc.path[1])
    return field, f"{field} must be {_describe(properties.get(field, {}))}."


def _describe(rule):
    if "description" in rule:
        return rule["description"]
    kind = rule.get("type")
    if kind == "integer":
        return f"an integer {_bounds(rule)}"
    if kind == "string":
        if rule.get("pattern") == NON_BLANK:
            return f"a non-blank string of at most {rule['maxLength']} characters"
        return "a non-empty string" if rule.get("minLength") else "a string"
    if kind == "array":
        return f"a list of {rule['minItems']} to {rule['maxItems']} different integers {_bounds(rule['items'])}"
    return "true or false" if kind == "boolean" else f"a {kind}"


def _bounds(rule):
    low, high = rule.get("minimum"), rule.get("maximum")
    return f"from {low} to {high}" if high is not None else f"of at least {low}"
