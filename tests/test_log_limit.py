"""The refusal-log limit: one line per interval per key, with a count of the lines held back. No event loop."""

from __future__ import annotations

import re

import pytest

from sockjet._log_limit import LogLimit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_per_key_then_the_count_of_those_held_back() -> None:
    clock = Clock()
    limit = LogLimit(1.0, clock=clock)
    assert limit.admit("a") == 0  # the first line is written, nothing was held back
    assert [limit.admit("a") for _ in range(5)] == [None] * 5
    assert limit.held("a") == 5
    clock.now += 0.999
    assert limit.admit("a") is None
    clock.now += 0.001
    assert limit.admit("a") == 6  # written, saying six similar lines were suppressed
    assert limit.held("a") == 0
    assert limit.admit("a") is None
    clock.now += 5
    assert limit.admit("a") == 1
    clock.now += 5
    assert limit.admit("a") == 0  # a quiet key writes its next line at once, with no count


def test_keys_are_independent() -> None:
    clock = Clock()
    limit = LogLimit(1.0, clock=clock)
    assert limit.admit("a") == 0
    assert limit.admit("b") == 0
    assert limit.admit("a") is None
    assert (limit.held("a"), limit.held("b"), limit.held("never seen")) == (1, 0, 0)


def test_a_flood_of_a_million_lines_writes_one_per_interval() -> None:
    clock = Clock()
    limit = LogLimit(1.0, clock=clock)
    written = []
    for tick in range(1_000_000):
        clock.now = tick / 100_000  # 100,000 lines a second for 10 seconds
        held = limit.admit("route")
        if held is not None:
            written.append(held)
    assert len(written) == 10
    assert written[1:] == [99_999] * 9
    # Every line is written or counted; the last second's count waits for the route's next line.
    assert len(written) + sum(written) + limit.held("route") == 1_000_000


def test_keys_are_bounded_idle_ones_go_first() -> None:
    clock = Clock()
    limit = LogLimit(1.0, clock=clock, max_keys=3)
    limit.admit("busy")
    limit.admit("busy")  # holds one back: kept when room is made
    limit.admit("idle")
    limit.admit("fresh")
    clock.now += 2
    assert limit.admit("new") == 0
    assert len(limit) == 2  # "idle" and "fresh" were forgotten: nothing held back, interval over
    assert limit.held("busy") == 1


def test_when_every_key_is_busy_the_oldest_is_forgotten() -> None:
    clock = Clock()
    limit = LogLimit(1.0, clock=clock, max_keys=2)
    for key in ("first", "second"):
        limit.admit(key)
        limit.admit(key)
    assert limit.admit("third") == 0
    assert len(limit) == 2
    assert limit.held("first") == 0  # forgotten, with its count
    assert limit.held("second") == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "interval must be a positive number of seconds, not 0"),
        ({"interval": 1.0, "max_keys": 0}, "max_keys must be at least 1, not 0"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LogLimit(**kwargs)  # type: ignore[arg-type]
