"""Webhooks: endpoints an admin registers, and the delivery of domain events to them.

Each domain event (chalicelib/outbox.py) becomes one delivery per subscribed endpoint: an item that
records its attempts, and a message on the delivery queue (SQS). The queue's handler makes one
attempt (signed as Standard Webhooks asks, 10 s timeout); a failure is recorded and the message is
sent again with the next back-off of the schedule as its delay (SQS delays at most 15 minutes, so a
longer wait is several hops: a message that arrives before its delivery is due is re-sent with the
time left). After the last retry the delivery has failed and the endpoint is marked failing; a 410
answer disables the endpoint. The sweep re-sends the message of any delivery whose attempt is long
overdue (a message lost with the local stack, say); attempts are recorded conditionally, so a
duplicate message at most repeats an attempt, with the same ``webhook-id``.
"""
import base64
import http.client
import logging
import random
import secrets
import socket
import ssl

from chalicelib import clock, pagination, queues, validation
from chalicelib.db import webhooks as items
from chalicelib.domain import events as event_rules, webhooks as rules
from chalicelib.errors import NotFound, ServiceUnavailable, ValidationError
from chalicelib.idempotency import Outcome
from chalicelib.settings import get_settings

log = logging.getLogger(__name__)

WEBHOOK_ID_LENGTH = 24
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "movie-booking-webhooks/1"


def _deployed() -> bool:
    return not get_settings().is_local


def _schedule() -> tuple:
    text = get_settings().webhook_retry_schedule
    return rules.parse_schedule(text) if text else rules.DEFAULT_RETRY_SCHEDULE


def endpoint_view(item: dict) -> dict:
    return {name: item[name] for name in ("id", "url", "events", "description", "status", "created_at")
            if name in item}


def delivery_view(item: dict) -> dict:
    view = {name: item[name] for name in ("id", "webhook", "event_id", "event_type", "status", "attempts",
                                           "last_response_code", "last_error", "last_attempt_at", "created_at")
            if item.get(name) not in (None, "")}
    if item["status"] == rules.PENDING:
        view["next_attempt_at"] = clock.iso(item["next_attempt_at"])
    return view


def _own(webhook_id: str) -> dict:
    found = items.get(webhook_id) if _plausible(webhook_id, WEBHOOK_ID_LENGTH) else None
    if found is None:
        raise NotFound("No such webhook.")
    return found


def _plausible(value: str, length: int = None) -> bool:
    return (isinstance(value, str) and 0 < len(value) <= 80 and (length is None or len(value) == length)
            and all(c.isascii() and (c.isdigit() or c.islower() or c == "_") for c in value))


# --- the admin API ---------------------------------------------------------------------------------

def create(body: dict) -> Outcome:
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    request = validation.validate("webhook", body)
    rules.check_url(request["url"], _deployed())
    secret = rules.new_secret()
    webhook = {"id": secrets.token_hex(WEBHOOK_ID_LENGTH // 2), "url": request["url"], "events": request["events"],
               "description": request.get("description", ""), "status": rules.ENABLED,
               "created_at": clock.now_iso(), "secret": base64.b64encode(secret).decode("ascii")}
    items.add(webhook)
    return Outcome({**endpoint_view(webhook), "secret": rules.secret_text(secret)}, created=True)


def list_endpoints(limit: int, cursor: str = None) -> tuple:
    page = items.endpoints_page(limit, pagination.decode("webhooks", cursor))
    return [endpoint_view(item) for item in page.items], pagination.encode("webhooks", page.last_key)


def delete(webhook_id: str) -> None:
    _own(webhook_id)
    if not items.remove(webhook_id):
        raise NotFound("No such webhook.")


def send_test(webhook_id: str) -> dict:
    """Queue a ``webhook.test`` event to this endpoint (whatever it subscribed to); the delivery."""
    endpoint = _own(webhook_id)
    now = clock.now()
    event = {"id": f"evt_test_{secrets.token_hex(12)}", "type": event_rules.WEBHOOK_TEST,
             "timestamp": clock.iso(now), "data": {"webhook": webhook_id}}
    delivery = _new_delivery(endpoint, event, now)
    items.add_delivery(delivery)
    _send(delivery, 0)
    return delivery_view(delivery)


def deliveries(webhook_id: str, limit: int, cursor: str = None) -> tuple:
    _own(webhook_id)
    scope = f"deliveries:{webhook_id}"
    page = items.deliveries_page(webhook_id, limit, pagination.decode(scope, cursor))
    return [delivery_view(item) for item in page.items], pagination.encode(scope, page.last_key)


def retry(webhook_id: str, delivery_id: str) -> dict:
    """Replay a delivery now (one more attempt, same ``webhook-id``), whatever its status."""
    _own(webhook_id)
    delivery = items.get_delivery(webhook_id, delivery_id) if _plausible(delivery_id) else None
    if delivery is None:
        raise NotFound("No such delivery.")
    now = clock.now()
    changes = {"status": rules.PENDING, "next_attempt_at": now}
    if not items.record_attempt(delivery, changes):
        raise ServiceUnavailable("The delivery is being attempted right now; retry shortly.", retry_after=1)
    _send({**delivery, **changes}, 0, replay=True)
    return delivery_view({**delivery, **changes})


# --- fan-out: one delivery per subscribed endpoint ----------------------------------------------------

def _new_delivery(endpoint: dict, event: dict, now: float) -> dict:
    at = clock.parse_iso(event["timestamp"]) if event.get("timestamp") else now
    return {"id": f"{int(at * 1000):011x}_{event['id']}", "webhook": endpoint["id"], "event_id": event["id"],
            "event_type": event["type"], "body": rules.body_of(event), "status": rules.PENDING, "attempts": 0,
            "next_attempt_at": now, "created_at": clock.iso(now), "created": now}


def endpoints() -> list:
    """Every registered endpoint (one Query of the endpoints' partition)."""
    return list(items.all_endpoints())


def fan_out(event: dict, endpoints_now: list = None) -> int:
    """Store and queue a delivery of ``event`` to each endpoint subscribed to its type (of
    ``endpoints_now``, or as read now); how many were new.

    A retried stream record finds its deliveries stored already and queues nothing again."""
    now, new = clock.now(), 0
    for endpoint in (endpoints() if endpoints_now is None else endpoints_now):
        if endpoint.get("status") == rules.DISABLED or not rules.subscribed(endpoint["events"], event["type"]):
            continue
        delivery = _new_delivery(endpoint, event, now)
        if items.add_delivery(delivery):
            _send(delivery, 0)
            new += 1
    return new


def _send(delivery: dict, delay: float, replay: bool = False) -> None:
    message = {"webhook": delivery["webhook"], "delivery": delivery["id"]}
    if replay:
        message["replay"] = True
    queues.send(message, delay)


def redrive(now: float) -> int:
    """Queue again every pending delivery overdue by WEBHOOK_REDRIVE_AFTER_SECONDS (its message was lost)."""
    count = 0
    for delivery in items.overdue(now - get_settings().webhook_redrive_after_seconds):
        if items.record_attempt(delivery, {"next_attempt_at": now}):
            _send(delivery, 0)
            count += 1
    return count


# --- one attempt ---------------------------------------------------------------------------------

def deliver(message: dict) -> str:
    """Handle one queue message: make the attempt it stands for, if it is due; what happened."""
    delivery = items.get_delivery(message["webhook"], message["delivery"])
    if delivery is None or delivery["status"] != rules.PENDING:
        return "nothing to do"
    now = clock.now()
    if delivery["next_attempt_at"] > now + 1:  # a wait longer than one SQS delay: another hop
        _send(delivery, delivery["next_attempt_at"] - now, replay=message.get("replay", False))
        return "waiting"
    endpoint = items.get(delivery["webhook"])
    if endpoint is None or endpoint.get("status") == rules.DISABLED:
        items.record_attempt(delivery, {"status": rules.FAILED, "last_error": "the endpoint is deleted or disabled"})
        return "endpoint gone"
    status, error = post(endpoint, delivery, now)
    result = rules.outcome(status)
    attempts = delivery["attempts"] + 1
    changes = {"attempts": attempts, "last_attempt_at": clock.iso(now), "last_error": error or ""}
    if status is not None:
        changes["last_response_code"] = status
    delay = None
    if result == "delivered":
        changes["status"] = rules.DELIVERED
    elif result == "gone":
        changes["status"] = rules.FAILED
    else:
        delay = None if message.get("replay") else rules.delay_after(attempts, _schedule(), random.random())
        if delay is None:
            changes["status"] = rules.FAILED
        else:
            changes.update(status=rules.PENDING, next_attempt_at=now + delay)
    if not items.record_attempt(delivery, changes):
        return "another attempt was recorded first"
    if result == "delivered" and endpoint.get("status") == rules.FAILING:
        items.set_status(endpoint["id"], rules.ENABLED, clock.iso(now))
    elif result == "gone":
        items.set_status(endpoint["id"], rules.DISABLED, clock.iso(now))
    elif changes["status"] == rules.FAILED:
        items.set_status(endpoint["id"], rules.FAILING, clock.iso(now))
    if delay is not None:
        _send(delivery, delay)
    log.info("webhook %s delivery %s attempt %d: %s", endpoint["id"], delivery["id"], attempts,
             status if status is not None else error)
    return changes["status"]


def signed_headers(endpoint: dict, delivery: dict, timestamp: int) -> dict:
    secret = base64.b64decode(endpoint["secret"])
    return {"webhook-id": delivery["event_id"], "webhook-timestamp": str(timestamp),
            "webhook-signature": rules.sign(secret, delivery["event_id"], timestamp, delivery["body"]),
            "Content-Type": "application/json", "User-Agent": USER_AGENT}


def post(endpoint: dict, delivery: dict, now: float) -> tuple:
    """POST the delivery to the endpoint: (status code, None) or (None, why there is no answer).

    The host is resolved and every address checked before connecting, and the connection goes to
    the checked address (a second lookup cannot swap in another): see docs/security.md."""
    deployed = _deployed()
    try:
        parts = rules.check_url(endpoint["url"], deployed)
    except ValidationError as exc:
        return None, str(exc)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        resolved = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return None, f"cannot resolve {parts.hostname}: {exc}"
    addresses = [info[4][0] for info in resolved]
    refused = [a for a in addresses if not rules.address_allowed(a, parts.scheme, deployed)]
    if not addresses or refused:
        return None, f"{parts.hostname} resolves to an address deliveries may not reach ({', '.join(refused)})"
    timeout = get_settings().webhook_timeout_seconds
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(parts.hostname, addresses[0], port, timeout)
    else:
        connection = _PinnedHTTPConnection(parts.hostname, addresses[0], port, timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=delivery["body"].encode("utf-8"),
                           headers=signed_headers(endpoint, delivery, int(now)))
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status, None
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:200]
    finally:
        connection.close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to ``address`` (already checked), with ``host`` in the Host header."""

    def __init__(self, host, address, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``address`` (already checked); the certificate is checked against ``host`` (SNI too)."""

    def __init__(self, host, address, port, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
