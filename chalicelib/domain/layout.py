"""Seating plans: a show's rows, seat labels, categories and prices.

A layout is a list of rows from the screen backwards: ``{"label": "F", "seats": 12, "category":
"standard"}``, or ``{"label": "A", "seats": ["accessible", "companion", "standard", ...]}`` with one
category per seat; ``"aisles": [4, 16]`` says an aisle runs after the row's 4th and 16th seat (seats
across an aisle are not neighbours: a party is never split by one, and an aisle ends a gap like a
row's end does). Categories map a name to ``{"price": minor units}``; one ISO 4217 ``currency``
per show. Seat numbers are 1..total_seats counted row by row from row A's first seat, so seat
numbers mean what they always meant; each seat also has a label (row label + place in the row,
"F7") and a category. A show without a layout has :func:`default_layout`.
"""
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from chalicelib.errors import ValidationError

DEFAULT_CATEGORY, DEFAULT_PRICE, DEFAULT_CURRENCY = "standard", 950, "EUR"
DEFAULT_ROW_SEATS = 10
MAX_SEATS_PER_ROW = 100
ROW_LABEL = re.compile(r"[A-Z]{1,3}\Z")
CATEGORY_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")
CURRENCY = re.compile(r"[A-Z]{3}\Z")
# Seats only for those who ask for them: best-available never picks these unless asked.
ON_REQUEST_CATEGORIES = frozenset({"accessible", "companion"})


@dataclass(frozen=True)
class Seat:
    number: int
    row: int  # 0 = the row nearest the screen
    place: int  # 0 = the row's first seat
    label: str
    category: str
    section: int = 0  # which stretch of the row between aisles (0 = up to the first aisle)


@dataclass(frozen=True)
class Plan:
    """A show's seats, row by row, with their categories and prices."""

    rows: tuple  # of (row label, tuple of Seat)
    categories: dict  # name -> {"price": int}
    currency: str

    @property
    def total_seats(self) -> int:
        return sum(len(seats) for _, seats in self.rows)

    def seat(self, number: int) -> Seat:
        for _, seats in self.rows:
            if seats and seats[0].number <= number <= seats[-1].number:
                return seats[number - seats[0].number]
        raise KeyError(number)

    def price(self, category: str) -> int:
        return self.categories[category]["price"]

    def seat_details(self, number: int) -> dict:
        """What a booking or hold records of a seat: its label, category and price."""
        seat = self.seat(number)
        return {"seat_number": number, "seat_label": seat.label, "category": seat.category,
                "price": self.price(seat.category)}

    def sections(self, row_index: int) -> list:
        """The row's stretches of seats between aisles, each a tuple of Seats in place order."""
        stretches = {}
        for seat in self.rows[row_index][1]:
            stretches.setdefault(seat.section, []).append(seat)
        return [tuple(stretches[key]) for key in sorted(stretches)]

    def categories_view(self) -> list:
        return [{"name": name, "price": spec["price"], "currency": self.currency}
                for name, spec in self.categories.items()]


def row_label(index: int) -> str:
    """A, B, …, Z, AA, AB, … (spreadsheet style)."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


def default_layout(total_seats: int) -> list:
    """The plain layout of a show created without one: rows of 10 ``standard`` seats (A, B, …), the
    last row holding the rest."""
    rows, left = [], total_seats
    while left > 0:
        rows.append({"label": row_label(len(rows)), "seats": min(DEFAULT_ROW_SEATS, left),
                     "category": DEFAULT_CATEGORY})
        left -= DEFAULT_ROW_SEATS
    return rows


def default_categories() -> dict:
    return {DEFAULT_CATEGORY: {"price": DEFAULT_PRICE}}


def resized(layout: Sequence[Mapping], total_seats: int) -> list:
    """The layout with ``total_seats`` seats, for a change of total_seats alone: seats are taken off
    the back rows, or added behind them as new rows as wide as the last row, of its last seat's
    category."""
    rows = [{"label": row["label"], "seats": list(row["seats"]) if isinstance(row["seats"], list)
             else [row.get("category", DEFAULT_CATEGORY)] * row["seats"], "aisles": list(row.get("aisles") or ())}
            for row in layout]
    count = sum(len(row["seats"]) for row in rows)
    while count > total_seats:
        cut = min(count - total_seats, len(rows[-1]["seats"]))
        del rows[-1]["seats"][len(rows[-1]["seats"]) - cut:]
        rows[-1]["aisles"] = [after for after in rows[-1]["aisles"] if after < len(rows[-1]["seats"])]
        count -= cut
        if not rows[-1]["seats"]:
            rows.pop()
    width, category, aisles = len(rows[-1]["seats"]), rows[-1]["seats"][-1], rows[-1]["aisles"]
    used, index = {row["label"] for row in rows}, len(rows)
    while count < total_seats:
        while row_label(index) in used:
            index += 1
        seats = min(width, total_seats - count)
        rows.append({"label": row_label(index), "seats": [category] * seats,
                     "aisles": [after for after in aisles if after < seats]})
        used.add(row_label(index))
        count += seats
    resized_rows = []
    for row in rows:
        short = ({"label": row["label"], "seats": len(row["seats"]), "category": row["seats"][0]}
                 if len(set(row["seats"])) == 1 else {"label": row["label"], "seats": row["seats"]})
        resized_rows.append({**short, "aisles": row["aisles"]} if row["aisles"] else short)
    return resized_rows


def plan(layout: Sequence[Mapping], categories: Mapping, currency: str) -> Plan:
    """The checked plan of a layout: ValidationError naming the problem if it is not a valid one."""
    if not layout:
        raise ValidationError("layout must have at least one row.", field="layout")
    if not CURRENCY.match(currency or ""):
        raise ValidationError("currency must be an ISO 4217 code of three capital letters, e.g. EUR.",
                              field="currency")
    for name, spec in categories.items():
        if not CATEGORY_NAME.match(name):
            raise ValidationError(f"Category name {name!r} must be lower case letters, digits, - or _.",
                                  field="categories")
        if type(spec.get("price")) is not int or spec["price"] < 0:
            raise ValidationError(f"Category {name!r} needs an integer price in minor units (cents).",
                                  field="categories")
    rows, number, labels = [], 1, set()
    for index, row in enumerate(layout):
        label = row.get("label")
        if not isinstance(label, str) or not ROW_LABEL.match(label):
            raise ValidationError(f"Row {index + 1}: label must be 1 to 3 capital letters.", field="layout")
        if label in labels:
            raise ValidationError(f"Row label {label} is used twice.", field="layout")
        labels.add(label)
        per_seat = row.get("seats")
        if isinstance(per_seat, list):
            seat_categories = per_seat
        elif type(per_seat) is int:
            seat_categories = [row.get("category", DEFAULT_CATEGORY)] * per_seat
        else:
            raise ValidationError(f"Row {label}: seats must be a number or a list of categories.", field="layout")
        if not 1 <= len(seat_categories) <= MAX_SEATS_PER_ROW:
            raise ValidationError(f"Row {label}: a row has 1 to {MAX_SEATS_PER_ROW} seats.", field="layout")
        unknown = sorted({c for c in seat_categories if not isinstance(c, str) or c not in categories}, key=str)
        if unknown:
            raise ValidationError(f"Row {label}: unknown categor{'ies' if len(unknown) > 1 else 'y'} "
                                  f"{', '.join(map(str, unknown))}; define them in categories.", field="layout")
        aisles = _aisles(label, row.get("aisles"), len(seat_categories))
        seats = tuple(Seat(number + place, index, place, f"{label}{place + 1}", category,
                           sum(1 for after in aisles if after <= place))
                      for place, category in enumerate(seat_categories))
        rows.append((label, seats))
        number += len(seats)
    return Plan(tuple(rows), dict(categories), currency)


def _aisles(label: str, aisles, seats: int) -> list:
    """A row's aisles, checked: the seats (1-based) after which an aisle runs, in order, inside the row."""
    if aisles is None:
        return []
    if (not isinstance(aisles, list) or any(type(after) is not int for after in aisles)
            or any(not 1 <= after < seats for after in aisles) or aisles != sorted(set(aisles))):
        raise ValidationError(f"Row {label}: aisles must list, in increasing order, the seats after which an "
                              f"aisle runs (1 to {seats - 1}).", field="layout")
    return aisles


def plan_of_show(show: Mapping) -> Plan:
    """The plan of a stored show (its layout, or the default one for its total_seats)."""
    return plan(show.get("layout") or default_layout(show["total_seats"]),
                show.get("categories") or default_categories(), show.get("currency") or DEFAULT_CURRENCY)


def seat_map_rows(plan_: Plan, status_of) -> list:
    """The seat map's rows: each row's label and its seats with number, label, category and status;
    ``aisles`` (the places after which an aisle runs) on rows that have them."""
    rows = []
    for label, seats in plan_.rows:
        row = {"label": label, "seats": [{"seat_number": s.number, "label": s.label, "category": s.category,
                                          "status": status_of(s.number)} for s in seats]}
        aisles = [s.place + 1 for s, after in zip(seats, seats[1:]) if after.section != s.section]
        if aisles:
            row["aisles"] = aisles
        rows.append(row)
    return rows
