"""Hold lifecycle and the per-customer cap (chalicelib.domain.holds, chalicelib.domain.caps)."""
import pytest
from hypothesis import given, strategies as st

from chalicelib.domain import caps, holds
from chalicelib.errors import HoldConfirmed, HoldExpired, HoldExtensionLimit, HoldReleased, SeatLimitReached

NOW = 1_800_000_000.0
POLICY = holds.HoldPolicy(hold_seconds=600, max_extensions=2, max_seconds=1800)


def hold(status="held", since=NOW, until=NOW + 600, extensions_left=2):
    return {"id": "h", "status": status, "held_since": since, "held_until": until, "extensions_left": extensions_left}


# --- expiry -------------------------------------------------------------------------------------

@given(st.integers(min_value=-5000, max_value=5000))
def test_a_hold_is_expired_from_the_instant_it_lapses(offset_ms):
    assert holds.status(hold(until=NOW), NOW + offset_ms / 1000) == ("expired" if offset_ms >= 0 else "held")


def test_confirmed_and_released_holds_never_become_expired():
    assert holds.status(hold("confirmed", until=NOW), NOW + 10**6) == "confirmed"
    assert holds.status(hold("released", until=NOW), NOW + 10**6) == "released"


@pytest.mark.parametrize("stored, until, error", [
    ("held", NOW - 1, HoldExpired), ("released", NOW + 60, HoldReleased), ("confirmed", NOW + 60, HoldConfirmed)])
def test_only_a_live_hold_can_change(stored, until, error):
    with pytest.raises(error):
        holds.check_held(hold(stored, until=until), NOW, "confirmed")


# --- extensions ---------------------------------------------------------------------------------

def test_extension_sets_expiry_to_now_plus_the_hold_time():
    assert holds.extended_expiry(hold(), NOW + 100, POLICY) == NOW + 700


def test_no_extension_is_left_after_the_last_one():
    with pytest.raises(HoldExtensionLimit) as refused:
        holds.extended_expiry(hold(extensions_left=0), NOW + 100, POLICY)
    assert refused.value.details["extensions_left"] == 0


@given(st.floats(min_value=0, max_value=5000), st.floats(min_value=0, max_value=5000))
def test_an_extended_hold_never_lives_past_its_maximum_lifetime(since_ago, until_ahead):
    now = NOW
    current = hold(since=now - since_ago, until=now + until_ahead)
    try:
        until = holds.extended_expiry(current, now, POLICY)
    except (HoldExtensionLimit, HoldExpired):
        return
    assert current["held_until"] < until <= min(now + POLICY.hold_seconds, current["held_since"] + POLICY.max_seconds)


def test_extension_that_would_gain_nothing_is_refused():
    near_the_end = hold(since=NOW - 1750, until=NOW + 50)
    with pytest.raises(HoldExtensionLimit):
        holds.extended_expiry(near_the_end, NOW, POLICY)


def test_hold_ids_sort_by_time():
    assert holds.new_hold_id(NOW) < holds.new_hold_id(NOW + 0.002)


# --- the per-customer cap -----------------------------------------------------------------------

def record(booked=0, holds_=None):
    holds_ = holds_ or {}
    return caps.after_read({"booked": booked, "holds": holds_}, now=0)


def test_expired_holds_do_not_count_against_the_cap():
    claims = record(booked=3, holds_={"a": {"seats": 4, "until": NOW - 1}, "b": {"seats": 2, "until": NOW + 60}})
    assert caps.current(claims, NOW) == 5


def test_a_request_past_the_cap_names_the_limit_and_the_current_count():
    with pytest.raises(SeatLimitReached) as refused:
        caps.check_room(record(booked=8), 3, 10, NOW)
    assert refused.value.details == {"limit": 10, "current": 8}
    caps.check_room(record(booked=8), 2, 10, NOW)


claims_records = st.builds(
    record, st.integers(min_value=0, max_value=12),
    st.dictionaries(st.text("abcdef", min_size=1, max_size=3),
                    st.fixed_dictionaries({"seats": st.integers(1, 10),
                                           "until": st.sampled_from([NOW - 60, NOW - 1, NOW + 1, NOW + 600])}),
                    max_size=4))


@given(claims_records, st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=20))
def test_a_claim_written_without_reading_never_passes_the_cap(claims, requested, limit):
    if caps.fits_without_reading(claims, requested, limit, NOW):
        assert caps.current(claims, NOW) + requested <= limit


@given(claims_records, st.integers(min_value=1, max_value=10))
def test_a_record_written_back_after_a_read_counts_exactly_the_live_claims(claims, requested):
    written = caps.after_read(claims, NOW, add_hold=("new", requested, NOW + 600))
    assert caps.current(written, NOW) == caps.current(claims, NOW) + requested
    assert written["claimed"] == caps.current(written, NOW)  # lapsed holds were dropped
    assert written["holds_until"] == NOW + 600
