"""Property-based: random (and malformed) ASGI message sequences never hang sockjet, never make it
send a message the ASGI spec forbids, and always end in a defined error or a close.

Two layers are driven: the bare ``WebSocket`` state machine with random application calls, and the
``App`` (routing, limits, exception handling) with echo endpoints. The "server" hands out the
generated messages in order, then a disconnect, as a real server does when the peer goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sockjet import App, WebSocket, WebSocketDisconnect
from sockjet.limits import RateLimit
from sockjet.responses import PlainTextResponse
from sockjet.types import Message
from tests.conftest import MS

STEP_BOUND = 2000 * MS
"""No example may take longer than this: the property "never hangs"."""

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

valid_messages = st.one_of(
    st.just({"type": "websocket.connect"}),
    st.builds(lambda t: {"type": "websocket.receive", "text": t}, st.text(max_size=40)),
    st.builds(lambda b: {"type": "websocket.receive", "bytes": b}, st.binary(max_size=40)),
    st.builds(lambda c: {"type": "websocket.disconnect", "code": c}, st.sampled_from([1000, 1001, 1006, 4000])),
)
malformed_messages = st.one_of(
    st.just({}),
    st.just({"text": "no type"}),
    st.builds(lambda t: {"type": t}, st.one_of(st.integers(), st.none(), st.text(max_size=20))),
    st.just({"type": "websocket.receive"}),  # neither text nor bytes
    st.just({"type": "websocket.receive", "text": "both", "bytes": b"both"}),
    st.just({"type": "websocket.receive", "text": None, "bytes": None}),
    st.builds(lambda v: {"type": "websocket.receive", "text": v}, st.one_of(st.integers(), st.binary(max_size=5))),
    st.builds(lambda v: {"type": "websocket.receive", "bytes": v}, st.one_of(st.integers(), st.text(max_size=5))),
    st.just({"type": "websocket.disconnect"}),  # no code
    st.just({"type": "websocket.disconnect", "code": "going"}),
    st.just({"type": "http.request", "body": b""}),
    st.just({"type": "lifespan.startup"}),
)
messages = st.lists(st.one_of(valid_messages, valid_messages, malformed_messages), max_size=12)


class Server:
    """Hands out the scripted messages, then a disconnect forever; records what the app sent."""

    def __init__(self, script: list[Message]) -> None:
        self.script: Iterator[Message] = iter(script)
        self.sent: list[Message] = []
        self.disconnect_received = False

    async def receive(self) -> Message:
        await asyncio.sleep(0)
        message = next(self.script, None)
        if message is None:
            message = {"type": "websocket.disconnect", "code": 1006}
        if message.get("type") == "websocket.disconnect":
            self.disconnect_received = True
        return dict(message)

    async def send(self, message: Message) -> None:
        await asyncio.sleep(0)
        self.sent.append(message)

    def closed_by_app(self) -> bool:
        return any(m["type"] in ("websocket.close", "websocket.http.response.body") for m in self.sent)


def check_asgi_sequence(sent: list[Message]) -> None:
    """The messages an app sent are a sequence the ASGI WebSocket spec allows."""
    state = "connecting"
    for message in sent:
        kind = message["type"]
        assert state != "closed", f"{kind!r} sent after the connection was closed: {sent}"
        if state == "connecting":
            assert kind in ("websocket.accept", "websocket.close", "websocket.http.response.start"), sent
            state = {"websocket.accept": "open", "websocket.close": "closed"}.get(kind, "response")
            if kind == "websocket.http.response.start":
                assert isinstance(message["status"], int)
        elif state == "open":
            assert kind in ("websocket.send", "websocket.close"), sent
            if kind == "websocket.send":
                payloads = [k for k in ("text", "bytes") if message.get(k) is not None]
                assert len(payloads) == 1, f"websocket.send needs exactly one of text/bytes: {message}"
            else:
                state = "closed"
        else:
            assert kind == "websocket.http.response.body", sent
            if not message.get("more_body", False):
                state = "closed"
        if kind == "websocket.close":
            assert isinstance(message.get("code", 1000), int)
            assert len(message.get("reason", "").encode()) <= 123


# -- the bare state machine ---------------------------------------------------------------------

actions = st.lists(
    st.sampled_from(
        [
            "accept",
            "receive",
            "receive_text",
            "receive_bytes",
            "receive_json",
            "send_text",
            "send_bytes",
            "send_json",
            "close",
            "deny",
            "iter_text",
        ]
    ),
    max_size=10,
)
EXPECTED_ERRORS = (RuntimeError, WebSocketDisconnect, KeyError, ValueError, TypeError)
"""What the state machine may raise on misuse or malformed input (all defined, none a hang)."""


async def _act(websocket: WebSocket, action: str) -> None:
    if action == "accept":
        await websocket.accept()
    elif action == "receive":
        await websocket.receive()
    elif action in ("receive_text", "receive_bytes", "receive_json"):
        await getattr(websocket, action)(timeout=STEP_BOUND)
    elif action == "send_text":
        await websocket.send_text("t")
    elif action == "send_bytes":
        await websocket.send_bytes(b"b")
    elif action == "send_json":
        await websocket.send_json({"j": 1})
    elif action == "close":
        await websocket.close(1000)
    elif action == "deny":
        await websocket.send_denial_response(PlainTextResponse("no", status_code=403))
    else:
        async for _ in websocket.iter_text():
            pass


@SETTINGS
@given(script=messages, plan=actions, denial=st.booleans())
def test_the_state_machine_never_hangs_nor_breaks_the_protocol(
    script: list[Message], plan: list[str], denial: bool
) -> None:
    async def run() -> None:
        server = Server(script)
        extensions: dict[str, Any] = {"websocket.http.response": {}} if denial else {}
        scope = {"type": "websocket", "path": "/", "headers": [], "extensions": extensions}
        websocket = WebSocket(scope, server.receive, server.send)
        async with asyncio.timeout(STEP_BOUND):
            for action in plan:
                with contextlib.suppress(*EXPECTED_ERRORS):
                    await _act(websocket, action)
        check_asgi_sequence(server.sent)

    asyncio.run(run())


# -- the App ------------------------------------------------------------------------------------


def _app() -> App:
    app = App()

    @app.websocket("/text", max_message_size=16, rate_limit=RateLimit(messages=4, per=3600))
    async def text(websocket: WebSocket) -> None:
        await websocket.accept()
        async for message in websocket.iter_text():
            await websocket.send_text(message)

    @app.websocket("/bytes", rate_limit=RateLimit(messages=3, per=3600, policy="drop"))
    async def binary(websocket: WebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_bytes():
            await websocket.send_bytes(data)

    @app.websocket("/json", idle_timeout=STEP_BOUND)
    async def json_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.send_json(await websocket.receive_json())

    @app.websocket("/raw")
    async def raw(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await websocket.send_text("got one")

    return app


@pytest.fixture(autouse=True)
def _quiet_error_log() -> Iterator[None]:
    """The App logs every endpoint error it turns into a 1011 close; here thousands are expected."""
    logger = logging.getLogger("sockjet.error")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@SETTINGS
@given(
    script=messages,
    path=st.sampled_from(["/text", "/bytes", "/json", "/raw", "/missing"]),
    connect_first=st.booleans(),
)
def test_the_app_never_hangs_and_always_ends_in_a_close_or_a_disconnect(
    script: list[Message], path: str, connect_first: bool
) -> None:
    if connect_first:
        script = [{"type": "websocket.connect"}, *script]
    app = _app()

    async def run() -> None:
        server = Server(script)
        scope: dict[str, Any] = {
            "type": "websocket",
            "path": path,
            "headers": [],
            "query_string": b"",
            "extensions": {"websocket.http.response": {}},
        }
        async with asyncio.timeout(STEP_BOUND):
            await app(scope, server.receive, server.send)
        check_asgi_sequence(server.sent)
        assert server.closed_by_app() or server.disconnect_received, (script, server.sent)

    asyncio.run(run())
