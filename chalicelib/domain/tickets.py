"""E-ticket codes and door rules (issue 19), on plain bytes and numbers: no cryptography here.

A ticket code is the base64url text (RFC 4648 section 5, no padding) of these bytes:

    byte 0        format version (FORMAT_VERSION)
    byte 1        key id of the signing key (0-255)
    varint        show id (unsigned LEB128, shortest form)
    varint        seat number (the same)
    14 bytes      booking id: its 27 hex digits as one big-endian number (top 4 bits zero)
    64 bytes      Ed25519 signature over every byte before it

Nothing else: no owner, no name. The show and seat are the key of the booking's seat lock
(``SHOW#show / SEAT#seat``, which names the booking id), so a check-in is one conditional
UpdateItem there with no read before it. Version 1 (issue 19's first layout) also carried the
owner's username; its codes are refused as an unknown version.

Decoding is strict: one text per ticket (no padding, no stray bits in the last character, shortest
varints, no bytes left over), so changing any byte or character of a code either fails here or
fails the signature. A code is 82-86 bytes, 110-115 characters whoever owns it: 86 for the
signature, 24-29 for the rest (110 for a show id and a seat below 128, 112 below 16,384, 115 at
most for show ids below 10**8 and seats below 10**4).

The key ring (deployed: an SSM SecureString; locally: a file made once) is JSON:

    {"current": 2,
     "keys": {"2": {"private": "<32-byte Ed25519 seed, base64url>"},
              "1": {"public": "<32-byte Ed25519 public key, base64url>"}},
     "retired": [0]}

The current key signs; every listed key verifies (a previous key keeps its tickets valid while it
stays listed); a key id that is not listed is refused, with "retired" naming the ones taken out.
"""
import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from chalicelib.errors import ValidationError

FORMAT_VERSION = 2  # 1 carried the owner's username too (refused since)
SIGNATURE_BYTES = 64
KEY_BYTES = 32
BOOKING_ID_BYTES = 14
BOOKING_ID_HEX_DIGITS = 27
MAX_KEY_ID = 255
MAX_CODE_CHARS = 200  # anything longer is not one of ours, whatever it holds
DEFAULT_CHECKIN_OPENS_MINUTES = 60

BOOKING_ID = re.compile(r"[0-9a-f]{27}\Z")
BASE64URL_TEXT = re.compile(r"[A-Za-z0-9_-]+\Z")


class MalformedTicket(ValueError):
    """The text is not a ticket code of this format (says nothing about its signature)."""


@dataclass(frozen=True)
class TicketFields:
    """What a ticket code says: the signed fields."""

    key_id: int
    show: int
    seat_number: int
    booking_id: str


@dataclass(frozen=True)
class DecodedTicket:
    """A decoded code: its fields, the signed bytes, and the signature to check over them."""

    fields: TicketFields
    signed: bytes
    signature: bytes


# --- text <-> bytes ------------------------------------------------------------------------------

def to_text(raw: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def from_text(text: str) -> bytes:
    """The bytes of a base64url text written by :func:`to_text`; MalformedTicket for anything else
    (padding, other characters, a length no encoding gives, bits set past the last byte)."""
    if not isinstance(text, str) or not text or len(text) > MAX_CODE_CHARS or not BASE64URL_TEXT.match(text):
        raise MalformedTicket("not base64url text")
    if len(text) % 4 == 1:
        raise MalformedTicket("impossible length")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedTicket("not base64url text") from None
    if to_text(raw) != text:  # stray low bits in the last character: a second spelling of the same bytes
        raise MalformedTicket("not in canonical form")
    return raw


# --- varints -------------------------------------------------------------------------------------

def encode_varint(number: int) -> bytes:
    """Unsigned LEB128."""
    if number < 0:
        raise ValueError("negative")
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def decode_varint(raw: bytes, at: int) -> tuple[int, int]:
    """(number, position after it); MalformedTicket for a cut or non-shortest varint."""
    number, shift, start = 0, 0, at
    while True:
        if at >= len(raw) or at - start >= 5:
            raise MalformedTicket("bad varint")
        byte = raw[at]
        number |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            if byte == 0 and at - start > 1:
                raise MalformedTicket("varint not in shortest form")
            return number, at
        shift += 7


# --- ticket bytes --------------------------------------------------------------------------------

def signed_bytes(fields: TicketFields) -> bytes:
    """The bytes the signature covers (everything but the signature)."""
    if not 0 <= fields.key_id <= MAX_KEY_ID:
        raise ValueError("key id out of range")
    if not BOOKING_ID.match(fields.booking_id):
        raise ValueError("booking id is not 27 lowercase hex digits")
    if fields.show < 1 or fields.seat_number < 1:
        raise ValueError("show and seat are positive")
    return (bytes([FORMAT_VERSION, fields.key_id]) + encode_varint(fields.show)
            + encode_varint(fields.seat_number)
            + int(fields.booking_id, 16).to_bytes(BOOKING_ID_BYTES, "big"))


def encode(fields: TicketFields, signature: bytes) -> str:
    """The ticket code: the signed bytes and their signature, as base64url text."""
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError("an Ed25519 signature has 64 bytes")
    return to_text(signed_bytes(fields) + signature)


def decode(code: str) -> DecodedTicket:
    """The fields of a code, unverified; MalformedTicket if it is not one of this format."""
    raw = from_text(code.strip() if isinstance(code, str) else code)
    if len(raw) < 2 + 2 + BOOKING_ID_BYTES + SIGNATURE_BYTES:
        raise MalformedTicket("too short")
    if raw[0] != FORMAT_VERSION:
        raise MalformedTicket("unknown format version")
    signed, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    key_id = signed[1]
    show, at = decode_varint(signed, 2)
    seat, at = decode_varint(signed, at)
    if show < 1 or seat < 1:
        raise MalformedTicket("show and seat are positive")
    booking = int.from_bytes(signed[at:at + BOOKING_ID_BYTES], "big")
    at += BOOKING_ID_BYTES
    if booking >= 16 ** BOOKING_ID_HEX_DIGITS:
        raise MalformedTicket("booking id too large")
    if at != len(signed):
        raise MalformedTicket("not the length its fields give")
    fields = TicketFields(key_id, show, seat, format(booking, f"0{BOOKING_ID_HEX_DIGITS}x"))
    return DecodedTicket(fields, signed, signature)


# --- doors ---------------------------------------------------------------------------------------

def doors_open_at(starts_at: float, opens_minutes: int) -> float:
    """When check-in for a show starting at ``starts_at`` (epoch seconds) begins."""
    return starts_at - opens_minutes * 60


def too_early(starts_at: float, now: float, opens_minutes: int) -> bool:
    """Before the doors open: more than ``opens_minutes`` before the show starts."""
    return now < doors_open_at(starts_at, opens_minutes)


# --- the key ring --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyRing:
    """Signing and verifying keys by key id, as raw 32-byte values."""

    current: int
    private: dict = field(default_factory=dict)  # key id -> seed (the current key at least)
    public: dict = field(default_factory=dict)  # key id -> public key, for keys listed without a seed
    retired: frozenset = frozenset()

    def accepted_ids(self) -> list:
        return sorted(set(self.private) | set(self.public))

    def to_json(self) -> str:
        keys = {str(kid): {"private": to_text(seed)} for kid, seed in self.private.items()}
        keys.update({str(kid): {"public": to_text(pub)} for kid, pub in self.public.items()})
        ring = {"current": self.current, "keys": dict(sorted(keys.items(), key=lambda kv: -int(kv[0])))}
        if self.retired:
            ring["retired"] = sorted(self.retired)
        return json.dumps(ring, indent=1)


def _key_bytes(text, what) -> bytes:
    try:
        raw = from_text(text)
    except MalformedTicket:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ValidationError(f"{what} is not {KEY_BYTES} bytes in base64url.")
    return raw


def _key_id(raw) -> int:
    text = str(raw)
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_KEY_ID and text == str(int(text))):
        raise ValidationError(f"Key id {raw!r} is not a whole number from 0 to {MAX_KEY_ID}.")
    return int(text)


def parse_keyring(text: str) -> KeyRing:
    """The key ring in ``text``; ValidationError saying what is wrong with it."""
    try:
        ring = json.loads(text)
    except (TypeError, ValueError):
        raise ValidationError("The ticket key ring is not JSON.") from None
    if not isinstance(ring, dict) or not isinstance(ring.get("keys"), dict) or "current" not in ring:
        raise ValidationError('The ticket key ring needs "current" and "keys".')
    current = _key_id(ring["current"])
    private, public = {}, {}
    for raw_id, entry in ring["keys"].items():
        kid = _key_id(raw_id)
        if not isinstance(entry, dict) or len(entry) != 1 or not {"private", "public"} & set(entry):
            raise ValidationError(f'Key {kid} needs exactly one of "private" or "public".')
        if "private" in entry:
            private[kid] = _key_bytes(entry["private"], f"Key {kid}'s private seed")
        else:
            public[kid] = _key_bytes(entry["public"], f"Key {kid}'s public key")
    if current not in private:
        raise ValidationError(f"The current key {current} has no private seed in the key ring.")
    retired = frozenset(_key_id(kid) for kid in ring.get("retired") or [])
    if retired & (set(private) | set(public)):
        raise ValidationError("A key id is both listed and retired.")
    return KeyRing(current, private, public, retired)


def next_key_id(ring: KeyRing) -> int:
    """The id a new key gets: one above every id used so far (listed or retired)."""
    used = set(ring.accepted_ids()) | set(ring.retired)
    kid = max(used) + 1
    if kid > MAX_KEY_ID:
        raise ValidationError(f"Every key id up to {MAX_KEY_ID} has been used.")
    return kid
