"""Login throttling counters in the user's partition: attempts per (username, client address)
(``LOGINATTEMPTS#<address>``) and failures per username (``#LOGINFAIL``).

Both are windowed counters changed only by atomic updates (``ADD``, conditional ``SET``), so
parallel logins never overwrite each other's count: each caller sees the count its own update made.
The rules (limits, lock lengths, delays) are the caller's; this module only counts and records.
"""
from chalicelib import keys, storage
from chalicelib.errors import ServiceUnavailable

_COUNT = {"#count": "count"}
WINDOW_ATTEMPTS = 3  # an update that finds a window another request just opened adds to it instead


def _count(key: dict, now: int, window_seconds: int, linger_seconds: int) -> dict:
    """Add one to the window open at ``now`` (opening one if there is none); the counter after it.

    One UpdateItem in the usual cases (no item yet, or a window still open); a window that has
    ended but whose item lingers (TTL deletion is lazy) is restarted by a second, conditional one.
    """
    ends = now + window_seconds
    values = {":one": 1, ":now": now}
    for _ in range(WINDOW_ATTEMPTS):
        try:
            return storage.update(
                key, f"SET #count = if_not_exists(#count, :zero) + :one, window_ends = if_not_exists(window_ends, :ends), "
                     f"{storage.TTL_ATTRIBUTE} = if_not_exists({storage.TTL_ATTRIBUTE}, :expires)",
                condition="attribute_not_exists(window_ends) OR window_ends > :now", names=_COUNT,
                values={**values, ":zero": 0, ":ends": ends, ":expires": ends + linger_seconds}, returning="ALL_NEW")
        except storage.ConditionFailed:
            pass  # the last window has ended: start a new one
        try:
            return storage.update(
                key, f"SET #count = :one, window_ends = :ends, {storage.TTL_ATTRIBUTE} = :expires "
                     "REMOVE locked_until, slot_until",
                condition="window_ends <= :now", names=_COUNT,
                values={**values, ":ends": ends, ":expires": ends + linger_seconds}, returning="ALL_NEW")
        except storage.ConditionFailed:
            pass  # a parallel request started it first: add to it
    raise ServiceUnavailable("The login store is busy; retry shortly.")


def count_attempt(username_key: str, address: str, now: int, window_seconds: int) -> dict:
    """Count an attempt from ``address`` (before its password is checked); the counter after it."""
    return _count(keys.address_attempts_key(username_key, address), now, window_seconds, 0)


def uncount_attempt(username_key: str, address: str, now: int) -> None:
    """Take back an attempt that was refused before its password was checked (same window only)."""
    try:
        storage.update(keys.address_attempts_key(username_key, address), "ADD #count :minus",
                       condition="window_ends > :now", names=_COUNT, values={":minus": -1, ":now": now})
    except storage.ConditionFailed:
        pass  # the window has closed since: nothing left to take back


def forget_attempts(username_key: str, address: str) -> None:
    """After a successful login: the address starts afresh."""
    storage.delete(keys.address_attempts_key(username_key, address))


def lock_address(username_key: str, address: str, until: int) -> None:
    """Refuse the address until ``until``; its window lasts as long, so it starts afresh after.
    Only the first lock of a window counts (parallel failures do not extend it)."""
    try:
        storage.update(keys.address_attempts_key(username_key, address),
                       f"SET locked_until = :until, window_ends = :until, {storage.TTL_ATTRIBUTE} = :until",
                       condition="attribute_exists(PK) AND attribute_not_exists(locked_until)",
                       values={":until": until})
    except storage.ConditionFailed:
        pass


def count_failure(username_key: str, now: int, window_seconds: int, linger_seconds: int) -> dict:
    """Count a wrong password for the username (from any address); the counter after it.
    ``linger_seconds`` keeps the item past its window for the slow-down it may still impose."""
    return _count(keys.login_failures_key(username_key), now, window_seconds, linger_seconds)


def take_slot(username_key: str, now: int, until: int) -> bool:
    """Claim the username's next password check while it is slowed down: True for exactly one of
    any number of parallel callers once the previous slot has passed (a conditional write)."""
    try:
        storage.update(keys.login_failures_key(username_key), "SET slot_until = :until",
                       condition="attribute_exists(PK) AND (attribute_not_exists(slot_until) OR slot_until <= :now)",
                       values={":until": until, ":now": now})
    except storage.ConditionFailed:
        return False
    return True
