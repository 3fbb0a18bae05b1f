"""Choosing seats: the single-seat rule and best-available picking, on a Plan and the set of busy
(booked or held) seat numbers.

*Single seat*: an empty seat whose neighbours in its row are both taken or held (or the row's end)
can hardly be sold; a show with ``no_single_seat_gaps`` refuses writes that leave one.
*Best available*: n adjacent seats in one row, all of one category, leaving no single seat beside
them, nearest a focal point two-thirds of the way back from the screen, at the row's centre.
"""
from typing import AbstractSet, Iterable, Optional

from chalicelib.domain.layout import ON_REQUEST_CATEGORIES, Plan, Seat

SEATS_PER_ROW_DEPTH = 2.0  # in the distance to the focal point, two seats across weigh as one row back


def _row_of(plan: Plan, seat: Seat) -> tuple:
    return plan.rows[seat.row][1]


def _neighbour(plan: Plan, seat: Seat, step: int) -> Optional[Seat]:
    row, place = _row_of(plan, seat), seat.place + step
    return row[place] if 0 <= place < len(row) else None


def single_seat_left(plan: Plan, busy: AbstractSet[int], wanted: Iterable[int]) -> Optional[Seat]:
    """The first seat that taking ``wanted`` would leave empty on its own, or None."""
    after = set(busy) | set(wanted)
    for number in sorted(set(wanted)):
        seat = plan.seat(number)
        for step in (-1, 1):
            gap = _neighbour(plan, seat, step)
            if gap is None or gap.number in after:
                continue
            beyond = _neighbour(plan, gap, step)
            if beyond is None or beyond.number in after:
                return gap
    return None


def gap_guards(plan: Plan, busy: AbstractSet[int], wanted: Iterable[int]) -> list:
    """The free seats whose staying free the single-seat decision relied on: each free neighbour of
    a wanted seat and the seat beyond it. A write that takes ``wanted`` checks they are still free,
    so two writes cannot together leave a single seat that neither would alone."""
    after = set(busy) | set(wanted)
    guards = set()
    for number in set(wanted):
        seat = plan.seat(number)
        for step in (-1, 1):
            gap = _neighbour(plan, seat, step)
            if gap is None or gap.number in after:
                continue
            guards.add(gap.number)
            beyond = _neighbour(plan, gap, step)
            if beyond is not None and beyond.number not in after:
                guards.add(beyond.number)
    return sorted(guards)


def _distance(plan: Plan, row_index: int, first_place: int, size: int) -> float:
    """How far a block's middle is from the focal point (two-thirds back, the row's centre)."""
    focal_row = (len(plan.rows) - 1) * 2 / 3
    row_length = len(plan.rows[row_index][1])
    across = (first_place + (size - 1) / 2) - (row_length - 1) / 2
    return (row_index - focal_row) ** 2 + (across / SEATS_PER_ROW_DEPTH) ** 2


def blocks(plan: Plan, busy: AbstractSet[int], size: int, category: str = None) -> list:
    """Every run of ``size`` free adjacent seats in one row, all of ``category`` (or of any one
    category sold without asking), that leaves no single seat; best first, ties by row then seat."""
    found = []
    for row_index, (_, seats) in enumerate(plan.rows):
        for first in range(len(seats) - size + 1):
            block = seats[first:first + size]
            kinds = {seat.category for seat in block}
            if len(kinds) != 1 or any(seat.number in busy for seat in block):
                continue
            kind = kinds.pop()
            if (kind != category) if category else (kind in ON_REQUEST_CATEGORIES):
                continue
            numbers = [seat.number for seat in block]
            if single_seat_left(plan, busy, numbers) is None:
                found.append((_distance(plan, row_index, first, size), row_index, first, numbers))
    return [numbers for *_, numbers in sorted(found)]


def best_block(plan: Plan, busy: AbstractSet[int], size: int, category: str = None) -> Optional[list]:
    """The best ``size`` adjacent seats in one row (see :func:`blocks`), or None if there are none."""
    found = blocks(plan, busy, size, category)
    return found[0] if found else None


def best_split(plan: Plan, busy: AbstractSet[int], size: int, category: str = None) -> Optional[list]:
    """``size`` seats in as few blocks as it takes: the largest best block first, then the next best
    block for the rest, each leaving no single seat; None if even that cannot be done."""
    taken, chosen, left = set(busy), [], size
    while left:
        for block_size in range(left, 0, -1):
            block = best_block(plan, taken, block_size, category)
            if block:
                break
        else:
            return None
        chosen += block
        taken |= set(block)
        left -= len(block)
    return sorted(chosen)
