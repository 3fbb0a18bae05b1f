"""Request bodies: JSON parsing and JSON Schema validation (fastjsonschema), failing as ValidationError."""
import functools
import json
import re
from decimal import Decimal

import fastjsonschema

from chalicelib.errors import InvalidJSON, ValidationError

MAX_SEATS_PER_BOOKING = 10

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


_SCHEMAS = {"credentials": CREDENTIALS, "refresh": REFRESH, "single_seat": SINGLE_SEAT, "seat_group": SEAT_GROUP}


def validate(schema_id, body):
    """Check ``body`` against a named schema; the message names the offending field."""
    try:
        _compiled(schema_id)(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = ".".join(str(p) for p in exc.path[1:]) or "body"
        raise ValidationError(_message(exc), field=field)
    return body


def _message(exc):
    text = exc.message.replace("data.", "", 1) if exc.message.startswith("data.") else exc.message
    return text[0].upper() + text[1:] + "."
