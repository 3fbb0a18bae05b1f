"""Choosing seats: the single-seat rule and best-available picking, on a Plan and the set of busy
(booked or held) seat numbers.

*Single seat*: an empty seat whose neighbours in its row are both taken or held (or the row's end,
or an aisle) can hardly be sold; a show with ``no_single_seat_gaps`` refuses writes that leave one.

*Best available*: n adjacent seats in one row (never across an aisle), all of one category, leaving
no single seat beside them. Among those blocks the picker weighs two things: how far the block is
from a focal point two-thirds of the way back at the row's centre, and what the block leaves behind
it. A block splits a stretch of free seats into a gap on each side; a gap that the usual parties
cannot fill without leaving a single seat (three seats, when most parties are pairs) is seats the
cinema will probably not sell. So a block that leaves such a gap loses to one nearly as close that
leaves none, and a block flush against the row's end, an aisle or another party (a gap of 0) wins
when the distances are close (see :class:`Scoring`). Picking the exact centre of an empty 8-seat row for a pair (3 + 3
left) is what this avoids: the pair goes to seats 3-4 or 5-6 and four pairs fill the row.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import AbstractSet, Iterable, Optional

from chalicelib.domain.layout import ON_REQUEST_CATEGORIES, Plan, Seat

SEATS_PER_ROW_DEPTH = 2.0  # in the distance to the focal point, two seats across weigh as one row back


@dataclass(frozen=True)
class Scoring:
    """How blocks are weighed against each other.

    Each free gap a block leaves beside it costs the seats of it likely to stay unsold
    (:func:`unsold_seats`, from the ``party_mix`` of sizes that usually ask); a block flush
    against a row end, an aisle or another party earns ``flush_bonus`` per side instead. Those
    costs, times ``leftover_weight``, are added to the distance (one row further back = 1.0), but
    only blocks within ``nearly_as_good`` of the closest block compete on them: the first parties
    still get the best seats.

    ``leftover_weight=0`` is the centre-first picker this project had before (distance alone), kept
    for comparison in ``bench/seat_yield.py``. The numbers were chosen with that benchmark, on
    other seeds than those it reports.
    """

    party_mix: tuple = ((1, 0.15), (2, 0.45), (3, 0.15), (4, 0.15), (5, 0.05), (6, 0.05))
    # While no party that fits a gap asks, the chance that it is given up for good (the show sells
    # out around it): what makes a gap that only rare parties fit worth less than one pairs fit.
    give_up: float = 0.6
    # An odd gap can never be filled by pairs alone, however long it is (the model above stops
    # telling odd from even gaps past a dozen seats).
    odd_gap: float = 0.1
    flush_bonus: float = 0.3
    leftover_weight: float = 2.0
    nearly_as_good: float = 2.0  # e.g. a row further back and two seats further from the centre


DEFAULT_SCORING = Scoring()
CENTRE_FIRST = Scoring(leftover_weight=0.0)


@lru_cache(maxsize=32)
def _unsold_table(scoring: Scoring, longest: int) -> tuple:
    unsold = [0.0]
    for size in range(1, longest + 1):
        fits = [(party, share) for party, share in scoring.party_mix if party == size or size - party >= 2]
        missed = 1.0 - sum(share for _, share in fits)
        expected = missed * scoring.give_up * size + sum(share * unsold[size - party] for party, share in fits)
        unsold.append(expected / (1.0 - missed * (1.0 - scoring.give_up)))
    return tuple(unsold)


def unsold_seats(scoring: Scoring, gap: int) -> float:
    """How many seats of a free gap of ``gap`` seats are likely to stay unsold, if parties of the mix
    keep asking and each one that fits sits at one end of it, leaving no single seat.

    A party fits when it takes the whole gap or leaves two seats or more; while none that fits
    asks, the gap is given up with probability ``give_up``. Odd gaps come out worse than even ones
    (pairs, the most common party, cannot fill them).
    """
    return _unsold_table(scoring, max(gap, 100))[gap]


def leftover_cost(scoring: Scoring, gap: int) -> float:
    """What leaving a free gap of ``gap`` seats beside a block costs (negative: a bonus)."""
    if gap == 0:
        return -scoring.flush_bonus
    return unsold_seats(scoring, gap) + (scoring.odd_gap if gap % 2 else 0.0)


def _neighbour(plan: Plan, seat: Seat, step: int) -> Optional[Seat]:
    """The seat beside ``seat`` in its row (``step`` -1 or 1), or None at the row's end or an aisle."""
    row, place = plan.rows[seat.row][1], seat.place + step
    if not 0 <= place < len(row) or row[place].section != seat.section:
        return None
    return row[place]


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


def _free_stretches(plan: Plan, busy: AbstractSet[int]):
    """(row index, seats) for each run of free seats between busy seats, row ends and aisles."""
    for row_index in range(len(plan.rows)):
        for section in plan.sections(row_index):
            run = []
            for seat in section:
                if seat.number in busy:
                    if run:
                        yield row_index, run
                    run = []
                else:
                    run.append(seat)
            if run:
                yield row_index, run


def _wanted_category(kind: str, category: Optional[str]) -> bool:
    return kind == category if category else kind not in ON_REQUEST_CATEGORIES


def blocks(plan: Plan, busy: AbstractSet[int], size: int, category: str = None,
           scoring: Scoring = DEFAULT_SCORING) -> list:
    """Every run of ``size`` free adjacent seats in one row, all of ``category`` (or of any one
    category sold without asking), that leaves no single seat; best first (distance plus what its
    gaps cost, among blocks nearly as close as the closest: see :class:`Scoring`), ties by row then
    seat."""
    found = []
    for row_index, run in _free_stretches(plan, busy):
        for offset in range(len(run) - size + 1):
            left, right = offset, len(run) - size - offset  # free seats it leaves on either side
            if left == 1 or right == 1:
                continue  # a single seat
            block = run[offset:offset + size]
            kinds = {seat.category for seat in block}
            if len(kinds) != 1 or not _wanted_category(next(iter(kinds)), category):
                continue
            distance = _distance(plan, row_index, block[0].place, size)
            leftover = leftover_cost(scoring, left) + leftover_cost(scoring, right)
            found.append((distance, leftover, row_index, block[0].place, [seat.number for seat in block]))
    if not found:
        return []
    near = min(distance for distance, *_ in found) + scoring.nearly_as_good
    return [numbers for *_, numbers in sorted(
        (distance > near, round(distance + scoring.leftover_weight * leftover, 9), row_index, place, numbers)
        for distance, leftover, row_index, place, numbers in found)]


def best_block(plan: Plan, busy: AbstractSet[int], size: int, category: str = None,
               scoring: Scoring = DEFAULT_SCORING) -> Optional[list]:
    """The best ``size`` adjacent seats in one row (see :func:`blocks`), or None if there are none."""
    found = blocks(plan, busy, size, category, scoring)
    return found[0] if found else None


def best_split(plan: Plan, busy: AbstractSet[int], size: int, category: str = None,
               scoring: Scoring = DEFAULT_SCORING) -> Optional[list]:
    """``size`` seats in as few blocks as it takes: the largest best block first, then the next best
    block for the rest, each leaving no single seat; None if even that cannot be done."""
    taken, chosen, left = set(busy), [], size
    while left:
        for block_size in range(left, 0, -1):
            block = best_block(plan, taken, block_size, category, scoring)
            if block:
                break
        else:
            return None
        chosen += block
        taken |= set(block)
        left -= len(block)
    return sorted(chosen)
