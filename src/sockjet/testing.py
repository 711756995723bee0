"""The contract every hub backend must keep, as checks a backend of your own can run.

    from sockjet.testing import BackendContract, backend_checks

    contract = BackendContract(make_backend=lambda: MyBackend(broker), spans_processes=True)

    @pytest.mark.parametrize("check", backend_checks(contract), ids=lambda check: check.name)
    async def test_my_backend_keeps_the_contract(check):
        await check.run(contract)

Each check drives real ``Hub(backend=...)`` instances with recording sockets, so it proves what
an app would see: every member gets each message once and in order, an idempotency key stores
and delivers once, counts, restarts, and (with history) gap-free positions, reads and recovery.
``make_backend`` is called once per hub; with ``spans_processes`` the backends it makes share one
broker, as the processes of one deployment do. sockjet's memory, Redis and NATS backends run the
same checks (tests/hub/test_backend_contract.py). A failed check raises ``AssertionError`` saying
what was expected.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sockjet import status
from sockjet.hub.backends.base import Backend
from sockjet.hub.hub import Hub
from sockjet.hub.position import Position
from sockjet.types import Message

WAIT = 5.0
"""Seconds a check waits for deliveries across hubs before it fails (a broker on a loaded machine)."""


class _State(enum.Enum):
    CONNECTED = 1
    DISCONNECTED = 2


class RecordingSocket:
    """An accepted WebSocket as the hub sees it (``HubWebSocket``) that records what it is sent."""

    def __init__(self) -> None:
        self.scope: Mapping[str, Any] = {"type": "websocket", "client": ("127.0.0.1", 50000), "path": "/ws"}
        self.application_state: enum.Enum = _State.CONNECTED
        self.sent: list[str | bytes] = []
        self.closed: tuple[int, str | None] | None = None
        self._changed = asyncio.Event()

    async def send(self, message: Message) -> None:
        if message["type"] == "websocket.send":
            text = message.get("text")
            self.sent.append(text if text is not None else message["bytes"])
        elif message["type"] == "websocket.close":
            self.closed = (message.get("code", status.WS_1000_NORMAL_CLOSURE), message.get("reason"))
            self.application_state = _State.DISCONNECTED
        self._changed.set()

    async def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str | None = None) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    async def wait_for(self, count: int, timeout: float = WAIT) -> list[str | bytes]:
        """The first ``count`` payloads once they came; ``AssertionError`` with what came if not in time."""
        deadline = time.monotonic() + timeout
        while len(self.sent) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} messages within {timeout:g}s, got {self.sent!r}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.sent[:count]


@dataclass(frozen=True)
class BackendContract:
    """What to check: ``make_backend`` gives a new, unstarted backend per hub (sharing one broker when
    ``spans_processes``); ``history``: it implements ``publish_history``/``read_stream``/``open_stream``."""

    make_backend: Callable[[], Backend]
    spans_processes: bool = True
    history: bool = True


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[BackendContract], Awaitable[None]]


@contextlib.asynccontextmanager
async def _hubs(contract: BackendContract, count: int, **options: Any) -> AsyncIterator[list[Hub]]:
    hubs = [Hub(backend=contract.make_backend(), **options) for _ in range(count)]
    try:
        for hub in hubs:
            await hub.start()
        yield hubs
    finally:
        for hub in hubs:
            await hub.aclose()


@contextlib.asynccontextmanager
async def _members(hub: Hub, room: str, count: int, **join: Any) -> AsyncIterator[list[RecordingSocket]]:
    sockets = [RecordingSocket() for _ in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        for socket in sockets:
            await stack.enter_async_context(hub.join(room, socket, **join))
        yield sockets


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {WAIT:g}s")
        await asyncio.sleep(0.01)


def _room(name: str) -> str:
    return f"contract:{name}:{time.monotonic_ns()}"  # a fresh room per run on a shared broker


# -- the checks ------------------------------------------------------------------------------------------
async def check_every_member_gets_each_message_once_in_order(contract: BackendContract) -> None:
    room = _room("order")
    async with _hubs(contract, 1) as (hub,), _members(hub, room, 2) as members:
        values: list[Any] = [f"text {i}" for i in range(20)] + [b"\x00bytes", {"json": [1, 2]}]
        for value in values:
            await hub.publish(room, value)
        expected = [*values[:21], '{"json":[1,2]}']
        for member in members:
            got = await member.wait_for(len(values))
            assert got == expected, f"expected each message once, in publish order: {expected!r}, got {got!r}"
        await asyncio.sleep(0.05)
        assert all(len(member.sent) == len(values) for member in members), "a message came twice"


async def check_a_key_used_twice_delivers_once(contract: BackendContract) -> None:
    room = _room("key")
    async with _hubs(contract, 1) as (hub,), _members(hub, room, 1) as (member,):
        await hub.publish(room, "once", idempotency_key="k1")
        await hub.publish(room, "once", idempotency_key="k1")
        await hub.publish(room, "after")
        got = await member.wait_for(2)
        assert got == ["once", "after"], f"a key used twice must deliver once; got {got!r}"


async def check_count_sees_the_members(contract: BackendContract) -> None:
    room = _room("count")
    async with _hubs(contract, 1) as (hub,), _members(hub, room, 3):
        await _until(lambda: _equals(hub.count(room), 3), "count() == 3")
    async with _hubs(contract, 1) as (hub,):
        assert await hub.count(room) == 0, "members that left are still counted"


async def check_a_stopped_hub_starts_again(contract: BackendContract) -> None:
    room = _room("restart")
    hub = Hub(backend=contract.make_backend())
    for round_ in range(2):
        await hub.start()
        async with _members(hub, room, 1) as (member,):
            await hub.publish(room, f"round {round_}")
            got = await member.wait_for(1)
            assert got == [f"round {round_}"], f"after restart {round_}: got {got!r}"
        await hub.aclose()
        await hub.aclose()  # idempotent


async def check_a_publish_reaches_the_other_processes(contract: BackendContract) -> None:
    room = _room("across")
    async with _hubs(contract, 2) as (one, two), _members(one, room, 1) as (a,), _members(two, room, 1) as (b,):
        await _until(lambda: _equals(one.count(room), 2), "both hubs' members counted")
        for i in range(10):
            await (one if i % 2 else two).publish(room, i)
        for member in (a, b):
            got = await member.wait_for(10)
            assert sorted(got, key=int) == [str(i) for i in range(10)], got
            odd = [x for x in got if int(x) % 2]
            assert odd == sorted(odd, key=int), f"one publisher's messages out of order: {got}"


async def check_history_gives_gap_free_positions_and_replays(contract: BackendContract) -> None:
    room = _room("history")
    async with _hubs(contract, 1, history_size=10) as (hub,):
        positions = [await hub.publish(room, f"m{i}") for i in range(5)]
        assert all(isinstance(p, Position) for p in positions), f"publish must return positions, got {positions}"
        epochs = {p.epoch for p in positions if p is not None}
        offsets = [p.offset for p in positions if p is not None]
        assert len(epochs) == 1 and offsets == [1, 2, 3, 4, 5], f"expected offsets 1-5 in one epoch: {positions}"
        history = await hub.history(room)
        assert [m.data for m in history.messages] == [f"m{i}" for i in range(5)], f"history: {history}"
        assert history.top == positions[-1], f"history top {history.top} is not the last publish {positions[-1]}"
        since = await hub.history(room, since=positions[1])
        assert since.recovered and [m.data for m in since.messages] == ["m2", "m3", "m4"], f"after 2: {since}"
        async with _members(hub, room, 1, since=positions[2]) as (member,):
            got = await member.wait_for(2)
            assert got == ["m3", "m4"], f"a member joining since offset 3 must get 4 and 5 replayed; got {got!r}"
        idle = _room("idle")
        async with hub.join(idle, RecordingSocket()) as joined:
            position = joined.position
            assert position is not None and position.offset == 0, f"an idle room's position: {position}"


async def check_history_is_shared_by_the_processes(contract: BackendContract) -> None:
    room = _room("shared-history")
    async with _hubs(contract, 2, history_size=10) as (one, two):
        first = await one.publish(room, "from one")
        second = await two.publish(room, "from two")
        assert first is not None and second is not None, "publish with history must return a position"
        assert (second.epoch, second.offset) == (first.epoch, first.offset + 1), f"{first} then {second}"
        history = await two.history(room)
        got = [m.data for m in history.messages]
        assert got == ["from one", "from two"], f"both processes' publications, in order; got {got!r}"


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


_ALWAYS = (
    check_every_member_gets_each_message_once_in_order,
    check_a_key_used_twice_delivers_once,
    check_count_sees_the_members,
    check_a_stopped_hub_starts_again,
)
_ACROSS = (check_a_publish_reaches_the_other_processes,)
_HISTORY = (check_history_gives_gap_free_positions_and_replays,)
_HISTORY_ACROSS = (check_history_is_shared_by_the_processes,)


def backend_checks(contract: BackendContract) -> list[Check]:
    """The checks that apply to ``contract`` (history and cross-process ones only where it says so)."""

    def chosen() -> Iterator[Callable[[BackendContract], Awaitable[None]]]:
        yield from _ALWAYS
        if contract.spans_processes:
            yield from _ACROSS
        if contract.history:
            yield from _HISTORY
            if contract.spans_processes:
                yield from _HISTORY_ACROSS

    return [Check(run.__name__.removeprefix("check_"), run) for run in chosen()]


async def check_backend(contract: BackendContract) -> None:
    """Run every check that applies, in order; the first failure raises ``AssertionError``."""
    for check in backend_checks(contract):
        await check.run(contract)


__all__ = ["BackendContract", "Check", "RecordingSocket", "backend_checks", "check_backend"]
