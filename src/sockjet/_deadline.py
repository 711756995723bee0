"""A deadline on the current task's next awaits: one timer, no wrapper task, Python 3.10 included.

``asyncio.timeout`` is 3.11+; this is the part of it sockjet needs. When the timer fires the task
is cancelled; in the ``except CancelledError`` that follows, ``caught()`` says whether the
cancellation was the deadline's alone (absorb it) or also someone else's (let it propagate; on 3.10,
which cannot tell, the deadline's is assumed).
"""

from __future__ import annotations

import asyncio
from typing import Any


class Deadline:
    __slots__ = ("expired", "handle", "task")

    def __init__(self, delay: float) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - only ever built inside a connection's task
            raise RuntimeError("A Deadline needs a running task")
        self.task: asyncio.Task[Any] = task
        self.expired = False
        self.handle = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self.expired = True
        self.task.cancel("sockjet: deadline")

    def cancel(self) -> None:
        self.handle.cancel()

    def caught(self) -> bool:
        """Call in ``except CancelledError``: True when only this deadline cancelled the task."""
        return self.expired and uncancelled(self.task)


def uncancelled(task: asyncio.Task[Any]) -> bool:
    """Withdraw one cancellation request; True when none is left (always True before Python 3.11)."""
    uncancel = getattr(task, "uncancel", None)
    return uncancel is None or uncancel() == 0


__all__ = ["Deadline", "uncancelled"]
