"""The sweep, run every minute (``@app.schedule``): records what time alone changed.

A hold's expiry is decided on read (``held_until`` against now), so no write marks it and the table's
stream would never say that its seats came back. The sweep finds holds still marked held whose
expiry has passed (GSI1 ``HOLDS#HELD``, by expiry) and records each as expired, conditionally (a
confirm or extension that won the race keeps the hold as it is): that write is the item change that
becomes ``hold.expired``. It also re-queues webhook deliveries whose queue message was lost.
"""
import logging

from chalicelib import clock, webhooks
from chalicelib.db import holds as hold_items

log = logging.getLogger(__name__)

BATCH = 100


def run(now: float = None) -> dict:
    """One sweep; how many holds it recorded as expired and deliveries it queued again."""
    now = clock.now() if now is None else now
    expired = 0
    while True:
        lapsed = hold_items.lapsed(now, BATCH)
        marked = sum(hold_items.mark_expired(caller, hold_id, now, clock.iso(now)) for caller, hold_id in lapsed)
        expired += marked
        if len(lapsed) < BATCH or not marked:
            break
    redriven = webhooks.redrive(now)
    if expired or redriven:
        log.info("sweep: %d holds expired, %d deliveries queued again", expired, redriven)
    return {"holds_expired": expired, "deliveries_requeued": redriven}
