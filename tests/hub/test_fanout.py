"""Direct delivery: an idle member's send runs in the publishing task; a send that suspends goes to its writer.

``FlowSocket`` behaves like uvicorn's websockets-sansio ``send``: it completes without
suspending while the transport is writable, and suspends (awaits ``writable``) once more than
``high_water`` bytes are buffered and the client has not read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

import pytest

from sockjet import Hub, WebSocket
from sockjet.hub import OVERFLOW_CLOSE_CODE, Member, MemberState
from sockjet.hub.handoff import Unfinished
from sockjet.types import Message
from tests.conftest import MS
from tests.hub_fakes import websocket_scope
from tests.timing import until


class FlowSocket:
    """A connection with a flow-controlled transport: ``buffered`` bytes until the client ``read``s them."""

    def __init__(self, high_water: int = 100) -> None:
        self.high_water = high_water
        self.writable = asyncio.Event()
        self.writable.set()
        self.buffered = 0
        self.frames: list[str] = []
        """Every data frame written to the transport, in order."""
        self.suspended = 0
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.websocket = WebSocket(websocket_scope(), self.incoming.get, self._send)

    async def _send(self, message: Message) -> None:
        if not self.writable.is_set():
            self.suspended += 1
        await self.writable.wait()  # does not suspend while writable, as uvicorn's
        if message["type"] == "websocket.send":
            text = message["text"]
            self.frames.append(text)
            self.buffered += len(text)
            if self.buffered > self.high_water:
                self.writable.clear()  # the transport's pause_writing()

    def read(self) -> None:
        """The client read everything: the transport's resume_writing()."""
        self.buffered = 0
        self.writable.set()

    async def accept(self) -> FlowSocket:
        self.incoming.put_nowait({"type": "websocket.connect"})
        await self.websocket.accept()
        return self


def other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_idle_members_are_sent_to_by_the_publisher_itself_with_no_task() -> None:
    async with Hub() as hub:
        socks = [await FlowSocket(high_water=10_000).accept() for _ in range(3)]
        for sock in socks:
            await hub.join("r", sock.websocket).__aenter__()
        before = other_tasks()
        for i in range(5):
            await hub.publish("r", f"m{i}")
            # Sent before publish returned: no writer, no yield to the loop needed.
            assert all(sock.frames[-1] == f"m{i}" for sock in socks)
        assert other_tasks() == before
        assert all(m.state is MemberState.IDLE for m in hub.members("r"))


async def test_order_is_kept_across_the_switch_from_direct_to_queued_and_back() -> None:
    async with Hub(max_queue=100) as hub:
        sock = await FlowSocket(high_water=25).accept()  # 3 frames of 10 bytes, then it pauses
        member = await hub.join("r", sock.websocket).__aenter__()
        sent = [f"m{i:08d}" for i in range(20)]
        for text in sent[:10]:
            await hub.publish("r", text)
        # m0..m2 went straight to the transport; m3's send suspended and went to the writer; m4.. queued.
        assert sock.frames == sent[:3]
        assert (member.state, member.queued) == (MemberState.BUSY, 6)
        await member.send(sent[10])  # the member's own sends queue behind, in order
        for text in sent[11:15]:
            await hub.publish("r", text)
        while len(sock.frames) < 15:
            sock.read()
            await asyncio.sleep(0)
        await until(lambda: member.state is MemberState.IDLE, poll=0)
        assert sock.frames == sent[:15]
        sock.read()
        sock.high_water = 1000
        for text in sent[15:]:  # idle again: direct again
            await hub.publish("r", text)
        assert sock.frames == sent
        assert sock.suspended >= 1


@pytest.mark.parametrize("overflow", ["drop_oldest", "close"])
async def test_a_member_whose_socket_stops_draining_never_holds_more_than_its_outbox_limits(overflow: Any) -> None:
    max_queue, max_queue_bytes, size = 4, 35, 10  # the byte bound bites first: 3 messages
    async with Hub(max_queue=max_queue, max_queue_bytes=max_queue_bytes, overflow=overflow) as hub:
        frozen = await FlowSocket(high_water=25).accept()
        healthy = await FlowSocket(high_water=1 << 30).accept()
        member = await hub.join("r", frozen.websocket).__aenter__()
        await hub.join("r", healthy.websocket).__aenter__()
        held: list[tuple[int, int]] = []
        for i in range(200):
            await hub.publish("r", f"{i:0{size}d}")
            held.append((member.queued, member.queued_bytes))
            if i % 7 == 0:
                await asyncio.sleep(0)  # let the writer run: it stays stuck in the suspended send
        assert max(q for q, _ in held) <= max_queue
        assert max(b for _, b in held) <= max_queue_bytes
        # What the transport took before it paused, plus the one send in flight: nothing else is held.
        assert len(frozen.frames) == 3
        assert healthy.frames == [f"{i:0{size}d}" for i in range(200)]
        if overflow == "close":
            assert member.closed and member.close_code == OVERFLOW_CLOSE_CODE
        else:
            assert (member.state, member.queued, member.dropped) == (MemberState.BUSY, 3, 200 - 3 - 1 - 3)
            frozen.read()
            while member.state is MemberState.BUSY:
                frozen.read()
                await asyncio.sleep(0)
            assert frozen.frames[:4] == [f"{i:0{size}d}" for i in range(4)]  # the in-flight one, not lost
            assert frozen.frames[4:] == [f"{i:0{size}d}" for i in range(197, 200)]  # the newest 3


async def test_closing_a_member_cancels_the_send_its_writer_took_over() -> None:
    async with Hub(close_timeout=50 * MS) as hub:
        sock = await FlowSocket(high_water=3).accept()
        member = await hub.join("r", sock.websocket).__aenter__()
        await hub.publish("r", "first")  # written, then the transport pauses
        await hub.publish("r", "stuck")
        await asyncio.sleep(0)
        assert (member.state, sock.suspended) == (MemberState.BUSY, 1)
        member.close(4000)
        sock.read()  # too late: the send in flight was cancelled, not finished
        await asyncio.wait_for(member.wait_closed(), 2000 * MS)
        assert sock.frames == ["first"]
        assert member.state is MemberState.CLOSED


async def test_a_send_that_fails_at_once_stops_only_that_member() -> None:
    async def broken(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise OSError("connection reset by peer")

    async with Hub() as hub:
        sock = FlowSocket()
        websocket = WebSocket(websocket_scope(), sock.incoming.get, broken)
        sock.incoming.put_nowait({"type": "websocket.connect"})
        await websocket.accept()
        other = await FlowSocket(high_water=1000).accept()
        member: Member = await hub.join("r", websocket).__aenter__()
        await hub.join("r", other.websocket).__aenter__()
        await hub.publish("r", "x")
        assert member.state is MemberState.CLOSED and hub.local_count("r") == 1
        assert other.frames == ["x"]


# -- Unfinished, alone ------------------------------------------------------------------------------
def started(coro: Coroutine[Any, Any, Any]) -> Unfinished:
    pending = coro.send(None)
    return Unfinished(coro, pending)


async def test_an_unfinished_coroutine_is_finished_by_another_task() -> None:
    gate = asyncio.Event()
    steps: list[str] = []

    async def send() -> None:
        steps.append("start")
        await gate.wait()
        steps.append("resumed")
        await asyncio.sleep(0)
        steps.append("done")

    unfinished = started(send())
    assert steps == ["start"]

    async def finish() -> None:
        await unfinished

    task = asyncio.create_task(finish())
    await asyncio.sleep(0)
    assert steps == ["start"]
    gate.set()
    await asyncio.wait_for(task, 2000 * MS)
    assert steps == ["start", "resumed", "done"]


async def test_cancelling_the_finishing_task_cancels_the_coroutine_where_it_waits() -> None:
    seen: list[str] = []

    async def send() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            await asyncio.sleep(0)  # cleanup that awaits is still driven to the end
            seen.append("cleaned up")
            raise

    unfinished = started(send())

    async def finish() -> None:
        await unfinished

    task = asyncio.create_task(finish())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled", "cleaned up"]


async def test_an_exception_thrown_in_and_swallowed_ends_the_await() -> None:
    async def send() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return  # swallowed: the await simply ends

    unfinished = started(send())

    async def finish() -> str:
        await unfinished
        return "ended"

    task = asyncio.create_task(finish())
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "ended"


def test_closing_the_awaiting_generator_closes_the_coroutine() -> None:
    closed: list[bool] = []

    class Suspend:
        def __await__(self) -> Generator[None, None, None]:
            yield

    async def send() -> None:
        try:
            await Suspend()
        finally:
            closed.append(True)

    unfinished = started(send())
    awaiting = unfinished.__await__()
    assert next(awaiting) is None  # the bare yield of the coroutine, passed on
    awaiting.close()
    assert closed == [True]


# -- a member's end, on every path ----------------------------------------------------------------
async def test_a_broken_socket_found_by_member_send_stops_the_member_and_waiters_all_return() -> None:
    async def broken(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise OSError("connection reset by peer")

    async with Hub() as hub:
        sock = FlowSocket()
        websocket = WebSocket(websocket_scope(), sock.incoming.get, broken)
        sock.incoming.put_nowait({"type": "websocket.connect"})
        await websocket.accept()
        member = await hub.join("r", websocket).__aenter__()
        waiters = [asyncio.create_task(member.wait_closed()) for _ in range(2)]
        await asyncio.sleep(0)
        await member.send("x")
        await asyncio.wait_for(asyncio.gather(*waiters), 2000 * MS)
        assert member.state is MemberState.CLOSED and hub.local_count("r") == 0


async def test_a_drain_that_finds_the_writer_already_done_closes_at_once() -> None:
    async with Hub() as hub:
        sock = await FlowSocket(high_water=3).accept()
        member = await hub.join("r", sock.websocket).__aenter__()
        await hub.publish("r", "first")
        await hub.publish("r", "second")  # suspends: the writer has it
        await asyncio.sleep(0)
        sock.high_water = 1000
        sock.read()  # the writer will finish before the closer starts
        member.close(4000, drain=1000 * MS)
        assert member.state is MemberState.DRAINING
        await asyncio.wait_for(member.wait_closed(), 2000 * MS)
        assert sock.frames == ["first", "second"]


async def test_a_socket_that_breaks_while_draining_ends_the_member_without_a_close() -> None:
    release = asyncio.Event()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send" and message["text"] == "breaks":
            await release.wait()
            raise OSError("connection reset by peer")
        sent.append(message)

    async with Hub() as hub:
        sock = FlowSocket()
        websocket = WebSocket(websocket_scope(), sock.incoming.get, send)
        sock.incoming.put_nowait({"type": "websocket.connect"})
        await websocket.accept()
        member = await hub.join("r", websocket).__aenter__()
        await hub.publish("r", "breaks")
        member.close(4000, drain=1000 * MS)
        release.set()
        await asyncio.wait_for(member.wait_closed(), 2000 * MS)
        assert member.state is MemberState.CLOSED
        assert [m["type"] for m in sent] == ["websocket.accept"]  # no close frame to a broken socket


async def test_a_send_that_fails_while_being_cancelled_leaves_the_close_to_the_closer() -> None:
    gate = asyncio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            try:
                await gate.wait()
            except asyncio.CancelledError:
                raise OSError("connection reset by peer") from None

    async with Hub(close_timeout=50 * MS) as hub:
        sock = FlowSocket()
        websocket = WebSocket(websocket_scope(), sock.incoming.get, send)
        sock.incoming.put_nowait({"type": "websocket.connect"})
        await websocket.accept()
        member = await hub.join("r", websocket).__aenter__()
        await hub.publish("r", "stuck")
        await asyncio.sleep(0)
        member.close(4000)
        await asyncio.wait_for(member.wait_closed(), 2000 * MS)
        assert member.state is MemberState.CLOSED and member.close_code == 4000


async def test_a_close_the_socket_refuses_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with Hub() as hub:
        sock = await FlowSocket().accept()
        member = await hub.join("r", sock.websocket).__aenter__()
        await sock.websocket.close()  # the endpoint closed it itself
        caplog.set_level("DEBUG", logger="sockjet.hub")
        member.close(4000)
        await asyncio.wait_for(member.wait_closed(), 2000 * MS)
        assert "with 4000 did not complete" in caplog.text


async def test_join_blocks_outside_a_task_are_not_tracked() -> None:
    async with Hub() as hub:
        sock = await FlowSocket().accept()
        member = await hub.join("r", sock.websocket).__aenter__()
        member._entered(None)
        assert member._exited(None, None) is False
        assert not member.interrupted
