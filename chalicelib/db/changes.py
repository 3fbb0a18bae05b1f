"""Item changes from the table's stream: a Lambda DynamoDB stream record -> a plain ``Change``.

The images come as DynamoDB attribute maps; they are decoded here as every other read is
(``storage.from_item``), so the domain sees the same plain dicts the data modules return.
"""
from dataclasses import dataclass
from typing import Optional

from chalicelib import clock, storage


@dataclass(frozen=True)
class Change:
    """One item change: ``event_name`` INSERT/MODIFY/REMOVE, the item before and after (None when
    absent), the record's ``event_id`` and ``sequence_number``, and when it was written (ISO)."""

    event_name: str
    old: Optional[dict]
    new: Optional[dict]
    event_id: str
    sequence_number: str
    at: str


def change_of(record: dict) -> Change:
    stream = record["dynamodb"]
    old, new = stream.get("OldImage"), stream.get("NewImage")
    created = stream.get("ApproximateCreationDateTime")
    at = clock.iso(float(created)) if created is not None else clock.now_iso()
    return Change(record["eventName"], storage.from_item(old) if old else None,
                  storage.from_item(new) if new else None, record.get("eventID", ""),
                  stream["SequenceNumber"], at)
