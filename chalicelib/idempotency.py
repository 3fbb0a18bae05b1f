"""Idempotent writes: an ``Idempotency-Key`` stored with the write it answers, in one transaction,
and the stored first answer replayed for a repeated request."""
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional

from chalicelib import clock
from chalicelib.db import Transaction, TransactionResult, idempotency as records
from chalicelib.errors import IdempotencyKeyReused, ServiceUnavailable
from chalicelib.settings import get_settings

PART = "idempotency"


@dataclass(frozen=True)
class Outcome:
    """What a write produced: the answer body, and whether it made something new (rather than
    returning what was already there)."""

    body: Any
    created: bool = False


def fingerprint(*parts) -> str:
    """A digest of what a request asks for, so a key reused for another request is told apart."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode("utf-8")).hexdigest()


def _record(caller: str, key: str, digest: str, outcome: Outcome) -> dict:
    return records.record_item(caller, key, digest, outcome.created, outcome.body, clock.now_int(),
                               get_settings().idempotency_ttl_seconds)


def commit(tx: Transaction, caller: str, key: Optional[str], digest: str, outcome: Outcome,
           missing: type = None, missing_message: str = "") -> tuple[Optional[Outcome], TransactionResult]:
    """Run ``tx`` with the key's record added (when there is a key).

    Returns (outcome, result): the outcome when the write happened or an earlier answer was
    replayed, else (None, result) for the caller to interpret the refusal.
    """
    if key:
        records.add_part(tx, PART, _record(caller, key, digest, outcome), clock.now_int())
    result = tx.commit()
    if result.ok:
        return outcome, result
    if key and result.failed(PART):
        return replay(caller, key, digest, missing, missing_message), result
    return None, result


def remember(caller: str, key: str, digest: str, outcome: Outcome) -> Outcome:
    """Store ``outcome`` under the key on its own (one PutItem); if the key is taken, its answer wins."""
    if records.put(_record(caller, key, digest, outcome), clock.now_int()):
        return outcome
    return replay(caller, key, digest)


def replay(caller: str, key: str, digest: str, missing: type = None, missing_message: str = "") -> Outcome:
    """The stored first answer for the key; 422 if the key was used for another request."""
    record = records.get_live(caller, key, clock.now())
    if record is None:
        if missing is not None:
            raise missing(missing_message)
        raise ServiceUnavailable("The request could not be completed; retry shortly.")
    if record["fingerprint"] != digest:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
    return Outcome(record["body"], record["created"])
