"""Opaque page cursors: a signed, query-bound encoding of DynamoDB's LastEvaluatedKey."""
import base64
import hashlib
import hmac
import json

from chalicelib.errors import InvalidCursor, ValidationError
from chalicelib.settings import jwt_secret

DEFAULT_LIMIT, MAX_LIMIT = 50, 100


def parse_limit(raw):
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}.", field="limit")
    return int(raw)


def _signature(scope, payload):
    key = hashlib.sha256(b"cursor:" + jwt_secret().encode("utf-8")).digest()
    return hmac.new(key, scope.encode("utf-8") + b"\x00" + payload, hashlib.sha256).digest()[:16]


def encode(scope, last_evaluated_key):
    """``scope`` names the query (route and its parameters) so a cursor cannot be replayed elsewhere."""
    if not last_evaluated_key:
        return None
    payload = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode("utf-8")
    token = _signature(scope, payload) + payload
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def decode(scope, cursor):
    """The ExclusiveStartKey for ``cursor``; InvalidCursor if it was tampered with or is foreign."""
    if cursor is None:
        return None
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = token[:16], token[16:]
        if len(signature) != 16 or not hmac.compare_digest(signature, _signature(scope, payload)):
            raise ValueError("bad signature")
        key = json.loads(payload)
        if not isinstance(key, dict):
            raise ValueError("not a key")
    except (ValueError, TypeError):
        raise InvalidCursor("The cursor is invalid or belongs to another query.", field="cursor")
    return key
