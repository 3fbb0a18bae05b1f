"""domain.waitlist: first come, first served among the parties that fit; one that does not fit keeps its place."""
from hypothesis import given, strategies as st

from chalicelib.domain import layout, picking, waitlist

PLAN = layout.plan_of_show({"total_seats": 10})  # one row of 10 standard seats


def entry(entry_id, quantity, status="waiting", category=None):
    return {"id": entry_id, "quantity": quantity, "status": status, "category": category}


def test_the_first_party_that_fits_gets_the_seats_and_a_bigger_one_before_it_keeps_its_place():
    busy = set(range(1, 11)) - {4, 5}  # two seats came back
    offers = waitlist.plan_offers([entry("b", 2), entry("a", 4), entry("c", 2)], PLAN, busy, picking.best_block)
    assert [(e["id"], seats) for e, seats in offers] == [("b", [4, 5])]


def test_seats_offered_to_one_party_are_not_offered_to_the_next():
    busy = set(range(1, 11)) - {3, 4, 5, 6}
    offers = waitlist.plan_offers([entry("a", 2), entry("b", 2), entry("c", 2)], PLAN, busy, picking.best_block)
    assert [e["id"] for e, _ in offers] == ["a", "b"]
    assert not set(offers[0][1]) & set(offers[1][1])


def test_entries_that_are_not_waiting_are_never_offered_and_have_no_position():
    listed = [entry("a", 1, status="offered"), entry("b", 1), entry("c", 1, status="lapsed")]
    offers = waitlist.plan_offers(listed, PLAN, set(), picking.best_block)
    assert [e["id"] for e, _ in offers] == ["b"]
    assert waitlist.position(listed, "b") == 1 and waitlist.position(listed, "a") is None


def test_position_is_the_order_of_joining_among_waiting_entries():
    listed = [entry("c", 1), entry("a", 1), entry("b", 1)]
    assert [waitlist.position(listed, i) for i in "abc"] == [1, 2, 3]


def test_an_offer_is_accepted_declined_or_lapsed_with_its_hold():
    assert waitlist.settled_by("hold.confirmed") == "accepted"
    assert waitlist.settled_by("hold.released") == "declined"
    assert waitlist.settled_by("hold.expired") == "lapsed"
    assert waitlist.settled_by("booking.created") is None


ROW_PLAN = layout.plan_of_show({"total_seats": 30})  # three rows of 10


@given(busy=st.sets(st.integers(1, 30)), quantities=st.lists(st.integers(1, 5), min_size=1, max_size=8))
def test_offers_are_disjoint_free_seats_in_joining_order_and_no_waiting_party_that_fits_is_passed_over(busy,
                                                                                                     quantities):
    entries = [entry(f"{n:02d}", q) for n, q in enumerate(quantities)]
    offers = waitlist.plan_offers(entries, ROW_PLAN, busy, picking.best_block)
    offered = [seat for _, seats in offers for seat in seats]
    assert len(offered) == len(set(offered)) and not set(offered) & busy
    assert [e["id"] for e, _ in offers] == sorted(e["id"] for e, _ in offers)
    for e, seats in offers:
        assert len(seats) == e["quantity"]
    # an entry left out did not fit in what was still free when its turn came
    taken, seats_of = set(busy), {e["id"]: seats for e, seats in offers}
    for e in entries:
        if e["id"] in seats_of:
            taken |= set(seats_of[e["id"]])
        else:
            assert picking.best_block(ROW_PLAN, taken, e["quantity"]) is None
