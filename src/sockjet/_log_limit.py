"""At most one log line per interval for each key, and a count of the lines held back.

Pure: no logging, no I/O, no event loop; the clock is injected, so tests step time by hand.
``admit(key)`` answers ``None`` (hold this line back; it is counted) or the number of lines held
back for ``key`` since the last one admitted, for the caller to add as "(N similar suppressed)"
to the line it now writes. So one client flooding a route with bad data costs that route at most
one line per ``interval``, and nothing it did goes unmentioned once a line is written again.

Keys are bounded by ``max_keys``: when a new key finds the table full, keys whose interval has
passed and that held nothing back are forgotten first, then the oldest; a forgotten key's count
is lost (its next line is written at once, without a count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class _Window:
    __slots__ = ("held", "since")

    def __init__(self, since: float) -> None:
        self.since = since
        """When the last admitted line for this key was written."""
        self.held = 0
        """Lines held back since then."""


class LogLimit:
    """One line per ``interval`` seconds per key (see the module docstring)."""

    __slots__ = ("_clock", "_interval", "_max_keys", "_windows")

    def __init__(
        self, interval: float = 1.0, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 1024
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, not {max_keys!r}")
        self._interval = interval
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[Hashable, _Window] = {}

    def admit(self, key: Hashable) -> int | None:
        """``None``: hold the line back. Otherwise write it, with this many similar lines held back before it."""
        now = self._clock()
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._max_keys:
                self._make_room(now)
            self._windows[key] = _Window(now)
            return 0
        if now - window.since < self._interval:
            window.held += 1
            return None
        held, window.since, window.held = window.held, now, 0
        return held

    def held(self, key: Hashable) -> int:
        """Lines held back for ``key`` since its last admitted one (0 for a key not seen)."""
        window = self._windows.get(key)
        return 0 if window is None else window.held

    def __len__(self) -> int:
        return len(self._windows)

    def _make_room(self, now: float) -> None:
        idle = [k for k, w in self._windows.items() if w.held == 0 and now - w.since >= self._interval]
        for key in idle:
            del self._windows[key]
        if len(self._windows) >= self._max_keys:
            del self._windows[next(iter(self._windows))]  # the oldest key: dicts keep insertion order


__all__ = ["LogLimit"]
