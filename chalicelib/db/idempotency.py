"""Idempotency-Key records (``USER#k / IDEMPOTENCY#key``): a request's fingerprint and first answer."""
import json
from typing import Optional

from chalicelib import keys, storage
from chalicelib.storage import Transaction

# TTL deletion is lazy: an expired record that still exists counts as absent.
_ABSENT = "attribute_not_exists(PK) OR #expires < :now"


def record_item(caller: str, key: str, fingerprint: str, created: bool, body, now: int, ttl: int) -> dict:
    return {
        **keys.idempotency_key(caller, key),
        "type": "idempotency",
        "fingerprint": fingerprint,
        "created": created,
        "body": json.dumps(body, separators=(",", ":")),
        storage.TTL_ATTRIBUTE: now + ttl,
    }


def add_part(tx: Transaction, name, record: dict, now: int) -> None:
    """Store the record in the same transaction as the write it answers, unless the key is live."""
    tx.put(name, record, condition=_ABSENT, names={"#expires": storage.TTL_ATTRIBUTE}, values={":now": now})


def put(record: dict, now: int) -> bool:
    """Store the record on its own (one PutItem); False if a live record holds the key."""
    try:
        storage.put(record, condition=_ABSENT, names={"#expires": storage.TTL_ATTRIBUTE}, values={":now": now})
    except storage.ConditionFailed:
        return False
    return True


def get_live(caller: str, key: str, now: float) -> Optional[dict]:
    """The live record for the key as ``{"fingerprint", "created", "body"}``, or None."""
    record = storage.get(keys.idempotency_key(caller, key), consistent=True)
    if record is None or record[storage.TTL_ATTRIBUTE] < now:
        return None
    created = record["created"] if "created" in record else record.get("status") == 201  # older records
    return {"fingerprint": record["fingerprint"], "created": created, "body": json.loads(record["body"])}
