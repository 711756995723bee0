"""Connection and message series, through the TestClient: each counted on the path that changes it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sockjet import App, Depends, Query, RateLimit, WebSocket, WebSocketDisconnect, WebSocketException
from sockjet.responses import PlainTextResponse
from sockjet.testclient import TestClient, WebSocketDenialResponse
from sockjet.types import Message, Receive, Scope, Send
from tests.metrics.conftest import Reading


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass


def test_messages_and_bytes_in_and_out_are_counted_per_route_pattern(metrics: Reading) -> None:
    app = App()

    @app.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await echo(websocket)

    with TestClient(app) as client:
        with client.websocket_connect("/rooms/a") as ws:
            assert metrics("sockjet_connections_open", route="/rooms/{room}") == 1
            ws.send_text("héllo")  # 6 UTF-8 bytes
            assert ws.receive_text() == "héllo"
            ws.send_bytes(b"1234")
            assert ws.receive_bytes() == b"1234"
        with client.websocket_connect("/rooms/b") as ws:
            ws.send_text("ab")
            assert ws.receive_text() == "ab"
    route = "/rooms/{room}"
    assert metrics("sockjet_connections_accepted_total", route=route) == 2
    assert metrics("sockjet_connections_open", route=route) == 0
    assert metrics("sockjet_messages_received_total", route=route) == 3
    assert metrics("sockjet_messages_sent_total", route=route) == 3
    assert metrics("sockjet_received_bytes_total", route=route) == 12
    assert metrics("sockjet_sent_bytes_total", route=route) == 12
    assert metrics("sockjet_connections_closed_total", route=route, code=1000, side="client") == 2
    assert metrics("sockjet_messages_received_total", route="/rooms/a") == 0  # never a path


def test_closes_by_code_and_side(metrics: Reading) -> None:
    app = App()

    @app.websocket("/server-closes")
    async def server_closes(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(4001, "bye")

    @app.websocket("/returns")
    async def returns(websocket: WebSocket) -> None:
        await websocket.accept()

    @app.websocket("/fails")
    async def fails(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("boom")

    app.add_websocket_route("/echo", echo)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.websocket_connect("/server-closes") as ws:
            assert ws.receive()["code"] == 4001
        with client.websocket_connect("/returns") as ws:
            assert ws.receive()["code"] == 1000
        with client.websocket_connect("/fails") as ws:
            assert ws.receive()["code"] == 1011
        with client.websocket_connect("/echo") as ws:
            ws.close(4002)
    assert metrics("sockjet_connections_closed_total", route="/server-closes", code=4001, side="server") == 1
    assert metrics("sockjet_connections_closed_total", route="/returns", code=1000, side="server") == 1
    assert metrics("sockjet_connections_closed_total", route="/fails", code=1011, side="server") == 1
    assert metrics("sockjet_connections_closed_total", route="/echo", code=4002, side="client") == 1
    for route in ("/server-closes", "/returns", "/fails", "/echo"):
        assert metrics("sockjet_connections_open", route=route) == 0


def test_refusals_by_reason(metrics: Reading) -> None:
    app = App(allowed_origins=["https://good.example"])

    def token(t: str = Query()) -> str:
        if t != "ok":
            raise WebSocketException(1008, "bad token")
        return t

    @app.websocket("/dep")
    async def dep(websocket: WebSocket, t: str = Depends(token)) -> None:
        await websocket.accept()
        await websocket.close()

    @app.websocket("/param")
    async def param(websocket: WebSocket, n: int = Query()) -> None:
        await websocket.accept()
        await websocket.close()

    @app.websocket("/deny")
    async def deny(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("no", status_code=401))

    @app.websocket("/close-first")
    async def close_first(websocket: WebSocket) -> None:
        await websocket.close(1008)

    @app.websocket("/never", max_connections=1)
    async def never(websocket: WebSocket) -> None:
        await echo(websocket)

    good = {"origin": "https://good.example"}
    with TestClient(app) as client:
        for path in ("/dep?t=no", "/param?n=x", "/deny", "/close-first"):
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(path, headers=good):
                pass  # pragma: no cover - refused
        with (
            pytest.raises(WebSocketDenialResponse),
            client.websocket_connect("/dep", headers={"origin": "https://evil"}),
        ):
            pass  # pragma: no cover - refused
        with (
            client.websocket_connect("/never", headers=good),
            pytest.raises(WebSocketDenialResponse),
            client.websocket_connect("/never", headers=good),
        ):
            pass  # pragma: no cover - refused
        with client.websocket_connect("/dep?t=ok", headers=good) as ws:
            assert ws.receive()["code"] == 1000
    assert metrics("sockjet_connections_refused_total", route="/dep", reason="dependency") == 1
    assert metrics("sockjet_connections_refused_total", route="/param", reason="parameter") == 1
    assert metrics("sockjet_connections_refused_total", route="/deny", reason="denial") == 1
    assert metrics("sockjet_connections_refused_total", route="/close-first", reason="denial") == 1
    assert metrics("sockjet_connections_refused_total", route="/dep", reason="origin") == 1
    assert metrics("sockjet_connections_refused_total", route="/never", reason="limit") == 1
    assert metrics("sockjet_connections_accepted_total", route="/dep") == 1
    assert metrics("sockjet_connections_accepted_total", route="/param") == 0


def test_an_endpoint_that_returns_before_accept_is_a_denial(metrics: Reading) -> None:
    app = App()

    @app.websocket("/quiet")
    async def quiet(websocket: WebSocket) -> None:
        return None

    with TestClient(app) as client, pytest.raises(WebSocketDisconnect), client.websocket_connect("/quiet"):
        pass  # pragma: no cover - refused
    assert metrics("sockjet_connections_refused_total", route="/quiet", reason="denial") == 1


def test_app_capacity_and_shutdown_refusals(metrics: Reading) -> None:
    app = App(max_connections=1)
    app.add_websocket_route("/ws", echo)
    with TestClient(app) as client:
        with client.websocket_connect("/ws"), pytest.raises(WebSocketDenialResponse), client.websocket_connect("/ws"):
            pass  # pragma: no cover - refused
        app.connection_settings.registry.closing = True  # type: ignore[union-attr]
        try:
            with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/ws"):
                pass  # pragma: no cover - refused
        finally:
            app.connection_settings.registry.closing = False  # type: ignore[union-attr]
    assert metrics("sockjet_connections_refused_total", route="/ws", reason="limit") == 1
    assert metrics("sockjet_connections_refused_total", route="/ws", reason="shutdown") == 1


def test_oversize_rate_limited_and_malformed_messages(metrics: Reading) -> None:
    app = App()
    app.add_websocket_route("/small", echo, max_message_size=4)
    app.add_websocket_route("/slow", echo, rate_limit=RateLimit(messages=1, per=3600))
    app.add_websocket_route("/drop", echo, rate_limit=RateLimit(messages=1, per=3600, policy="drop"))

    @app.websocket("/text")
    async def text_only(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    with TestClient(app, raise_server_exceptions=False) as client:
        with client.websocket_connect("/small") as ws:
            ws.send_text("12345")
            assert ws.receive()["code"] == 1009
        with client.websocket_connect("/slow") as ws:
            ws.send_text("a")
            assert ws.receive_text() == "a"
            ws.send_text("b")
            assert ws.receive()["code"] == 1008
        with client.websocket_connect("/drop") as ws:
            for _ in range(3):
                ws.send_text("x")
            assert ws.receive_text() == "x"
            ws.close()
        with client.websocket_connect("/text") as ws:
            ws.send_bytes(b"binary")
            assert ws.receive()["code"] == 1003
    assert metrics("sockjet_messages_refused_total", route="/small", reason="oversize") == 1
    assert metrics("sockjet_messages_refused_total", route="/slow", reason="rate_limited") == 1
    assert metrics("sockjet_messages_refused_total", route="/drop", reason="rate_limited") == 2
    assert metrics("sockjet_messages_refused_total", route="/text", reason="malformed") == 1
    assert metrics("sockjet_connections_closed_total", route="/small", code=1009, side="server") == 1
    assert metrics("sockjet_connections_closed_total", route="/slow", code=1008, side="server") == 1
    assert metrics("sockjet_connections_closed_total", route="/text", code=1003, side="server") == 1


async def test_a_peer_gone_on_send_is_a_client_side_1006(metrics: Reading) -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.send_text("lost")
        except WebSocketDisconnect as exc:
            assert exc.code == 1006

    scope: Scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b"", "app": app}
    incoming: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise OSError("reset")

    await app.router(scope, receive, send)
    assert metrics("sockjet_connections_closed_total", route="/ws", code=1006, side="client") == 1
    assert metrics("sockjet_messages_sent_total", route="/ws") == 1  # counted when handed to the server


def test_disabled_metrics_import_and_count_nothing() -> None:
    code = """
import sys
from sockjet import App, Hub, WebSocket
from sockjet.testclient import TestClient
import sockjet.metrics

app = App()

@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())

with TestClient(app) as client, client.websocket_connect("/ws") as ws:
    ws.send_text("x")
    assert ws.receive_text() == "x"
assert not sockjet.metrics.is_enabled()
assert "prometheus_client" not in sys.modules, "imported while disabled"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


class RawEcho:
    """An ASGI app endpoint (no sockjet WebSocket): it gets the tap's counting receive and send."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})
        await send({"type": "websocket.close", "code": 1000})


class Counted(WebSocket):
    """A subclass overriding send: the slow path of send_text, counted the same."""

    async def send(self, message: Message) -> None:
        await super().send(message)


def test_inline_counting_matches_the_tap_wrappers_of_an_asgi_endpoint(metrics: Reading) -> None:
    app = App()
    app.add_websocket_route("/raw", RawEcho())

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await echo(websocket)

    @app.websocket("/sub")
    async def sub(websocket: Counted) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.send_bytes(await websocket.receive_bytes())
        await websocket.close(4001)

    with TestClient(app) as client:
        for path in ("/raw", "/ws", "/sub"):
            with client.websocket_connect(path) as ws_:
                ws_.send_text("héllo")
                assert ws_.receive_text() == "héllo"
                ws_.send_bytes(b"123")
                assert ws_.receive_bytes() == b"123"
                if path == "/sub":
                    ws_.receive()
    for route in ("/raw", "/ws", "/sub"):
        assert metrics("sockjet_messages_received_total", route=route) == 2
        assert metrics("sockjet_messages_sent_total", route=route) == 2
        assert metrics("sockjet_received_bytes_total", route=route) == 9
        assert metrics("sockjet_sent_bytes_total", route=route) == 9
        assert metrics("sockjet_connections_open", route=route) == 0
    assert metrics("sockjet_connections_closed_total", route="/raw", code=1000, side="client") == 1
    assert metrics("sockjet_connections_closed_total", route="/ws", code=1000, side="client") == 1
    assert metrics("sockjet_connections_closed_total", route="/sub", code=4001, side="server") == 1
