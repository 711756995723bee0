"""WebSocketEndpoint: encodings, the wrong-kind frame, on_disconnect codes."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from sockjet import App, WebSocket, WebSocketDisconnect
from sockjet.endpoints import WebSocketEndpoint
from sockjet.routing import WebSocketRoute
from sockjet.testclient import TestClient

closed: list[int] = []


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(f"text: {data}")

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        closed.append(close_code)


class BytesEcho(WebSocketEndpoint):
    encoding = "bytes"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_bytes(data)


class JsonEcho(WebSocketEndpoint):
    encoding = "json"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json({"got": data})


class Raw(WebSocketEndpoint):
    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json(sorted(data))


class Bad(WebSocketEndpoint):
    encoding = "xml"


class Failing(WebSocketEndpoint):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        raise ValueError("handler bug")

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        closed.append(close_code)


app = App(
    routes=[
        WebSocketRoute("/text", Echo),
        WebSocketRoute("/bytes", BytesEcho),
        WebSocketRoute("/json", JsonEcho),
        WebSocketRoute("/raw", Raw),
        WebSocketRoute("/bad", Bad),
        WebSocketRoute("/failing", Failing),
    ]
)
client = TestClient(app)
# For the failures: what the client sees, without the TestClient re-raising the endpoint's error.
lenient = TestClient(app, raise_server_exceptions=False)


def test_text_encoding_and_disconnect_code() -> None:
    closed.clear()
    with client.websocket_connect("/text") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "text: hi"
        ws.close(1001)
    assert closed == [1001]


@pytest.mark.parametrize(
    ("path", "send", "message"),
    [
        ("/text", "bytes", "Expected text websocket messages, but got bytes"),
        ("/bytes", "text", "Expected bytes websocket messages, but got text"),
        ("/json", "bad-json", "Malformed JSON data received."),
    ],
)
def test_wrong_kind_of_frame_closes_1003(path: str, send: str, message: str, caplog: pytest.LogCaptureFixture) -> None:
    with lenient.websocket_connect(path) as ws:
        if send == "bytes":
            ws.send_bytes(b"x")
        elif send == "text":
            ws.send_text("x")
        else:
            ws.send_text("{nope")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 1003
    assert message in caplog.text


def test_bytes_json_and_raw_encodings() -> None:
    with client.websocket_connect("/bytes") as ws:
        ws.send_bytes(b"\x01")
        assert ws.receive_bytes() == b"\x01"
    with client.websocket_connect("/json") as ws:
        ws.send_json({"a": 1})
        assert ws.receive_json() == {"got": {"a": 1}}
        ws.send_json([2], mode="binary")
        assert ws.receive_json() == {"got": [2]}
    with client.websocket_connect("/raw") as ws:
        ws.send_text("t")
        assert ws.receive_json() == ["t"]  # encoding None: the frame's text, as Starlette passes it


def test_unsupported_encoding_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    with lenient.websocket_connect("/bad") as ws:
        ws.send_text("x")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 1011
    assert "AssertionError: Unsupported 'encoding' attribute xml" in caplog.text


def test_exception_in_on_receive_runs_on_disconnect_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    closed.clear()
    with caplog.at_level(logging.ERROR), lenient.websocket_connect("/failing") as ws:
        ws.send_text("x")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 1011
    assert closed == [1011]
    assert re.search(r"ValueError: handler bug", caplog.text)


def test_failing_on_connect_skips_on_disconnect_and_closes_1011() -> None:
    calls: list[int] = []

    class Refusing(WebSocketEndpoint):
        async def on_connect(self, websocket: WebSocket) -> None:
            await websocket.accept()
            raise ValueError("no")

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:  # pragma: no cover
            calls.append(close_code)

    with (
        TestClient(App(routes=[WebSocketRoute("/", Refusing)]), raise_server_exceptions=False).websocket_connect(
            "/"
        ) as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 1011
    assert calls == []
