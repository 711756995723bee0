"""A client's bad data closes with the right code and costs the log one line per route and kind a second.

Invalid JSON read by ``receive_json``/``iter_json`` closes with 1007 and logs one WARNING, no
traceback; every refusal the client causes is rate-limited per route and kind of refusal ("(N
similar suppressed)"); the App's own errors keep 1011 and their traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sockjet._errors
from sockjet import App, Hub, Query, WebSocket, WebSocketDisconnect, WebSocketException
from sockjet._log_limit import LogLimit
from sockjet.middleware import Middleware
from sockjet.testclient import TestClient, WebSocketDenialResponse
from sockjet.types import Message


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The Apps built in the test limit their refusal lines on this clock, stepped by hand."""
    fake = Clock()
    real = LogLimit

    def limit(interval: float) -> LogLimit:
        return real(interval, clock=fake)

    monkeypatch.setattr(sockjet._errors, "LogLimit", limit)
    return fake


def _lines(caplog: pytest.LogCaptureFixture, logger: str = "sockjet.error") -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


def _app() -> App:
    app = App()

    @app.websocket("/json")
    async def read_json(websocket: WebSocket, mode: str = "text") -> None:
        await websocket.accept()
        while True:
            await websocket.send_json(await websocket.receive_json(mode))

    @app.websocket("/iter")
    async def iterate(websocket: WebSocket) -> None:
        await websocket.accept()
        async for value in websocket.iter_json():
            await websocket.send_json(value)

    @app.websocket("/own")
    async def own_decoding(websocket: WebSocket) -> None:
        await websocket.accept()
        json.loads(await websocket.receive_text())  # the app's own decoding: its error, not the client's

    @app.websocket("/refuse")
    async def refuse(websocket: WebSocket, token: int = Query()) -> None:
        raise WebSocketException(code=1008, reason="no")  # pragma: no cover - every test refuses the token

    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def _refused(client: TestClient, path: str, origin: str | None = None) -> int:
    """How a connection was refused before accept: its HTTP status (a denial) or its close code."""
    headers = {"origin": origin} if origin else {}
    try:
        with client.websocket_connect(path, headers=headers):
            pass  # pragma: no cover - refused
    except WebSocketDenialResponse as denial:
        return denial.status_code
    except WebSocketDisconnect as exc:
        return exc.code
    raise AssertionError("not refused")  # pragma: no cover - the test fails here


def _send(client: TestClient, path: str, frame: str | bytes) -> Message:
    with client.websocket_connect(path) as ws:
        if isinstance(frame, str):
            ws.send_text(frame)
        else:
            ws.send_bytes(frame)
        return ws.receive()


@pytest.mark.parametrize(
    ("path", "frame", "error"),
    [
        ("/json", "[", "JSONDecodeError: Expecting value: line 1 column 2 (char 1)"),
        ("/json", "[" * 100_000, "RecursionError: maximum recursion depth exceeded"),
        ("/json?mode=binary", b"\xff", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0"),
        ("/iter", '{"a": 1', "JSONDecodeError: Expecting ',' delimiter: line 1 column 8 (char 7)"),
    ],
)
def test_invalid_json_closes_1007_with_one_warning_and_no_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, path: str, frame: str | bytes, error: str
) -> None:
    assert _send(client, path, frame) == {"type": "websocket.close", "code": 1007, "reason": "invalid JSON"}
    (line,) = _lines(caplog)
    assert line.levelname == "WARNING"
    assert line.exc_info is None
    route = path.split("?")[0]
    assert line.getMessage().startswith(
        f"WebSocket {route} from testclient:50000 closed with 1007: the client sent invalid JSON ({error}"
    )
    assert "Traceback" not in caplog.text


def test_good_json_still_flows(client: TestClient) -> None:
    with client.websocket_connect("/iter") as ws:
        ws.send_json({"a": [1, 2]})
        assert ws.receive_json() == {"a": [1, 2]}


def test_the_apps_own_json_error_keeps_1011_and_its_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert _send(client, "/own", "[")["code"] == 1011
    (line,) = _lines(caplog)
    assert line.levelname == "ERROR"
    assert line.getMessage() == "Exception in WebSocket /own from testclient:50000; closing with 1011"
    assert line.exc_info is not None and isinstance(line.exc_info[1], json.JSONDecodeError)


def test_the_testclient_still_reraises_it_by_default() -> None:
    with TestClient(_app()) as client, pytest.raises(json.JSONDecodeError), client.websocket_connect("/json") as ws:
        ws.send_text("[")
        assert ws.receive()["code"] == 1007


def test_a_flood_of_bad_data_logs_one_line_per_route_per_second(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        for _ in range(50):
            assert _send(client, "/json", "[")["code"] == 1007
        for _ in range(3):
            assert _send(client, "/iter", "[")["code"] == 1007  # another route: its own line
        clock.now += 1.0
        assert _send(client, "/json", "[")["code"] == 1007
        clock.now += 1.0
        assert _send(client, "/json", "[")["code"] == 1007
    messages = [line.getMessage() for line in _lines(caplog)]
    assert len(messages) == 4, messages
    assert [m.split(" from ")[0] for m in messages] == ["WebSocket /json", "WebSocket /iter"] + ["WebSocket /json"] * 2
    assert not messages[0].endswith("suppressed)")
    assert messages[2].endswith("(char 1)) (49 similar suppressed)")
    assert messages[3].endswith("(char 1))")


def test_parameter_refusals_share_their_kinds_limit(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        for token in ("x", "y", "z"):
            assert _refused(client, f"/refuse?token={token}") == 1008
        clock.now += 1.0
        assert _refused(client, "/refuse") == 1008
    messages = [line.getMessage() for line in _lines(caplog)]
    assert messages == [
        "Refused WebSocket /refuse from testclient:50000 with 1008: Invalid query parameter 'token': "
        "Input should be a valid integer",
        "Refused WebSocket /refuse from testclient:50000 with 1008: Missing required query parameter 'token' "
        "(2 similar suppressed)",
    ]


def _refusing_app(make: Callable[[App], None]) -> App:
    app = App(allowed_origins=["https://ok.example"], shutdown_timeout=1.0, max_connections=1)
    make(app)
    return app


def test_origin_and_capacity_refusals_are_rate_limited(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    def routes(app: App) -> None:
        @app.websocket("/ws")
        async def held(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.receive_text()

    app = _refusing_app(routes)
    caplog.set_level(logging.INFO, logger="sockjet.guard")
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(5):
            assert _refused(client, "/ws", "https://evil.example") == 403
            clock.now += 0.1
        clock.now += 1.0
        with client.websocket_connect("/ws", headers={"origin": "https://ok.example"}) as first:
            for _ in range(3):
                assert _refused(client, "/ws", "https://ok.example") == 503
            first.send_text("bye")
        assert _refused(client, "/ws", "https://evil.example") == 403
    messages = [line.getMessage() for line in _lines(caplog, "sockjet.guard")]
    assert messages == [
        "Refused WebSocket /ws: Origin not allowed",
        "Refused WebSocket /ws: the app has 1 connections open",  # another kind: not held back by the first
        "Refused WebSocket /ws: Origin not allowed (4 similar suppressed)",
    ]


def test_oversized_presence_info_closes_1008_with_one_warning(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub(max_presence_info=64)
    app = App(lifespan=hub.lifespan)

    @app.websocket("/room")
    async def room(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        async with hub.join("lobby", websocket, presence={"name": name}):
            await websocket.receive_text()  # pragma: no cover - the join refuses the name

    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(3):
            with client.websocket_connect(f"/room?name={'x' * 100}") as ws:
                assert ws.receive() == {"type": "websocket.close", "code": 1008, "reason": "presence info too large"}
    (line,) = _lines(caplog)
    assert line.levelname == "WARNING" and line.exc_info is None
    assert line.getMessage() == (
        "WebSocket /room from testclient:50000 closed with 1008: presence info is 111 bytes of JSON; the hub's "
        "max_presence_info is 64 bytes. Announce less (an id and a display name), or raise Hub(max_presence_info=...)."
    )


class Passthrough:
    """User middleware: the App then lets endpoint errors escape the route, for middleware to see."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def test_behind_user_middleware_invalid_json_is_still_1007(caplog: pytest.LogCaptureFixture) -> None:
    app = App(middleware=[Middleware(Passthrough)])

    @app.websocket("/json")
    async def read_json(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_json()

    with TestClient(app, raise_server_exceptions=False) as client:
        assert _send(client, "/json", "{")["code"] == 1007
    (line,) = _lines(caplog)
    assert line.levelname == "WARNING" and "closed with 1007" in line.getMessage()


def test_a_flood_of_one_kind_hides_no_other_kind_on_the_route(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        for _ in range(20):
            assert _send(client, "/json", "[")["code"] == 1007
        with client.websocket_connect("/json") as ws:
            ws.send_bytes(b"[]")  # a binary frame where text is expected: 1003, its own line
            assert ws.receive()["code"] == 1003
    messages = [line.getMessage().split(": ", 1)[0] for line in _lines(caplog)]
    assert messages == [
        "WebSocket /json from testclient:50000 closed with 1007",
        "WebSocket /json from testclient:50000 closed with 1003",
    ]
