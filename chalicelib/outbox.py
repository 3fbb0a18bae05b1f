"""The outbox: item changes from the table's stream become domain events, handed to their consumers.

Nothing on the write path knows about this: a booking writes its items as before (one request),
DynamoDB Streams records the change, and Lambda (or the local stack's poller, scripts/local_events.py)
calls ``handle_batch`` with the records in order. The records of a batch are handled one after the
other; the first one that fails is answered as the batch's failure (``batchItemFailures``), so the
event source mapping retries from it and nothing after it is handled out of order. Consumers are
idempotent on the event id (a retried record has the same one).
"""
import logging

from chalicelib import waitlist, webhooks
from chalicelib.db import changes
from chalicelib.domain import events as rules

log = logging.getLogger(__name__)


def events_of(records: list) -> list:
    """The domain events of stream records, in order (changes that mean nothing outside are skipped)."""
    found = []
    for record in records:
        change = changes.change_of(record)
        event = rules.event_of_change(change.event_name, change.old, change.new,
                                      rules.change_id(change.sequence_number, change.event_id), change.at)
        if event is not None:
            found.append(event)
    return found


def handle_batch(records: list) -> dict:
    """Handle stream records in order; the partial-batch answer names the first record that failed.
    The webhook endpoints are read once per batch, at its first event (one Query, not one per event)."""
    endpoints = None
    for record in records:
        try:
            for event in events_of([record]):
                if endpoints is None:
                    endpoints = webhooks.endpoints()
                handle_event(event, endpoints)
        except Exception:  # noqa: BLE001 - this record and the rest are retried by the event source
            log.exception("stream record %s failed; the batch is retried from it",
                          record.get("dynamodb", {}).get("SequenceNumber"))
            return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
    return {"batchItemFailures": []}


def handle_event(event: dict, endpoints: list = None) -> None:
    """The consumers of an event, in order: the waitlist (which may offer freed seats: its offer is
    another item change, hence another event), then the webhooks (``endpoints``, or read now)."""
    log.info("event %s %s", event["type"], event["id"])
    waitlist.on_event(event)
    webhooks.fan_out(event, endpoints)
