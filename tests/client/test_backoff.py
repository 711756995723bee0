"""Full-jitter backoff: the bounds of every attempt, the spread, and when it starts again."""

from __future__ import annotations

import random
import re
import statistics

import pytest

from sockjet.client.backoff import Backoff
from sockjet.exceptions import ConfigurationError


def test_defaults_are_half_a_second_doubling_up_to_twenty() -> None:
    backoff = Backoff()
    assert [backoff.cap(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    assert backoff.cap(10_000) == 20.0


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.999999])
def test_each_delay_is_the_draw_times_the_attempts_cap(draw: float) -> None:
    backoff = Backoff(0.5, 20.0, random=lambda: draw)
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == [draw * cap for cap in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0)]
    assert backoff.attempts == 8


def test_delays_spread_over_the_whole_window() -> None:
    rng = random.Random(7)
    delays = []
    for _ in range(2000):
        backoff = Backoff(0.5, 20.0, random=rng.random)
        backoff.attempts = 6  # capped at 20 s
        delays.append(backoff.next_delay())
    assert 0.0 <= min(delays) < 0.5 and 19.5 < max(delays) <= 20.0
    assert 9.0 < statistics.mean(delays) < 11.0  # uniform on [0, 20]: mean 10
    assert 5.0 < statistics.pstdev(delays) < 6.5  # 20 / sqrt(12) = 5.77, not bunched


def test_a_connection_that_lived_starts_again_from_the_first_attempt() -> None:
    backoff = Backoff(reset_after=5.0, random=lambda: 1.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.connected(lived=4.9)  # closed soon after it opened: keep backing off
    assert backoff.next_delay() == 8.0
    backoff.connected(lived=5.0)
    assert backoff.next_delay() == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minimum": 0}, "backoff_min must be > 0 seconds, got 0."),
        ({"minimum": 2.0, "maximum": 1.0}, "backoff_max must be >= backoff_min (2.0), got 1.0."),
        ({"reset_after": -1}, "backoff_reset_after must be >= 0 seconds, got -1."),
    ],
)
def test_options_that_cannot_work_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Backoff(**kwargs)  # type: ignore[arg-type]
