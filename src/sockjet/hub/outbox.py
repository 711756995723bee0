"""A member's bounded outbox and its overflow policy: pure, no I/O, no event loop.

The writer task pops from it; the hub offers to it. When an offer does not fit, the policy
decides: ``"close"`` refuses the offer (the caller closes the member), ``"drop_oldest"`` evicts
the oldest queued items until the new one fits. Either way memory stays bounded by
``max_messages`` and ``max_bytes`` (a single item larger than ``max_bytes`` is still accepted
into an otherwise empty outbox under ``"drop_oldest"``: the hub's ``max_payload`` bounds it).
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any, Generic, Literal, TypeVar

from sockjet._checks import check_int
from sockjet.exceptions import ConfigurationError

_T = TypeVar("_T")

OverflowPolicy = Literal["close", "drop_oldest"]
OVERFLOW_POLICIES: tuple[OverflowPolicy, ...] = ("close", "drop_oldest")
_EMPTY: deque[Any] = deque()
"""Every outbox's queues until its first offer: never appended to, so an idle member holds no deque block."""


class Offer(enum.Enum):
    """What became of an offered item."""

    QUEUED = "queued"
    """Queued; nothing was lost."""
    QUEUED_AFTER_DROP = "queued_after_drop"
    """Queued after evicting the oldest items (``"drop_oldest"``)."""
    REFUSED = "refused"
    """Not queued: the outbox is full and the policy is ``"close"``."""


def check_limits(*, max_messages: int, max_bytes: int, overflow: str) -> None:
    """Raise ``ConfigurationError`` for limits that cannot work."""
    check_int("max_queue", max_messages, 1)
    check_int("max_queue_bytes", max_bytes, 1)
    if overflow not in OVERFLOW_POLICIES:
        raise ConfigurationError(
            f"overflow must be one of {', '.join(map(repr, OVERFLOW_POLICIES))}, got {overflow!r}."
        )


class Outbox(Generic[_T]):
    """FIFO of items with their sizes, bounded in count and in bytes.

    Items and sizes live in two parallel deques rather than one deque of ``(item, size)`` pairs:
    queueing then allocates no object the cyclic garbage collector must track (a stalled member's
    queued deliveries would otherwise add to every collection's work).
    """

    __slots__ = ("_items", "_sizes", "dropped", "max_bytes", "max_messages", "overflow", "queued_bytes")

    def __init__(self, *, max_messages: int, max_bytes: int, overflow: OverflowPolicy) -> None:
        check_limits(max_messages=max_messages, max_bytes=max_bytes, overflow=overflow)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.overflow: OverflowPolicy = overflow
        self._items: deque[_T] = _EMPTY
        self._sizes: deque[int] = _EMPTY
        self.queued_bytes = 0
        self.dropped = 0
        """Items evicted by ``"drop_oldest"`` since the outbox was made."""

    def __len__(self) -> int:
        return len(self._items)

    def _fits(self, size: int) -> bool:
        return len(self._items) < self.max_messages and self.queued_bytes + size <= self.max_bytes

    def offer(self, item: _T, size: int) -> Offer:
        """Queue ``item`` (``size`` bytes) if the policy allows; never grows past the limits."""
        if self._items is _EMPTY:
            self._items, self._sizes = deque(), deque()
        if self._fits(size):
            self._items.append(item)
            self._sizes.append(size)
            self.queued_bytes += size
            return Offer.QUEUED
        if self.overflow == "close":
            return Offer.REFUSED
        while self._items and not self._fits(size):
            self._items.popleft()
            self.queued_bytes -= self._sizes.popleft()
            self.dropped += 1
        self._items.append(item)
        self._sizes.append(size)
        self.queued_bytes += size
        return Offer.QUEUED_AFTER_DROP

    def pop(self) -> _T:
        """The oldest item; ``IndexError`` when empty."""
        item = self._items.popleft()
        self.queued_bytes -= self._sizes.popleft()
        return item

    def clear(self) -> int:
        """Forget every queued item; returns how many there were."""
        count = len(self._items)
        self._items.clear()
        self._sizes.clear()
        self.queued_bytes = 0
        return count


__all__ = ["OVERFLOW_POLICIES", "Offer", "Outbox", "OverflowPolicy", "check_limits"]
