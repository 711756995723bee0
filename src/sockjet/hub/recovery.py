"""The rules of gap-free delivery with history, in pure code that never awaits.

``RoomFeed`` is one room's live stream as one process sees it. Publications arrive from the
backend in offset order (one atomic publish step orders them), but a connection to the broker
can drop and come back, and a replay read and the live stream overlap at the seam. The feed
turns that into: every publication delivered once, in offset order, or -- when the stream
cannot fill a gap (trimmed, expired, another epoch) -- a ``lost`` step, after which the hub tells
the room's members (it closes them with ``HISTORY_LOST_CLOSE_CODE``) instead of going silent.

A member that joins with ``since=`` is *caught up*: ``begin`` buffers what the feed delivers to
it; the hub reads the stream (after subscribing, so every later publication is live), and
``finish`` returns the replay followed by the buffered live publications, merged by offset --
no gap and no duplicate at the seam -- or, when the read does not continue ``since``, only the
live ones (nothing replayed: all or nothing).
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable
from typing import Generic, NamedTuple, TypeVar

from sockjet.hub.position import Position, Publication, StreamSlice

_M = TypeVar("_M", bound=Hashable)


class FeedState(enum.Enum):
    NEW = "new"
    """Nothing known yet: the next publication or stream read sets the epoch and offset."""
    LIVE = "live"
    """Delivering; ``epoch``/``offset`` are those of the last publication delivered."""
    FILLING = "filling"
    """A gap is being filled from the stream; live publications wait in ``pending``."""


class Step(NamedTuple):
    """What the hub does next: deliver these (in order), read the stream after ``fill_after``, or report a loss.

    A named tuple rather than a frozen dataclass: one is built per live publication.
    """

    deliver: tuple[Publication, ...] = ()
    fill_after: int | None = None
    """Read the stream for publications after this offset, then call ``filled``."""
    lost: bool = False
    """Continuity is broken: every member of the room may have missed something (tell them)."""


NOTHING = Step()


class RoomFeed(Generic[_M]):
    """One room's publications in one process: in order, once, gaps filled or reported."""

    __slots__ = ("_again", "_catchups", "_floors", "epoch", "offset", "pending", "state")

    def __init__(self) -> None:
        self.state = FeedState.NEW
        self.epoch: str | None = None
        self.offset = 0
        self.pending: list[Publication] = []
        self._again = False
        self._catchups: dict[_M, list[Publication]] = {}
        self._floors: dict[_M, int] = {}

    def __repr__(self) -> str:
        return f"<RoomFeed {self.state.name} {self.epoch}.{self.offset} pending={len(self.pending)}>"

    @property
    def idle(self) -> bool:
        """Nothing in flight: no catch-up, no fill (the feed may be dropped with its last member)."""
        return not self._catchups and self.state is not FeedState.FILLING

    # -- the stream -----------------------------------------------------------------------------------
    def live(self, publication: Publication) -> Step:
        """A publication from the backend's live stream."""
        state = self.state
        if state is FeedState.LIVE:
            position = publication.position
            if position.offset == self.offset + 1 and position.epoch == self.epoch:  # the common case
                self.offset += 1
                return Step((publication,))
            return self._advance([publication])
        if state is FeedState.FILLING:
            self.pending.append(publication)
            return NOTHING
        self.state, self.epoch, self.offset = FeedState.LIVE, publication.position.epoch, publication.offset
        return Step((publication,))

    def interrupted(self) -> Step:
        """The live stream dropped and is back: anything published meanwhile must come from the stream."""
        if self.state is FeedState.FILLING:
            self._again = True  # the read under way may have started before this interruption
            return NOTHING
        if self.state is FeedState.NEW:
            return NOTHING
        self.state = FeedState.FILLING
        return Step(fill_after=self.offset)

    def filled(self, read: StreamSlice | None) -> Step:
        """The stream read asked for by ``fill_after`` (``None``: the read failed)."""
        if self.state is not FeedState.FILLING:
            return NOTHING
        pending, self.pending = self.pending, []
        again, self._again = self._again, False
        assert self.epoch is not None  # FILLING is only entered from LIVE
        if read is None or not read.continues(Position(self.epoch, self.offset)):
            self._reset()
            return Step(lost=True)
        self.state = FeedState.LIVE
        step = self._advance([*read.publications, *sorted(pending, key=_offset)])
        if again and step.fill_after is None and not step.lost:
            self.state = FeedState.FILLING
            return Step(deliver=step.deliver, fill_after=self.offset)
        return step

    def seed(self, read: StreamSlice) -> None:
        """A stream read made while joining: a NEW feed starts at its top."""
        if self.state is FeedState.NEW and read.epoch is not None:
            self.state, self.epoch, self.offset = FeedState.LIVE, read.epoch, read.top

    def _advance(self, publications: Iterable[Publication]) -> Step:
        delivered: list[Publication] = []
        items = list(publications)
        for index, publication in enumerate(items):
            if publication.position.epoch != self.epoch:
                self._reset()
                return Step(deliver=tuple(delivered), lost=True)
            if publication.offset <= self.offset:
                continue  # already delivered: the seam of a fill, or a replayed live message
            if publication.offset != self.offset + 1:
                self.state = FeedState.FILLING
                self.pending = items[index:]
                return Step(deliver=tuple(delivered), fill_after=self.offset)
            self.offset = publication.offset
            delivered.append(publication)
        return Step(deliver=tuple(delivered))

    def _reset(self) -> None:
        """Forget the stream: the next publication or read starts the feed again."""
        self.state, self.epoch, self.offset, self.pending, self._again = FeedState.NEW, None, 0, [], False

    # -- members catching up ------------------------------------------------------------------------
    def begin(self, member: _M) -> None:
        """``member`` joined with ``since``: hold its live publications until ``finish``."""
        self._catchups[member] = []

    def catching_up(self, member: _M) -> bool:
        return member in self._catchups

    def route(self, publication: Publication, members: tuple[_M, ...]) -> tuple[_M, ...]:
        """The members that get ``publication`` now; those catching up keep it for ``finish``."""
        if not self._catchups and not self._floors:
            return members
        for buffer in self._catchups.values():
            buffer.append(publication)
        floors = self._floors
        chosen = tuple(
            m for m in members if m not in self._catchups and (m not in floors or floors[m] < publication.offset)
        )
        for member in [m for m, floor in floors.items() if floor <= publication.offset]:
            del floors[member]  # every later publication is above its floor
        return chosen

    def finish(self, member: _M, since: Position, read: StreamSlice) -> tuple[bool, tuple[Publication, ...]]:
        """End ``member`` 's catch-up: ``(recovered, what to send it now, in order)``.

        ``read`` was made after the member's room was subscribed and ``begin`` was called, so
        every publication after ``read.top`` is in the member's buffer: when ``read`` continues
        ``since`` the replay and the buffer join without a gap; duplicates are dropped by offset.
        When it does not, nothing is replayed and only publications after ``read.top`` are sent.
        """
        buffer = self._catchups.pop(member, [])
        recovered = read.continues(since)
        out: list[Publication] = list(read.publications) if recovered else []
        last = read.top
        if out:
            last = out[-1].offset
        elif recovered:
            last = since.offset
        for publication in buffer:
            if publication.position.epoch == read.epoch and publication.offset <= last:
                continue
            out.append(publication)
            last = publication.offset
        if out and self.state is not FeedState.NEW and self.epoch == read.epoch and last > self.offset:
            self._floors[member] = last  # live publications up to ``last`` may still be in flight
        return recovered, tuple(out)

    def position_for(self, member: _M) -> Position | None:
        """Where ``member`` stands once live: every later publication of this epoch reaches it.

        The feed's last offset, or above it the last offset its catch-up handed it; ``None`` while
        the feed knows no epoch (its history was just lost: the member is being told).
        """
        if self.epoch is None:
            return None
        return Position._of(self.epoch, max(self.offset, self._floors.get(member, 0)))

    def forget(self, member: _M) -> None:
        """``member`` left the room (or was closed): drop whatever the feed held for it."""
        self._catchups.pop(member, None)
        self._floors.pop(member, None)


def _offset(publication: Publication) -> int:
    return publication.offset


__all__ = ["NOTHING", "FeedState", "RoomFeed", "Step"]
