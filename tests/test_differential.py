"""sockjet against Starlette, side by side: the same raw-ASGI scenario, the same messages sent, the same errors.

Each scenario runs twice over a scripted ``receive`` and a recording ``send`` -- once with sockjet's
classes, once with Starlette's -- and the two outcomes (messages sent, value returned, error type
and message) must be equal; each test then pins the outcome itself, so a change on both sides is
noticed too. Where sockjet deliberately differs, the test asserts each side's behaviour and says why.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import starlette.applications
import starlette.endpoints
import starlette.exceptions
import starlette.responses
import starlette.routing
import starlette.websockets

import sockjet.applications
import sockjet.endpoints
import sockjet.exceptions
import sockjet.responses
import sockjet.routing
import sockjet.websockets
from tests.conftest import MS

Message = dict[str, Any]


@dataclass(frozen=True)
class Impl:
    """The classes a scenario uses, from one library."""

    name: str
    WebSocket: Any
    WebSocketState: Any
    WebSocketDisconnect: Any
    WebSocketClose: Any
    Response: Any
    PlainTextResponse: Any
    WebSocketRoute: Any
    Mount: Any
    Router: Any
    NoMatchFound: Any
    WebSocketEndpoint: Any
    HTTPException: Any
    WebSocketException: Any
    App: Any  # App / Starlette, both take routes=, debug=, lifespan=


SOCKJET = Impl(
    "sockjet",
    sockjet.websockets.WebSocket,
    sockjet.websockets.WebSocketState,
    sockjet.websockets.WebSocketDisconnect,
    sockjet.websockets.WebSocketClose,
    sockjet.responses.Response,
    sockjet.responses.PlainTextResponse,
    sockjet.routing.WebSocketRoute,
    sockjet.routing.Mount,
    sockjet.routing.Router,
    sockjet.routing.NoMatchFound,
    sockjet.endpoints.WebSocketEndpoint,
    sockjet.exceptions.HTTPException,
    sockjet.exceptions.WebSocketException,
    sockjet.applications.App,
)
STARLETTE = Impl(
    "starlette",
    starlette.websockets.WebSocket,
    starlette.websockets.WebSocketState,
    starlette.websockets.WebSocketDisconnect,
    starlette.websockets.WebSocketClose,
    starlette.responses.Response,
    starlette.responses.PlainTextResponse,
    starlette.routing.WebSocketRoute,
    starlette.routing.Mount,
    starlette.routing.Router,
    starlette.routing.NoMatchFound,
    starlette.endpoints.WebSocketEndpoint,
    starlette.exceptions.HTTPException,
    starlette.exceptions.WebSocketException,
    starlette.applications.Starlette,
)

CONNECT: Message = {"type": "websocket.connect"}
ACCEPT: Message = {"type": "websocket.accept", "subprotocol": None, "headers": []}
DENIAL_EXTENSION: dict[str, dict[str, object]] = {"websocket.http.response": {}}
TIMEOUT = 2000 * MS


def text(data: str) -> Message:
    return {"type": "websocket.receive", "text": data}


def binary(data: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": data}


def disconnect(code: int = 1000, reason: str | None = None) -> Message:
    message: Message = {"type": "websocket.disconnect", "code": code}
    if reason is not None:
        message["reason"] = reason
    return message


def sent_text(data: str) -> Message:
    return {"type": "websocket.send", "text": data}


def sent_bytes(data: bytes) -> Message:
    return {"type": "websocket.send", "bytes": data}


def close(code: int = 1000, reason: str = "") -> Message:
    return {"type": "websocket.close", "code": code, "reason": reason}


def scope_for(path: str = "/ws", **overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"a=1&b=2&a=3",
        "headers": [
            (b"host", b"example.org:8000"),
            (b"cookie", b"session=abc; theme=dark"),
            (b"sec-websocket-version", b"13"),
            (b"x-multi", b"one"),
            (b"x-multi", b"two"),
        ],
        "client": ["10.0.0.1", 5000],
        "server": ["example.org", 8000],
        "subprotocols": [],
        "extensions": dict(DENIAL_EXTENSION),
    }
    scope.update(overrides)
    return scope


class Peer:
    """The server's side: ``receive`` hands out the scripted messages, ``send`` records (or fails)."""

    def __init__(self, incoming: Iterable[Message], send_error: BaseException | None = None) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []
        self.send_error = send_error

    async def receive(self) -> Message:
        if not self.incoming:
            raise AssertionError("the scenario asked for more messages than were scripted")
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        if self.send_error is not None and message["type"] == "websocket.send":
            raise self.send_error
        self.sent.append(message)


@dataclass
class Outcome:
    sent: list[Message]
    result: Any = None
    error: tuple[str, str, str] | None = None
    """(class name, nearest built-in base, message); a WebSocketDisconnect shows its code and reason."""
    states: tuple[str, str] | None = None
    """(client_state, application_state) names once the scenario ended."""


def describe(exc: BaseException) -> tuple[str, str, str]:
    if isinstance(exc, (SOCKJET.WebSocketDisconnect, STARLETTE.WebSocketDisconnect)):
        return ("WebSocketDisconnect", "Exception", f"code={exc.code} reason={exc.reason!r}")
    builtin = next(cls for cls in type(exc).__mro__ if cls.__module__ == "builtins")
    return (type(exc).__name__, builtin.__name__, str(exc))


def state_names(websocket: Any) -> tuple[str, str]:
    return (websocket.client_state.name, websocket.application_state.name)


Scenario = Callable[[Impl, Any], Awaitable[Any]]


async def run(
    impl: Impl,
    scenario: Scenario,
    incoming: Iterable[Message] = (),
    *,
    send_error: BaseException | None = None,
    **scope: Any,
) -> Outcome:
    """Run ``scenario(impl, websocket)`` over a fresh WebSocket and a scripted peer."""
    peer = Peer(incoming, send_error)
    websocket = impl.WebSocket(scope_for(**scope), peer.receive, peer.send)
    try:
        async with asyncio.timeout(TIMEOUT):
            result = await scenario(impl, websocket)
    except Exception as exc:
        return Outcome(peer.sent, error=describe(exc), states=state_names(websocket))
    return Outcome(peer.sent, result, states=state_names(websocket))


async def same(scenario: Scenario, incoming: Iterable[Message] = (), **kwargs: Any) -> Outcome:
    """The outcome of ``scenario`` -- after checking sockjet's equals Starlette's."""
    incoming = list(incoming)
    ours = await run(SOCKJET, scenario, incoming, **kwargs)
    theirs = await run(STARLETTE, scenario, incoming, **kwargs)
    assert ours == theirs
    return ours


async def run_app(
    app: Any, incoming: Iterable[Message], *, send_error: BaseException | None = None, **scope: Any
) -> Outcome:
    """Call an ASGI app with a websocket scope; an exception escaping it is the outcome's error."""
    peer = Peer(incoming, send_error)
    try:
        async with asyncio.timeout(TIMEOUT):
            await app(scope_for(**scope), peer.receive, peer.send)
    except Exception as exc:
        return Outcome(peer.sent, error=describe(exc))
    return Outcome(peer.sent)


async def same_app(build: Callable[[Impl], Any], incoming: Iterable[Message] = (), **scope: Any) -> Outcome:
    incoming = list(incoming)
    ours = await run_app(build(SOCKJET), incoming, **scope)
    theirs = await run_app(build(STARLETTE), incoming, **scope)
    assert ours == theirs
    return ours


# -- accept ------------------------------------------------------------------------------------


async def accept_plain(impl: Impl, ws: Any) -> Any:
    await ws.accept()


async def accept_with_subprotocol_and_headers(impl: Impl, ws: Any) -> Any:
    await ws.accept(subprotocol="chat", headers=[(b"x-custom-header", b"MyValue")])


async def receive_then_accept(impl: Impl, ws: Any) -> Any:
    first = await ws.receive()
    await ws.accept()
    return first


async def accept_twice(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    await ws.accept()


async def test_accept_waits_for_connect_and_sends_accept() -> None:
    outcome = await same(accept_plain, [CONNECT])
    assert outcome == Outcome([ACCEPT], states=("CONNECTED", "CONNECTED"))


async def test_accept_with_subprotocol_and_headers() -> None:
    outcome = await same(accept_with_subprotocol_and_headers, [CONNECT])
    expected = {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-custom-header", b"MyValue")]}
    assert outcome.sent == [expected]


async def test_accept_after_receive_does_not_receive_again() -> None:
    outcome = await same(receive_then_accept, [CONNECT])
    assert outcome == Outcome([ACCEPT], CONNECT, states=("CONNECTED", "CONNECTED"))


async def test_accept_expects_connect_first() -> None:
    outcome = await same(accept_plain, [text("early")])
    message = "Expected ASGI message \"websocket.connect\", but got 'websocket.receive'"
    assert outcome == Outcome([], error=("RuntimeError", "RuntimeError", message), states=("CONNECTING", "CONNECTING"))


async def test_accept_twice_is_an_invalid_send_once_connected() -> None:
    outcome = await same(accept_twice, [CONNECT])
    message = 'Expected ASGI message "websocket.send" or "websocket.close", but got \'websocket.accept\''
    assert outcome.error == ("RuntimeError", "RuntimeError", message)
    assert outcome.sent == [ACCEPT]


# -- sending -----------------------------------------------------------------------------------

DATA = {"ünï": ["cödé", 1, 2.5, None, True], "emoji": "✓"}


async def send_everything(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    await ws.send_text("héllo")
    await ws.send_bytes(b"\x00\xff")
    await ws.send_json(DATA)
    await ws.send_json(DATA, mode="binary")
    await ws.send({"type": "websocket.send", "text": "raw"})
    await ws.close(code=4000, reason="bye")


async def test_send_text_bytes_json_both_modes_then_close() -> None:
    outcome = await same(send_everything, [CONNECT])
    compact = '{"ünï":["cödé",1,2.5,null,true],"emoji":"✓"}'  # no spaces, non-ASCII kept
    assert outcome.sent == [
        ACCEPT,
        sent_text("héllo"),
        sent_bytes(b"\x00\xff"),
        sent_text(compact),
        sent_bytes(compact.encode("utf-8")),
        sent_text("raw"),
        close(4000, "bye"),
    ]
    assert outcome.states == ("CONNECTED", "DISCONNECTED")
    assert json.loads(compact) == DATA


async def send_json_bad_mode(impl: Impl, ws: Any) -> Any:
    await ws.send_json({}, mode="xml")


async def receive_json_bad_mode(impl: Impl, ws: Any) -> Any:
    await ws.receive_json(mode="xml")


@pytest.mark.parametrize("scenario", [send_json_bad_mode, receive_json_bad_mode])
async def test_mode_must_be_text_or_binary_checked_before_the_state(scenario: Scenario) -> None:
    outcome = await same(scenario)
    message = 'The "mode" argument should be "text" or "binary".'
    assert outcome == Outcome([], error=("RuntimeError", "RuntimeError", message), states=("CONNECTING", "CONNECTING"))


async def send_before_accept(impl: Impl, ws: Any) -> Any:
    await ws.send_text("too early")


async def test_send_in_connecting_of_the_wrong_type() -> None:
    outcome = await same(send_before_accept)
    message = (
        'Expected ASGI message "websocket.accept", "websocket.close" or "websocket.http.response.start", '
        "but got 'websocket.send'"
    )
    assert outcome.error == ("RuntimeError", "RuntimeError", message)
    assert outcome.sent == []


async def denial_start_once_connected(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    await ws.send({"type": "websocket.http.response.start", "status": 403, "headers": []})


async def test_send_in_connected_of_the_wrong_type() -> None:
    outcome = await same(denial_start_once_connected, [CONNECT])
    message = 'Expected ASGI message "websocket.send" or "websocket.close", but got \'websocket.http.response.start\''
    assert outcome.error == ("RuntimeError", "RuntimeError", message)


async def close_then_send(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    await ws.close()
    await ws.send_text("late")


async def test_send_after_close() -> None:
    outcome = await same(close_then_send, [CONNECT])
    message = 'Cannot call "send" once a close message has been sent.'
    assert outcome.error == ("WebSocketDisconnected", "RuntimeError", message)
    assert outcome.sent == [ACCEPT, close()]


async def close_before_accept(impl: Impl, ws: Any) -> Any:
    await ws.close()


async def close_before_accept_with_code(impl: Impl, ws: Any) -> Any:
    await ws.close(code=4003, reason=None)


async def test_close_before_accept_sends_close_without_receiving() -> None:
    assert await same(close_before_accept) == Outcome([close()], states=("CONNECTING", "DISCONNECTED"))
    assert await same(close_before_accept_with_code) == Outcome([close(4003)], states=("CONNECTING", "DISCONNECTED"))


async def broken_pipe_on_send(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    await ws.send_text("into the void")


async def test_oserror_on_send_is_a_1006_disconnect() -> None:
    outcome = await same(broken_pipe_on_send, [CONNECT], send_error=BrokenPipeError("gone"))
    assert outcome == Outcome(
        [ACCEPT],
        error=("WebSocketDisconnect", "Exception", "code=1006 reason=''"),
        states=("CONNECTED", "DISCONNECTED"),
    )


async def test_oserror_on_accept_propagates() -> None:
    async def accept_fails(impl: Impl, ws: Any) -> Any:
        await ws.accept()

    class FailingAccept(Peer):
        async def send(self, message: Message) -> None:
            raise ConnectionResetError("reset during the handshake")

    for impl in (SOCKJET, STARLETTE):
        peer = FailingAccept([CONNECT])
        websocket = impl.WebSocket(scope_for(), peer.receive, peer.send)
        with pytest.raises(ConnectionResetError, match=re.escape("reset during the handshake")):
            await accept_fails(impl, websocket)
        assert state_names(websocket) == ("CONNECTED", "CONNECTED")


# -- the RESPONSE state (denial responses) ------------------------------------------------------


async def response_in_two_parts(impl: Impl, ws: Any) -> Any:
    await ws.send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"token")]})
    await ws.send({"type": "websocket.http.response.body", "body": b"Unauth", "more_body": True})
    states = [state_names(ws)]
    await ws.send({"type": "websocket.http.response.body", "body": b"orized"})
    states.append(state_names(ws))
    return states


async def test_response_body_in_parts_then_disconnected() -> None:
    outcome = await same(response_in_two_parts)
    assert outcome.result == [("CONNECTING", "RESPONSE"), ("CONNECTING", "DISCONNECTED")]
    assert [m.get("body") for m in outcome.sent] == [None, b"Unauth", b"orized"]


async def response_then_close(impl: Impl, ws: Any) -> Any:
    await ws.send({"type": "websocket.http.response.start", "status": 401, "headers": []})
    await ws.close()


async def test_response_state_only_takes_a_body() -> None:
    outcome = await same(response_then_close)
    message = "Expected ASGI message \"websocket.http.response.body\", but got 'websocket.close'"
    assert outcome.error == ("RuntimeError", "RuntimeError", message)
    assert outcome.states == ("CONNECTING", "RESPONSE")


async def response_then_send(impl: Impl, ws: Any) -> Any:
    await ws.send({"type": "websocket.http.response.start", "status": 401, "headers": []})
    await ws.send({"type": "websocket.http.response.body", "body": b""})
    await ws.send({"type": "websocket.http.response.body", "body": b"more"})


async def test_response_finished_then_send() -> None:
    outcome = await same(response_then_send)
    assert outcome.error == (
        "WebSocketDisconnected",
        "RuntimeError",
        'Cannot call "send" once a close message has been sent.',
    )


async def deny(impl: Impl, ws: Any) -> Any:
    await ws.send_denial_response(impl.PlainTextResponse("Go away", status_code=403, headers={"x-reason": "banned"}))


async def test_send_denial_response_with_the_extension() -> None:
    outcome = await same(deny)
    assert outcome.sent == [
        {
            "type": "websocket.http.response.start",
            "status": 403,
            "headers": [
                (b"x-reason", b"banned"),
                (b"content-length", b"7"),
                (b"content-type", b"text/plain; charset=utf-8"),
            ],
        },
        {"type": "websocket.http.response.body", "body": b"Go away"},
    ]
    assert outcome.states == ("CONNECTING", "DISCONNECTED")


async def test_send_denial_response_without_the_extension() -> None:
    outcome = await same(deny, extensions={})
    message = "The server doesn't support the Websocket Denial Response extension."
    assert outcome == Outcome([], error=("RuntimeError", "RuntimeError", message), states=("CONNECTING", "CONNECTING"))


# -- receiving ---------------------------------------------------------------------------------


async def receive_everything(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return [
        await ws.receive_text(),
        await ws.receive_bytes(),
        await ws.receive_json(),
        await ws.receive_json(mode="binary"),
        await ws.receive(),
    ]


async def test_receive_text_bytes_json_both_modes() -> None:
    incoming = [
        CONNECT,
        text("héllo"),
        binary(b"\x00\xff"),
        text('{"a": [1, "ü"]}'),
        binary('{"b": "✓"}'.encode()),
        text("raw"),
    ]
    outcome = await same(receive_everything, incoming)
    assert outcome.result == ["héllo", b"\x00\xff", {"a": [1, "ü"]}, {"b": "✓"}, text("raw")]


async def receive_text_until_gone(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return await ws.receive_text()


async def receive_bytes_until_gone(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return await ws.receive_bytes()


async def receive_json_until_gone(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return await ws.receive_json()


@pytest.mark.parametrize("scenario", [receive_text_until_gone, receive_bytes_until_gone, receive_json_until_gone])
async def test_receive_data_raises_websocketdisconnect_with_code_and_reason(scenario: Scenario) -> None:
    outcome = await same(scenario, [CONNECT, disconnect(1001, "going away")])
    assert outcome.error == ("WebSocketDisconnect", "Exception", "code=1001 reason='going away'")
    assert outcome.states == ("DISCONNECTED", "CONNECTED")
    outcome = await same(scenario, [CONNECT, disconnect(1000)])
    assert outcome.error == ("WebSocketDisconnect", "Exception", "code=1000 reason=''")


async def receive_text_without_accept(impl: Impl, ws: Any) -> Any:
    return await ws.receive_text()


async def receive_bytes_without_accept(impl: Impl, ws: Any) -> Any:
    return await ws.receive_bytes()


async def receive_json_without_accept(impl: Impl, ws: Any) -> Any:
    return await ws.receive_json()


async def receive_text_after_close(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    await ws.close()
    return await ws.receive_text()


@pytest.mark.parametrize(
    "scenario",
    [receive_text_without_accept, receive_bytes_without_accept, receive_json_without_accept, receive_text_after_close],
)
async def test_receive_data_needs_an_accepted_connection(scenario: Scenario) -> None:
    outcome = await same(scenario, [CONNECT])
    message = 'WebSocket is not connected. Need to call "accept" first.'
    assert outcome.error == ("WebSocketDisconnected", "RuntimeError", message)


async def receive_after_disconnect(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    first = await ws.receive()
    await ws.receive()
    return first  # pragma: no cover - the second receive raises


async def test_receive_after_disconnect() -> None:
    outcome = await same(receive_after_disconnect, [CONNECT, disconnect(1000)])
    message = 'Cannot call "receive" once a disconnect message has been received.'
    assert outcome.error == ("WebSocketDisconnected", "RuntimeError", message)
    assert outcome.states == ("DISCONNECTED", "CONNECTED")


async def receive_twice(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return await ws.receive()


async def test_receive_of_the_wrong_type_once_connected() -> None:
    outcome = await same(receive_twice, [CONNECT, CONNECT])
    message = 'Expected ASGI message "websocket.receive" or "websocket.disconnect", but got \'websocket.connect\''
    assert outcome.error == ("RuntimeError", "RuntimeError", message)


async def iterate_text(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return [item async for item in ws.iter_text()]


async def iterate_bytes(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return [item async for item in ws.iter_bytes()]


async def iterate_json(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return [item async for item in ws.iter_json()]


async def test_iterators_end_quietly_on_disconnect() -> None:
    assert (await same(iterate_text, [CONNECT, text("a"), text("b"), disconnect(1001)])).result == ["a", "b"]
    assert (await same(iterate_bytes, [CONNECT, binary(b"a"), disconnect(1000)])).result == [b"a"]
    assert (await same(iterate_json, [CONNECT, text("[1]"), text('"x"'), disconnect()])).result == [[1], "x"]
    assert (await same(iterate_json, [CONNECT, disconnect()])).result == []


# -- deliberate differences in receiving --------------------------------------------------------


async def receive_text_gets_bytes(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return await ws.receive_text()


async def receive_bytes_gets_text(impl: Impl, ws: Any) -> Any:
    await ws.accept()
    return await ws.receive_bytes()


async def test_frame_of_the_other_kind_is_a_keyerror_with_a_message_in_sockjet() -> None:
    # Starlette: a bare KeyError('text'). sockjet: UnexpectedMessage, a KeyError subclass (so
    # `except KeyError` still catches it) that says what happened.
    ours = await run(SOCKJET, receive_text_gets_bytes, [CONNECT, binary(b"x")])
    theirs = await run(STARLETTE, receive_text_gets_bytes, [CONNECT, binary(b"x")])
    assert ours.error == ("UnexpectedMessage", "KeyError", "Expected a text message, but the client sent binary data.")
    assert theirs.error == ("KeyError", "KeyError", "'text'")
    ours = await run(SOCKJET, receive_bytes_gets_text, [CONNECT, text("x")])
    theirs = await run(STARLETTE, receive_bytes_gets_text, [CONNECT, text("x")])
    assert ours.error == ("UnexpectedMessage", "KeyError", "Expected a binary message, but the client sent text.")
    assert theirs.error == ("KeyError", "KeyError", "'bytes'")
    assert ours.sent == theirs.sent == [ACCEPT]


async def test_disconnect_without_a_code_is_1005_in_sockjet() -> None:
    # The ASGI spec lets a server omit the code (no code in the close frame: 1005). Starlette
    # reads message["code"] and raises KeyError; sockjet reports 1005.
    gone = {"type": "websocket.disconnect"}
    ours = await run(SOCKJET, receive_text_until_gone, [CONNECT, gone])
    theirs = await run(STARLETTE, receive_text_until_gone, [CONNECT, gone])
    assert ours.error == ("WebSocketDisconnect", "Exception", "code=1005 reason=''")
    assert theirs.error == ("KeyError", "KeyError", "'code'")


# -- values ------------------------------------------------------------------------------------


def test_websocketdisconnect_defaults() -> None:
    for impl in (SOCKJET, STARLETTE):
        default = impl.WebSocketDisconnect()
        assert (default.code, default.reason) == (1000, "")
        assert impl.WebSocketDisconnect(1001, None).reason == ""
        assert impl.WebSocketDisconnect(code=4000, reason="x").reason == "x"
        assert isinstance(default, Exception)


def test_websocketstate_names_and_values() -> None:
    ours = [(state.name, state.value) for state in SOCKJET.WebSocketState]
    assert ours == [(state.name, state.value) for state in STARLETTE.WebSocketState]
    assert ours == [("CONNECTING", 0), ("CONNECTED", 1), ("DISCONNECTED", 2), ("RESPONSE", 3)]


async def test_websocketclose_app() -> None:
    outcome = await same_app(lambda impl: impl.WebSocketClose(code=4001, reason=None))
    assert outcome == Outcome([close(4001)])


async def connection_details(impl: Impl, ws: Any) -> Any:
    return {
        "url": str(ws.url),
        "url.parts": (ws.url.scheme, ws.url.hostname, ws.url.port, ws.url.path, ws.url.query),
        "base_url": str(ws.base_url),
        "headers": ws.headers.items(),
        "header": (ws.headers["X-Multi"], ws.headers.getlist("x-multi"), ws.headers["sec-websocket-version"]),
        "query_params": (ws.query_params.multi_items(), ws.query_params["a"], ws.query_params.getlist("a")),
        "path_params": ws.path_params,
        "cookies": ws.cookies,
        "client": (ws.client.host, ws.client.port, tuple(ws.client)),
        "mapping": (ws["path"], len(ws), sorted(ws)),
    }


async def test_connection_details() -> None:
    outcome = await same(connection_details, root_path="/api", path="/api/ws/chat")
    assert outcome.result["url"] == "ws://example.org:8000/api/ws/chat?a=1&b=2&a=3"
    assert outcome.result["base_url"] == "ws://example.org:8000/api/"
    assert outcome.result["header"] == ("one", ["one", "two"], "13")
    assert outcome.result["query_params"] == ([("a", "1"), ("b", "2"), ("a", "3")], "3", ["1", "3"])
    assert outcome.result["cookies"] == {"session": "abc", "theme": "dark"}
    assert outcome.result["client"] == ("10.0.0.1", 5000, ("10.0.0.1", 5000))


# -- routing -----------------------------------------------------------------------------------

UUID = uuid.UUID("8d6e7e4e-5c3f-4a63-9c3b-0b0a3e8e7c21")


def params_router(impl: Impl, seen: list[Any]) -> Any:
    async def endpoint(websocket):  # type: ignore[no-untyped-def]  # Starlette style: unannotated
        seen.append((websocket.path_params, websocket.scope.get("root_path"), websocket.url.path))
        await websocket.close()

    routes = [
        impl.WebSocketRoute("/str/{value}", endpoint, name="str"),
        impl.WebSocketRoute("/int/{value:int}", endpoint, name="int"),
        impl.WebSocketRoute("/float/{value:float}", endpoint, name="float"),
        impl.WebSocketRoute("/path/{value:path}", endpoint, name="path"),
        impl.WebSocketRoute("/uuid/{value:uuid}", endpoint, name="uuid"),
        impl.WebSocketRoute("/rooms/{room}/users/{user_id:int}", endpoint, name="member"),
        impl.Mount("/sub", routes=[impl.WebSocketRoute("/ws/{room}", endpoint, name="room")], name="sub"),
    ]
    return impl.Router(routes)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/str/héllo", {"value": "héllo"}),
        ("/int/42", {"value": 42}),
        ("/float/2.5", {"value": 2.5}),
        ("/path/a/b/c.txt", {"value": "a/b/c.txt"}),
        (f"/uuid/{UUID}", {"value": UUID}),
        ("/rooms/lobby/users/7", {"room": "lobby", "user_id": 7}),
    ],
)
async def test_path_params_are_converted(path: str, params: dict[str, Any]) -> None:
    ours: list[Any] = []
    theirs: list[Any] = []
    assert await run_app(params_router(SOCKJET, ours), [CONNECT], path=path) == Outcome([close()])
    assert await run_app(params_router(STARLETTE, theirs), [CONNECT], path=path) == Outcome([close()])
    assert ours == theirs == [(params, "", path)]
    assert [type(value) for value in ours[0][0].values()] == [type(value) for value in params.values()]


async def test_mount_sets_root_path_and_keeps_the_full_path() -> None:
    ours: list[Any] = []
    theirs: list[Any] = []
    await run_app(params_router(SOCKJET, ours), [CONNECT], path="/sub/ws/lobby")
    await run_app(params_router(STARLETTE, theirs), [CONNECT], path="/sub/ws/lobby")
    assert ours == theirs == [({"room": "lobby"}, "/sub", "/sub/ws/lobby")]


@pytest.mark.parametrize(
    ("name", "params", "url"),
    [
        ("str", {"value": "a b"}, "/str/a b"),
        ("int", {"value": 42}, "/int/42"),
        ("float", {"value": 2.5}, "/float/2.5"),
        ("path", {"value": "a/b"}, "/path/a/b"),
        ("uuid", {"value": UUID}, f"/uuid/{UUID}"),
        ("member", {"room": "lobby", "user_id": 7}, "/rooms/lobby/users/7"),
        ("sub:room", {"room": "lobby"}, "/sub/ws/lobby"),
    ],
)
def test_url_path_for(name: str, params: dict[str, Any], url: str) -> None:
    ours = params_router(SOCKJET, []).url_path_for(name, **params)
    theirs = params_router(STARLETTE, []).url_path_for(name, **params)
    assert (str(ours), ours.protocol) == (str(theirs), theirs.protocol) == (url, "websocket")


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, 'No route exists for name "nope" and params "".'),
        ("member", {"room": "lobby"}, 'No route exists for name "member" and params "room".'),
        ("str", {"value": "x", "extra": "y"}, 'No route exists for name "str" and params "value, extra".'),
    ],
)
def test_url_path_for_no_match(name: str, params: dict[str, Any], message: str) -> None:
    for impl in (SOCKJET, STARLETTE):
        with pytest.raises(impl.NoMatchFound, match=re.escape(message)):
            params_router(impl, []).url_path_for(name, **params)


async def test_unknown_websocket_path_is_closed_before_accept() -> None:
    outcome = await same_app(lambda impl: params_router(impl, []), [CONNECT], path="/nowhere")
    assert outcome == Outcome([close()])
    outcome = await same_app(lambda impl: impl.App(routes=params_router(impl, []).routes), [CONNECT], path="/nowhere")
    assert outcome == Outcome([close()])


# -- WebSocketEndpoint -------------------------------------------------------------------------


def echo_endpoint(impl: Impl, encoding: str | None, log: list[Any]) -> Any:
    class Echo(impl.WebSocketEndpoint):  # type: ignore[name-defined,misc]
        async def on_receive(self, websocket: Any, data: Any) -> None:
            log.append(data)
            if isinstance(data, bytes):
                await websocket.send_bytes(data)
            elif isinstance(data, str):
                await websocket.send_text(data)
            else:
                await websocket.send_json(data)

        async def on_disconnect(self, websocket: Any, close_code: int) -> None:
            log.append(("disconnect", close_code))

    Echo.encoding = encoding
    return Echo


@pytest.mark.parametrize(
    ("encoding", "incoming", "received", "sent"),
    [
        ("text", [text("hi")], ["hi"], [sent_text("hi")]),
        ("bytes", [binary(b"hi")], [b"hi"], [sent_bytes(b"hi")]),
        ("json", [text('{"a": 1}'), binary(b"[2]")], [{"a": 1}, [2]], [sent_text('{"a":1}'), sent_text("[2]")]),
        (None, [text("hi"), binary(b"yo")], ["hi", b"yo"], [sent_text("hi"), sent_bytes(b"yo")]),
    ],
)
async def test_endpoint_encodings(
    encoding: str | None, incoming: list[Message], received: list[Any], sent: list[Message]
) -> None:
    ours: list[Any] = []
    theirs: list[Any] = []
    messages = [CONNECT, *incoming, disconnect(1001)]
    routes = [(SOCKJET, ours), (STARLETTE, theirs)]
    outcomes = [await run_app(echo_endpoint(impl, encoding, log), messages) for impl, log in routes]
    assert outcomes[0] == outcomes[1] == Outcome([ACCEPT, *sent])
    assert ours == theirs == [*received, ("disconnect", 1001)]


@pytest.mark.parametrize(
    ("encoding", "frame", "message"),
    [
        ("text", binary(b"x"), "Expected text websocket messages, but got bytes"),
        ("bytes", text("x"), "Expected bytes websocket messages, but got text"),
        ("json", text("{not json"), "Malformed JSON data received."),
    ],
)
async def test_endpoint_wrong_kind_of_frame_closes_1003(
    encoding: str, frame: Message, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    ours: list[Any] = []
    theirs: list[Any] = []
    mine = await run_app(echo_endpoint(SOCKJET, encoding, ours), [CONNECT, frame])
    starlettes = await run_app(echo_endpoint(STARLETTE, encoding, theirs), [CONNECT, frame])
    assert mine.sent == starlettes.sent == [ACCEPT, close(1003)]
    assert ours == theirs == [("disconnect", 1011)]
    # Starlette lets the RuntimeError reach the server; sockjet logs it (the client already has its 1003).
    assert starlettes.error == ("RuntimeError", "RuntimeError", message)
    assert mine.error is None
    assert [str(record.exc_info[1]) for record in caplog.records if record.exc_info] == [message]


async def test_endpoint_on_connect_failure() -> None:
    # Both skip on_disconnect when on_connect raises; Starlette lets the error reach the server,
    # sockjet closes with 1011 (and logs it).
    def failing(impl: Impl, log: list[Any]) -> Any:
        class Failing(echo_endpoint(impl, "text", log)):  # type: ignore[misc]
            async def on_connect(self, websocket: Any) -> None:
                await websocket.accept()
                raise ValueError("no room")

        return Failing

    ours: list[Any] = []
    theirs: list[Any] = []
    mine = await run_app(failing(SOCKJET, ours), [CONNECT])
    starlettes = await run_app(failing(STARLETTE, theirs), [CONNECT])
    assert starlettes == Outcome([ACCEPT], error=("ValueError", "ValueError", "no room"))
    assert theirs == []
    assert mine == Outcome([ACCEPT, close(1011)])
    assert ours == []


# -- the app: exceptions, denial, lifespan -----------------------------------------------------


def app_raising(impl: Impl, exc: Exception, *, accept_first: bool = False) -> Any:
    async def endpoint(websocket):  # type: ignore[no-untyped-def]  # Starlette style: unannotated
        if accept_first:
            await websocket.accept()
        raise exc

    return impl.App(routes=[impl.WebSocketRoute("/ws", endpoint)])


async def test_httpexception_before_accept_is_a_denial_response() -> None:
    outcome = await same_app(
        lambda impl: app_raising(impl, impl.HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": "Token"})),
        [CONNECT],
    )
    assert outcome == Outcome(
        [
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", b"Token"),
                    (b"content-length", b"12"),
                    (b"content-type", b"text/plain; charset=utf-8"),
                ],
            },
            {"type": "websocket.http.response.body", "body": b"Unauthorized"},
        ]
    )


async def test_httpexception_without_the_denial_extension() -> None:
    # Starlette sends the denial messages anyway (a server without the extension then fails);
    # sockjet checks the extension and closes with 1008 (policy violation) instead.
    mine = await run_app(app_raising(SOCKJET, SOCKJET.HTTPException(401)), [CONNECT], extensions={})
    starlettes = await run_app(app_raising(STARLETTE, STARLETTE.HTTPException(401)), [CONNECT], extensions={})
    assert mine == Outcome([close(1008)])
    assert [message["type"] for message in starlettes.sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]


async def test_httpexception_after_accept() -> None:
    # Starlette answers with an HTTP response on an open WebSocket (the server rejects it);
    # sockjet closes with 1011 and the detail as the reason.
    mine = await run_app(app_raising(SOCKJET, SOCKJET.HTTPException(403, "Forbidden"), accept_first=True), [CONNECT])
    theirs = await run_app(
        app_raising(STARLETTE, STARLETTE.HTTPException(403, "Forbidden"), accept_first=True), [CONNECT]
    )
    assert mine == Outcome([ACCEPT, close(1011, "Forbidden")])
    assert [(message["type"], message.get("status")) for message in theirs.sent] == [
        ("websocket.accept", None),
        ("websocket.http.response.start", 403),
        ("websocket.http.response.body", None),
    ]


@pytest.mark.parametrize("accept_first", [False, True])
async def test_websocketexception_closes_with_its_code_and_reason(accept_first: bool) -> None:
    outcome = await same_app(
        lambda impl: app_raising(impl, impl.WebSocketException(4001, "no such room"), accept_first=accept_first),
        [CONNECT],
    )
    assert outcome == Outcome([ACCEPT] * accept_first + [close(4001, "no such room")])


async def test_unhandled_exception_closes_1011_in_sockjet(caplog: pytest.LogCaptureFixture) -> None:
    # Starlette lets it reach the server (uvicorn then closes with 1011, or answers 500 before
    # accept); sockjet does that itself and logs it, so every server behaves the same.
    mine = await run_app(app_raising(SOCKJET, ValueError("boom"), accept_first=True), [CONNECT])
    theirs = await run_app(app_raising(STARLETTE, ValueError("boom"), accept_first=True), [CONNECT])
    assert theirs == Outcome([ACCEPT], error=("ValueError", "ValueError", "boom"))
    assert mine == Outcome([ACCEPT, close(1011)])
    mine = await run_app(app_raising(SOCKJET, ValueError("boom")), [CONNECT])
    theirs = await run_app(app_raising(STARLETTE, ValueError("boom")), [CONNECT])
    assert theirs == Outcome([], error=("ValueError", "ValueError", "boom"))
    assert [message.get("status") for message in mine.sent] == [500, None]
    assert mine.sent[1]["body"] == b"Internal Server Error"
    assert [str(record.exc_info[1]) for record in caplog.records if record.exc_info] == ["boom", "boom"]


async def test_websocketdisconnect_escaping_the_endpoint_is_quiet_in_sockjet() -> None:
    # Starlette hands it to the server; sockjet ends the connection quietly: the client is gone.
    def app(impl: Impl) -> Any:
        async def endpoint(websocket):  # type: ignore[no-untyped-def]  # Starlette style: unannotated
            await websocket.accept()
            await websocket.receive_text()

        return impl.App(routes=[impl.WebSocketRoute("/ws", endpoint)])

    mine = await run_app(app(SOCKJET), [CONNECT, disconnect(1001)])
    theirs = await run_app(app(STARLETTE), [CONNECT, disconnect(1001)])
    assert mine == Outcome([ACCEPT])
    assert theirs == Outcome([ACCEPT], error=("WebSocketDisconnect", "Exception", "code=1001 reason=''"))

    def sender(impl: Impl) -> Any:
        async def endpoint(websocket):  # type: ignore[no-untyped-def]  # Starlette style: unannotated
            await websocket.accept()
            await websocket.send_text("to a peer that is gone")

        return impl.App(routes=[impl.WebSocketRoute("/ws", endpoint)])

    gone = ConnectionResetError("peer reset")
    mine = await run_app(sender(SOCKJET), [CONNECT], send_error=gone)
    theirs = await run_app(sender(STARLETTE), [CONNECT], send_error=gone)
    assert mine == Outcome([ACCEPT])
    assert theirs == Outcome([ACCEPT], error=("WebSocketDisconnect", "Exception", "code=1006 reason=''"))


async def test_lifespan_state_reaches_websocket_state() -> None:
    def app(impl: Impl, seen: list[Any]) -> Any:
        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
            yield {"greeting": "hello", "counter": [0]}

        async def endpoint(websocket):  # type: ignore[no-untyped-def]  # Starlette style: unannotated
            websocket.state.counter[0] += 1
            seen.append((websocket.state.greeting, websocket.state.counter[0]))
            await websocket.accept()
            await websocket.send_text(websocket.state.greeting)
            await websocket.close()

        return impl.App(routes=[impl.WebSocketRoute("/ws", endpoint)], lifespan=lifespan)

    async def serve(asgi: Any) -> list[Outcome]:
        state: dict[str, Any] = {}
        to_app: asyncio.Queue[Message] = asyncio.Queue()
        from_app: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
        async with asyncio.timeout(TIMEOUT):
            task = asyncio.create_task(asgi(scope, to_app.get, from_app.put))
            await to_app.put({"type": "lifespan.startup"})
            assert await from_app.get() == {"type": "lifespan.startup.complete"}
            outcomes = [await run_app(asgi, [CONNECT], state=dict(state)) for _ in range(2)]
            await to_app.put({"type": "lifespan.shutdown"})
            assert await from_app.get() == {"type": "lifespan.shutdown.complete"}
            await task
        return outcomes

    ours: list[Any] = []
    theirs: list[Any] = []
    assert await serve(app(SOCKJET, ours)) == await serve(app(STARLETTE, theirs))
    assert ours == theirs == [("hello", 1), ("hello", 2)]


async def test_endpoint_whose_first_parameter_is_annotated_with_another_type() -> None:
    # sockjet fills an endpoint's parameters by name, FastAPI style, but a first parameter that is
    # not a path parameter and not annotated with a scalar type still gets the connection, so a
    # Starlette endpoint annotated `Any` (or a string that does not resolve) behaves the same.
    def app(impl: Impl) -> Any:
        async def endpoint(websocket: Any) -> None:
            await websocket.close()

        return impl.App(routes=[impl.WebSocketRoute("/ws", endpoint)])

    assert await run_app(app(STARLETTE), [CONNECT]) == Outcome([close()])
    assert await run_app(app(SOCKJET), [CONNECT]) == Outcome([close()])
