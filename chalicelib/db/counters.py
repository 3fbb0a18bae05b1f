"""Id counters (``COUNTER / MOVIE``, ``COUNTER / SHOW``): admin creates only, never a booking path."""
from chalicelib import keys, storage


def next_value(counter: str, maximum: int) -> int | None:
    """Add one and return the new value (one conditional UpdateItem); None once ``maximum`` is reached."""
    try:
        item = storage.update(keys.counter_key(counter), "ADD #value :one",
                              condition="attribute_not_exists(#value) OR #value < :max",
                              names={"#value": "value"}, values={":one": 1, ":max": maximum},
                              returning="UPDATED_NEW")
    except storage.ConditionFailed:
        return None
    return int(item["value"])


def raise_to(counter: str, at_least: int) -> None:
    """Make the counter at least ``at_least``; never lowers it."""
    try:
        storage.update(keys.counter_key(counter), "SET #value = :value",
                       condition="attribute_not_exists(#value) OR #value < :value",
                       names={"#value": "value"}, values={":value": at_least})
    except storage.ConditionFailed:
        pass  # already there or beyond
