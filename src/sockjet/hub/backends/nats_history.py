"""Rooms' streams in NATS JetStream (the NATS backend's history).

One stream per hub (named from its prefix) holds every room, one subject per room:
``{base}.h.{token}``. Limits: ``history_size`` messages per subject (``max_msgs_per_subject``),
``max_age`` = ``history_meta_ttl``, file storage. ``history_ttl`` is applied when reading: older
messages are left out (by their JetStream timestamp against this process's clock), while the
room's last message keeps its epoch and offset until ``history_meta_ttl`` -- as on Redis.

- **Offsets.** JetStream numbers messages per stream, not per subject, so each message carries
  its room position in two headers, ``Sockjet-Epoch`` and ``Sockjet-Offset``. A publish writes
  offset = the room's last offset + 1 *with* ``Nats-Expected-Last-Subject-Sequence`` = the stream
  sequence of the room's last message: JetStream stores it only if nobody else wrote to the room
  in between, so offsets go up by exactly 1 with no hole and no duplicate. A loser of that race
  re-reads the room's last message and tries again. Each process remembers the
  last sequence and offset of every room it publishes to or hears, so an uncontended publish is
  one round trip.
- **Epoch.** A room whose subject holds no message (never published, all aged out, or the stream
  lost: a wiped store) starts a new epoch at offset 1, with an ``Expected-Last-Subject-Sequence``
  of 0 so that two processes cannot start two epochs.
- **An idle room's epoch.** A member joining a room whose subject is empty stores an *epoch
  marker*: a message without payload at offset 0 of a new epoch (same expected sequence 0), so
  the member has a position to resume from. Reads and live delivery skip offset 0; the next
  publish takes offset 1. It ages out like any message, ``meta_ttl`` later.
- **Live delivery** is the stream's RePublish: JetStream sends each *stored* message, in stream
  order, to ``{base}.r.{token}``, the room subject every process already listens to. Nothing
  that was not stored is ever delivered, and every process sees one room's publications in
  offset order.
- **Idempotency.** A publish with a key carries ``Nats-Msg-Id`` = a digest of room and key, and
  the stream's ``duplicate_window`` is the hub's ``idempotency_ttl`` (at most ``max_age``):
  JetStream itself stores a second message with that id not at all and answers with the first
  one's sequence, whose headers give its position (``None`` if it has been trimmed since).
- **Timeouts** bound each request to the server, never the wait for the room's lock or for one of
  the ``MAX_IN_FLIGHT`` slots: with thousands of publishes in flight, each waits its turn (in this
  process, not in the server's API queue), then has ``timeout`` for its answer.
- **Reads** take the room's last message (its epoch and top offset), then the retained messages
  after the offset asked, through a short-lived pull consumer filtered on the room's subject.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sockjet.hub.backends.base import Retention
from sockjet.hub.backends.subjects import room_token
from sockjet.hub.position import Position, Publication, StreamSlice, new_epoch
from sockjet.metrics import recorder as _metrics

EPOCH_HEADER = "Sockjet-Epoch"
OFFSET_HEADER = "Sockjet-Offset"
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
MSG_ID_HEADER = "Nats-Msg-Id"
"""JetStream's de-duplication id: a second message with the same id within the window is not stored."""
SEQUENCE_HEADER = "Nats-Sequence"
"""Set by JetStream's RePublish: the stream sequence of the message."""
WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code when ``Nats-Expected-Last-Subject-Sequence`` did not match."""
READ_BATCH = 256
MAX_IN_FLIGHT = 32
"""Publishes one process has at the server at once; more wait their turn (untimed) before asking."""


def stream_name(base: str) -> str:
    """A valid, stable stream name for a hub's subject base (no dots, wildcards or spaces)."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", base)[:32]
    return f"SOCKJET_{readable}_{hashlib.sha256(base.encode()).hexdigest()[:8]}"


def history_subject(base: str, room: str) -> str:
    return f"{base}.h.{room_token(room)}"


def message_id(room: str, key: str) -> str:
    """The de-duplication id of an idempotency key in ``room`` (a digest: fixed length, any characters)."""
    return hashlib.sha256(f"{len(room)}:{room}{key}".encode()).hexdigest()


class Unanswered(Exception):
    """A publish that was sent and got no answer: it may have been stored."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(cause)
        self.cause = cause


def max_age(retention: Retention) -> float:
    """Seconds JetStream keeps a message: ``meta_ttl`` (>= ``ttl``), so that a room's last message
    carries its epoch and offset that long after its last publish; ``ttl`` is applied on read."""
    return retention.meta_ttl


@dataclass(frozen=True, slots=True)
class Tip:
    """A room's last stored message: its stream ``sequence`` and its ``position``."""

    sequence: int
    position: Position


def next_publication(tip: Tip | None) -> tuple[Position, dict[str, str]]:
    """The position a publish after ``tip`` takes, and the headers that make JetStream check it."""
    if tip is None:
        position = Position(new_epoch(), 1)
        expected = 0
    else:
        position = Position(tip.position.epoch, tip.position.offset + 1)
        expected = tip.sequence
    headers = {
        EPOCH_HEADER: position.epoch,
        OFFSET_HEADER: str(position.offset),
        EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected),
    }
    return position, headers


def epoch_marker() -> tuple[Position, dict[str, str]]:
    """The offset-0 message that starts an empty room's epoch, and the headers that make JetStream check it."""
    position = Position(new_epoch(), 0)
    headers = {EPOCH_HEADER: position.epoch, OFFSET_HEADER: "0", EXPECTED_LAST_SUBJECT_SEQUENCE: "0"}
    return position, headers


def position_of(headers: Mapping[str, str] | None) -> Position | None:
    """The position a hub wrote in a message's headers; ``None`` for a message without one.

    ``ValueError`` for headers that look like a hub's but are not valid.
    """
    if not headers or EPOCH_HEADER not in headers:
        return None
    try:
        return Position(headers[EPOCH_HEADER], int(headers[OFFSET_HEADER]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"Not a hub publication: headers {dict(headers)!r}") from exc


def sequence_of(headers: Mapping[str, str] | None) -> int | None:
    """The stream sequence RePublish put on a live message (``None`` if absent or malformed)."""
    value = (headers or {}).get(SEQUENCE_HEADER, "")
    return int(value) if value.isdigit() else None


class RoomTips:
    """What this process knows of each room's last stored message (a cache: JetStream checks it).

    Holds at most ``max_rooms`` rooms, the most recently used; a forgotten room costs one more
    round trip at its next publish.
    """

    __slots__ = ("_tips", "max_rooms")

    def __init__(self, max_rooms: int = 10_000) -> None:
        self._tips: OrderedDict[str, Tip] = OrderedDict()
        self.max_rooms = max_rooms

    def get(self, room: str) -> Tip | None:
        return self._tips.get(room)

    def known(self, room: str) -> bool:
        return room in self._tips

    def heard(self, room: str, tip: Tip) -> None:
        """Keep ``tip`` unless a later message of the room is already known."""
        current = self._tips.get(room)
        if current is None or tip.sequence > current.sequence:
            self._tips[room] = tip
        self._tips.move_to_end(room)
        if len(self._tips) > self.max_rooms:
            self._tips.popitem(last=False)

    def forget(self, room: str | None = None) -> None:
        """Forget one room (its tip proved wrong), or every room (the server may have lost its store)."""
        if room is None:
            self._tips.clear()
        else:
            self._tips.pop(room, None)


@dataclass(frozen=True, slots=True)
class Stored:
    """One message as read from the stream: sequence, headers, data, and when JetStream stored it."""

    sequence: int
    headers: Mapping[str, str] | None
    data: bytes
    stored_at: float
    """Seconds since the epoch (the server's clock)."""


def slice_of(room: str, tip: Tip | None, messages: list[Stored], *, after: int, limit: int | None,
             not_before: float | None = None) -> StreamSlice:  # fmt: skip
    """A ``StreamSlice`` from the room's last message and the retained messages read up to it.

    ``messages`` in stream order. Only messages of the tip's epoch, with offset > ``after``,
    sequence <= the tip's and stored after ``not_before`` (the ``ttl`` cut-off) count; at most
    ``limit`` of them. ``ValueError`` for a message no hub wrote.
    """
    if tip is None:
        return StreamSlice(None, 0, ())
    out: list[Publication] = []
    for message in messages:
        position = position_of(message.headers)
        if position is None:
            raise ValueError(f"Not a hub publication in room {room!r} (stream sequence {message.sequence})")
        if message.sequence > tip.sequence or (limit is not None and len(out) >= limit):
            break
        if not_before is not None and message.stored_at <= not_before:
            continue
        if position.epoch == tip.position.epoch and position.offset > after:
            out.append(Publication.from_wire(room, position, message.data))
    return StreamSlice(tip.position.epoch, tip.position.offset, tuple(out))


class JetStreamRooms:
    """The JetStream side of a NATS hub with history: the stream, publishes and reads (I/O only)."""

    def __init__(
        self, client: Any, base: str, retention: Retention, *, timeout: float, dedupe_window: float = 120.0
    ) -> None:
        self.client = client
        self.dedupe_window = dedupe_window
        """Seconds JetStream remembers a message id (the hub's ``idempotency_ttl``; at most ``max_age``)."""
        self.js = client.jetstream(timeout=timeout)
        self.base = base
        self.name = stream_name(base)
        self.retention = retention
        self.timeout = timeout
        self.tips = RoomTips()
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        """room -> (its lock, how many publishes use it): dropped when the last one is done."""
        self.contended = 0
        """Publishes that lost the race for a room's next offset and tried again (for benchmarks)."""

    def config(self) -> Any:
        from nats.js.api import DiscardPolicy, RePublish, StorageType, StreamConfig

        return StreamConfig(
            name=self.name,
            description="sockjet hub history: one subject per room",
            subjects=[f"{self.base}.h.>"],
            max_msgs_per_subject=self.retention.size,
            max_age=max_age(self.retention),
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            republish=RePublish(src=f"{self.base}.h.>", dest=f"{self.base}.r.>"),
            allow_direct=True,
            duplicate_window=self.window(),
        )

    def window(self) -> float:
        """The stream's de-duplication window: JetStream wants it no longer than ``max_age``."""
        return min(self.dedupe_window, max_age(self.retention))

    async def ensure(self) -> None:
        """Create the stream, or bring its limits to this hub's (the last process started wins)."""
        from nats.js.errors import NotFoundError

        wanted = self.config()
        try:
            info = await self.js.stream_info(self.name)
        except NotFoundError:
            await self.js.add_stream(wanted)
            return
        have = info.config
        if (
            have.max_msgs_per_subject != wanted.max_msgs_per_subject
            or abs((have.max_age or 0) - wanted.max_age) > 0.001
            or abs((have.duplicate_window or 0) - wanted.duplicate_window) > 0.001
            or have.subjects != wanted.subjects
        ):
            await self.js.update_stream(wanted)

    async def last(self, room: str) -> Tip | None:
        """The room's last stored message, read from the server (``None``: the subject is empty)."""
        from nats.js.errors import NotFoundError

        try:
            # The JetStream API, not a direct get: for a stream that is gone, a direct get gets no
            # answer at all (a timeout), the API says "stream not found".
            msg = await self.js.get_last_msg(self.name, history_subject(self.base, room))
        except NotFoundError:  # no such message, or no such stream (a wiped store)
            return None
        position = position_of(msg.headers)
        if position is None:
            raise ValueError(f"Not a hub publication in room {room!r} (stream sequence {msg.seq})")
        tip = Tip(int(msg.seq), position)
        self.tips.heard(room, tip)
        return tip

    async def publish(self, room: str, payload: bytes, key: str | None = None) -> Position | None:
        """Store ``payload`` as the room's next offset (retrying a lost race); its ``Position``.

        With ``key`` already used in the room within the window: nothing is stored, and the first
        publish's position is returned (``None`` if that message has been trimmed since).
        ``Unanswered`` when a publish was sent and no answer came within ``timeout``.
        """
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import APIError, NoStreamResponseError

        lock, users = self._locks.get(room) or (asyncio.Lock(), 0)
        self._locks[room] = (lock, users + 1)
        try:
            # One publisher per room in this process (no race with ourselves), a bounded number in all.
            async with lock, self._in_flight:
                tip = self.tips.get(room) if self.tips.known(room) else await self.last(room)
                while True:
                    position, headers = next_publication(tip)
                    if key is not None:
                        headers[MSG_ID_HEADER] = message_id(room, key)
                    try:
                        ack = await self.js.publish(history_subject(self.base, room), payload, headers=headers)
                    except (NatsTimeout, asyncio.TimeoutError) as exc:
                        self.tips.forget(room)  # it may have been stored: the next publish reads the tip
                        raise Unanswered(exc) from exc
                    except APIError as exc:
                        if exc.err_code != WRONG_LAST_SEQUENCE:
                            raise
                        self.contended += 1
                        self.tips.forget(room)
                        tip = await self.last(room)
                        continue
                    except NoStreamResponseError:
                        await self.ensure()  # the server lost its store: the room starts a new epoch
                        self.tips.forget()
                        tip = await self.last(room)
                        continue
                    if ack.duplicate:
                        _metrics.deduplicated()
                        return await self._first(room, int(ack.seq))
                    self.tips.heard(room, Tip(int(ack.seq), position))
                    return position
        finally:
            lock, users = self._locks[room]
            if users == 1:
                del self._locks[room]
            else:
                self._locks[room] = (lock, users - 1)

    async def open(self, room: str) -> Position:
        """The room's top position; an empty subject gets an epoch marker (offset 0) first."""
        from nats.js.errors import APIError, NoStreamResponseError

        tip = await self.last(room)
        while tip is None:
            position, headers = epoch_marker()
            try:
                ack = await self.js.publish(history_subject(self.base, room), b"", headers=headers)
            except APIError as exc:
                if exc.err_code != WRONG_LAST_SEQUENCE:
                    raise
                tip = await self.last(room)  # another process started the room first
                continue
            except NoStreamResponseError:
                await self.ensure()
                self.tips.forget()
                continue
            tip = Tip(int(ack.seq), position)
            self.tips.heard(room, tip)
        return tip.position

    async def _first(self, room: str, sequence: int) -> Position | None:
        """The position of the stored message a duplicate refers to; ``None`` once it is trimmed."""
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import NotFoundError

        try:
            msg = await self.js.get_msg(self.name, sequence)
        except NotFoundError:
            return None
        except (NatsTimeout, asyncio.TimeoutError) as exc:
            raise Unanswered(exc) from exc  # stored for sure, position unknown: a retry asks again
        return position_of(msg.headers)

    async def read(self, room: str, *, after: int, limit: int | None) -> StreamSlice:
        """The room's epoch and top, and up to ``limit`` retained publications after ``after``."""
        tip = await self.last(room)
        if tip is None or limit == 0 or after >= tip.position.offset:
            return slice_of(room, tip, [], after=after, limit=limit)
        messages = await self._read_subject(room, tip)
        ttl = self.retention.ttl
        return slice_of(
            room, tip, messages, after=after, limit=limit, not_before=None if ttl is None else time.time() - ttl
        )

    async def _read_subject(self, room: str, tip: Tip) -> list[Stored]:
        """Every retained message of the room up to ``tip``, through a short-lived pull consumer."""
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=max(5.0, self.timeout * 2),
            mem_storage=True,
            num_replicas=1,
        )
        subscription = await self.js.pull_subscribe(history_subject(self.base, room), stream=self.name, config=config)
        out: list[Stored] = []
        try:
            while not out or out[-1].sequence < tip.sequence:
                try:
                    batch = await subscription.fetch(READ_BATCH, timeout=self.timeout)
                except NatsTimeout:
                    break  # nothing more retained (the tip aged out meanwhile)
                out += [
                    Stored(int(m.metadata.sequence.stream), m.headers, m.data, m.metadata.timestamp.timestamp())
                    for m in batch
                ]
                if batch and batch[-1].metadata.num_pending == 0:
                    break
        finally:
            try:
                info = await subscription.consumer_info()
                await self.js.delete_consumer(self.name, info.name)
            except Exception:  # pragma: no cover - the server deletes it after inactive_threshold anyway
                pass
            await subscription.unsubscribe()
        return out


__all__ = [
    "EPOCH_HEADER",
    "MSG_ID_HEADER",
    "OFFSET_HEADER",
    "JetStreamRooms",
    "RoomTips",
    "Stored",
    "Tip",
    "Unanswered",
    "epoch_marker",
    "history_subject",
    "max_age",
    "message_id",
    "next_publication",
    "position_of",
    "sequence_of",
    "slice_of",
    "stream_name",
]
