"""Refresh-token bookkeeping: used token ids (``REFRESH#jti``) and revoked families (``FAMILY#fam``)."""
from chalicelib import keys, storage
from chalicelib.storage import Transaction


def family_not_revoked_part(tx: Transaction, name, family: str) -> None:
    tx.check(name, keys.revoked_family_key(family), "attribute_not_exists(PK)")


def mark_used_part(tx: Transaction, name, jti: str, family: str, rotation: dict, expires_at: int) -> None:
    """Record the token id as used, with what its rotation handed out (``rotation``: its id, when
    it happened, the role and issue time of the new pair), unless it already is used: a refusal
    returns the earlier record, which tells our own landed attempt, a repeat within the grace
    window and a reuse apart."""
    # A used-jti item past its TTL may linger (deletion is lazy); the token's own exp already
    # rejects it, so the plain existence test is enough here.
    tx.put(name, {**keys.used_refresh_key(jti), "family": family, **rotation, storage.TTL_ATTRIBUTE: expires_at},
           condition="attribute_not_exists(PK)", return_old=True)


def revoke_family(family: str, expires_at: int, attempts: int = 3) -> bool:
    """Mark a token family revoked (an idempotent put, so simply repeated); False if it kept conflicting.

    A rotation's transaction may hold the family item at that moment: DynamoDB then answers
    TransactionConflictException, which botocore does not retry.
    """
    for _ in range(attempts):
        try:
            storage.put({**keys.revoked_family_key(family), storage.TTL_ATTRIBUTE: int(expires_at)})
            return True
        except Exception as exc:
            if storage.error_code(exc) != "TransactionConflictException":
                raise
    return False
