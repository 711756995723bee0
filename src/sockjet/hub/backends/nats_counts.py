"""NATS: member counts of other processes, as told over a broadcast subject: pure, never awaits.

Every process broadcasts its own local counts (``Report``): a change as it happens, all of them
every ``ttl / 3`` (``full``: forget what it said before), nothing when it stops (``bye``). Each
process keeps what the others said in a ``CountBook``; an entry expires ``ttl`` seconds after
it was heard (by the listener's own clock, so clocks need not agree), so a process that died
stops counting after ``ttl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum


class ReportKind(str, Enum):
    COUNTS = "counts"
    """Some rooms' counts changed (0: no longer in the room)."""
    FULL = "full"
    """Every room of the sender: forget the sender's other rooms (the first of a batch)."""
    HELLO = "hello"
    """The sender just started: everybody, send your counts (a ``FULL``) now."""
    BYE = "bye"
    """The sender stopped: forget it."""
    PING = "ping"
    """A marker the sender waits for, to know it has heard everything published before it."""


@dataclass(frozen=True, slots=True)
class Report:
    """One presence broadcast; ``to_wire``/``from_wire`` are inverses."""

    kind: ReportKind
    process: str
    ttl: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    nonce: str = ""

    def to_wire(self) -> bytes:
        body = {"k": self.kind.value, "p": self.process, "t": self.ttl, "c": self.counts, "n": self.nonce}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_wire(cls, raw: bytes) -> Report:
        """``ValueError`` for bytes no hub wrote."""
        try:
            body = json.loads(raw)
            counts = {str(room): int(count) for room, count in body["c"].items()}
            return cls(ReportKind(body["k"]), str(body["p"]), float(body["t"]), counts, str(body["n"]))
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            raise ValueError(f"Not a hub presence report: {raw[:80]!r}") from exc


def batches(process: str, ttl: float, counts: dict[str, int], *, max_rooms: int) -> list[Report]:
    """All of a process's counts as reports of at most ``max_rooms`` rooms: one ``FULL``, then ``COUNTS``."""
    rooms = sorted(counts)
    chunks = [rooms[i : i + max_rooms] for i in range(0, len(rooms), max_rooms)] or [[]]
    return [
        Report(ReportKind.FULL if i == 0 else ReportKind.COUNTS, process, ttl, {room: counts[room] for room in chunk})
        for i, chunk in enumerate(chunks)
    ]


class CountBook:
    """room -> process -> (count, expires_at): what other processes said, until it expires."""

    __slots__ = ("_by_room", "_rooms_of")

    def __init__(self) -> None:
        self._by_room: dict[str, dict[str, tuple[int, float]]] = {}
        self._rooms_of: dict[str, set[str]] = {}

    def hear(self, report: Report, now: float) -> None:
        """Apply a ``COUNTS``, ``FULL`` or ``BYE`` report heard at ``now`` (others change nothing)."""
        if report.kind in (ReportKind.FULL, ReportKind.BYE):
            self.forget(report.process)
        if report.kind not in (ReportKind.FULL, ReportKind.COUNTS):
            return
        expires = now + report.ttl
        rooms = self._rooms_of.setdefault(report.process, set())
        for room, count in report.counts.items():
            if count > 0:
                self._by_room.setdefault(room, {})[report.process] = (count, expires)
                rooms.add(room)
            elif room in rooms:
                rooms.discard(room)
                self._drop(room, report.process)
        if not rooms:
            del self._rooms_of[report.process]

    def forget(self, process: str) -> None:
        for room in self._rooms_of.pop(process, set()):
            self._drop(room, process)

    def _drop(self, room: str, process: str) -> None:
        entries = self._by_room[room]
        del entries[process]
        if not entries:
            del self._by_room[room]

    def count(self, room: str, now: float) -> int:
        """Members of ``room`` in every other process whose report has not expired."""
        return sum(count for count, expires in self._by_room.get(room, {}).values() if expires > now)

    def expire(self, now: float) -> None:
        """Drop every expired entry (memory stays bounded by live processes and rooms)."""
        for room in list(self._by_room):
            for process, (_, expires) in list(self._by_room[room].items()):
                if expires <= now:
                    self._rooms_of[process].discard(room)
                    if not self._rooms_of[process]:
                        del self._rooms_of[process]
                    self._drop(room, process)


__all__ = ["CountBook", "Report", "ReportKind", "batches"]
