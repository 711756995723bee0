"""Message size, message rate and connection caps, through the App and its routes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sockjet import App, WebSocket, WebSocketDisconnect, WebSocketRoute
from sockjet.endpoints import WebSocketEndpoint
from sockjet.exceptions import ConfigurationError
from sockjet.limits import RateLimit, message_size
from sockjet.testclient import TestClient, WebSocketDenialResponse


class Recorder:
    """An echo endpoint that remembers what it received and how it ended."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.ended: list[WebSocketDisconnect] = []

    async def __call__(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
                data = message.get("text", message.get("bytes"))
                self.received.append(data)
                await websocket.send({"type": "websocket.send", "text": "ok"})
        except WebSocketDisconnect as exc:
            self.ended.append(exc)


def _app(recorder: Recorder, **options: Any) -> App:
    app = App()
    app.add_websocket_route("/ws", recorder.__call__, **options)
    return app


def test_message_size_counts_utf8_bytes() -> None:
    assert message_size({"type": "websocket.receive", "text": "é" * 3}) == 6
    assert message_size({"type": "websocket.receive", "bytes": b"abc"}) == 3
    assert message_size({"type": "websocket.receive"}) == 0


def test_oversized_text_closes_with_1009_and_the_endpoint_sees_it() -> None:
    recorder = Recorder()
    with TestClient(_app(recorder, max_message_size=10)) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("x")
        assert ws.receive_text() == "ok"
        ws.send_text("x" * 10)
        assert ws.receive_text() == "ok"
        ws.send_text("é" * 6)  # 6 characters, 12 bytes
        assert ws.receive() == {
            "type": "websocket.close",
            "code": 1009,
            "reason": "message too big: 12 bytes, the limit is 10",
        }
    assert recorder.received == ["x", "x" * 10]
    assert [(e.code, e.reason) for e in recorder.ended] == [(1009, "message too big: 12 bytes, the limit is 10")]


def test_oversized_binary_closes_with_1009_and_app_level_limit_applies() -> None:
    recorder = Recorder()
    app = App(max_message_size=4)
    app.add_websocket_route("/ws", recorder.__call__)
    app.add_websocket_route("/big", recorder.__call__, max_message_size=100)
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_bytes(b"12345")
            assert ws.receive()["code"] == 1009
        with client.websocket_connect("/big") as ws:
            ws.send_bytes(b"12345")
            assert ws.receive_text() == "ok"
    assert recorder.ended[0].code == 1009
    assert recorder.received == [b"12345"]


def test_rate_limit_close_policy_closes_with_1008() -> None:
    recorder = Recorder()
    app = _app(recorder, rate_limit=RateLimit(messages=2, per=3600))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        for _ in range(2):
            ws.send_text("m")
            assert ws.receive_text() == "ok"
        ws.send_text("one too many")
        assert ws.receive() == {
            "type": "websocket.close",
            "code": 1008,
            "reason": "rate limit exceeded: more than 2 messages in 3600 s",
        }
    assert recorder.received == ["m", "m"]
    assert recorder.ended[0].code == 1008


def test_rate_limit_drop_policy_discards_and_keeps_the_connection() -> None:
    recorder = Recorder()
    app = _app(recorder, rate_limit=RateLimit(messages=2, per=3600, policy="drop"))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        for i in range(5):
            ws.send_text(str(i))
        assert ws.receive_text() == "ok"
        assert ws.receive_text() == "ok"
        ws.close(1000)
    assert recorder.received == ["0", "1"]
    assert recorder.ended[0].code == 1000


def test_rate_limit_refills_over_time() -> None:
    recorder = Recorder()
    app = _app(recorder, rate_limit=RateLimit(messages=1, per=1e-6))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        for _ in range(3):
            ws.send_text("m")
            assert ws.receive_text() == "ok"


def test_route_max_connections_refuses_with_503_then_frees_the_slot() -> None:
    recorder = Recorder()
    app = _app(recorder, max_connections=1)
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as first:
            with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
                pass  # pragma: no cover - refused
            assert (info.value.status_code, info.value.text) == (503, "Too many connections")
            first.send_text("still here")
            assert first.receive_text() == "ok"
        with client.websocket_connect("/ws") as again:
            again.send_text("x")
            assert again.receive_text() == "ok"


def test_app_max_connections_counts_every_route() -> None:
    recorder = Recorder()
    app = App(max_connections=1)
    app.add_websocket_route("/a", recorder.__call__)
    app.add_websocket_route("/b", recorder.__call__)
    with TestClient(app) as client, client.websocket_connect("/a"):
        with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/b"):
            pass  # pragma: no cover - refused
        assert info.value.status_code == 503


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(data)


def test_limits_apply_to_class_endpoints_too() -> None:
    app = App(routes=[WebSocketRoute("/ws", Echo, max_message_size=3)])
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("abc")
        assert ws.receive_text() == "abc"
        ws.send_text("abcd")
        assert ws.receive()["code"] == 1009


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_message_size": 0}, "max_message_size must be a positive integer or None, not 0"),
        ({"max_message_size": True}, "max_message_size must be a positive integer or None, not True"),
        ({"max_connections": "10"}, "max_connections must be a positive integer or None, not '10'"),
        ({"idle_timeout": 0}, "idle_timeout must be a positive number of seconds or None, not 0"),
        ({"idle_timeout": "5"}, "idle_timeout must be a positive number of seconds or None, not '5'"),
        ({"rate_limit": 10}, "rate_limit must be a sockjet.RateLimit(messages=..., per=...), not 10"),
        ({"shutdown_timeout": -1}, "shutdown_timeout must be a number of seconds >= 0 or None, not -1"),
        (
            {"max_connections": 5, "shutdown_timeout": None},
            "App(max_connections=...) counts tracked connections: it needs shutdown_timeout set",
        ),
    ],
)
def test_invalid_options_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        App(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"messages": 0}, "RateLimit(messages=...) must be a positive integer, not 0"),
        ({"messages": 1, "per": 0}, "RateLimit(per=...) must be a positive number of seconds, not 0"),
        ({"messages": 1, "policy": "block"}, 'RateLimit(policy=...) must be "close" or "drop", not \'block\''),
    ],
)
def test_invalid_rate_limits(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        RateLimit(**options)
