"""The TestClient's own contract: sessions, raw ASGI apps, ending apps, timeouts, lifespan edge cases."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from sockjet import App, WebSocket, WebSocketDisconnect
from sockjet.testclient import ClientDisconnected, TestClient, WebSocketDenialResponse
from sockjet.types import Message, Receive, Scope, Send
from tests.conftest import MS


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    websocket = WebSocket(scope=scope, receive=receive, send=send)
    await websocket.accept(subprotocol=(scope["subprotocols"] or [None])[0], headers=[(b"x-hello", b"1")])
    async for message in websocket.iter_text():
        await websocket.send_text(f"Message text was: {message}")
    await websocket.close()


def test_raw_asgi_echo_with_subprotocol_and_headers() -> None:
    client = TestClient(echo_app)
    with client.websocket_connect("/ws", subprotocols=["chat", "v2"], headers={"x-token": "t"}) as ws:
        assert ws.accepted_subprotocol == "chat"
        assert ws.extra_headers == [(b"x-hello", b"1")]
        ws.send_text("hi")
        assert ws.receive_text() == "Message text was: hi"


def test_scope_of_a_websocket_session() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        seen.update(
            subprotocols=scope["subprotocols"],
            token=websocket.headers["x-token"],
            cookie=websocket.cookies,
            url=str(websocket.url),
            client=websocket.client,
            ua=websocket.headers["user-agent"],
        )
        await websocket.accept()
        await websocket.close()

    client = TestClient(app, cookies={"sid": "abc"})
    with client.websocket_connect("/ws?x=1", subprotocols=["a"], headers={"X-Token": "t"}):
        pass
    assert seen == {
        "subprotocols": ["a"],
        "token": "t",
        "cookie": {"sid": "abc"},
        "url": "ws://testserver/ws?x=1",
        "client": ("testclient", 50000),
        "ua": "testclient",
    }


def test_all_send_and_receive_helpers() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await websocket.send_bytes(await websocket.receive_bytes())
        await websocket.send_json(await websocket.receive_json())
        await websocket.send_json(await websocket.receive_json(mode="binary"), mode="binary")
        await websocket.send({**await websocket.receive(), "type": "websocket.send"})
        await websocket.close(code=1001, reason="done")

    with TestClient(app).websocket_connect("/") as ws:
        ws.send_bytes(b"\x00")
        assert ws.receive_bytes() == b"\x00"
        ws.send_json({"é": 1})
        assert ws.receive_json() == {"é": 1}
        ws.send_json([1], mode="binary")
        assert ws.receive_json(mode="binary") == [1]
        ws.send({"type": "websocket.receive", "text": "raw"})
        assert ws.receive() == {"type": "websocket.send", "text": "raw"}
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_bytes()
        assert (info.value.code, info.value.reason) == (1001, "done")
        with pytest.raises(WebSocketDisconnect):  # the close stays observable
            ws.receive_json()


def test_app_returning_without_close_after_accept_is_1000() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await WebSocket(scope, receive, send).accept()

    with TestClient(app).websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 1000


def test_app_returning_before_accept_is_http_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(WebSocketDenialResponse) as info, TestClient(app).websocket_connect("/"):
        pass
    assert info.value.status_code == 500


def test_exception_in_raw_app_is_reraised_or_becomes_1011() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await websocket.receive_text()
        raise ValueError("raw app bug")

    with pytest.raises(ValueError, match="raw app bug"), TestClient(app).websocket_connect("/") as ws:
        ws.send_text("go")
        ws.receive_text()
    with TestClient(app, raise_server_exceptions=False).websocket_connect("/") as ws:
        ws.send_text("go")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 1011


def test_send_after_client_close_raises_oserror_in_app() -> None:
    errors: list[int] = []
    done = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await websocket.receive()  # the client's disconnect
        try:
            await websocket.send_text("too late")
        except WebSocketDisconnect as exc:
            errors.append(exc.code)
        done.set()

    with TestClient(app).websocket_connect("/") as ws:
        ws.close()
    assert errors == [1006]
    assert issubclass(ClientDisconnected, OSError)


def test_app_that_never_ends_is_cancelled_on_exit() -> None:
    cancelled: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await WebSocket(scope, receive, send).accept()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with TestClient(app).websocket_connect("/"):
        pass
    assert cancelled == [True]


def test_receive_timeout() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await websocket.receive_text()

    with TestClient(app).websocket_connect("/") as ws:
        with pytest.raises(TimeoutError, match=re.escape("No answer from the app within 0.05 seconds")):
            ws.receive(timeout=50 * MS if MS == 0.001 else 0.05)
        ws.send_text("unblock")


def test_send_after_close_in_app_is_a_server_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        await send({"type": "websocket.send", "text": "after"})

    with (
        pytest.raises(
            RuntimeError, match=re.escape("Unexpected ASGI message 'websocket.send', after sending 'websocket.close'.")
        ),
        TestClient(app).websocket_connect("/") as ws,
    ):
        ws.receive()


def test_denial_with_streamed_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.http.response.start", "status": 429, "headers": [(b"retry-after", b"5")]})
        await send({"type": "websocket.http.response.body", "body": b"slow ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"down"})

    with pytest.raises(WebSocketDenialResponse) as info, TestClient(app).websocket_connect("/"):
        pass
    assert (info.value.status_code, info.value.text, info.value.headers["retry-after"]) == (429, "slow down", "5")
    assert (info.value.code, info.value.reason) == (1006, "HTTP 429")


def test_denial_with_wrong_follow_up_message() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.http.response.start", "status": 403, "headers": []})
        await send({"type": "websocket.close"})

    with (
        pytest.raises(RuntimeError, match=re.escape("Expected 'websocket.http.response.body', got 'websocket.close'")),
        TestClient(app).websocket_connect("/"),
    ):
        pass


def test_absolute_ws_url_and_http_methods() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(websocket.url))
        await websocket.close()

    @app.get("/")
    def index() -> dict[str, str]:
        return {"ok": "yes"}

    client = TestClient(app, base_url="https://example.org")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "wss://example.org/ws"
    with client.websocket_connect("ws://other.host/ws") as ws:
        assert ws.receive_text() == "ws://other.host/ws"
    assert client.get("/").json() == {"ok": "yes"}
    assert client.head("/").status_code == 200


def test_http_app_that_sends_nothing() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(RuntimeError, match=re.escape("The app returned without sending an HTTP response.")):
        TestClient(app).get("/")


def test_http_streamed_response_and_disconnect() -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        messages.append(await receive())

    response = TestClient(app).post("/", content=b"payload")
    assert response.text == "ab"
    assert messages == [
        {"type": "http.request", "body": b"payload", "more_body": False},
        {"type": "http.disconnect"},
    ]


def test_lifespan_of_an_app_without_lifespan_support() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with TestClient(app) as client:
        assert client.get("/").status_code == 204


def test_lifespan_that_raises_without_protocol() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("no lifespan here")

    with pytest.raises(LookupError, match="no lifespan here"), TestClient(app):
        pass


def test_lifespan_failed_message_without_exception() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "disk full"})

    with pytest.raises(RuntimeError, match="disk full"), TestClient(app):
        pass


def test_shutdown_failure_is_raised() -> None:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: App) -> Any:
        yield
        raise OSError("flush failed")

    with pytest.raises(OSError, match="flush failed"), TestClient(App(lifespan=lifespan)):
        pass


def test_lifespan_state_needs_server_support() -> None:
    from contextlib import asynccontextmanager

    from sockjet.routing import Router

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield {"x": 1}

    router = Router(lifespan=lifespan)
    sent: list[Message] = []
    incoming = [{"type": "lifespan.startup"}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match=re.escape('The server does not support "state" in the lifespan scope.')):
        asyncio.run(router({"type": "lifespan"}, receive, send))
    assert sent[0]["type"] == "lifespan.startup.failed"


def test_app_error_during_denial_is_raised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.send({"type": "websocket.http.response.start", "status": 400, "headers": []})
        await websocket.send({"type": "websocket.http.response.start", "status": 400, "headers": []})

    expected = "Expected ASGI message \"websocket.http.response.body\", but got 'websocket.http.response.start'"
    with pytest.raises(RuntimeError, match=re.escape(expected)), TestClient(app).websocket_connect("/"):
        pass


# --- raise_server_exceptions, as Starlette's TestClient does it -----------------------------------------


def _looping_app() -> App:
    app = App()

    @app.websocket("/loop")
    async def loop(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text(await websocket.receive_text())

    @app.websocket("/fail-after-accept")
    async def fail_after_accept(websocket: WebSocket) -> None:
        await websocket.accept()
        raise LookupError("after accept")

    @app.websocket("/fail-before-accept")
    async def fail_before_accept(websocket: WebSocket) -> None:
        raise LookupError("before accept")

    return app


def test_a_disconnect_escaping_the_endpoint_is_re_raised_when_the_block_ends() -> None:
    client = TestClient(_looping_app())
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/loop") as ws:
        ws.send_text("x")
        assert ws.receive_text() == "x"
    assert info.value.code == 1000  # the close the client sent on leaving the block
    with TestClient(_looping_app(), raise_server_exceptions=False).websocket_connect("/loop") as ws:
        ws.send_text("y")
        assert ws.receive_text() == "y"


def test_an_endpoint_error_is_re_raised_after_the_client_saw_the_close() -> None:
    seen: list[int] = []
    with (
        pytest.raises(LookupError, match="after accept"),
        TestClient(_looping_app()).websocket_connect("/fail-after-accept") as ws,
    ):
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        seen.append(info.value.code)
    assert seen == [1011]
    with (
        pytest.raises(LookupError, match="before accept"),
        TestClient(_looping_app()).websocket_connect("/fail-before-accept"),
    ):
        pass  # pragma: no cover - raised on enter
    lenient = TestClient(_looping_app(), raise_server_exceptions=False)
    with pytest.raises(WebSocketDenialResponse) as denied, lenient.websocket_connect("/fail-before-accept"):
        pass  # pragma: no cover - refused
    assert denied.value.status_code == 500


def test_handshake_headers_are_starlettes() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        headers = dict(websocket.headers)
        raw = [name for name, _ in scope["headers"]]
        await websocket.accept()
        await websocket.send_json({"headers": headers, "connection_headers": raw.count(b"connection")})
        await websocket.close()

    with TestClient(app).websocket_connect("/") as ws:
        assert ws.receive_json() == {
            "headers": {
                "accept": "*/*",
                "accept-encoding": "gzip, deflate",
                "connection": "upgrade",
                "host": "testserver",
                "user-agent": "testclient",
                "sec-websocket-key": "testserver==",
                "sec-websocket-version": "13",
            },
            "connection_headers": 1,
        }


def test_connections_open_together_share_one_loop_outside_a_with_block() -> None:
    app = App()
    peers: list[WebSocket] = []

    @app.websocket("/peer")
    async def peer(websocket: WebSocket) -> None:
        await websocket.accept()
        peers.append(websocket)
        text = await websocket.receive_text()
        for other in peers:
            await other.send_text(text)

    client = TestClient(app, raise_server_exceptions=False)
    with client.websocket_connect("/peer") as first, client.websocket_connect("/peer") as second:
        second.send_text("to all")
        assert first.receive_text(timeout=2000 * MS) == "to all"
        assert second.receive_text(timeout=2000 * MS) == "to all"
    assert client._open_portal is None  # stopped with the last connection
