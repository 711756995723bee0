"""Idempotency keys remembered for a while (pure: the clock is passed in).

``RecentKeys(ttl)`` maps ``(room, key)`` to what the first publish with that key gave (its
``Position``, or ``None`` without history) for ``ttl`` seconds after that publish. Every entry
lives the same ``ttl``, so insertion order is expiry order: forgetting is amortised O(1) per call,
from the front. ``max_keys`` bounds memory: past it, the oldest keys are forgotten early.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

_V = TypeVar("_V")

MAX_KEYS = 1_000_000
"""Keys one process remembers at most (the oldest are forgotten first)."""


class RecentKeys(Generic[_V]):
    """``(room, key) -> value`` for ``ttl`` seconds after it was remembered."""

    __slots__ = ("_entries", "max_keys", "ttl")

    def __init__(self, ttl: float, *, max_keys: int = MAX_KEYS) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self._entries: OrderedDict[tuple[str, str], tuple[float, _V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def seen(self, room: str, key: str, now: float) -> tuple[bool, _V | None]:
        """``(True, value)`` if ``key`` was remembered for ``room`` less than ``ttl`` ago, else ``(False, None)``."""
        self._expire(now)
        entry = self._entries.get((room, key))
        if entry is None:
            return False, None
        return True, entry[1]

    def remember(self, room: str, key: str, value: _V, now: float) -> None:
        """Remember ``value`` for ``(room, key)`` until ``now + ttl`` (a key already known keeps its first value)."""
        self._expire(now)
        if (room, key) in self._entries:
            return
        self._entries[(room, key)] = (now + self.ttl, value)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)

    def _expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            expires, _ = entries[next(iter(entries))]
            if expires > now:
                return
            entries.popitem(last=False)


__all__ = ["MAX_KEYS", "RecentKeys"]
