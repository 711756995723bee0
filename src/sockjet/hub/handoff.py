"""Start a send in one task and, if it suspends, finish it in another: the hub's direct delivery.

``websocket.send(message)`` on a writable socket completes without ever suspending (uvicorn's
send awaits only while the transport is paused). So the hub steps the send coroutine once, in
the task that delivers: usually it is done right there, with no task switch and nothing
allocated for it. When it does suspend, it yielded what it waits for; ``Unfinished`` lets the
member's writer task await the same coroutine from that point, so the frame that was started
is the next one on the socket and nothing is sent twice or out of order.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Unfinished:
    """A coroutine that suspended once in another task; awaiting it runs it to the end.

    The first object the coroutine yielded (a future, or ``None`` for a bare yield) is yielded
    again to the awaiting task, which then resumes the coroutine exactly as it would have
    resumed it itself; a cancellation of the awaiting task is thrown into the coroutine.
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, None, None]:
        coro, pending = self._coro, self._pending
        self._pending = None
        while True:
            try:
                yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    pending = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    pending = coro.send(None)
                except StopIteration:
                    return


__all__ = ["Unfinished"]
