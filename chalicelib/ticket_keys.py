"""The Ed25519 keys that sign ticket codes (issue 19): loading the key ring, signing, verifying.

Where the key ring comes from (its format: ``chalicelib.domain.tickets``):

- ``TICKET_SIGNING_KEY_PARAM`` set: that SSM SecureString, read once per cold start (deployed
  stages: only this; without it ticket routes answer 503 ``ServiceMisconfigured``, never a made-up key).
- local and test stages without it: ``ticket-keys.json`` in ``LOCAL_DATA_DIR`` (``.local-data``),
  generated on first use and kept, so tickets stay valid across restarts of ``make run``.

A door device needs only the public keys (``GET /tickets/keys/``) to check a code offline.
"""
import functools
import logging
import os
import threading
import time

from chalicelib import settings
from chalicelib.domain import tickets as rules
from chalicelib.errors import ConfigurationError, InvalidTicket, ValidationError

log = logging.getLogger(__name__)

LOCAL_KEYRING_FILE = "ticket-keys.json"
RETRY_SECONDS = 10  # a misconfigured instance asks SSM again at most this often
ALGORITHM = "Ed25519"
_failed_at = None
_create_lock = threading.Lock()


def _ed25519():
    """cryptography's Ed25519 classes, imported on first use (routes without tickets never pay for it)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    return Ed25519PrivateKey, Ed25519PublicKey


class LoadedKeys:
    """The key ring as cryptography objects: the current signing key and every accepted public key."""

    def __init__(self, ring: rules.KeyRing):
        Ed25519PrivateKey, Ed25519PublicKey = _ed25519()
        self.ring = ring
        self.current = ring.current
        self.signer = Ed25519PrivateKey.from_private_bytes(ring.private[ring.current])
        self.verifiers = {kid: Ed25519PrivateKey.from_private_bytes(seed).public_key()
                          for kid, seed in ring.private.items()}
        self.verifiers.update({kid: Ed25519PublicKey.from_public_bytes(raw) for kid, raw in ring.public.items()})


def _raw_public(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_seed(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def new_keyring(rotate_from: str = None, keep_previous: bool = True) -> str:
    """Key-ring JSON with a freshly generated current key; from an existing ring (``rotate_from``),
    its current key stays listed as a public key (its tickets stay valid) unless ``keep_previous``
    is False, when it is retired. Its older public keys stay as they were."""
    Ed25519PrivateKey, _ = _ed25519()
    seed = _raw_seed(Ed25519PrivateKey.generate())
    if rotate_from is None:
        return rules.KeyRing(current=1, private={1: seed}).to_json()
    old = rules.parse_keyring(rotate_from)
    kid = rules.next_key_id(old)
    public = dict(old.public)
    public.update({k: _raw_public(Ed25519PrivateKey.from_private_bytes(s).public_key())
                   for k, s in old.private.items()})
    retired = set(old.retired)
    if not keep_previous:
        retired.add(old.current)
        public.pop(old.current, None)
    return rules.KeyRing(current=kid, private={kid: seed}, public=public, retired=frozenset(retired)).to_json()


def _local_keyring_text() -> str:
    """The local key ring file, made once (exclusively: two processes starting at once agree)."""
    folder = os.path.abspath(settings.get_settings().local_data_dir)
    path = os.path.join(folder, LOCAL_KEYRING_FILE)
    with _create_lock:
        if not os.path.exists(path):
            os.makedirs(folder, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(new_keyring())
                log.info("generated the local ticket signing key in %s", path)
    for _ in range(50):  # another process may have created it and still be writing
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if text.strip():
            return text
        time.sleep(0.02)
    return text


@functools.lru_cache(maxsize=1)
def _loaded() -> LoadedKeys:
    config = settings.get_settings()
    if config.ticket_signing_key_param:
        text = settings.read_secure_string(config.ticket_signing_key_param)
    elif config.is_local:
        text = _local_keyring_text()
    else:
        log.error("refusing ticket requests: TICKET_SIGNING_KEY_PARAM is not set (deployed stages read the "
                  "ticket signing keys from SSM only)")
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60)
    try:
        return LoadedKeys(rules.parse_keyring(text))
    except (ValidationError, ValueError) as exc:
        log.error("refusing ticket requests: the ticket key ring is unusable: %s", getattr(exc, "message", exc))
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60) from None


def keys() -> LoadedKeys:
    """The key ring, loaded once per process; ConfigurationError (503) while it is unusable."""
    global _failed_at
    if _failed_at is not None and time.monotonic() - _failed_at < RETRY_SECONDS:
        raise ConfigurationError("The service is not configured; try again later.", retry_after=60)
    try:
        return _loaded()
    except ConfigurationError:
        _failed_at = time.monotonic()
        raise


def sign(fields_without_key: dict) -> str:
    """The ticket code for ``show``, ``seat_number`` and ``booking_id``, signed with the current key."""
    loaded = keys()
    fields = rules.TicketFields(key_id=loaded.current, **fields_without_key)
    return rules.encode(fields, loaded.signer.sign(rules.signed_bytes(fields)))


def verify(code) -> rules.TicketFields:
    """The fields of a genuine code; InvalidTicket (400) for anything malformed, signed by a key that
    is not accepted (retired or unknown), or whose signature does not match."""
    if not isinstance(code, str):
        raise InvalidTicket("This is not a ticket code.", field="code")
    try:
        decoded = rules.decode(code)
    except rules.MalformedTicket:
        raise InvalidTicket("This is not a ticket code.", field="code") from None
    loaded = keys()
    kid = decoded.fields.key_id
    verifier = loaded.verifiers.get(kid)
    if verifier is None:
        why = "retired" if kid in loaded.ring.retired else "unknown"
        raise InvalidTicket(f"This ticket is signed with a key that is no longer accepted ({why} key id {kid}).",
                            field="code", key_id=kid)
    from cryptography.exceptions import InvalidSignature

    try:
        verifier.verify(decoded.signature, decoded.signed)
    except InvalidSignature:
        raise InvalidTicket("This ticket's signature is not valid.", field="code") from None
    return decoded.fields


def public_keys() -> list:
    """Every accepted public key, newest first: ``{key_id, algorithm, public_key (base64url, 32
    bytes), current}``; a door device verifies codes offline with them."""
    loaded = keys()
    return [{"key_id": kid, "algorithm": ALGORITHM, "public_key": rules.to_text(_raw_public(key)),
             "current": kid == loaded.current}
            for kid, key in sorted(loaded.verifiers.items(), reverse=True)]


def reset() -> None:
    """Forget the loaded keys (tests change the key ring between cases)."""
    global _failed_at
    _failed_at = None
    _loaded.cache_clear()
