"""Seating plans, the single-seat rule and best-available picking (chalicelib.domain.layout, .picking)."""
import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.domain import layout, picking
from chalicelib.errors import ValidationError

CATEGORIES = {"standard": {"price": 950}, "premium": {"price": 1450}, "accessible": {"price": 950},
              "companion": {"price": 950}}


def plan_of(*rows):
    """rows: strings like "sssppp" (s standard, p premium, a accessible, c companion)."""
    names = {"s": "standard", "p": "premium", "a": "accessible", "c": "companion"}
    return layout.plan([{"label": layout.row_label(i), "seats": [names[c] for c in row]} for i, row in enumerate(rows)],
                       CATEGORIES, "EUR")


# --- the plan -----------------------------------------------------------------------------------

def test_seat_numbers_count_row_by_row_from_row_a_and_labels_name_row_and_place():
    plan = layout.plan([{"label": "A", "seats": 3, "category": "standard"},
                        {"label": "B", "seats": ["premium", "premium"]}], CATEGORIES, "EUR")
    assert plan.total_seats == 5
    assert [(s.number, s.label, s.category) for _, row in plan.rows for s in row] == [
        (1, "A1", "standard"), (2, "A2", "standard"), (3, "A3", "standard"), (4, "B1", "premium"), (5, "B2", "premium")]
    assert plan.seat_details(5) == {"seat_number": 5, "seat_label": "B2", "category": "premium", "price": 1450}


def test_a_show_without_a_layout_has_rows_of_ten_standard_seats():
    plan = layout.plan_of_show({"total_seats": 25})
    assert [(label, len(seats)) for label, seats in plan.rows] == [("A", 10), ("B", 10), ("C", 5)]
    assert plan.categories == {"standard": {"price": 950}} and plan.currency == "EUR"


def test_row_labels_go_on_past_z():
    assert [layout.row_label(i) for i in (0, 25, 26, 27, 51, 52)] == ["A", "Z", "AA", "AB", "AZ", "BA"]


@pytest.mark.parametrize("rows, categories, currency, words", [
    ([], CATEGORIES, "EUR", "at least one row"),
    ([{"label": "A", "seats": 3, "category": "gold"}], CATEGORIES, "EUR", "unknown category gold"),
    ([{"label": "A", "seats": 3}, {"label": "A", "seats": 2}], CATEGORIES, "EUR", "used twice"),
    ([{"label": "a1", "seats": 3}], CATEGORIES, "EUR", "capital letters"),
    ([{"label": "A", "seats": 0}], CATEGORIES, "EUR", "1 to 100 seats"),
    ([{"label": "A", "seats": 3}], CATEGORIES, "euro", "ISO 4217"),
    ([{"label": "A", "seats": 3}], {"standard": {"price": 9.5}}, "EUR", "integer price"),
])
def test_a_bad_layout_is_refused_saying_what_is_wrong(rows, categories, currency, words):
    with pytest.raises(ValidationError) as refused:
        layout.plan(rows, categories, currency)
    assert words in refused.value.message


# --- the single-seat rule -----------------------------------------------------------------------

def test_a_seat_left_alone_between_taken_seats_is_found():
    plan = plan_of("ssssss")
    assert picking.single_seat_left(plan, {1}, [3]).label == "A2"
    assert picking.single_seat_left(plan, set(), [2]).label == "A1"  # against the row's end
    assert picking.single_seat_left(plan, set(), [1, 3]).label == "A2"
    assert picking.single_seat_left(plan, {6}, [1, 2, 3, 4]).label == "A5"
    assert picking.single_seat_left(plan, set(), [3]) is None
    assert picking.single_seat_left(plan, {1}, [2]) is None


def test_the_guards_are_the_free_seats_the_decision_relied_on():
    plan = plan_of("ssssss")
    assert picking.gap_guards(plan, set(), [3]) == [1, 2, 4, 5]
    assert picking.gap_guards(plan, {5}, [1, 2]) == [3, 4]


# --- best available -----------------------------------------------------------------------------

def test_best_block_prefers_two_thirds_back_and_the_centre():
    plan = plan_of(*["ssssssssss"] * 10)
    block = picking.best_block(plan, set(), 4)
    seats = [plan.seat(n) for n in block]
    # Row G; seats 3-6 (2 + 4 left free) rather than the exact centre 4-7, which leaves 3 + 3.
    assert {s.row for s in seats} == {6} and [s.place for s in seats] == [2, 3, 4, 5]


def test_the_exact_centre_wins_when_what_it_leaves_is_easy_to_sell():
    plan = plan_of(*["ssssssssssss"] * 10)  # rows of 12: four in the middle leave 4 + 4
    assert [plan.seat(n).label for n in picking.best_block(plan, set(), 4)] == ["G5", "G6", "G7", "G8"]


def test_centre_first_scoring_still_takes_the_exact_centre():
    plan = plan_of(*["ssssssssss"] * 10)
    assert [plan.seat(n).place for n in picking.best_block(plan, set(), 4, scoring=picking.CENTRE_FIRST)] == [3, 4, 5, 6]


def test_a_pair_in_an_empty_row_of_eight_leaves_two_and_four_not_three_and_three():
    plan = plan_of("ssssssss")
    assert [plan.seat(n).label for n in picking.best_block(plan, set(), 2)] == ["A3", "A4"]


def test_twelve_pairs_one_after_another_fill_three_rows_of_eight():
    plan, busy = plan_of(*["ssssssss"] * 3), set()
    for _ in range(12):
        block = picking.best_block(plan, busy, 2)
        assert block is not None
        busy |= set(block)
    assert len(busy) == 24


def test_a_party_sits_flush_against_another_party_when_that_is_nearly_as_close():
    plan = plan_of("ssssssssssss")
    busy = {6, 7}  # a pair in the middle
    picked = picking.best_block(plan, busy, 2)
    assert picked in ([4, 5], [8, 9])


def test_gaps_the_usual_parties_cannot_fill_cost_more_and_a_flush_block_earns_a_bonus():
    cost = lambda gap: picking.leftover_cost(picking.DEFAULT_SCORING, gap)  # noqa: E731
    assert cost(0) < 0
    assert cost(3) > 2 * cost(2)  # no pair fits three seats
    assert all(cost(odd) > cost(odd - 1) and cost(odd) > cost(odd + 1) for odd in range(3, 100, 2))


# --- aisles -------------------------------------------------------------------------------------

def aisle_plan(width=10, aisles=(3,)):
    return layout.plan([{"label": "A", "seats": width, "aisles": list(aisles)}], CATEGORIES, "EUR")


def test_seats_across_an_aisle_are_not_neighbours():
    plan = aisle_plan()  # A1-A3 | A4-A10
    assert picking.single_seat_left(plan, set(), [4, 5]) is None  # A3 is beside the aisle, with A2 beside it
    assert picking.single_seat_left(plan, {1}, [3]).label == "A2"
    assert picking.single_seat_left(plan, {2}, [5, 6]).label == "A4"  # the aisle ends A4's gap like a row end
    assert picking.gap_guards(plan, set(), [4]) == [5, 6]  # nothing guarded across the aisle (A3, A2)


def test_a_party_is_never_split_by_an_aisle():
    plan = aisle_plan(width=6, aisles=(3,))  # A1-A3 | A4-A6
    assert picking.best_block(plan, set(), 4) is None
    assert sorted(plan.seat(n).section for n in picking.best_block(plan, set(), 3)) in ([0, 0, 0], [1, 1, 1])


def test_the_seat_map_names_a_rows_aisles_and_a_resize_keeps_them():
    plan = aisle_plan(width=10, aisles=(3, 7))
    assert layout.seat_map_rows(plan, lambda n: "available")[0]["aisles"] == [3, 7]
    resized = layout.resized([{"label": "A", "seats": 10, "aisles": [3, 7]}], 15)
    assert resized == [{"label": "A", "seats": 10, "category": "standard", "aisles": [3, 7]},
                       {"label": "B", "seats": 5, "category": "standard", "aisles": [3]}]


@pytest.mark.parametrize("aisles", [[0], [10], [5, 3], [3, 3], ["3"], 3])
def test_an_aisle_outside_the_row_or_out_of_order_is_refused(aisles):
    with pytest.raises(ValidationError) as refused:
        layout.plan([{"label": "A", "seats": 10, "aisles": aisles}], CATEGORIES, "EUR")
    assert "aisles must list" in refused.value.message


def test_best_block_keeps_to_one_category_and_skips_seats_sold_on_request():
    plan = plan_of("ssacss", "pppppp")
    assert {plan.seat(n).category for n in picking.best_block(plan, set(), 2)} in ({"premium"}, {"standard"})
    assert [plan.seat(n).category for n in picking.best_block(plan, set(), 1, "accessible")] == ["accessible"]
    assert picking.best_block(plan, set(), 4, "standard") is None


def test_no_block_when_every_run_would_leave_a_single_seat():
    plan = plan_of("sss")
    assert picking.best_block(plan, set(), 2) is None  # either end leaves one seat alone
    assert picking.best_block(plan, set(), 3) == [1, 2, 3]


def test_split_uses_two_rows_when_no_row_has_the_whole_party():
    plan = plan_of("ssssss", "ssssss")
    busy = {3, 4, 9, 10}  # each row: two free pairs at the ends
    assert picking.best_block(plan, busy, 4) is None
    picked = picking.best_split(plan, busy, 4)
    assert len(picked) == 4 and not set(picked) & busy
    assert picking.single_seat_left(plan, busy, picked) is None


rows_strategy = st.lists(st.text("sssssppac", min_size=1, max_size=14), min_size=1, max_size=8)


@st.composite
def plans_with_aisles(draw):
    rows = draw(rows_strategy)
    names = {"s": "standard", "p": "premium", "a": "accessible", "c": "companion"}
    spec = []
    for index, row in enumerate(rows):
        aisles = sorted(draw(st.sets(st.integers(1, len(row) - 1), max_size=2))) if len(row) > 1 else []
        spec.append({"label": layout.row_label(index), "seats": [names[c] for c in row], "aisles": aisles})
    return layout.plan(spec, CATEGORIES, "EUR")


@st.composite
def seat_maps(draw):
    plan = draw(plans_with_aisles())
    busy = draw(st.sets(st.integers(1, plan.total_seats), max_size=plan.total_seats))
    return plan, busy, draw(st.integers(1, 6)), draw(st.sampled_from([None, "standard", "premium"]))


def brute_force_exists(plan, busy, size, category):
    for _, seats in plan.rows:
        for first in range(len(seats) - size + 1):
            block = seats[first:first + size]
            kinds = {s.category for s in block}
            if len(kinds) != 1 or any(s.number in busy for s in block) or len({s.section for s in block}) > 1:
                continue
            kind = next(iter(kinds))
            if (category and kind != category) or (not category and kind in layout.ON_REQUEST_CATEGORIES):
                continue
            if picking.single_seat_left(plan, busy, [s.number for s in block]) is None:
                return True
    return False


@settings(max_examples=300, deadline=None)
@given(seat_maps())
def test_best_block_is_free_adjacent_of_one_category_leaves_no_single_seat_and_exists_whenever_one_does(case):
    plan, busy, size, category = case
    block = picking.best_block(plan, busy, size, category)
    assert (block is not None) == brute_force_exists(plan, busy, size, category)
    if block is None:
        return
    seats = [plan.seat(n) for n in block]
    assert len(block) == size and not set(block) & busy
    assert len({s.row for s in seats}) == 1 and [s.place for s in seats] == list(range(seats[0].place, seats[0].place + size))
    assert len({s.section for s in seats}) == 1  # never across an aisle
    assert len({s.category for s in seats}) == 1 and (category is None or seats[0].category == category)
    assert picking.single_seat_left(plan, busy, block) is None


@settings(max_examples=200, deadline=None)
@given(seat_maps())
def test_picking_is_deterministic_for_the_same_map(case):
    plan, busy, size, category = case
    assert picking.best_block(plan, busy, size, category) == picking.best_block(plan, set(busy), size, category)
    assert picking.best_split(plan, busy, size, category) == picking.best_split(plan, set(busy), size, category)


@settings(max_examples=200, deadline=None)
@given(seat_maps())
def test_a_split_pick_never_overlaps_busy_seats_nor_leaves_a_single_seat(case):
    plan, busy, size, category = case
    picked = picking.best_split(plan, busy, size, category)
    if picked is not None:
        assert len(picked) == size and len(set(picked)) == size and not set(picked) & busy
        assert picking.single_seat_left(plan, busy, picked) is None


@settings(max_examples=200, deadline=None)
@given(seat_maps())
def test_the_pick_is_never_much_further_from_the_focal_point_than_the_closest_block(case):
    plan, busy, size, category = case
    found = picking.blocks(plan, busy, size, category, picking.CENTRE_FIRST)  # closest first
    if not found:
        return
    distance = lambda block: picking._distance(plan, plan.seat(block[0]).row, plan.seat(block[0]).place, size)  # noqa
    assert distance(picking.best_block(plan, busy, size, category)) <= (
        distance(found[0]) + picking.DEFAULT_SCORING.nearly_as_good + 1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(2, 40), min_size=1, max_size=5))
def test_pairs_one_after_another_fill_every_row_as_far_as_the_single_seat_rule_allows(widths):
    """An even row is filled completely; an odd one but for three seats (pairs can never fill an odd
    row, and a last gap of one seat is not allowed)."""
    plan = layout.plan([{"label": layout.row_label(i), "seats": w} for i, w in enumerate(widths)], CATEGORIES, "EUR")
    busy = set()
    while (block := picking.best_block(plan, busy, 2)) is not None:
        busy |= set(block)
    assert len(busy) == sum(w if w % 2 == 0 else w - 3 for w in widths)


@given(rows_strategy, st.integers(min_value=1, max_value=200))
def test_resizing_keeps_the_front_seats_as_they_were_and_has_exactly_the_seats_asked_for(rows, total):
    before = plan_of(*rows)
    original = [{"label": label, "seats": [s.category for s in seats]} for label, seats in before.rows]
    after = layout.plan(layout.resized(original, total), CATEGORIES, "EUR")
    assert after.total_seats == total
    kept = min(total, before.total_seats)
    assert [(s.label, s.category) for _, seats in after.rows for s in seats][:kept] == \
        [(s.label, s.category) for _, seats in before.rows for s in seats][:kept]
