"""Webhook endpoints (``WEBHOOKS / WEBHOOK#id``) and their deliveries (``WEBHOOK#id / DELIVERY#id``).

A delivery waiting for an attempt is also in the sparse GSI1 partition ``DELIVERIES#PENDING``
(sorted by when its next attempt is due), so the sweep can find one whose queue message was lost;
the index keys are removed once it is delivered or has failed for good.
"""
from typing import Optional

from chalicelib import keys, storage
from chalicelib.storage import ConditionFailed, Page


def endpoint_item(webhook: dict) -> dict:
    return {**keys.webhook_key(webhook["id"]), "type": "webhook", **webhook}


def add(webhook: dict) -> None:
    storage.put(endpoint_item(webhook), condition="attribute_not_exists(PK)")


def get(webhook_id: str) -> Optional[dict]:
    return storage.get(keys.webhook_key(webhook_id), consistent=True)


def all_endpoints() -> list:
    """Every endpoint (one Query of the small WEBHOOKS partition)."""
    return list(storage.query_all("PK = :pk AND begins_with(SK, :prefix)",
                                  {":pk": keys.WEBHOOKS_PK, ":prefix": keys.WEBHOOK_PREFIX}, consistent=True))


def endpoints_page(limit: int, start: dict = None) -> Page:
    return storage.query_page("PK = :pk AND begins_with(SK, :prefix)",
                              {":pk": keys.WEBHOOKS_PK, ":prefix": keys.WEBHOOK_PREFIX},
                              limit=limit, start=start, consistent=True)


def remove(webhook_id: str) -> bool:
    """Delete the endpoint; False if there was none. Its deliveries stay until their TTL."""
    try:
        storage.delete(keys.webhook_key(webhook_id), condition="attribute_exists(PK)")
    except ConditionFailed:
        return False
    return True


def set_status(webhook_id: str, status: str, at: str) -> None:
    """enabled / failing / disabled (if the endpoint still exists)."""
    try:
        storage.update(keys.webhook_key(webhook_id), "SET #status = :status, status_changed_at = :at",
                       condition="attribute_exists(PK) AND #status <> :status", names={"#status": "status"},
                       values={":status": status, ":at": at})
    except ConditionFailed:
        pass


# --- deliveries -----------------------------------------------------------------------------------

RETENTION_SECONDS = 30 * 24 * 3600  # deliveries are listed for 30 days, then TTL removes them


def delivery_item(delivery: dict) -> dict:
    item = {**keys.delivery_key(delivery["webhook"], delivery["id"]), "type": "webhook_delivery", **delivery,
            storage.TTL_ATTRIBUTE: int(delivery["created"]) + RETENTION_SECONDS}
    if delivery["status"] == "pending":
        item.update(GSI1PK=keys.PENDING_DELIVERIES_GSI,
                    GSI1SK=keys.time_sort(delivery["next_attempt_at"], f"{delivery['webhook']}#{delivery['id']}"))
    return item


def add_delivery(delivery: dict) -> bool:
    """Store a new delivery; False if this event was already given to this endpoint (a retried record)."""
    try:
        storage.put(delivery_item(delivery), condition="attribute_not_exists(PK)")
    except ConditionFailed:
        return False
    return True


def get_delivery(webhook_id: str, delivery_id: str) -> Optional[dict]:
    return storage.get(keys.delivery_key(webhook_id, delivery_id), consistent=True)


def deliveries_page(webhook_id: str, limit: int, start: dict = None) -> Page:
    """Newest first (delivery ids start with the event's time)."""
    return storage.query_page("PK = :pk AND begins_with(SK, :prefix)",
                              {":pk": keys.deliveries_pk(webhook_id), ":prefix": keys.DELIVERY_PREFIX},
                              limit=limit, start=start, newest_first=True, consistent=True)


def record_attempt(delivery: dict, changes: dict) -> bool:
    """Write the outcome of an attempt (``changes``: status, attempts, last_response_code, ...), only if
    no other attempt was recorded since ``delivery`` was read; False if one was."""
    new = {**delivery, **changes}
    names = {f"#f{i}": name for i, name in enumerate(changes)}
    values = {f":v{i}": value for i, value in enumerate(changes.values())}
    expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes)))
    if new["status"] == "pending":
        names.update({"#gpk": "GSI1PK", "#gsk": "GSI1SK"})
        values.update({":gpk": keys.PENDING_DELIVERIES_GSI,
                       ":gsk": keys.time_sort(new["next_attempt_at"], f"{new['webhook']}#{new['id']}")})
        expression += ", #gpk = :gpk, #gsk = :gsk"
    else:
        expression += " REMOVE GSI1PK, GSI1SK"
    names["#attempts"] = "attempts"
    values[":seen"] = delivery["attempts"]
    try:
        storage.update(keys.delivery_key(delivery["webhook"], delivery["id"]), expression,
                       condition="attribute_exists(PK) AND #attempts = :seen", names=names, values=values)
    except ConditionFailed:
        return False
    return True


def overdue(before: float, limit: int = 100) -> list:
    """Pending deliveries whose next attempt was due before ``before`` (GSI1, oldest first)."""
    return storage.query_page("GSI1PK = :pk AND GSI1SK < :before",
                              {":pk": keys.PENDING_DELIVERIES_GSI, ":before": keys.time_sort(before, "")},
                              index=storage.GSI1, limit=limit).items
