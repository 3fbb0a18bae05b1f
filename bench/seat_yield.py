"""How many seats best-available sells (issue 18): seeded streams of parties against seating plans,
in process, no HTTP, no DynamoDB: only ``chalicelib.domain.picking``, as the API calls it.

Each stream is parties in arrival order, sizes drawn from a cinema's usual mix (1: 15 %, 2: 45 %,
3: 15 %, 4: 15 %, 5: 5 %, 6: 5 %), until they ask for 1.5x the seats best-available may sell. Each
party asks for ``{"quantity": n}``; a party the picker refuses leaves and the next one asks. Reported
per layout and picker, averaged over the seeds:

- *at first refusal*: seats sold when the first party was turned away, as a share of the bound;
- *at the end*: seats sold after the whole stream, as a share of the bound;
- the bound: for halls of at most 4 plain rows the exact optimum (the most seats any choice of the
  stream's parties could fill, each party in one row, no single seat left), else the seats
  best-available may sell (on-request categories such as accessible seats excluded).

``--choosers 0.2`` lets that share of parties click seats themselves (any free adjacent block in a
random row, as people do on the seat map): with ``no_single_seat_gaps`` the API refuses a click that
leaves a single seat, so they click one that does not; without it they may leave single seats that
best-available must then work around. Picking time per request is measured on the 400-seat hall
(the pick alone; building the plan from the stored layout, which a request also does, separately).

``.venv/bin/python bench/seat_yield.py [--seeds 40] [--choosers 0.2] [--json]`` (``make bench-yield``).
"""
import argparse
import functools
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib.domain import layout, picking  # noqa: E402
from chalicelib.domain.layout import ON_REQUEST_CATEGORIES  # noqa: E402
from demo_data import CATEGORIES, demo_layout  # noqa: E402

PARTY_MIX = ((1, 15), (2, 45), (3, 15), (4, 15), (5, 5), (6, 5))
DEMAND = 1.5  # a stream asks for this many times the sellable seats
PICKERS = {"gap-aware (now)": picking.DEFAULT_SCORING, "centre-first (before)": picking.CENTRE_FIRST}


def hall_3x8():
    return layout.plan([{"label": label, "seats": 8} for label in "ABC"], CATEGORIES, "EUR")


def hall_demo():
    return layout.plan(demo_layout(120), CATEGORIES, "EUR")


def hall_400():
    """20 rows of 20 with two aisles (4 | 12 | 4 seats), wheelchair places in row A, premium back rows."""
    return layout.plan(rows_400(), CATEGORIES, "EUR")


def rows_400():
    rows = []
    for index in range(20):
        label = layout.row_label(index)
        if index == 0:
            seats = ["accessible", "companion"] + ["standard"] * 16 + ["companion", "accessible"]
            rows.append({"label": label, "seats": seats, "aisles": [4, 16]})
        else:
            rows.append({"label": label, "seats": 20, "category": "premium" if index >= 16 else "standard",
                         "aisles": [4, 16]})
    return rows


def plan_ms_400(runs: int = 200) -> float:
    """p50 of building the 400-seat plan from its stored layout, which every best-available request
    does before picking (``layout.plan_of_show``)."""
    rows, times = rows_400(), []
    for _ in range(runs):
        started = time.perf_counter()
        layout.plan(rows, CATEGORIES, "EUR")
        times.append(time.perf_counter() - started)
    return 1000 * sorted(times)[runs // 2]


HALLS = {"3x8": hall_3x8, "demo 10x12": hall_demo, "400 with aisles": hall_400}


def sellable(plan) -> int:
    return sum(1 for _, seats in plan.rows for seat in seats if seat.category not in ON_REQUEST_CATEGORIES)


def stream(seed: int, seats: int) -> list:
    rng = random.Random(seed)
    sizes, weights = zip(*PARTY_MIX)
    parties, asked = [], 0
    while asked < DEMAND * seats:
        size = rng.choices(sizes, weights)[0]
        parties.append(size)
        asked += size
    return parties


def exact_bound(plan, parties: list, single_seat_rule: bool = True):
    """The most seats the parties could fill, or None for halls too large to solve exactly here.
    A row of L seats takes any parties of sum s <= L with L - s != 1 (sit them side by side from one
    end: the rest is one gap, a single seat only when it is one seat)."""
    widths = [len(seats) for _, seats in plan.rows]
    if len(widths) > 4 or any(len({s.category for s in seats}) > 1 or seats[0].category in ON_REQUEST_CATEGORIES
                              or len({s.section for s in seats}) > 1 for _, seats in plan.rows):
        return None
    sizes = sorted(set(parties))
    counts = tuple(parties.count(size) for size in sizes)

    def fillings(width, left):
        """Every count vector of parties (within ``left``) one row can take."""
        out = []

        def walk(index, room, chosen):
            if index == len(sizes):
                used = width - room
                if not single_seat_rule or room != 1:
                    out.append((used, tuple(chosen)))
                return
            for n in range(min(left[index], room // sizes[index]) + 1):
                walk(index + 1, room - n * sizes[index], chosen + [n])
        walk(0, width, [])
        return out

    @functools.lru_cache(maxsize=None)
    def best(row, left):
        if row == len(widths):
            return 0
        return max(used + best(row + 1, tuple(a - b for a, b in zip(left, chosen)))
                   for used, chosen in fillings(widths[row], left))
    return best(0, counts)


def free_blocks(plan, busy, size, single_seat_rule):
    """The blocks a person clicking seats could choose: free, adjacent, one row, one sellable category."""
    found = []
    for _, seats in plan.rows:
        for first in range(len(seats) - size + 1):
            block = seats[first:first + size]
            if (any(s.number in busy for s in block) or len({s.section for s in block}) > 1
                    or len({s.category for s in block}) > 1 or block[0].category in ON_REQUEST_CATEGORIES):
                continue
            numbers = [s.number for s in block]
            if single_seat_rule and picking.single_seat_left(plan, busy, numbers) is not None:
                continue
            found.append(numbers)
    return found


def replay(plan, parties, scoring, seed, choosers=0.0, single_seat_rule=True, timings=None):
    """(seats sold at the first refusal, seats sold at the end)."""
    rng = random.Random(seed * 7919 + 1)
    busy, at_first_refusal = set(), None
    for size in parties:
        if choosers and rng.random() < choosers:
            options = free_blocks(plan, busy, size, single_seat_rule)
            block = rng.choice(options) if options else None
        else:
            started = time.perf_counter()
            block = picking.best_block(plan, busy, size, None, scoring)
            if timings is not None:
                timings.append(time.perf_counter() - started)
        if block is None:
            if at_first_refusal is None:
                at_first_refusal = len(busy)
            continue
        busy |= set(block)
    return (len(busy) if at_first_refusal is None else at_first_refusal), len(busy)


def measure(seeds: int, choosers: float) -> dict:
    results = {}
    for hall_name, make_hall in HALLS.items():
        plan = make_hall()
        for rule in ((True, False) if choosers else (True,)):
            for picker_name, scoring in PICKERS.items():
                first, end, timings = [], [], []
                for seed in range(seeds):
                    parties = stream(seed, sellable(plan))
                    bound = exact_bound(plan, parties, rule) or sellable(plan)
                    sold_first, sold_end = replay(plan, parties, scoring, seed, choosers, rule,
                                                  timings if hall_name == "400 with aisles" else None)
                    first.append(sold_first / bound)
                    end.append(sold_end / bound)
                key = f"{hall_name} | {'rule' if rule else 'no rule'} | {picker_name}"
                results[key] = {"at_first_refusal": statistics.mean(first), "at_end": statistics.mean(end),
                                "worst_end": min(end)}
                if timings:
                    timings.sort()
                    results[key]["pick_ms_p50"] = 1000 * timings[len(timings) // 2]
                    results[key]["pick_ms_p95"] = 1000 * timings[int(len(timings) * 0.95)]
                    results[key]["pick_ms_max"] = 1000 * timings[-1]
    return results


def pairs_on_3x8() -> dict:
    """Issue 18's case: pairs one after another on 3 rows of 8 (8 parties, then until refused)."""
    out = {}
    for picker_name, scoring in PICKERS.items():
        plan, busy, seated = hall_3x8(), set(), 0
        while True:
            block = picking.best_block(plan, busy, 2, None, scoring)
            if block is None:
                break
            busy |= set(block)
            seated += 1
        out[picker_name] = seated
    return out


def pairs_fill_rows(widest: int = 100) -> dict:
    """For each picker: the row widths (2..widest) that pairs one after another do not fill as far as
    the single-seat rule allows (an even row completely, an odd one but for 3 seats)."""
    out = {}
    for picker_name, scoring in PICKERS.items():
        short = []
        for width in range(2, widest + 1):
            plan, busy = layout.plan([{"label": "A", "seats": width}], CATEGORIES, "EUR"), set()
            while (block := picking.best_block(plan, busy, 2, None, scoring)) is not None:
                busy |= set(block)
            if len(busy) != (width if width % 2 == 0 else width - 3):
                short.append(width)
        out[picker_name] = short
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--choosers", type=float, default=0.2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {"pairs seated on 3x8, one after another": pairs_on_3x8(), "plan of 400 seats, ms p50": plan_ms_400(),
              "row widths 2-100 that pairs do not fill": pairs_fill_rows(),
              "best-available only": measure(args.seeds, 0.0),
              f"{args.choosers:.0%} choose their own seats": measure(args.seeds, args.choosers) if args.choosers else {}}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"pairs seated on 3x8, one after another: {report['pairs seated on 3x8, one after another']}")
    print(f"building the 400-seat plan (every request does, before picking): {report['plan of 400 seats, ms p50']:.2f} ms p50")
    short = report["row widths 2-100 that pairs do not fill"]
    print("row widths 2-100 that pairs one after another do not fill as far as the rule allows: "
          + "; ".join(f"{name}: {len(widths)} ({', '.join(map(str, widths[:8]))}{', ...' if len(widths) > 8 else ''})"
                      for name, widths in short.items()))
    for title in list(report)[3:]:
        print(f"\n{title} ({args.seeds} seeded streams each; shares of the bound)")
        print(f"{'hall | rule | picker':58} {'first refusal':>13} {'end':>7} {'worst end':>9}  pick ms p50/p95/max")
        for key, row in report[title].items():
            times = (f"  {row['pick_ms_p50']:.2f}/{row['pick_ms_p95']:.2f}/{row['pick_ms_max']:.2f}"
                     if "pick_ms_p50" in row else "")
            print(f"{key:58} {row['at_first_refusal']:13.1%} {row['at_end']:7.1%} {row['worst_end']:9.1%}{times}")


if __name__ == "__main__":
    main()
