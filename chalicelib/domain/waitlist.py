"""The waitlist's rules: first come, first served among the parties that fit.

Entries are plain dicts (``id``, time-ordered, ``quantity``, ``category`` or None, ``status``). When
seats come back, the waiting entries are taken in the order they joined; each one whose party fits
(the best-available pick finds ``quantity`` seats for it) is offered those seats, which are then taken
for the entries after it. An entry whose party does not fit is skipped and keeps its place.
"""
from typing import AbstractSet, Callable, Iterable, Mapping

WAITING, OFFERED, ACCEPTED, DECLINED, LAPSED = "waiting", "offered", "accepted", "declined", "lapsed"
ACTIVE = frozenset({WAITING, OFFERED})


def in_order(entries: Iterable[Mapping]) -> list:
    """The waiting entries, first come first."""
    return sorted((e for e in entries if e["status"] == WAITING), key=lambda e: e["id"])


def position(entries: Iterable[Mapping], entry_id: str):
    """1 for the first waiting entry; None for one that is not waiting."""
    for number, entry in enumerate(in_order(entries), start=1):
        if entry["id"] == entry_id:
            return number
    return None


def plan_offers(entries: Iterable[Mapping], plan, busy: AbstractSet[int], pick: Callable) -> list:
    """[(entry, seat numbers)] to offer now: ``pick(plan, busy, quantity, category)`` (best-available)
    for each waiting entry in order, each offer's seats busy for the entries after it."""
    taken, offers = set(busy), []
    for entry in in_order(entries):
        seats = pick(plan, taken, entry["quantity"], entry.get("category"))
        if seats:
            offers.append((entry, list(seats)))
            taken.update(seats)
    return offers


def settled_by(hold_event_type: str):
    """What becomes of an offered entry when its hold is confirmed, released or expires."""
    return {"hold.confirmed": ACCEPTED, "hold.released": DECLINED, "hold.expired": LAPSED}.get(hold_event_type)
