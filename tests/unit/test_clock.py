"""The app's one clock and its one timestamp format."""
import re

from hypothesis import given, strategies as st

from chalicelib import clock


@given(st.floats(min_value=0, max_value=4e9))
def test_iso_timestamps_are_utc_with_milliseconds_and_read_back_to_the_millisecond(epoch):
    text = clock.iso(epoch)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert abs(clock.parse_iso(text) - epoch) <= 0.0005 + 1e-6


def test_iso_timestamps_sort_like_the_times_they_name():
    assert clock.iso(1.998) < clock.iso(2.0) < clock.iso(2.001) < clock.iso(10.0)


def test_a_frozen_clock_stands_still_until_advanced_and_then_lets_go():
    with clock.frozen(1000.0) as frozen:
        assert clock.now() == 1000.0
        frozen.advance(2.5)
        assert clock.now() == 1002.5 and clock.now_int() == 1002
    assert clock.now() > 1.7e9
