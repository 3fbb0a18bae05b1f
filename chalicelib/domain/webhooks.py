"""Webhook rules: the Standard Webhooks signature, the retry schedule, what an answer means, which
URLs and addresses an endpoint may have.

Standard Webhooks (https://www.standardwebhooks.com/): each delivery carries ``webhook-id`` (the same
for every attempt of one message), ``webhook-timestamp`` (epoch seconds of this attempt) and
``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body`` with the
endpoint's secret, which is shown once as ``whsec_`` + base64 of its bytes.
"""
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import urllib.parse
from typing import Optional, Sequence

from chalicelib.errors import ValidationError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # 192 bits (the standard asks for 24 to 64)
# Seconds to wait after each failed attempt: about three days in all, then the endpoint is failing.
DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000)
JITTER = 0.1  # each wait is drawn from +-10 % of the schedule's value
MAX_URL_LENGTH = 2048

DELIVERED, PENDING, FAILED = "delivered", "pending", "failed"
ENABLED, FAILING, DISABLED = "enabled", "failing", "disabled"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """How the secret is shown (once) and how the standard's libraries take it."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def sign(secret: bytes, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value."""
    signed = f"{message_id}.{timestamp}.{body}".encode("utf-8")
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode("ascii")


def body_of(event: dict) -> str:
    """The JSON body of a delivery: ``{type, timestamp, data}`` (compact, keys in a fixed order)."""
    return json.dumps({"type": event["type"], "timestamp": event["timestamp"], "data": event["data"]},
                      separators=(",", ":"), sort_keys=True, default=str)


def subscribed(events: Sequence[str], event_type: str) -> bool:
    """An endpoint gets the event types it listed; ``*`` is every type."""
    return "*" in events or event_type in events


def delay_after(failed_attempts: int, schedule: Sequence[float], draw: float) -> Optional[float]:
    """Seconds to wait before the next attempt after ``failed_attempts`` failures, None when the
    schedule is used up; ``draw`` in [0, 1) picks the jitter."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    base = schedule[failed_attempts - 1]
    return max(0.0, base * (1 - JITTER + 2 * JITTER * draw))


def outcome(status_code: Optional[int]) -> str:
    """What an attempt's answer means: delivered (2xx), gone (410: stop sending), retry (anything
    else, or no answer: timeout, refused connection)."""
    if status_code is not None and 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "gone"
    return "retry"


def parse_schedule(text: str) -> tuple:
    """``"5,300,1800"`` -> (5.0, 300.0, 1800.0)."""
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError("a retry schedule is a comma-separated list of seconds >= 0")
    return values


def check_url(url: str, deployed: bool) -> urllib.parse.SplitResult:
    """An endpoint URL: https (deployed stages), or http/https locally; a host, no credentials."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"url must be a URL of at most {MAX_URL_LENGTH} characters.", field="url")
    parts = urllib.parse.urlsplit(url)
    allowed = ("https",) if deployed else ("https", "http")
    if parts.scheme not in allowed:
        raise ValidationError("url must be an https URL." if deployed else "url must be an http or https URL.",
                              field="url")
    if not parts.hostname or parts.username or parts.password:
        raise ValidationError("url must name a host and carry no credentials.", field="url")
    try:
        parts.port
    except ValueError:
        raise ValidationError("url has an invalid port.", field="url") from None
    return parts


def address_allowed(address: str, scheme: str, deployed: bool) -> bool:
    """May a delivery connect to ``address`` (an IP the host resolved to)?

    Deployed: only public addresses (no private, loopback, link-local -- the instance metadata
    service --, shared, reserved or multicast ones): an endpoint URL must not reach into AWS's or
    anyone's internal network (SSRF). Locally: anything over https, and http to loopback only.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if deployed:
        return ip.is_global and not ip.is_multicast
    return scheme == "https" or ip.is_loopback
