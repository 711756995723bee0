"""The subscription confirmations a Redis pub/sub connection still owes, by channel.

Redis answers ``SUBSCRIBE``/``SSUBSCRIBE`` on the pub/sub connection, where the reader task sees
it, not as the reply of the call: the subscriber waits on a future that the reader resolves. A
lost connection cancels what it still owes, and ``confirmed_within`` tells that cancellation apart from the
waiting task's own (which goes on), so one rule serves the single-Redis reader and the cluster's
readers of each node.
"""

from __future__ import annotations

import asyncio


class Confirmations:
    """Futures by channel: ``expect`` before subscribing, ``confirm`` from the reader, ``confirmed_within`` after."""

    def __init__(self) -> None:
        self._owed: dict[bytes, asyncio.Future[None]] = {}

    def expect(self, channel: bytes) -> asyncio.Future[None]:
        """The confirmation of ``channel``'s next subscription (shared by concurrent subscribers)."""
        return self._owed.setdefault(channel, asyncio.get_running_loop().create_future())

    def confirm(self, channel: bytes) -> None:
        """The reader saw the subscription's confirmation; one nobody expects is ignored."""
        future = self._owed.pop(channel, None)
        if future is not None and not future.done():
            future.set_result(None)

    def lose(self, channel: bytes) -> None:
        """``channel``'s subscription will not be confirmed on this connection (failed, or moved away)."""
        future = self._owed.pop(channel, None)
        if future is not None and not future.done():
            future.cancel()

    def lose_all(self) -> None:
        """The connection is gone: nothing it owes will arrive."""
        for future in self._owed.values():
            if not future.done():
                future.cancel()
        self._owed.clear()


async def confirmed_within(confirmation: asyncio.Future[None], timeout: float) -> bool:
    """False if ``timeout`` passed first. A confirmation lost with its connection returns True
    quietly (whoever re-subscribes after the loss expects a new one); the waiting task's own
    cancellation propagates."""
    try:
        await asyncio.wait_for(asyncio.shield(confirmation), timeout)
    except asyncio.TimeoutError:
        return False
    except asyncio.CancelledError:
        if not confirmation.cancelled():
            raise  # this task is being cancelled, not the wait for the confirmation
    return True


__all__ = ["Confirmations", "confirmed_within"]
