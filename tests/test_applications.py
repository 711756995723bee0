"""The App through the TestClient: decorators, injection, lifespan, middleware, exceptions, denial."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sockjet import App, HTTPConnection, Request, WebSocket, WebSocketDisconnect
from sockjet.exceptions import HTTPException, WebSocketException
from sockjet.middleware import Middleware
from sockjet.responses import JSONResponse, PlainTextResponse, Response
from sockjet.routing import Mount, WebSocketRoute
from sockjet.testclient import TestClient, WebSocketDenialResponse
from sockjet.types import Receive, Scope, Send
from sockjet.websockets import WebSocketState


def test_websocket_decorator_injects_converted_path_params_and_query() -> None:
    app = App()

    @app.websocket("/ws/{room}/{n:int}")
    async def chat(websocket: WebSocket, room: str, n: int, page: int = 1, tag: str = "none") -> None:
        await websocket.accept()
        await websocket.send_json({"room": room, "n": n, "page": page, "tag": tag, "types": [type(n).__name__]})
        await websocket.close()

    with TestClient(app).websocket_connect("/ws/lobby/7?page=3") as ws:
        assert ws.receive_json() == {"room": "lobby", "n": 7, "page": 3, "tag": "none", "types": ["int"]}


def test_websocket_parameter_annotated_anywhere_gets_the_connection() -> None:
    app = App()

    @app.websocket("/ws/{room}")
    async def chat(room: str, sock: WebSocket) -> None:
        await sock.accept()
        await sock.send_text(room)
        await sock.close()

    with TestClient(app).websocket_connect("/ws/x") as ws:
        assert ws.receive_text() == "x"


def test_missing_required_parameter_closes_1008() -> None:
    app = App()

    @app.websocket("/ws")
    async def chat(websocket: WebSocket, token: str) -> None:  # pragma: no cover - never called
        await websocket.accept()

    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/ws"):
        pass
    assert info.value.code == 1008
    assert info.value.reason == "Missing required query parameter 'token'"


def test_invalid_query_parameter_closes_1008() -> None:
    app = App()

    @app.websocket("/ws")
    async def chat(websocket: WebSocket, page: int, flag: bool = False) -> None:
        await websocket.accept()
        await websocket.send_json([page, flag])
        await websocket.close()

    client = TestClient(app)
    with client.websocket_connect("/ws?page=2&flag=true") as ws:
        assert ws.receive_json() == [2, True]
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws?page=two"):
        pass
    assert (info.value.code, info.value.reason) == (
        1008,
        "Invalid query parameter 'page': Input should be a valid integer",
    )


def test_unknown_websocket_path_is_refused_before_accept() -> None:
    with pytest.raises(WebSocketDisconnect) as info, TestClient(App()).websocket_connect("/nowhere"):
        pass
    assert info.value.code == 1000


def test_close_before_accept_reports_the_code() -> None:
    app = App()

    @app.websocket("/ws")
    async def refuse(websocket: WebSocket) -> None:
        await websocket.close(code=1008, reason="no entry")

    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/ws"):
        pass
    assert (info.value.code, info.value.reason) == (1008, "no entry")


def test_http_exception_before_accept_becomes_denial_response() -> None:
    app = App()

    @app.websocket("/ws")
    async def guarded(websocket: WebSocket) -> None:
        raise HTTPException(status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": "Bearer"})

    with pytest.raises(WebSocketDenialResponse) as info, TestClient(app).websocket_connect("/ws"):
        pass
    assert info.value.status_code == 401
    assert info.value.text == "Unauthorized"
    assert info.value.headers["www-authenticate"] == "Bearer"
    assert isinstance(info.value, WebSocketDisconnect)
    assert str(info.value) == "WebSocket handshake denied with HTTP 401: Unauthorized"


def test_explicit_denial_response() -> None:
    app = App()

    @app.websocket("/ws")
    async def deny(websocket: WebSocket) -> None:
        await websocket.send_denial_response(JSONResponse({"error": "banned"}, status_code=403))

    with pytest.raises(WebSocketDenialResponse) as info, TestClient(app).websocket_connect("/ws"):
        pass
    assert info.value.status_code == 403
    assert info.value.json() == {"error": "banned"}


def test_http_exception_after_accept_closes_1011_with_detail() -> None:
    app = App()

    @app.websocket("/ws")
    async def late(websocket: WebSocket) -> None:
        await websocket.accept()
        raise HTTPException(status_code=400, detail="bad state")

    with TestClient(app).websocket_connect("/ws") as ws, pytest.raises(WebSocketDisconnect) as info:
        ws.receive_text()
    assert (info.value.code, info.value.reason) == (1011, "bad state")


def test_websocket_exception_closes_with_its_code() -> None:
    app = App()

    @app.websocket("/ws")
    async def policy(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(code=4001, reason="custom")

    with TestClient(app).websocket_connect("/ws") as ws, pytest.raises(WebSocketDisconnect) as info:
        ws.receive_text()
    assert (info.value.code, info.value.reason) == (4001, "custom")


def test_unhandled_exception_closes_1011_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.websocket("/ws/{room}")
    async def broken(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        raise ValueError("boom")

    with (
        caplog.at_level(logging.ERROR, logger="sockjet.error"),
        TestClient(app, raise_server_exceptions=False).websocket_connect("/ws/a") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 1011
    assert "Exception in WebSocket /ws/a from testclient:50000; closing with 1011" in caplog.text
    assert "ValueError: boom" in caplog.text


def test_unhandled_exception_before_accept_is_http_500() -> None:
    app = App()

    @app.websocket("/ws")
    async def broken(websocket: WebSocket) -> None:
        raise ValueError("boom")

    with (
        pytest.raises(WebSocketDenialResponse) as info,
        TestClient(app, raise_server_exceptions=False).websocket_connect("/ws"),
    ):
        pass
    assert info.value.status_code == 500


def test_wrong_frame_kind_closes_1003() -> None:
    app = App()

    @app.websocket("/ws")
    async def texts_only(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    with TestClient(app, raise_server_exceptions=False).websocket_connect("/ws") as ws:
        ws.send_bytes(b"\x00")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert (info.value.code, info.value.reason) == (1003, "Expected a text message, but the client sent binary data.")


def test_disconnect_escaping_the_endpoint_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    seen: list[int] = []

    @app.websocket("/ws")
    async def reader(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)
            raise

    with caplog.at_level(logging.ERROR), TestClient(app, raise_server_exceptions=False).websocket_connect("/ws") as ws:
        ws.close(1001)
    assert seen == [1001]
    assert caplog.records == []


def test_custom_exception_handler_for_websocket() -> None:
    class Banned(Exception):
        pass

    async def on_banned(websocket: WebSocket, exc: Exception) -> None:
        await websocket.close(code=4003, reason=f"banned: {exc}")

    app = App(exception_handlers={Banned: on_banned})

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        raise Banned("spam")

    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/ws"):
        pass
    assert (info.value.code, info.value.reason) == (4003, "banned: spam")


def test_exception_handler_returning_a_response_denies() -> None:
    app = App()

    @app.exception_handler(LookupError)
    def on_lookup(connection: HTTPConnection, exc: Exception) -> Response:
        return PlainTextResponse("missing", status_code=404)

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        raise KeyError("x")

    @app.get("/item")
    def item() -> str:
        raise KeyError("x")

    client = TestClient(app)
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass
    assert info.value.status_code == 404
    response = client.get("/item")
    assert (response.status_code, response.text) == (404, "missing")


def test_status_code_exception_handler() -> None:
    app = App(exception_handlers={404: lambda request, exc: JSONResponse({"missing": request.url.path}, 404)})
    response = TestClient(app).get("/nope")
    assert response.json() == {"missing": "/nope"}


def test_http_side_routes_and_return_values() -> None:
    app = App()

    @app.get("/text")
    def text() -> str:
        return "plain"

    @app.get("/json/{item_id:int}")
    async def as_json(item_id: int, q: str = "") -> dict[str, Any]:
        return {"id": item_id, "q": q}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return JSONResponse({"got": await request.json(), "method": request.method})

    @app.route("/both", methods=["GET", "POST"])
    async def both(request: Request) -> Response:
        return PlainTextResponse(request.method)

    client = TestClient(app)
    assert client.get("/text").text == "plain"
    assert client.get("/text").headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/json/5?q=hi").json() == {"id": 5, "q": "hi"}
    assert client.post("/echo", json={"a": 1}).json() == {"got": {"a": 1}, "method": "POST"}
    assert client.post("/both").text == "POST"
    response = client.post("/text")
    assert (response.status_code, response.text, response.headers["allow"]) == (405, "Method Not Allowed", "GET, HEAD")
    assert client.get("/missing").status_code == 404
    assert client.get("/json/x").status_code == 404


def test_unhandled_http_exception_gives_500_or_raises() -> None:
    app = App()

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("http boom")

    with pytest.raises(ValueError, match="http boom"):
        TestClient(app).get("/boom")
    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_server_error_handler_and_debug_text() -> None:
    app = App(debug=True)

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("detail")

    assert TestClient(app, raise_server_exceptions=False).get("/boom").text == "ValueError: detail"
    handled = App(exception_handlers={500: lambda request, exc: PlainTextResponse("sorry", status_code=500)})
    handled.add_route("/boom", boom)
    assert TestClient(handled, raise_server_exceptions=False).get("/boom").text == "sorry"


def test_lifespan_state_reaches_every_connection() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hello"}
        events.append("shutdown")

    app = App(lifespan=lifespan)

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state.greeting)
        await websocket.close()

    @app.get("/")
    def index(request: Request) -> str:
        return str(request.state.greeting)

    with TestClient(app) as client:
        assert events == ["startup"]
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hello"
        assert client.get("/").text == "hello"
    assert events == ["startup", "shutdown"]


def test_lifespan_startup_failure_raises() -> None:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="no database"), TestClient(App(lifespan=lifespan)):
        pass


def test_no_lifespan_still_starts() -> None:
    with TestClient(App()) as client:
        assert client.get("/x").status_code == 404


class TagMiddleware:
    """A pure ASGI middleware that adds a header to WebSocket accepts."""

    def __init__(self, app: Any, tag: str) -> None:
        self.app = app
        self.tag = tag

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Any) -> None:
            if message["type"] == "websocket.accept":
                message["headers"] = [*message.get("headers", []), (b"x-tag", self.tag.encode())]
            await send(message)

        await self.app(scope, receive, tagged)


def test_middleware_wraps_websockets() -> None:
    app = App(middleware=[Middleware(TagMiddleware, tag="outer")])
    app.add_middleware(TagMiddleware, tag="added")

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    with TestClient(app).websocket_connect("/ws") as ws:
        assert ws.extra_headers == [(b"x-tag", b"outer"), (b"x-tag", b"added")]
    with pytest.raises(RuntimeError, match="Cannot add middleware after an application has started"):
        app.add_middleware(TagMiddleware, tag="late")
    assert repr(Middleware(TagMiddleware, "a", tag="b")) == "Middleware(TagMiddleware, 'a', tag='b')"


def test_middleware_failure_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.accept"})
                raise RuntimeError("middleware bug")
            await self.app(scope, receive, send)  # pragma: no cover

    app = App(middleware=[Middleware(Broken)])
    with (
        caplog.at_level(logging.ERROR),
        TestClient(app, raise_server_exceptions=False).websocket_connect("/ws") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 1011
    assert "Exception in the ASGI app for WebSocket /ws" in caplog.text


def test_url_for_and_url_path_for() -> None:
    app = App()

    @app.websocket("/ws/{room}", name="room")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_text(str(websocket.url_for("room", room="other")))
        await websocket.close()

    assert app.url_path_for("room", room="a") == "/ws/a"
    with TestClient(app).websocket_connect("/ws/a") as ws:
        assert ws.receive_text() == "ws://testserver/ws/other"


def test_app_mounts_inside_starlette_and_fastapi() -> None:
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.routing import Mount as StarletteMount

    inner = App()

    @inner.websocket("/ws/{room}", name="room")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_json(
            {"room": room, "path": websocket.url.path, "for": str(websocket.url_for("room", room="b"))}
        )
        await websocket.close()

    outer = Starlette(routes=[StarletteMount("/rt", app=inner)])
    with TestClient(outer).websocket_connect("/rt/ws/a") as ws:
        assert ws.receive_json() == {"room": "a", "path": "/rt/ws/a", "for": "ws://testserver/rt/ws/b"}
    fast = FastAPI()
    fast.mount("/rt", inner)
    with TestClient(fast).websocket_connect("/rt/ws/z") as ws:
        assert ws.receive_json()["room"] == "z"


def test_starlette_and_raw_apps_mount_inside_sockjet() -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute as StarletteWebSocketRoute
    from starlette.websockets import WebSocket as StarletteWebSocket

    async def legacy(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"legacy {websocket.url.path}")
        await websocket.close()

    app = App(routes=[Mount("/old", app=Starlette(routes=[StarletteWebSocketRoute("/ws", legacy)]))])
    app.mount("/raw", App(routes=[WebSocketRoute("/ws", room_echo)]), name="raw")
    client = TestClient(app)
    with client.websocket_connect("/old/ws") as ws:
        assert ws.receive_text() == "legacy /old/ws"
    with client.websocket_connect("/raw/ws") as ws:
        assert ws.receive_text() == "raw"
    assert app.url_path_for("raw:room_echo") == "/raw/ws"


async def room_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("raw")
    await websocket.close()


def test_sync_exception_handler_and_add_exception_handler_guard() -> None:
    app = App()
    app.add_exception_handler(ZeroDivisionError, lambda conn, exc: PlainTextResponse("div", status_code=400))

    @app.get("/div")
    def div() -> str:
        return str(1 / 0)

    client = TestClient(app)
    assert client.get("/div").text == "div"
    with pytest.raises(
        RuntimeError, match=re.escape("Cannot add an exception handler after an application has started")
    ):
        app.add_exception_handler(KeyError, lambda conn, exc: None)
    assert app.routes[0].path == "/div"


def test_application_state_is_separate_from_connection_state() -> None:
    app = App()
    app.state.counter = 1
    assert app.state.counter == 1

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        assert websocket.app is app
        assert websocket.application_state is WebSocketState.CONNECTED
        await websocket.send_text(str(websocket.app.state.counter))
        await websocket.close()

    with TestClient(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "1"


def test_first_parameter_with_a_foreign_annotation_gets_the_connection() -> None:
    app = App()

    @app.websocket("/ws/{room}")
    async def chat(websocket: Any, room: str) -> None:
        await websocket.accept()
        await websocket.send_text(room)
        await websocket.close()

    with TestClient(app).websocket_connect("/ws/r1") as ws:
        assert ws.receive_text() == "r1"


class RaisingASGIEndpoint:
    """A raw ASGI app used as a WebSocket route's endpoint: no WebSocket object for sockjet to inspect."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise self.exc


@pytest.mark.parametrize("with_middleware", [False, True], ids=["bare", "middleware"])
def test_raw_asgi_endpoint_failures_close_at_best_effort(
    with_middleware: bool, caplog: pytest.LogCaptureFixture
) -> None:
    middleware = [Middleware(TagMiddleware, tag="t")] if with_middleware else []
    app = App(
        routes=[
            WebSocketRoute("/boom", RaisingASGIEndpoint(ValueError("raw boom"))),
            WebSocketRoute("/policy", RaisingASGIEndpoint(WebSocketException(4000, "raw policy"))),
            WebSocketRoute("/gone", RaisingASGIEndpoint(WebSocketDisconnect(1001))),
        ],
        middleware=middleware,
    )
    client = TestClient(app, raise_server_exceptions=False)
    with (
        caplog.at_level(logging.ERROR),
        client.websocket_connect("/boom") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 1011
    assert "Exception in the ASGI app for WebSocket /boom" in caplog.text
    with client.websocket_connect("/policy") as ws, pytest.raises(WebSocketDisconnect) as info:
        ws.receive_text()
    assert (info.value.code, info.value.reason) == (4000, "raw policy")
    caplog.clear()
    with client.websocket_connect("/gone") as ws, pytest.raises(WebSocketDisconnect) as info:
        ws.receive_text()
    assert info.value.code == 1000  # the app ended without a close: the server's own 1000
    assert caplog.records == []


def test_an_error_after_the_close_is_logged_without_claiming_a_1011(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.websocket("/closed-first")
    async def closed_first(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(code=1000, reason="done")
        raise ValueError("after close")

    @app.websocket("/client-left")
    async def client_left(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect:
            raise ValueError("after the client left") from None

    client = TestClient(app, raise_server_exceptions=False)
    with (
        caplog.at_level(logging.ERROR, logger="sockjet"),
        client.websocket_connect("/closed-first") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert (info.value.code, info.value.reason) == (1000, "done")
    with caplog.at_level(logging.ERROR, logger="sockjet"), client.websocket_connect("/client-left") as ws:
        ws.close(1001)
    messages = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert messages == [
        ("ERROR", "Exception in WebSocket /closed-first from testclient:50000 after the connection was closed"),
        ("ERROR", "Exception in WebSocket /client-left from testclient:50000 after the connection was closed"),
    ]
    assert all("1011" not in text for _, text in messages)


def test_connection_options_in_one_value() -> None:
    from sockjet.guard import ConnectionOptions

    base = ConnectionOptions(max_message_size=100, idle_timeout=5)
    route = WebSocketRoute("/ws", lambda websocket: None, options=base, max_message_size=10)
    assert (route.options.max_message_size, route.options.idle_timeout) == (10, 5)
    assert WebSocketRoute("/ws", lambda websocket: None, options=base).options is base
    app = App(options=base, allowed_origins=["https://example.com"])
    assert app.connection_settings.options == ConnectionOptions(
        max_message_size=100, idle_timeout=5, allowed_origins=("https://example.com",)
    )
    with pytest.raises(TypeError, match=re.escape("App() got unexpected keyword argument(s) max_size; its connection")):
        App(max_size=3)
    with pytest.raises(TypeError, match=re.escape("WebSocketRoute() got unexpected keyword argument(s) origins")):
        WebSocketRoute("/ws", lambda websocket: None, origins=["x"])
