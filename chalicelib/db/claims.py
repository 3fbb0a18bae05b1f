"""A customer's claims on one show (``USER#k / CLAIMS#show``), for the per-customer seat cap.

Attributes: ``booked``, ``claimed``, ``holds_until``, ``version`` and one ``H_<hold id>`` map
``{"seats", "until"}`` per listed hold (top-level, so that one update can add a hold without the
record existing). The rules are in ``domain.caps``; this module writes them as conditions.

Two kinds of write keep it exact under concurrency. Most claims are a single conditional update
that reads nothing (``claim_part``: the condition is ``domain.caps.fits_without_reading``); when
that is refused the record is read and written back whole, conditioned on its ``version``
(``rewrite_part``). Every write bumps ``version``.
"""
from chalicelib import keys, storage
from chalicelib.storage import Transaction

HOLD_ATTRIBUTE_PREFIX = "H_"


def get(caller: str, show_id: int) -> dict:
    """The record as ``{"booked", "claimed", "holds_until", "holds": {id: claim}, "version"}``
    (``{}`` if there is none), strongly consistent."""
    item = storage.get(keys.claims_key(caller, show_id), consistent=True)
    if item is None:
        return {}
    return {
        "booked": item.get("booked", 0), "claimed": item.get("claimed", 0),
        "holds_until": item.get("holds_until", 0), "version": item.get("version", 0),
        "holds": {name[len(HOLD_ATTRIBUTE_PREFIX):]: value for name, value in item.items()
                  if name.startswith(HOLD_ATTRIBUTE_PREFIX)},
    }


def _hold_name(hold_id: str) -> str:
    return f"{HOLD_ATTRIBUTE_PREFIX}{hold_id}"


def claim_part(tx: Transaction, name, caller: str, show_id: int, seats: int, limit: int, now: float,
               hold: tuple = None) -> None:
    """Add ``seats`` booked seats, or a hold ``(hold id, until)`` of them, without reading first:
    refused unless the record's upper bounds already show room (domain.caps.fits_without_reading)."""
    # A record made by bookings alone has no holds_until: no hold is listed, none can be live.
    condition = ("attribute_not_exists(PK) OR claimed <= :room OR "
                 "(booked <= :room AND (attribute_not_exists(holds_until) OR holds_until <= :now))")
    values = {":n": seats, ":room": limit - seats, ":now": now, ":one": 1}
    names = {}
    if hold:
        hold_id, until = hold
        expression = "ADD claimed :n, booked :zero, version :one SET #hold = :claim, holds_until = :until"
        condition = f"({condition}) AND (attribute_not_exists(holds_until) OR holds_until <= :until)"
        names["#hold"] = _hold_name(hold_id)
        values.update({":zero": 0, ":claim": {"seats": seats, "until": until}, ":until": until})
    else:
        expression = "ADD claimed :n, booked :n, version :one"
    tx.update(name, keys.claims_key(caller, show_id), expression, condition=condition, names=names,
              values=values)


def rewrite_part(tx: Transaction, name, caller: str, show_id: int, read: dict, record: dict) -> None:
    """Write ``record`` (domain.caps.after_read) back over what was ``read``, if nothing changed since."""
    names, values, sets = {}, {":booked": record["booked"], ":claimed": record["claimed"],
                               ":until": record["holds_until"], ":next": read.get("version", 0) + 1}, []
    for number, (hold_id, claim) in enumerate(record["holds"].items()):
        names[f"#h{number}"] = _hold_name(hold_id)
        values[f":h{number}"] = claim
        sets.append(f"#h{number} = :h{number}")
    dropped = [hold_id for hold_id in read.get("holds", {}) if hold_id not in record["holds"]]
    for number, hold_id in enumerate(dropped):
        names[f"#d{number}"] = _hold_name(hold_id)
    expression = ("SET booked = :booked, claimed = :claimed, holds_until = :until, version = :next"
                  + "".join(f", {s}" for s in sets)
                  + (" REMOVE " + ", ".join(f"#d{n}" for n in range(len(dropped))) if dropped else ""))
    if read:
        condition, values[":version"] = "version = :version", read["version"]
    else:
        condition = "attribute_not_exists(PK)"
    tx.update(name, keys.claims_key(caller, show_id), expression, condition=condition, names=names or None,
              values=values)


def unbook_part(tx: Transaction, name, caller: str, show_id: int, seats: int = 1) -> None:
    """Seats of a cancelled booking no longer count."""
    tx.update(name, keys.claims_key(caller, show_id), "ADD booked :minus, claimed :minus, version :one",
              values={":minus": -seats, ":one": 1})


def hold_booked_part(tx: Transaction, name, caller: str, show_id: int, hold_id: str, seats: int,
                     listed: bool = True) -> None:
    """A confirmed hold's seats count as booked now. While the hold is listed ``claimed`` already
    counts them; if a rewrite dropped it meanwhile (it saw the hold lapse by its own clock), pass
    ``listed=False`` to count them again."""
    if listed:
        tx.update(name, keys.claims_key(caller, show_id), "ADD booked :n, version :one REMOVE #hold",
                  condition="attribute_exists(#hold)", names={"#hold": _hold_name(hold_id)},
                  values={":n": seats, ":one": 1})
    else:
        tx.update(name, keys.claims_key(caller, show_id), "ADD booked :n, claimed :n, version :one",
                  values={":n": seats, ":one": 1})


def hold_released_part(tx: Transaction, name, caller: str, show_id: int, hold_id: str, seats: int) -> None:
    """A released hold's seats no longer count (only while it is listed: a dropped hold counts for nothing)."""
    tx.update(name, keys.claims_key(caller, show_id), "ADD claimed :minus, version :one REMOVE #hold",
              condition="attribute_exists(#hold)", names={"#hold": _hold_name(hold_id)},
              values={":minus": -seats, ":one": 1})
