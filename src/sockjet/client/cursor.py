"""Where one subscription is in its room's stream, and which pushes it lets through: pure.

A ``StreamCursor`` holds the last position the subscription accepted (its resume point) and
lets a message through only when it comes after it:

- same epoch: the offset must be above the last one (a message replayed twice, or a live one
  that the replay already gave, is dropped);
- an epoch it has left behind (after a resync): dropped, it belongs to a lost life of the stream;
- a new epoch: let through, and the old epoch is left behind;
- no position at all (a room without history): let through, nothing can be ordered.

``subscribed`` applies a subscribe reply and says whether the application must resynchronise.
"""

from __future__ import annotations

from sockjet.hub.position import Position

_KEEP_EPOCHS = 16
"""Epochs remembered as left behind; more than a subscription lives through in practice."""


class StreamCursor:
    """One subscription's resume point and de-duplication by position, epoch-aware."""

    __slots__ = ("_retired", "position")

    def __init__(self, position: Position | None = None) -> None:
        self.position = position
        self._retired: list[str] = []

    def offer(self, position: Position | None) -> bool:
        """True when a message at ``position`` is new for this subscription (and it becomes the resume point)."""
        if position is None:
            return True
        last = self.position
        if last is not None and position.epoch == last.epoch:
            if position.offset <= last.offset:
                return False
        elif position.epoch in self._retired:
            return False
        else:
            self._move_to(position)
            return True
        self.position = position
        return True

    def subscribed(self, since: Position | None, position: Position | None, recovered: bool, *, again: bool) -> bool:
        """Apply a subscribe reply; True when the application must resynchronise (a ``Resync`` event).

        ``since`` is what the command carried, ``position``/``recovered`` what the reply said,
        ``again`` whether this is a resubscription (the subscription was live before).
        """
        if since is not None and recovered:
            return False  # the missed messages follow, after ``since``: keep it as the resume point
        if since is None and not again:
            self._move_to(position)  # a new subscription: live from the room's position
            return False
        # Continuity cannot be shown: a replay refused, or a resubscription with nothing to resume
        # from while the room has a stream (messages may have come and gone in between).
        lost = since is not None or position is not None
        self._move_to(position)
        return lost

    def _move_to(self, position: Position | None) -> None:
        last = self.position
        leaving = last is not None and (position is None or position.epoch != last.epoch)
        if leaving and last is not None and last.epoch not in self._retired:
            self._retired.append(last.epoch)
            del self._retired[:-_KEEP_EPOCHS]
        if position is not None and position.epoch in self._retired:
            self._retired.remove(position.epoch)
        self.position = position


__all__ = ["StreamCursor"]
