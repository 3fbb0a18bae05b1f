"""A show's waitlist (``WAITLIST#show / ENTRY#user``): one entry per customer and show, also in the
customer's GSI1 partition ``WAITLISTS#user`` for GET /my-waitlist/."""
from typing import Optional

from chalicelib import keys, storage
from chalicelib.storage import ConditionFailed


def entry_item(entry: dict) -> dict:
    return {**keys.waitlist_key(entry["show"], entry["user"]), "type": "waitlist",
            **{k: v for k, v in entry.items() if v is not None},
            "GSI1PK": keys.waitlists_of_user_gsi(entry["user"]), "GSI1SK": entry["id"]}


def join(entry: dict) -> bool:
    """Add the entry unless the customer already waits (or holds an offer) for this show; False then."""
    try:
        storage.put(entry_item(entry), condition="attribute_not_exists(PK) OR NOT (#status IN (:waiting, :offered))",
                    names={"#status": "status"}, values={":waiting": "waiting", ":offered": "offered"})
    except ConditionFailed:
        return False
    return True


def get(show_id: int, caller: str) -> Optional[dict]:
    return storage.get(keys.waitlist_key(show_id, caller), consistent=True)


def of_show(show_id: int) -> list:
    """Every entry of the show's waitlist (one Query, strongly consistent)."""
    return list(storage.query_all("PK = :pk", {":pk": keys.waitlist_pk(show_id)}, consistent=True))


def of_user(caller: str) -> list:
    return list(storage.query_all("GSI1PK = :pk", {":pk": keys.waitlists_of_user_gsi(caller)}, index=storage.GSI1))


def leave(show_id: int, caller: str) -> bool:
    try:
        storage.delete(keys.waitlist_key(show_id, caller), condition="attribute_exists(PK)")
    except ConditionFailed:
        return False
    return True


def mark_offered(entry: dict, hold: dict) -> bool:
    """waiting -> offered with the hold made for it; False if the entry left or was offered meanwhile."""
    try:
        storage.update(keys.waitlist_key(entry["show"], entry["user"]),
                       "SET #status = :offered, offer_hold_id = :hold, offered_until = :until, "
                       "offer_seat_numbers = :seats, offered_at = :at",
                       condition="#status = :waiting AND id = :id", names={"#status": "status"},
                       values={":offered": "offered", ":hold": hold["id"], ":until": hold["expires_at"],
                               ":seats": hold["seat_numbers"], ":at": hold["created_at"], ":waiting": "waiting",
                               ":id": entry["id"]})
    except ConditionFailed:
        return False
    return True


def settle(entry: dict, status: str, at: str) -> bool:
    """offered -> accepted / declined / lapsed, for the offer it holds."""
    try:
        storage.update(keys.waitlist_key(entry["show"], entry["user"]), "SET #status = :status, settled_at = :at",
                       condition="#status = :offered AND offer_hold_id = :hold", names={"#status": "status"},
                       values={":status": status, ":at": at, ":offered": "offered", ":hold": entry["offer_hold_id"]})
    except ConditionFailed:
        return False
    return True
