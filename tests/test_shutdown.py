"""Graceful shutdown: the lifespan shutdown and SIGTERM drain open connections with 1001."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from sockjet import App, WebSocket, WebSocketDisconnect
from sockjet.endpoints import WebSocketEndpoint
from sockjet.routing import WebSocketRoute
from sockjet.shutdown import ConnectionRegistry
from sockjet.types import Message
from tests.conftest import MS


class FakeServer:
    """Just enough of an ASGI server: a lifespan and connections whose close is echoed as a disconnect."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
        self.lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        scope = {"type": "lifespan", "state": {}}
        self.lifespan = asyncio.create_task(self.app(scope, self.lifespan_in.get, self.lifespan_out.put))
        self.lifespan_in.put_nowait({"type": "lifespan.startup"})
        assert (await self.lifespan_out.get())["type"] == "lifespan.startup.complete"

    async def stop(self) -> None:
        self.lifespan_in.put_nowait({"type": "lifespan.shutdown"})
        assert (await self.lifespan_out.get())["type"] == "lifespan.shutdown.complete"
        await self.lifespan

    async def connect(self, path: str = "/ws") -> asyncio.Queue[Message]:
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()

        async def send(message: Message) -> None:
            if message["type"] == "websocket.close":
                inbox.put_nowait({"type": "websocket.disconnect", "code": message["code"]})
            outbox.put_nowait(message)

        scope = {"type": "websocket", "path": path, "headers": [], "query_string": b"", "state": {}}
        self.tasks.append(asyncio.create_task(self.app(scope, inbox.get, send)))
        inbox.put_nowait({"type": "websocket.connect"})
        return outbox


def _app(ended: list[Any], **options: Any) -> App:
    app = App(**options)

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            ended.append(exc.code)

    @app.websocket("/stuck")
    async def stuck(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    return app


async def test_lifespan_shutdown_closes_every_connection_with_1001() -> None:
    ended: list[Any] = []
    server = FakeServer(_app(ended))
    await server.start()
    outboxes = [await server.connect() for _ in range(20)]
    for outbox in outboxes:
        assert (await outbox.get())["type"] == "websocket.accept"
    async with asyncio.timeout(5000 * MS):
        await server.stop()
        await asyncio.gather(*server.tasks)
    for outbox in outboxes:
        assert await outbox.get() == {"type": "websocket.close", "code": 1001, "reason": "server shutting down"}
    assert ended == [1001] * 20


async def test_endpoints_still_running_after_the_drain_time_are_cancelled() -> None:
    ended: list[Any] = []
    server = FakeServer(_app(ended, shutdown_timeout=50 * MS))
    await server.start()
    outbox = await server.connect("/stuck")
    assert (await outbox.get())["type"] == "websocket.accept"
    async with asyncio.timeout(5000 * MS):
        await server.stop()
        await asyncio.gather(*server.tasks, return_exceptions=True)
    assert (await outbox.get())["code"] == 1001
    assert ended == ["cancelled"]


async def test_handshakes_during_a_drain_are_refused_with_1013() -> None:
    ended: list[Any] = []
    app = _app(ended, shutdown_timeout=5000 * MS)
    server = FakeServer(app)
    await server.start()
    registry = app.connection_settings.registry
    assert registry is not None
    registry.closing = True
    outbox = await server.connect()
    assert await outbox.get() == {"type": "websocket.close", "code": 1013, "reason": "Server shutting down"}
    await server.stop()


async def test_class_endpoints_are_closed_too() -> None:
    class Quiet(WebSocketEndpoint):
        encoding = "text"

    app = App(routes=[WebSocketRoute("/ws", Quiet)])
    server = FakeServer(app)
    await server.start()
    outbox = await server.connect()
    assert (await outbox.get())["type"] == "websocket.accept"
    async with asyncio.timeout(5000 * MS):
        await server.stop()
        await asyncio.gather(*server.tasks)
    assert (await outbox.get())["code"] == 1001


async def test_shutdown_timeout_none_tracks_nothing() -> None:
    ended: list[Any] = []
    app = _app(ended, shutdown_timeout=None)
    assert app.connection_settings.registry is None
    server = FakeServer(app)
    await server.start()
    outbox = await server.connect()
    assert (await outbox.get())["type"] == "websocket.accept"
    await server.stop()
    assert outbox.empty()
    server.tasks[0].cancel()


@pytest.fixture
def server_handler() -> Iterator[list[int]]:
    """A Python-level SIGTERM handler standing in for the server's (uvicorn installs one)."""
    calls: list[int] = []

    def handler(sig: int, frame: FrameType | None) -> None:
        calls.append(sig)

    original = signal.signal(signal.SIGTERM, handler)
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, original)


async def test_sigterm_drains_before_the_server_hears_it(server_handler: list[int]) -> None:
    ended: list[Any] = []
    server = FakeServer(_app(ended))
    await server.start()
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    outbox = await server.connect()
    assert (await outbox.get())["type"] == "websocket.accept"
    signal.raise_signal(signal.SIGTERM)
    async with asyncio.timeout(5000 * MS):
        assert (await outbox.get())["code"] == 1001
        await asyncio.gather(*server.tasks)
        while not server_handler:
            await asyncio.sleep(MS)
    assert server_handler == [signal.SIGTERM]
    assert ended == [1001]
    signal.raise_signal(signal.SIGTERM)  # a second signal goes straight to the server
    assert server_handler == [signal.SIGTERM, signal.SIGTERM]
    await server.stop()
    assert getattr(signal.getsignal(signal.SIGTERM), "__name__", None) == "handler"  # the server's handler is back


async def test_no_server_handler_means_no_hook() -> None:
    registry = ConnectionRegistry()
    original = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        registry.install_signal_handlers()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, original)
    await registry.drain()  # nothing open: returns at once
    assert registry.closing


async def test_handlers_are_not_installed_off_the_main_thread() -> None:
    registry = ConnectionRegistry()
    await asyncio.to_thread(registry.install_signal_handlers)
    assert not registry._hooked


async def test_closing_twice_sends_one_close() -> None:
    from sockjet.shutdown import TrackedConnection

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    raw = TrackedConnection({"type": "websocket"}, send)
    await raw.close(1001, "bye")
    await raw.close(1001, "bye")
    websocket_backed = TrackedConnection({"type": "websocket"}, send)
    websocket_backed.websocket = WebSocket({"type": "websocket", "headers": []}, send, send)  # type: ignore[arg-type]
    websocket_backed.websocket.application_state = type(websocket_backed.websocket.application_state).DISCONNECTED
    await websocket_backed.close(1001, "bye")
    assert sent == [{"type": "websocket.close", "code": 1001, "reason": "bye"}]


async def test_drain_on_signal_false_leaves_signals_alone(server_handler: list[int]) -> None:
    app = App(drain_on_signal=False)
    server = FakeServer(app)
    await server.start()
    assert getattr(signal.getsignal(signal.SIGTERM), "__name__", None) == "handler"
    await server.stop()


async def test_shutdown_with_hub_members_closes_each_once_and_empties_the_rooms(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sockjet import Hub

    hub = Hub()
    app = App(lifespan=hub.lifespan)

    @app.websocket("/ws")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        async with hub.join("room", websocket):
            async for text in websocket.iter_text():
                await hub.publish("room", text)  # pragma: no cover - nobody talks here

    server = FakeServer(app)
    await server.start()
    outboxes = [await server.connect() for _ in range(3)]
    for outbox in outboxes:
        assert (await outbox.get())["type"] == "websocket.accept"
    async with asyncio.timeout(5000 * MS):
        while hub.local_count("room") < 3:
            await asyncio.sleep(MS)
        await hub.publish("room", "before shutdown")
        for outbox in outboxes:
            assert await outbox.get() == {"type": "websocket.send", "text": "before shutdown"}
        with caplog.at_level(logging.WARNING):
            await server.stop()
            await asyncio.gather(*server.tasks)
    for outbox in outboxes:
        assert await outbox.get() == {"type": "websocket.close", "code": 1001, "reason": "server shutting down"}
        assert outbox.empty()
    assert hub.local_count("room") == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_other_lifespan_messages_pass_through_untouched() -> None:
    registry = ConnectionRegistry()

    async def receive() -> Message:
        return {"type": "lifespan.something-new"}

    assert await registry.lifespan_receive(receive)() == {"type": "lifespan.something-new"}
    assert not registry.closing
