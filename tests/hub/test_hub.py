"""The Hub in one process: rooms, publish, outboxes and their overflow policy, ordering, shutdown.

Raw-ASGI tests (``FakeSocket``) control exactly when a socket drains; TestClient tests use the
App as a user would.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from sockjet import App, Hub, WebSocket, WebSocketDisconnect
from sockjet.exceptions import ConfigurationError, PayloadTooLarge
from sockjet.hub import OVERFLOW_CLOSE_CODE, SHUTDOWN_CLOSE_CODE, Envelope, Member
from sockjet.hub.backends import MemoryBackend
from sockjet.testclient import TestClient
from sockjet.types import Message
from tests.conftest import MS
from tests.hub_fakes import FakeSocket, connected


async def member_of(hub: Hub, room: str, sock: FakeSocket, **options: Any) -> tuple[asyncio.Task[None], Member]:
    """Run an endpoint that joins ``room`` and waits for the client to leave; returns it and its member."""
    joined: asyncio.Future[Member] = asyncio.get_running_loop().create_future()

    async def endpoint() -> None:
        async with hub.join(room, sock.websocket, **options) as member:
            joined.set_result(member)
            async for _ in sock.websocket.iter_text():
                pass

    task = asyncio.create_task(endpoint())
    return task, await asyncio.wait_for(joined, 2000 * MS)


async def leave(sock: FakeSocket, task: asyncio.Task[None]) -> None:
    sock.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 2000 * MS)


def other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


# -- publish and rooms ---------------------------------------------------------------------------
async def test_publish_reaches_every_member_as_text_binary_or_json() -> None:
    async with Hub() as hub:
        socks = [await connected() for _ in range(3)]
        joined = [await member_of(hub, "r", s) for s in socks]
        await hub.publish("r", "héllo")
        await hub.publish("r", b"\x00\x01")
        await hub.publish("r", {"n": 1, "s": "é"})
        for sock in socks:
            assert await sock.wait_data(3) == ["héllo", b"\x00\x01", '{"n":1,"s":"é"}']
        for sock, (task, _) in zip(socks, joined, strict=True):
            await leave(sock, task)


async def test_publish_needs_no_membership_and_only_reaches_its_room() -> None:
    async with Hub() as hub:
        a, b = await connected(), await connected()
        task_a, _ = await member_of(hub, "a", a)
        task_b, _ = await member_of(hub, "b", b)
        await hub.publish("a", "for a")
        await hub.publish("nobody-here", "lost")
        await a.wait_data(1)
        await asyncio.sleep(5 * MS)
        assert (a.data, b.data) == (["for a"], [])
        await leave(a, task_a)
        await leave(b, task_b)


async def test_one_connection_in_several_rooms_has_one_outbox() -> None:
    async with Hub() as hub:
        sock = await connected()
        ws = sock.websocket
        async with hub.join("x", ws) as in_x, hub.join("y", ws) as in_y:
            assert in_x is in_y is hub.member(ws)
            assert in_x.rooms == {"x", "y"}
            assert sorted(hub.rooms()) == ["x", "y"]
            await hub.publish("x", "1")
            await hub.publish("y", "2")
            await hub.publish("x", "3")
            assert await sock.wait_data(3) == ["1", "2", "3"]
        assert hub.member(ws) is None
        assert hub.rooms() == []


async def test_members_and_counts() -> None:
    async with Hub() as hub:
        socks = [await connected() for _ in range(3)]
        joined = [await member_of(hub, "r", s) for s in socks]
        assert hub.members("r") == tuple(m for _, m in joined)
        assert hub.local_count("r") == 3
        assert await hub.count("r") == 3
        await leave(socks[0], joined[0][0])
        assert hub.local_count("r") == 2
        assert await hub.count("r") == 2
        assert hub.members("empty") == ()
        for sock, (task, _) in zip(socks[1:], joined[1:], strict=True):
            await leave(sock, task)
        assert await hub.count("r") == 0


async def test_nested_joins_of_one_room_count_once_and_leave_with_the_outermost() -> None:
    async with Hub() as hub:
        ws = (await connected()).websocket
        async with hub.join("r", ws) as outer:
            async with hub.join("r", ws) as inner:
                assert inner is outer
                assert hub.local_count("r") == 1
            assert hub.local_count("r") == 1
            assert not outer.closed
        assert hub.local_count("r") == 0
        assert outer.closed


async def test_leaving_on_any_exit_ends_the_writer() -> None:
    async with Hub() as hub:
        sock = await connected()
        before = other_tasks()
        with pytest.raises(ZeroDivisionError):
            async with hub.join("r", sock.websocket) as member:
                assert other_tasks() == before  # an idle member has no task
                sock.stalled = True
                await hub.publish("r", "stuck")  # a writer sends it
                assert len(other_tasks() - before) == 1
                raise ZeroDivisionError
        assert member.closed
        assert hub.local_count("r") == 0
        assert other_tasks() == before

        task, member = await member_of(hub, "r", sock)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert hub.local_count("r") == 0
        assert other_tasks() == before


async def test_join_errors() -> None:
    async with Hub() as hub:
        fresh = FakeSocket()
        with pytest.raises(
            RuntimeError,
            match=re.escape(
                "Cannot join room 'r': the WebSocket is not connected. Call 'await websocket.accept()' first."
            ),
        ):
            async with hub.join("r", fresh.websocket):
                pass  # pragma: no cover - not reached
        with pytest.raises(TypeError, match=re.escape("A room is a non-empty str, got ''.")):
            hub.join("", fresh.websocket)
        ws = (await connected()).websocket
        joining = hub.join("r", ws)
        async with joining:
            with pytest.raises(RuntimeError, match=re.escape("This hub.join(...) context is already in use")):
                async with joining:
                    pass  # pragma: no cover - not reached
            message = (
                "This WebSocket already has an outbox with overflow='close'; it cannot join 's' with "
                "overflow='drop_oldest'. A connection has one outbox per hub: pass the same options, or none."
            )
            with pytest.raises(ConfigurationError, match=re.escape(message)):
                async with hub.join("s", ws, overflow="drop_oldest"):
                    pass  # pragma: no cover - not reached
            async with hub.join("s", ws, overflow="close", max_queue=hub.max_queue) as member:
                assert member.overflow == "close"


async def test_publish_errors() -> None:
    async with Hub(max_payload=4) as hub:
        with pytest.raises(
            PayloadTooLarge, match=re.escape("Cannot publish 5 bytes to room 'r': the hub's max_payload is 4")
        ):
            await hub.publish("r", "12345")
        with pytest.raises(TypeError, match=re.escape("Cannot publish 'set': pass str, bytes or a JSON-serializable")):
            await hub.publish("r", {1, 2})
        with pytest.raises(TypeError, match=re.escape("A room is a non-empty str, got 3.")):
            await hub.publish(3, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"url": "http://127.0.0.1"},
            "Unsupported hub URL 'http://127.0.0.1': use None or 'memory://' for one process",
        ),
        ({"max_payload": 0}, "max_payload must be an int >= 1, got 0."),
        ({"timeout": 0}, "timeout must be a number > 0, got 0."),
        ({"drain_timeout": "1"}, "drain_timeout must be a number > 0, got '1'."),
        ({"overflow": "wait"}, "overflow must be one of 'close', 'drop_oldest', got 'wait'."),
        ({"max_queue": -1}, "max_queue must be an int >= 1, got -1."),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Hub(**options)


async def test_memory_url_and_lazy_start() -> None:
    hub = Hub("memory://")
    assert repr(hub) == "Hub('memory://')"
    assert not hub.running
    await hub.publish("r", "nobody listens")  # starts it
    assert hub.running
    await hub.aclose()
    await hub.aclose()  # idempotent
    assert not hub.running
    assert await hub.count("r") == 0
    await hub.aclose()


# -- outboxes: slow and stalled members --------------------------------------------------------------
async def test_a_member_that_never_drains_is_closed_and_the_others_get_everything() -> None:
    async with Hub() as hub:
        stalled = await connected(stalled=True)
        healthy = [await connected(send_cost=0.1 * MS) for _ in range(3)]
        stalled_task, stalled_member = await member_of(hub, "r", stalled, max_queue=8)
        joined = [await member_of(hub, "r", s) for s in healthy]
        for i in range(50):
            await hub.publish("r", str(i))
        for sock in healthy:
            assert await sock.wait_data(50) == [str(i) for i in range(50)]
        assert await stalled.wait_closed() == {
            "type": "websocket.close",
            "code": OVERFLOW_CLOSE_CODE,
            "reason": "outbox full",
        }
        assert stalled.data == []
        assert stalled_member.closed and stalled_member.close_code == 1013
        assert stalled_member not in hub.members("r")
        assert hub.local_count("r") == 3
        await stalled_member.wait_closed()
        await leave(stalled, stalled_task)
        for sock, (task, _) in zip(healthy, joined, strict=True):
            await leave(sock, task)


async def test_drop_oldest_keeps_the_newest_and_counts_what_it_dropped() -> None:
    async with Hub(overflow="drop_oldest", max_queue=4) as hub:
        stalled = await connected(stalled=True)
        task, member = await member_of(hub, "r", stalled)
        await hub.publish("r", "0")
        await stalled.wait_until(lambda s: s.in_flight == 1)  # the writer is stuck sending "0"
        for i in range(1, 10):
            await hub.publish("r", str(i))
        assert (member.queued, member.dropped) == (4, 5)
        stalled.release.set()
        assert await stalled.wait_data(5) == ["0", "6", "7", "8", "9"]
        assert not member.closed
        await leave(stalled, task)


async def test_overflow_policy_per_join() -> None:
    async with Hub(overflow="close", max_queue=2) as hub:
        stalled = await connected(stalled=True)
        task, member = await member_of(hub, "r", stalled, overflow="drop_oldest", max_queue=3)
        for i in range(10):
            await hub.publish("r", str(i))
        assert (member.overflow, member.queued, member.closed) == ("drop_oldest", 3, False)
        stalled.release.set()
        await leave(stalled, task)


async def test_a_vanished_peer_is_forgotten_and_the_others_are_unaffected() -> None:
    async with Hub() as hub:
        gone, alive = await connected(broken=True), await connected()
        gone_task, gone_member = await member_of(hub, "r", gone)
        alive_task, _ = await member_of(hub, "r", alive)
        await hub.publish("r", "1")
        await gone_member.wait_closed()
        assert gone_member.closed and gone_member.close_code is None
        assert hub.members("r") == (hub.member(alive.websocket),)
        await hub.publish("r", "2")
        assert await alive.wait_data(2) == ["1", "2"]
        await leave(gone, gone_task)
        await leave(alive, alive_task)


async def test_an_endpoint_that_closes_its_socket_inside_the_join_is_forgotten() -> None:
    async with Hub() as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket) as member:
            await sock.websocket.close(4000)
            await hub.publish("r", "after close")
            await member.wait_closed()
            assert hub.local_count("r") == 0
            member.close(4001)  # its close frame cannot be sent any more: nothing raises
            await member.wait_closed()
        assert sock.data == []


# -- ordering and the connection's own sends -------------------------------------------------------------
async def test_one_publisher_one_room_every_member_in_publish_order() -> None:
    async with Hub(max_queue=1000) as hub:
        socks = [await connected(send_cost=0.01 * MS * i) for i in range(4)]
        joined = [await member_of(hub, "r", s) for s in socks]
        expected = [f"m{i}" for i in range(300)]
        for text in expected:
            await hub.publish("r", text)
        for sock in socks:
            assert await sock.wait_data(300) == expected
        for sock, (task, _) in zip(socks, joined, strict=True):
            await leave(sock, task)


async def test_member_send_is_ordered_with_deliveries_and_sends_never_overlap() -> None:
    async with Hub() as hub:
        sock = await connected(send_cost=0.05 * MS)
        async with hub.join("r", sock.websocket) as member:
            expected: list[str | bytes] = []
            for i in range(20):
                await hub.publish("r", f"pub{i}")
                await member.send(f"own{i}")
                expected += [f"pub{i}", f"own{i}"]
            await member.send(b"bin")
            await member.send({"k": "v"})
            assert await sock.wait_data(42) == [*expected, b"bin", '{"k":"v"}']
            assert sock.max_in_flight == 1


async def test_direct_sends_beside_the_writer_stay_whole_and_in_each_ones_order() -> None:
    """``websocket.send_*`` from the endpoint runs beside the writer: each ASGI send is one whole
    message, so frames never mix; each side's own order is kept, the two are interleaved."""
    async with Hub() as hub:
        sock = await connected(send_cost=0.05 * MS)
        async with hub.join("r", sock.websocket):

            async def publisher() -> None:
                for i in range(30):
                    await hub.publish("r", f"pub{i}")
                    await asyncio.sleep(0)

            async def direct() -> None:
                for i in range(30):
                    await sock.websocket.send_text(f"own{i}")

            await asyncio.gather(publisher(), direct())
            data = await sock.wait_data(60)
        assert sorted(data) == sorted([f"pub{i}" for i in range(30)] + [f"own{i}" for i in range(30)])
        assert [d for d in data if str(d).startswith("pub")] == [f"pub{i}" for i in range(30)]
        assert [d for d in data if str(d).startswith("own")] == [f"own{i}" for i in range(30)]


async def test_member_close_by_the_application() -> None:
    async with Hub() as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket) as member:
            await member.send("bye")
            member.close(4001, "kicked", drain=1000 * MS)
            member.close(4002)  # only the first close counts
            await member.wait_closed()
            assert sock.data == ["bye"]
            assert sock.close_message == {"type": "websocket.close", "code": 4001, "reason": "kicked"}
            await member.send("ignored once closed")
            assert member.rooms == frozenset() and hub.local_count("r") == 0  # out of every room at once


# -- shutdown -----------------------------------------------------------------------------------------
async def test_shutdown_closes_every_member_with_1001_and_leaves_no_task() -> None:
    before = other_tasks()
    hub = Hub(drain_timeout=20 * MS, close_timeout=20 * MS)
    socks = [await connected(), await connected(), await connected(stalled=True)]
    async with hub.lifespan(None):
        joined = [await member_of(hub, room, s) for room, s in zip("abb", socks, strict=True)]
        await hub.publish("a", "flushed before the close")
        await hub.publish("b", "never sent to the stalled one")
    assert not hub.running
    assert socks[0].data == ["flushed before the close"]
    for sock in socks:
        assert sock.close_message == {
            "type": "websocket.close",
            "code": SHUTDOWN_CLOSE_CODE,
            "reason": "server shutting down",
        }
    for sock, (task, member) in zip(socks, joined, strict=True):
        assert member.closed
        await leave(sock, task)
    assert other_tasks() == before


def test_app_lifespan_starts_and_stops_the_hub() -> None:
    hub = Hub()
    app = App(lifespan=hub.lifespan)

    @app.websocket("/ws/{room}")
    async def chat(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async with hub.join(room, websocket):
            async for text in websocket.iter_text():
                await hub.publish(room, text)

    with TestClient(app) as client:
        assert hub.running
        with client.websocket_connect("/ws/x") as a, client.websocket_connect("/ws/x") as b:
            a.send_text("hi")
            assert a.receive_text(timeout=2000 * MS) == "hi"
            assert b.receive_text(timeout=2000 * MS) == "hi"
    assert not hub.running


def test_sessions_on_separate_loops_share_a_memory_hub() -> None:
    """Without ``with TestClient(app)`` each session runs on its own loop (and thread)."""
    hub = Hub()
    app = App()

    @app.websocket("/ws")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        async with hub.join("r", websocket):
            async for text in websocket.iter_text():
                await hub.publish("r", text)

    client = TestClient(app)
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        a.send_text("across loops")
        assert b.receive_text(timeout=2000 * MS) == "across loops"
        assert a.receive_text(timeout=2000 * MS) == "across loops"


async def test_a_join_whose_backend_fails_leaves_nothing_behind() -> None:
    class FailingBackend(MemoryBackend):
        async def sync_room(self, room: str) -> None:
            raise RuntimeError("backend refused")

    hub = Hub()
    hub._make_backend = FailingBackend  # type: ignore[method-assign]
    async with hub:
        sock = await connected()
        before = other_tasks()
        with pytest.raises(RuntimeError, match=re.escape("backend refused")):
            async with hub.join("r", sock.websocket):
                pass  # pragma: no cover - not reached
        assert (hub.local_count("r"), hub.member(sock.websocket)) == (0, None)
        assert other_tasks() == before


async def test_a_stopped_memory_backend_delivers_nothing() -> None:
    backend = MemoryBackend()
    await backend.publish(Envelope("r", "x"))
    assert await backend.count("r") == 0


async def test_a_starlette_websocket_can_join() -> None:
    """FastAPI/Starlette apps can use the hub with their own WebSocket objects."""
    from starlette.websockets import WebSocket as StarletteWebSocket

    sock = FakeSocket()
    websocket = StarletteWebSocket(sock.websocket.scope, sock.incoming.get, sock._send)
    sock.incoming.put_nowait({"type": "websocket.connect"})
    await websocket.accept()
    async with Hub() as hub, hub.join("r", websocket):
        await hub.publish("r", {"from": "hub"})
        assert await sock.wait_data(1) == ['{"from":"hub"}']


async def test_a_socket_that_breaks_in_the_middle_of_sends_is_forgotten() -> None:
    """A send that suspends and then fails, with more queued behind it: the writer stops the member."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            await asyncio.sleep(0)
            await asyncio.sleep(0)  # suspends twice, as a send waiting for a writable socket can
            if len(sent) >= 2:
                raise OSError("connection reset by peer")
        sent.append(message)

    sock = FakeSocket()
    websocket = WebSocket(sock.websocket.scope, sock.incoming.get, send)
    sock.incoming.put_nowait({"type": "websocket.connect"})
    await websocket.accept()
    async with Hub() as hub, hub.join("r", websocket) as member:
        await asyncio.sleep(0)  # the new member's writer starts and waits for work
        await hub.publish("r", "1")  # sent, after suspending twice
        await hub.publish("r", "2")  # fails
        await hub.publish("r", "3")
        await member.wait_closed()
        assert member.closed and hub.local_count("r") == 0
        assert [m.get("text") for m in sent] == [None, "1"]
        await hub.publish("r", "4")  # nobody to deliver to


async def test_a_send_that_fails_after_suspending_stops_the_member() -> None:
    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            await asyncio.sleep(0)
            raise OSError("connection reset by peer")

    sock = FakeSocket()
    websocket = WebSocket(sock.websocket.scope, sock.incoming.get, send)
    sock.incoming.put_nowait({"type": "websocket.connect"})
    await websocket.accept()
    async with Hub() as hub, hub.join("r", websocket) as member:
        await hub.publish("r", "lost")
        await member.wait_closed()
        assert member.closed and hub.local_count("r") == 0


async def test_a_member_whose_close_cannot_be_sent_has_its_join_block_ended() -> None:
    """The socket takes nothing, not even the close frame: the endpoint still ends, with 1013."""
    never = asyncio.Event()

    async def send(message: Message) -> None:
        if message["type"] != "websocket.accept":
            await never.wait()

    sock = FakeSocket()
    websocket = WebSocket(sock.websocket.scope, sock.incoming.get, send)
    sock.incoming.put_nowait({"type": "websocket.connect"})
    await websocket.accept()
    async with Hub(max_queue=2, close_timeout=20 * MS) as hub:
        joined = asyncio.Event()

        async def endpoint() -> int:
            try:
                async with hub.join("r", websocket):
                    joined.set()
                    await websocket.receive_text()  # nothing ever comes
            except WebSocketDisconnect as exc:
                return exc.code
            raise AssertionError("not reached")  # pragma: no cover

        task = asyncio.create_task(endpoint())
        await joined.wait()
        for i in range(5):
            await hub.publish("r", str(i))
        assert await asyncio.wait_for(task, 2000 * MS) == 1013
        assert hub.local_count("r") == 0
        never.set()


async def test_the_join_block_of_a_member_closed_normally_is_not_interrupted() -> None:
    async with Hub() as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket) as member:
            member.close(4000)
            await member.wait_closed()
            await asyncio.sleep(0)
            assert sock.close_message is not None
        assert not member.interrupted
