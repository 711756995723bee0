"""The WebSocket state machine over raw ASGI messages: every transition and every error message."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sockjet.responses import PlainTextResponse
from sockjet.types import Message
from sockjet.websockets import (
    UnexpectedMessage,
    WebSocket,
    WebSocketClose,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)
from tests.asgi import CONNECT, Channel, binary, disconnect, text, websocket_scope


def make(*incoming: Message, send_error: BaseException | None = None, **scope: Any) -> tuple[WebSocket, Channel]:
    channel = Channel(incoming, send_error=send_error)
    return WebSocket(websocket_scope(**scope), channel.receive, channel.send), channel


async def test_initial_states_are_connecting() -> None:
    websocket, _ = make()
    assert websocket.client_state is WebSocketState.CONNECTING
    assert websocket.application_state is WebSocketState.CONNECTING


def test_state_values_match_starlette() -> None:
    assert [(s.name, s.value) for s in WebSocketState] == [
        ("CONNECTING", 0),
        ("CONNECTED", 1),
        ("DISCONNECTED", 2),
        ("RESPONSE", 3),
    ]


def test_scope_type_must_be_websocket() -> None:
    with pytest.raises(AssertionError):
        WebSocket(websocket_scope(type="http"), Channel().receive, Channel().send)


async def test_accept_waits_for_connect_then_sends_accept() -> None:
    websocket, channel = make(CONNECT)
    await websocket.accept(subprotocol="chat", headers=[(b"x-a", b"1")])
    assert channel.sent == [{"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]}]
    assert websocket.client_state is WebSocketState.CONNECTED
    assert websocket.application_state is WebSocketState.CONNECTED


async def test_accept_after_explicit_receive_does_not_receive_again() -> None:
    websocket, channel = make(CONNECT)
    assert await websocket.receive() == CONNECT
    await websocket.accept()
    assert channel.sent == [{"type": "websocket.accept", "subprotocol": None, "headers": []}]


async def test_receive_expects_connect_first() -> None:
    websocket, _ = make(text("hi"))
    with pytest.raises(
        RuntimeError, match=re.escape("Expected ASGI message \"websocket.connect\", but got 'websocket.receive'")
    ):
        await websocket.receive()


async def test_receive_rejects_unexpected_type_once_connected() -> None:
    websocket, _ = make(CONNECT, {"type": "websocket.connect"})
    await websocket.accept()
    expected = 'Expected ASGI message "websocket.receive" or "websocket.disconnect", but got \'websocket.connect\''
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        await websocket.receive()


async def test_receive_after_disconnect_raises() -> None:
    websocket, _ = make(CONNECT, disconnect())
    await websocket.accept()
    assert (await websocket.receive())["type"] == "websocket.disconnect"
    assert websocket.client_state is WebSocketState.DISCONNECTED
    with pytest.raises(
        WebSocketDisconnected, match=re.escape('Cannot call "receive" once a disconnect message has been received.')
    ):
        await websocket.receive()
    assert issubclass(WebSocketDisconnected, RuntimeError)


async def test_send_in_connecting_rejects_other_types() -> None:
    websocket, channel = make()
    expected = (
        'Expected ASGI message "websocket.accept", "websocket.close" or "websocket.http.response.start", '
        "but got 'websocket.send'"
    )
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        await websocket.send({"type": "websocket.send", "text": "x"})
    assert channel.sent == []


async def test_send_in_connected_rejects_other_types() -> None:
    websocket, _ = make(CONNECT)
    await websocket.accept()
    expected = 'Expected ASGI message "websocket.send" or "websocket.close", but got \'websocket.accept\''
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        await websocket.send({"type": "websocket.accept"})


async def test_close_before_accept_disconnects_application() -> None:
    websocket, channel = make()
    await websocket.close(code=1008, reason="no")
    assert channel.sent == [{"type": "websocket.close", "code": 1008, "reason": "no"}]
    assert websocket.application_state is WebSocketState.DISCONNECTED


async def test_send_after_close_raises() -> None:
    websocket, _ = make(CONNECT)
    await websocket.accept()
    await websocket.close()
    with pytest.raises(
        WebSocketDisconnected, match=re.escape('Cannot call "send" once a close message has been sent.')
    ):
        await websocket.send_text("late")


async def test_close_defaults_to_1000_and_empty_reason() -> None:
    websocket, channel = make(CONNECT)
    await websocket.accept()
    await websocket.close()
    assert channel.sent[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}


async def test_oserror_on_send_becomes_disconnect_1006() -> None:
    websocket, channel = make(CONNECT)
    await websocket.accept()
    channel.send_error = OSError("broken pipe")
    with pytest.raises(WebSocketDisconnect) as info:
        await websocket.send_text("x")
    assert info.value.code == 1006
    assert websocket.application_state is WebSocketState.DISCONNECTED


async def test_send_text_bytes_json_messages() -> None:
    websocket, channel = make(CONNECT)
    await websocket.accept()
    await websocket.send_text("héllo")
    await websocket.send_bytes(b"\x00\x01")
    await websocket.send_json({"a": [1, 2], "é": "ü"})
    await websocket.send_json({"b": 1}, mode="binary")
    assert channel.sent[1:] == [
        {"type": "websocket.send", "text": "héllo"},
        {"type": "websocket.send", "bytes": b"\x00\x01"},
        {"type": "websocket.send", "text": '{"a":[1,2],"é":"ü"}'},
        {"type": "websocket.send", "bytes": b'{"b":1}'},
    ]


async def test_receive_text_bytes_json() -> None:
    websocket, _ = make(CONNECT, text("hi"), binary(b"\x01"), text('{"x":1}'), binary('{"y":"é"}'.encode()))
    await websocket.accept()
    assert await websocket.receive_text() == "hi"
    assert await websocket.receive_bytes() == b"\x01"
    assert await websocket.receive_json() == {"x": 1}
    assert await websocket.receive_json(mode="binary") == {"y": "é"}


@pytest.mark.parametrize("method", ["receive_text", "receive_bytes", "receive_json"])
async def test_receive_helpers_need_accept(method: str) -> None:
    websocket, _ = make(CONNECT)
    with pytest.raises(
        WebSocketDisconnected, match=re.escape('WebSocket is not connected. Need to call "accept" first.')
    ):
        await getattr(websocket, method)()


@pytest.mark.parametrize("method", ["receive_json", "send_json"])
async def test_json_mode_must_be_text_or_binary(method: str) -> None:
    websocket, _ = make(CONNECT)
    await websocket.accept()
    args: tuple[object, ...] = ({},) if method == "send_json" else ()
    with pytest.raises(RuntimeError, match=re.escape('The "mode" argument should be "text" or "binary".')):
        await getattr(websocket, method)(*args, mode="xml")


async def test_receive_text_on_disconnect_raises_with_code_and_reason() -> None:
    websocket, _ = make(CONNECT, disconnect(1001, "bye"))
    await websocket.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await websocket.receive_text()
    assert (info.value.code, info.value.reason) == (1001, "bye")


async def test_disconnect_without_code_is_1005() -> None:
    websocket, _ = make(CONNECT, {"type": "websocket.disconnect"})
    await websocket.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await websocket.receive_bytes()
    assert info.value.code == 1005


async def test_receive_text_on_binary_frame_names_the_mismatch() -> None:
    websocket, _ = make(CONNECT, binary(b"x"), text("y"))
    await websocket.accept()
    with pytest.raises(UnexpectedMessage, match=re.escape("Expected a text message, but the client sent binary data.")):
        await websocket.receive_text()
    with pytest.raises(KeyError):  # Starlette raises KeyError here; ported `except KeyError` still works
        await websocket.receive_bytes()


async def test_iterators_end_on_disconnect() -> None:
    websocket, _ = make(CONNECT, text("a"), text("b"), disconnect(), CONNECT)
    await websocket.accept()
    assert [m async for m in websocket.iter_text()] == ["a", "b"]
    websocket, _ = make(CONNECT, binary(b"a"), disconnect())
    await websocket.accept()
    assert [m async for m in websocket.iter_bytes()] == [b"a"]
    websocket, _ = make(CONNECT, text("[1]"), text('"done"'), disconnect())
    await websocket.accept()
    assert [m async for m in websocket.iter_json()] == [[1], "done"]


async def test_iter_json_raises_on_malformed_json() -> None:
    websocket, _ = make(CONNECT, text("{nope"))
    await websocket.accept()
    with pytest.raises(json.JSONDecodeError):
        async for _ in websocket.iter_json():
            pass


async def test_denial_response_with_extension() -> None:
    websocket, channel = make(CONNECT)
    await websocket.send_denial_response(PlainTextResponse("go away", status_code=401))
    assert channel.types() == ["websocket.http.response.start", "websocket.http.response.body"]
    assert channel.sent[0]["status"] == 401
    assert channel.sent[1]["body"] == b"go away"
    assert websocket.application_state is WebSocketState.DISCONNECTED


async def test_denial_response_without_extension_raises() -> None:
    websocket, channel = make(extensions={})
    with pytest.raises(
        RuntimeError, match=re.escape("The server doesn't support the Websocket Denial Response extension.")
    ):
        await websocket.send_denial_response(PlainTextResponse("no", status_code=401))
    assert channel.sent == []


def application_state(websocket: WebSocket) -> WebSocketState:
    """Read through a call: mypy would keep ``websocket.application_state`` narrowed across the sends."""
    return websocket.application_state


async def test_response_state_accepts_only_body_and_tracks_more_body() -> None:
    websocket, channel = make()
    await websocket.send({"type": "websocket.http.response.start", "status": 403, "headers": []})
    assert application_state(websocket) is WebSocketState.RESPONSE
    with pytest.raises(
        RuntimeError,
        match=re.escape("Expected ASGI message \"websocket.http.response.body\", but got 'websocket.close'"),
    ):
        await websocket.send({"type": "websocket.close"})
    await websocket.send({"type": "websocket.http.response.body", "body": b"a", "more_body": True})
    assert application_state(websocket) is WebSocketState.RESPONSE
    await websocket.send({"type": "websocket.http.response.body", "body": b"b"})
    assert application_state(websocket) is WebSocketState.DISCONNECTED
    assert len(channel.sent) == 3


def test_websocket_disconnect_defaults() -> None:
    exc = WebSocketDisconnect()
    assert (exc.code, exc.reason) == (1000, "")
    assert repr(WebSocketDisconnect(1001, None)) == "WebSocketDisconnect(code=1001, reason='')"


async def test_websocket_close_app_sends_close() -> None:
    channel = Channel()
    await WebSocketClose(code=1013, reason="later")(websocket_scope(), channel.receive, channel.send)
    assert channel.sent == [{"type": "websocket.close", "code": 1013, "reason": "later"}]
    assert WebSocketClose().reason == ""


async def test_connection_properties() -> None:
    websocket, _ = make(
        path="/ws/chat",
        query_string=b"a=1&a=2&b=x",
        headers=[(b"host", b"example.com:8080"), (b"Cookie", b"k=v; other=2"), (b"x-multi", b"1"), (b"x-multi", b"2")],
        path_params={"room": "r"},
        client=["10.0.0.1", 4321],
    )
    websocket.scope["headers"][1] = (b"cookie", b"k=v; other=2")
    assert websocket.url == "ws://example.com:8080/ws/chat?a=1&a=2&b=x"
    assert isinstance(websocket.url, str)
    assert (websocket.url.path, websocket.url.port, websocket.url.scheme) == ("/ws/chat", 8080, "ws")
    assert websocket.base_url == "ws://example.com:8080/"
    assert websocket.headers["X-MULTI"] == "1"
    assert websocket.headers.getlist("x-multi") == ["1", "2"]
    assert websocket.query_params["a"] == "2"
    assert websocket.query_params.getlist("a") == ["1", "2"]
    assert websocket.path_params == {"room": "r"}
    assert websocket.cookies == {"k": "v", "other": "2"}
    assert websocket.client is not None
    assert (websocket.client.host, websocket.client.port) == ("10.0.0.1", 4321)
    assert websocket["path"] == "/ws/chat"
    assert "headers" in websocket
    assert len(websocket) == len(websocket.scope)
    assert set(websocket) == set(websocket.scope)
    websocket.state.user = "ann"
    assert websocket.scope["state"] == {"user": "ann"}
    assert websocket == websocket
    assert websocket != make()[0]


async def test_client_is_none_without_client_in_scope() -> None:
    websocket, _ = make(client=None)
    assert websocket.client is None


async def test_url_for_outside_an_app_raises() -> None:
    websocket, _ = make()
    with pytest.raises(
        RuntimeError,
        match=re.escape("The `url_for` method can only be used inside a Starlette application or with a router."),
    ):
        websocket.url_for("x")
