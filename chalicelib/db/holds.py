"""Holds: one item per hold in its owner's partition (``USER#k / HOLD#id``), newest first by key."""
import json
import math
from typing import Optional

from chalicelib import keys, storage
from chalicelib.storage import Page, Transaction

RETENTION_SECONDS = 24 * 3600  # an expired or released hold stays listed this long, then TTL removes it
_STILL_HELD = "#status = :held AND held_until > :now"


def hold_item(caller: str, hold: dict) -> dict:
    """The hold, also in GSI1's sparse ``HOLDS#HELD`` partition by expiry while it is held (the sweep
    reads that to record expiries; confirm, release and the sweep remove the index keys)."""
    return {**keys.hold_key(caller, hold["id"]), "type": "hold", **hold, "user": caller,
            storage.TTL_ATTRIBUTE: math.ceil(hold["held_until"]) + RETENTION_SECONDS,
            "GSI1PK": keys.HELD_HOLDS_GSI, "GSI1SK": _expiry_sort(caller, hold["id"], hold["held_until"])}


def _expiry_sort(caller: str, hold_id: str, held_until: float) -> str:
    return keys.time_sort(held_until, f"{hold_id}#{caller}")


def add_part(tx: Transaction, name, caller: str, hold: dict) -> None:
    tx.put(name, hold_item(caller, hold), condition="attribute_not_exists(PK)")


def get(caller: str, hold_id: str) -> Optional[dict]:
    """The caller's hold (strongly consistent), or None; other customers' holds are not there."""
    return storage.get(keys.hold_key(caller, hold_id), consistent=True)


def confirm_part(tx: Transaction, name, caller: str, hold_id: str, now: float, answer) -> None:
    """Mark the hold confirmed with the answer a repeated confirm replays, while it is still held;
    confirmed holds are kept (no TTL), like the bookings they became."""
    tx.update(name, keys.hold_key(caller, hold_id),
              "SET #status = :confirmed, confirmation = :answer REMOVE #ttl, GSI1PK, GSI1SK",
              condition=_STILL_HELD, names={"#status": "status", "#ttl": storage.TTL_ATTRIBUTE},
              values={":confirmed": "confirmed", ":answer": json.dumps(answer, separators=(",", ":")),
                      ":held": "held", ":now": now},
              return_old=True)


def release_part(tx: Transaction, name, caller: str, hold_id: str, now: float, at: str) -> None:
    tx.update(name, keys.hold_key(caller, hold_id), "SET #status = :released, released_at = :at REMOVE GSI1PK, GSI1SK",
              condition=_STILL_HELD, names={"#status": "status"},
              values={":released": "released", ":at": at, ":held": "held", ":now": now}, return_old=True)


def extend_part(tx: Transaction, name, caller: str, hold_id: str, until: float, now: float) -> None:
    tx.update(name, keys.hold_key(caller, hold_id),
              "SET held_until = :until, #ttl = :ttl, GSI1SK = :expiry ADD extensions_left :minus_one",
              condition=_STILL_HELD + " AND extensions_left > :zero",
              names={"#status": "status", "#ttl": storage.TTL_ATTRIBUTE},
              values={":until": until, ":ttl": math.ceil(until) + RETENTION_SECONDS, ":minus_one": -1,
                      ":zero": 0, ":held": "held", ":now": now,
                      ":expiry": _expiry_sort(caller, hold_id, until)},
              return_old=True)


def confirmation(hold: dict):
    """The answer stored by the confirm that booked this hold."""
    return json.loads(hold["confirmation"])


def of_user_page(caller: str, limit: int, start: dict = None) -> Page:
    """A page of the caller's holds, newest first (hold ids are time-ordered)."""
    return storage.query_page("PK = :pk AND begins_with(SK, :prefix)",
                              {":pk": keys.user_pk(caller), ":prefix": keys.HOLD_PREFIX},
                              limit=limit, start=start, newest_first=True, consistent=True)


# --- the expiry sweep (issue 20) -------------------------------------------------------------------

def lapsed(now: float, limit: int = 100) -> list:
    """Holds still marked held whose expiry has passed, oldest first: [(caller, hold id)] (GSI1)."""
    page = storage.query_page("GSI1PK = :pk AND GSI1SK < :now",
                              {":pk": keys.HELD_HOLDS_GSI, ":now": keys.time_sort(now, "")},
                              index=storage.GSI1, limit=limit)
    return [(item["user"], item["id"]) for item in page.items]


def mark_expired(caller: str, hold_id: str, now: float, at: str) -> bool:
    """Record that the hold expired (status ``expired``, out of the index); False if it was confirmed,
    released or extended meanwhile."""
    try:
        storage.update(keys.hold_key(caller, hold_id), "SET #status = :expired, expired_at = :at REMOVE GSI1PK, GSI1SK",
                       condition="#status = :held AND held_until <= :now", names={"#status": "status"},
                       values={":expired": "expired", ":at": at, ":held": "held", ":now": now})
    except storage.ConditionFailed:
        return False
    return True
