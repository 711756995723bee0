"""Publications back in offset order, per room, when the broker's live feed swaps two.

JetStream's RePublish sends stored messages on in stream order for one publisher, but two
publishers on two connections racing for one room can see their republished messages leave the
server swapped (117 before 116). The hub's gap filling would survive that -- by reading the
stream for a "gap" that closes a moment later. This window instead holds a publication that
arrives early until the ones before it come, for at most ``hold`` seconds; then it gives up and
releases what it holds in order (the hole is real: the hub fills it from the stream).

Pure: the backend arms a timer when ``arrive`` says a room is waiting and calls ``give_up`` when
it fires. Nothing here awaits.
"""

from __future__ import annotations

from sockjet.hub.position import Publication

HOLD = 0.2
"""Seconds a publication may wait for an earlier one (a swap takes microseconds to milliseconds)."""
MAX_HELD = 1024
"""Publications one room may hold at once; beyond, the window gives up at once."""


class _Room:
    __slots__ = ("epoch", "held", "last")

    def __init__(self, epoch: str, last: int) -> None:
        self.epoch = epoch
        self.last = last
        self.held: dict[int, Publication] = {}


class ReorderWindow:
    """Per room, the last offset released and the early arrivals held back."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    def baseline(self, room: str, epoch: str, offset: int) -> list[Publication]:
        """The room is at ``epoch.offset`` (an epoch marker was heard): returns what this releases."""
        state = self._rooms.get(room)
        if state is not None and state.epoch == epoch:
            return []
        released = self.forget(room)
        self._rooms[room] = _Room(epoch, offset)
        return released

    def arrive(self, publication: Publication) -> list[Publication]:
        """What to deliver now, in order: ``[]`` when ``publication`` came early and is held."""
        room, position = publication.room, publication.position
        state = self._rooms.get(room)
        if state is None or state.epoch != position.epoch:
            released = self.give_up(room) if state is not None else []
            self._rooms[room] = _Room(position.epoch, position.offset)
            return [*released, publication]
        if position.offset <= state.last:  # a repeat, or older: the hub knows what to do with it
            return [publication]
        if position.offset > state.last + 1:
            state.held[position.offset] = publication
            return self.give_up(room) if len(state.held) > MAX_HELD else []
        released = [publication]
        state.last = position.offset
        held = state.held
        while held:
            following = held.pop(state.last + 1, None)
            if following is None:
                break
            released.append(following)
            state.last += 1
        return released

    def waiting(self, room: str) -> bool:
        """True while ``room`` holds a publication back (the backend's timer should be armed)."""
        state = self._rooms.get(room)
        return state is not None and bool(state.held)

    def give_up(self, room: str) -> list[Publication]:
        """Release everything ``room`` holds, in offset order (the hole it waited for is real)."""
        state = self._rooms.get(room)
        if state is None or not state.held:
            return []
        released = [state.held[offset] for offset in sorted(state.held)]
        state.held.clear()
        state.last = max(state.last, released[-1].position.offset)
        return released

    def forget(self, room: str) -> list[Publication]:
        """The room is no longer subscribed: what it held, then nothing of it is kept."""
        released = self.give_up(room)
        self._rooms.pop(room, None)
        return released


__all__ = ["HOLD", "MAX_HELD", "ReorderWindow"]
