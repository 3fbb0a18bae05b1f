"""HTTP glue for app.py: bodies, headers, path ids, the caller's token, error -> status in one table,
paging links and request logs. The only module besides app.py and docs.py that knows HTTP."""
import functools
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid

from chalice import Chalice, Response

from chalicelib import auth, errors, log_context, pagination, tokens
from chalicelib.db import is_unavailable, unavailable
from chalicelib.idempotency import Outcome
from chalicelib.settings import get_settings
from chalicelib.validation import parse_json

log = logging.getLogger("movie_booking.http")

JSON_TYPES = ("application/json",)

# The one place where domain errors become HTTP statuses.
STATUS_BY_ERROR = [
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.InvalidTicket, 400),
    (errors.ValidationError, 400),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.AlreadyCheckedIn, 409),
    (errors.BookingCancelled, 409),
    (errors.WrongShow, 409),
    (errors.TooEarly, 409),
    (errors.Conflict, 409),
    (errors.IdempotencyKeyReused, 422),
    (errors.TooManyAttempts, 429),
    (errors.ServiceUnavailable, 503),
]


def _thread_local_property(name):
    """A property whose value is kept per thread (in the class's ``_per_thread`` storage)."""
    return property(lambda self: getattr(self._per_thread, name, None),
                    lambda self, value: setattr(self._per_thread, name, value))


class ThreadLocalChalice(Chalice):
    """Chalice with ``current_request`` and ``lambda_context`` kept per thread.

    Lambda runs one request per process, but ``chalice local`` and threaded tests call one app object
    from many threads: with plain attributes a request could read another request's headers or body.
    """

    _per_thread = threading.local()
    current_request = _thread_local_property("request")
    lambda_context = _thread_local_property("context")


def status_for(exc):
    for error_class, status in STATUS_BY_ERROR:
        if isinstance(exc, error_class):
            return status
    return 500


def request_id(request):
    """API Gateway's request id; one is made up (and kept) where none was given, as in the test client."""
    context = getattr(request, "context", None)
    if context is None:
        return "-"
    if not context.get("requestId"):
        context["requestId"] = uuid.uuid4().hex
    return context["requestId"]


def error_response(request, exc):
    """``{"Code", "Message", "request_id", ...details}`` with the mapped status and helpful headers."""
    status = status_for(exc)
    body = {"Code": exc.code, "Message": exc.message, "request_id": request_id(request), **exc.details}
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="movie-booking"'
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after)))
    return Response(body=body, status_code=status, headers=headers)


def json_errors(app):
    """Decorator for views: domain errors (and exhausted DynamoDB retries) become JSON error responses."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except errors.BookingAPIError as exc:
                return error_response(app.current_request, exc)
            except Exception as exc:
                if is_unavailable(exc):
                    return error_response(app.current_request, unavailable(exc))
                log.exception("unhandled error")
                return Response(
                    body={"Code": "InternalServerError", "Message": "An internal error occurred.",
                          "request_id": request_id(app.current_request)},
                    status_code=500)
        return wrapper
    return decorate


def json_body(request):
    """The request's JSON object: 413 if too large, 415 if not JSON, 400 if malformed."""
    raw = request.raw_body or b""
    if len(raw) > get_settings().max_body_bytes:
        raise errors.PayloadTooLarge(f"Request bodies are limited to {get_settings().max_body_bytes} bytes.")
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise errors.UnsupportedMediaType("Send the body as application/json.")
    return parse_json(raw)


def caller_claims(request):
    """Claims of the Bearer access token; InvalidToken (401) when absent or bad."""
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthenticated(
            "Authentication credentials were not provided: send 'Authorization: Bearer <access token>'.")
    claims = tokens.verify(token.strip(), tokens.ACCESS)
    # Recorded where an API Gateway authorizer would put it, for the request log.
    request.context.setdefault("authorizer", {})["principalId"] = claims["sub"]
    log_context.bind(user=claims["sub"])
    return claims


def caller(request):
    """The caller's user key, from a valid Bearer access token (401 otherwise)."""
    return caller_claims(request)["sub"]


def admin_only(app):
    """Decorator for admin views: 401 without a valid token, 403 unless its role is admin."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if caller_claims(app.current_request).get("role") != auth.ROLE_ADMIN:
                raise errors.Forbidden("Only administrators may do this.")
            return view(*args, **kwargs)
        return wrapper
    return decorate


DOOR_ROLES = frozenset({auth.ROLE_STAFF, auth.ROLE_ADMIN})


def staff_only(app):
    """Decorator for door views (issue 19): 401 without a valid token, 403 unless its role is staff or admin."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if caller_claims(app.current_request).get("role") not in DOOR_ROLES:
                raise errors.Forbidden("Only door staff and administrators may do this.")
            return view(*args, **kwargs)
        return wrapper
    return decorate


def ticket_format(request):
    """``?format=svg`` (the QR code alone) or ``json`` (the default); 400 for anything else."""
    wanted = (request.query_params or {}).get("format") or "json"
    if wanted not in ("json", "svg"):
        raise errors.ValidationError("format must be json or svg.", field="format")
    return wanted


def path_id(raw, what):
    """Path ids are small positive integers; anything else is simply not found."""
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and 0 < len(raw) <= 9 and int(raw) > 0):
        raise errors.NotFound(f"No {what} with id {raw!r}.")
    return int(raw)


IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,64}\Z")  # visible ASCII, 1-64 characters


def idempotency_key(request):
    """The request's Idempotency-Key header, checked, or None."""
    return check_idempotency_key(request.headers.get("idempotency-key"))


def check_idempotency_key(raw):
    if raw is not None and not IDEMPOTENCY_KEY_PATTERN.match(raw):
        raise errors.ValidationError("Idempotency-Key must be 1 to 64 visible ASCII characters.",
                                     field="Idempotency-Key")
    return raw


def limit_and_cursor(request):
    """The list parameters ``limit`` (checked) and ``cursor`` (checked where it is decoded)."""
    params = request.query_params or {}
    return pagination.parse_limit(params.get("limit")), params.get("cursor")


def outcome_response(outcome: Outcome):
    """201 for a write that made something new, 200 for one that returned what was there."""
    return Response(body=outcome.body, status_code=201 if outcome.created else 200)


def paged(request, items, next_cursor, limit):
    """A JSON-array response with an RFC 8288 ``Link: <...>; rel="next"`` header when more pages exist."""
    headers = {}
    if next_cursor:
        params = {k: v for k, v in (request.query_params or {}).items() if k not in ("cursor", "limit")}
        params.update(limit=str(limit), cursor=next_cursor)
        headers["Link"] = f'<{_public_url(request)}?{urllib.parse.urlencode(params)}>; rel="next"'
    return Response(body=items, status_code=200, headers=headers)


HOST_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?\Z")


def _public_url(request):
    """This page's URL on the API's own base, never on what the client said (``Host``,
    ``X-Forwarded-Proto``, ``X-Forwarded-Host`` are the client's to choose).

    The path is the one API Gateway served, stage prefix included (``context.path``); it goes under
    ``PUBLIC_ORIGIN`` when the stage sets one, else under the domain API Gateway answered on
    (``context.domainName``, always https), else it stays a relative reference (``chalice local``
    and the test client name no domain), which RFC 8288 resolves against the request's URL.
    """
    context = request.context or {}
    path = "/" + (context.get("path") or request.path).lstrip("/")  # never "//host/...": that names a host
    origin = get_settings().public_origin
    domain = context.get("domainName") or ""
    if not origin and HOST_NAME.match(domain):
        origin = f"https://{domain}"
    return f"{origin}{path}"


def client_address(request):
    """The client's IP address as API Gateway saw it (``requestContext.identity.sourceIp``): the
    peer of the connection, not a header the client wrote. None when absent."""
    identity = (getattr(request, "context", None) or {}).get("identity") or {}
    return identity.get("sourceIp")


def start_request(request):
    """Bind the request's id and route to every log line it causes (see chalicelib.log_context)."""
    log_context.clear()
    context = getattr(request, "context", None) or {}
    log_context.bind(request_id=request_id(request), route=context.get("resourcePath"))


def log_request(request, response, started):
    """One JSON line per request: never a token, password or hash."""
    context = getattr(request, "context", None) or {}
    log.info(json.dumps({
        "method": request.method,
        "route": context.get("resourcePath"),
        "path": request.path,
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "request_id": request_id(request),
        "user": (context.get("authorizer") or {}).get("principalId"),
    }, separators=(",", ":")))


# --- events (issue 20): queue messages in, partial-batch answer out ----------------------------------

def queue_batch(records: list, handle) -> dict:
    """An SQS batch (Lambda's event records): ``handle`` each message's JSON body; the answer names the
    messages that raised (``batchItemFailures``), which the queue shows again after its visibility timeout."""
    failures = []
    for record in records:
        try:
            handle(json.loads(record["body"]))
        except Exception:  # noqa: BLE001 - this message is retried by the queue, the others are done
            logging.getLogger(__name__).exception("queue message %s failed", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
