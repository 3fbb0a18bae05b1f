"""The one clock: every "now" the app uses comes from here, in one ISO format.

Tests set it (``clock.frozen(at)`` / ``clock.advance(seconds)``) instead of sleeping, so rules that
depend on time — hold expiry, login back-off, token lifetimes — are tested exactly.
"""
import contextlib
import datetime as dt
import time
from typing import Callable, Iterator

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch (UTC), with sub-second precision."""
    return _source()


def now_int() -> int:
    """Whole seconds since the epoch: TTL attributes and JWT claims."""
    return int(_source())


def iso(epoch: float) -> str:
    """The app's one timestamp format: ISO 8601 in UTC with milliseconds, e.g. 2026-12-01T18:30:00.250Z."""
    whole = int(epoch)
    millis = int(round((epoch - whole) * 1000))
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def now_iso() -> str:
    return iso(now())


def parse_iso(text: str) -> float:
    """The epoch seconds of a timestamp written by :func:`iso` (or any ISO 8601 time with a zone)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FrozenClock:
    """A clock that stands still until told to move; what :func:`frozen` installs."""

    def __init__(self, at: float):
        self.at = float(at)

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@contextlib.contextmanager
def frozen(at: float | None = None) -> Iterator[FrozenClock]:
    """Within the block, :func:`now` answers ``at`` (default: the real time at entry) until advanced."""
    global _source
    previous, fake = _source, FrozenClock(time.time() if at is None else at)
    _source = fake
    try:
        yield fake
    finally:
        _source = previous
