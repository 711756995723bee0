"""Full-jitter exponential backoff between reconnect attempts: pure, no clock, no sleep.

Attempt ``n`` (0 for the first reconnect after a drop) waits a uniform random time in
``[0, min(maximum, minimum * 2**n)]`` (AWS's "full jitter"): a thousand clients dropped at once
spread their reconnects over the whole window instead of arriving together. The attempt count
goes back to 0 only after a connection that *lived* (stayed connected at least ``reset_after``
seconds), so a server that accepts and at once closes is not hammered at the shortest delay.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from sockjet.exceptions import ConfigurationError

_MAX_EXPONENT = 62
"""2**62 * any positive minimum is beyond any maximum: no float overflow for a huge attempt count."""


class Backoff:
    """How long to wait before each reconnect attempt; ``random`` (``[0, 1)``) is injectable for tests."""

    __slots__ = ("_random", "attempts", "maximum", "minimum", "reset_after")

    def __init__(
        self,
        minimum: float = 0.5,
        maximum: float = 20.0,
        *,
        reset_after: float = 5.0,
        random: Callable[[], float] = random.random,
    ) -> None:
        if not minimum > 0:
            raise ConfigurationError(f"backoff_min must be > 0 seconds, got {minimum!r}.")
        if not maximum >= minimum:
            raise ConfigurationError(f"backoff_max must be >= backoff_min ({minimum!r}), got {maximum!r}.")
        if not reset_after >= 0:
            raise ConfigurationError(f"backoff_reset_after must be >= 0 seconds, got {reset_after!r}.")
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.reset_after = float(reset_after)
        self.attempts = 0
        self._random = random

    def cap(self, attempt: int) -> float:
        """The longest wait of attempt ``attempt``: ``min(maximum, minimum * 2**attempt)``."""
        return min(self.maximum, self.minimum * 2.0 ** min(attempt, _MAX_EXPONENT))

    def next_delay(self) -> float:
        """The wait before the next attempt, in ``[0, cap(attempts)]``; counts the attempt."""
        delay = self._random() * self.cap(self.attempts)
        self.attempts += 1
        return delay

    def connected(self, lived: float) -> None:
        """A connection ended after ``lived`` seconds connected: start again from attempt 0 if it lived."""
        if lived >= self.reset_after:
            self.attempts = 0


__all__ = ["Backoff"]
