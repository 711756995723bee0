"""Commands waiting for their reply, and what becomes of them when the link drops: pure.

Ids are positive integers, unique among the pending commands (the protocol's rule), taken from
one counter for the client's life so that a late reply of an old connection can never be
mistaken for a new command's. When a connection ends:

- ``presence`` and ``history`` are reads, safe to repeat: they are sent again on the next connection;
- ``publish`` and ``call`` may or may not have been done: they fail with ``ConnectionLost``
  (repeating them could publish twice);
- ``subscribe`` and ``unsubscribe`` are not commands to repeat but state: the client resubscribes
  every subscription it holds, and a subscription being ended is simply not resubscribed.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

_T = TypeVar("_T")

MAX_ID = 2**53 - 1
"""The largest integer every JSON implementation reads exactly (a JavaScript server too)."""


class Fate(enum.Enum):
    RESEND = "resend"
    """Sent again, with a new id, on the next connection."""
    FAIL = "fail"
    """Fails with ``ConnectionLost``: the server may or may not have done it."""
    REDO = "redo"
    """Part of a subscription's state: the resubscription takes its place."""


_FATES = {
    "presence": Fate.RESEND,
    "history": Fate.RESEND,
    "publish": Fate.FAIL,
    "call": Fate.FAIL,
    "subscribe": Fate.REDO,
    "unsubscribe": Fate.REDO,
}


def fate_on_drop(op: str) -> Fate:
    """What becomes of a command of ``op`` still waiting for its reply when its connection ends."""
    try:
        return _FATES[op]
    except KeyError:
        raise ValueError(f"Not a protocol v1 command: {op!r}.") from None


class PendingCommands(Generic[_T]):
    """Pending commands by id; ``_T`` is whatever the I/O layer keeps per command (its future)."""

    __slots__ = ("_last", "_pending")

    def __init__(self) -> None:
        self._last = 0
        self._pending: dict[int, _T] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, entry: _T) -> int:
        """Register ``entry`` under a fresh id and return the id."""
        while True:
            self._last = self._last + 1 if self._last < MAX_ID else 1
            if self._last not in self._pending:
                self._pending[self._last] = entry
                return self._last

    def pop(self, command_id: int) -> _T | None:
        """The entry a reply with ``command_id`` answers, removed; None for an id not pending."""
        return self._pending.pop(command_id, None)

    def drain(self) -> list[_T]:
        """Every pending entry, oldest first, removed (the connection they were sent on ended)."""
        entries = list(self._pending.values())
        self._pending.clear()
        return entries


__all__ = ["MAX_ID", "Fate", "PendingCommands", "fate_on_drop"]
