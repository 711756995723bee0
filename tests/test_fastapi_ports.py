"""FastAPI's own WebSocket tests, as a FastAPI user would write them, on sockjet with only the imports changed.

The scenarios are those of FastAPI's tutorial tests (the examples under ``examples/fastapi_ws_*``),
of its router tests (``websocket_route``, prefixes, path and query parameters, dependencies,
overrides, validation in a dependency, errors caught by middleware or exception handlers), of its
router/app dependency-order tests and of its ``yield``-dependency tests; written for sockjet.
Note the FastAPI idiom ``pytest.raises(WebSocketDisconnect)`` around ``websocket_connect``: the
endpoint's ``WebSocketDisconnect`` is re-raised when the block ends (``raise_server_exceptions``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import pytest

from examples import fastapi_ws_auth, fastapi_ws_echo, fastapi_ws_manager, fastapi_ws_routers
from sockjet import APIRouter, App, Depends, Header, WebSocket, WebSocketDisconnect, status
from sockjet.middleware import Middleware
from sockjet.testclient import TestClient
from sockjet.types import ASGIApp, Receive, Scope, Send

# --- the tutorials ---------------------------------------------------------------------------------


def test_echo_page_and_websocket() -> None:
    client = TestClient(fastapi_ws_echo.app)
    response = client.get("/")
    assert response.status_code == 200
    assert b"<!DOCTYPE html>" in response.content
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as websocket:
        for message in ("Message one", "Message two"):
            websocket.send_text(message)
            assert websocket.receive_text() == f"Message text was: {message}"


def test_auth_with_a_session_cookie() -> None:
    client = TestClient(fastapi_ws_auth.app, cookies={"session": "fakesession"})
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/items/foo/ws") as websocket:
        for message in ("Message one", "Message two"):
            websocket.send_text(message)
            assert websocket.receive_text() == "Session cookie or query token value is: fakesession"
            assert websocket.receive_text() == f"Message text was: {message}, for item ID: foo"


def test_auth_with_a_query_token_and_q() -> None:
    client = TestClient(fastapi_ws_auth.app)
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/items/2/ws?q=3&token=some-token") as websocket:
        websocket.send_text("Message one")
        assert websocket.receive_text() == "Session cookie or query token value is: some-token"
        assert websocket.receive_text() == "Query parameter q is: 3"
        assert websocket.receive_text() == "Message text was: Message one, for item ID: 2"


def test_auth_without_credentials_is_refused_on_enter() -> None:
    client = TestClient(fastapi_ws_auth.app)
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/items/foo/ws"):
        pytest.fail("did not raise WebSocketDisconnect on __enter__")  # pragma: no cover
    assert info.value.code == status.WS_1008_POLICY_VIOLATION


def test_auth_with_invalid_q_is_refused_on_enter() -> None:
    client = TestClient(fastapi_ws_auth.app)
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/items/foo/ws?q=bar&token=some-token"):
        pytest.fail("did not raise WebSocketDisconnect on __enter__")  # pragma: no cover
    assert (info.value.code, info.value.reason) == (
        1008,
        "Invalid query parameter 'q': Input should be a valid integer",
    )


def test_manager_broadcasts_and_announces_who_left() -> None:
    client = TestClient(fastapi_ws_manager.app)
    with client.websocket_connect("/ws/1234") as first, client.websocket_connect("/ws/5678") as second:
        first.send_text("Hello from 1234")
        assert first.receive_text() == "You wrote: Hello from 1234"
        assert second.receive_text() == "Client #1234 says: Hello from 1234"
        assert first.receive_text() == "Client #1234 says: Hello from 1234"
        second.close()
        assert first.receive_text() == "Client #5678 left the chat"


def test_routers_order_of_dependencies_and_yield_teardown() -> None:
    client = TestClient(fastapi_ws_routers.app)
    with client.websocket_connect("/ws") as websocket:
        assert json.loads(websocket.receive_text()) == ["app", "route"]
    fastapi_ws_routers.closed_sessions.clear()
    with client.websocket_connect("/v1/rooms/lobby", headers={"x-api-key": "sesame"}) as websocket:
        assert json.loads(websocket.receive_text()) == {
            "room": "lobby",
            "user": "alice",
            "steps": ["app", "include", "router", "route", "session open"],
        }
    assert fastapi_ws_routers.closed_sessions == ["closed"]
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/v1/rooms/lobby"):
        pass  # pragma: no cover - refused
    assert (info.value.code, info.value.reason) == (1008, "bad API key")


def test_the_testing_tutorial() -> None:
    # FastAPI's "Testing WebSockets" page: an HTTP route and a WebSocket in one app, one client.
    from sockjet.websockets import WebSocket as TutorialWebSocket

    app = App()

    @app.get("/")
    async def read_main() -> dict[str, str]:
        return {"msg": "Hello World"}

    @app.websocket("/ws")
    async def websocket(websocket: TutorialWebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"msg": "Hello WebSocket"})
        await websocket.close()

    client = TestClient(app)
    response = client.get("/")
    assert (response.status_code, response.json()) == (200, {"msg": "Hello World"})
    with client.websocket_connect("/ws") as connection:
        assert connection.receive_json() == {"msg": "Hello WebSocket"}


# --- routers (FastAPI's router tests) --------------------------------------------------------------


async def ws_dependency() -> str:
    return "Socket Dependency"


async def ws_dependency_err() -> str:
    raise NotImplementedError()


async def ws_dependency_validate(x_missing: int = Header()) -> None:  # pragma: no cover - never called
    pass


class CustomError(Exception):
    pass


def _router_app(app: App | None = None, **kwargs: Any) -> App:
    router = APIRouter()
    prefix_router = APIRouter()
    native_prefix_router = APIRouter(prefix="/native")
    app = app or App(**kwargs)

    @app.websocket_route("/")
    async def index(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello, world!")
        await websocket.close()

    @router.websocket_route("/router")
    async def routerindex(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello, router!")
        await websocket.close()

    @prefix_router.websocket_route("/")
    async def routerprefixindex(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello, router with prefix!")
        await websocket.close()

    @router.websocket("/router2")
    async def routerindex2(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello, router!")
        await websocket.close()

    @router.websocket("/router/{pathparam:path}")
    async def routerindexparams(websocket: WebSocket, pathparam: str, queryparam: str) -> None:
        await websocket.accept()
        await websocket.send_text(pathparam)
        await websocket.send_text(queryparam)
        await websocket.close()

    @router.websocket("/router-ws-depends/")
    async def router_ws_decorator_depends(websocket: WebSocket, data: str = Depends(ws_dependency)) -> None:
        await websocket.accept()
        await websocket.send_text(data)
        await websocket.close()

    @native_prefix_router.websocket("/")
    async def router_native_prefix_ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello, router with native prefix!")
        await websocket.close()

    @router.websocket("/depends-err/")
    async def router_ws_depends_err(websocket: WebSocket, data: str = Depends(ws_dependency_err)) -> None:
        pass  # pragma: no cover - the dependency fails first

    @router.websocket("/depends-validate/")
    async def router_ws_depends_validate(websocket: WebSocket, data: None = Depends(ws_dependency_validate)) -> None:
        pass  # pragma: no cover - the dependency's parameter is missing

    @router.websocket("/custom_error/")
    async def router_ws_custom_error(websocket: WebSocket) -> None:
        raise CustomError()

    app.include_router(router)
    app.include_router(prefix_router, prefix="/prefix")
    app.include_router(native_prefix_router)
    return app


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("/", "Hello, world!"),
        ("/router", "Hello, router!"),
        ("/prefix/", "Hello, router with prefix!"),
        ("/native/", "Hello, router with native prefix!"),
        ("/router2", "Hello, router!"),
        ("/router-ws-depends/", "Socket Dependency"),
    ],
)
def test_router_routes(url: str, text: str) -> None:
    with TestClient(_router_app()).websocket_connect(url) as websocket:
        assert websocket.receive_text() == text


def test_router_dependency_override() -> None:
    app = _router_app()
    app.dependency_overrides[ws_dependency] = lambda: "Override"
    with TestClient(app).websocket_connect("/router-ws-depends/") as websocket:
        assert websocket.receive_text() == "Override"


def test_router_path_and_query_parameters() -> None:
    with TestClient(_router_app()).websocket_connect("/router/path/to/file?queryparam=a_query_param") as websocket:
        assert websocket.receive_text() == "path/to/file"
        assert websocket.receive_text() == "a_query_param"


def test_unknown_path_is_closed_with_1000() -> None:
    with pytest.raises(WebSocketDisconnect) as info, TestClient(_router_app()).websocket_connect("/no-router/"):
        pass  # pragma: no cover
    assert info.value.code == status.WS_1000_NORMAL_CLOSURE


Middleware_ = Callable[[WebSocket, Callable[[], Awaitable[None]]], Awaitable[None]]


def websocket_middleware(middleware_func: Middleware_) -> Callable[[ASGIApp], ASGIApp]:
    """A pure WebSocket middleware made from ``func(websocket, call_next)``, as FastAPI's tests make one."""

    def middleware_constructor(app: ASGIApp) -> ASGIApp:
        @functools.wraps(app)
        async def wrapped_app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "websocket":
                return await app(scope, receive, send)  # pragma: no cover

            async def call_next() -> None:
                return await app(scope, receive, send)

            websocket = WebSocket(scope, receive=receive, send=send)
            return await middleware_func(websocket, call_next)

        return wrapped_app

    return middleware_constructor


def test_validation_in_a_dependency_closes_1008_and_leaks_nothing_to_middleware() -> None:
    caught: list[Exception] = []

    @websocket_middleware
    async def catcher(websocket: WebSocket, call_next: Callable[[], Awaitable[None]]) -> None:
        try:
            return await call_next()
        except Exception as e:  # pragma: no cover - nothing escapes
            caught.append(e)
            raise

    app = _router_app(middleware=[Middleware(catcher)])
    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/depends-validate/"):
        pass  # pragma: no cover
    assert info.value.code == status.WS_1008_POLICY_VIOLATION
    assert info.value.reason == "Missing required header 'x-missing'"
    assert caught == []


def test_a_dependency_error_reaches_user_middleware() -> None:
    @websocket_middleware
    async def errorhandler(websocket: WebSocket, call_next: Callable[[], Awaitable[None]]) -> None:
        try:
            return await call_next()
        except Exception as e:
            await websocket.close(code=status.WS_1006_ABNORMAL_CLOSURE, reason=repr(e))

    app = _router_app(middleware=[Middleware(errorhandler)])
    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/depends-err/"):
        pass  # pragma: no cover
    assert info.value.code == status.WS_1006_ABNORMAL_CLOSURE
    assert "NotImplementedError" in info.value.reason


def test_an_endpoint_error_reaches_an_exception_handler() -> None:
    async def custom_handler(websocket: WebSocket, exc: Exception) -> None:
        await websocket.close(1002, "foo")

    app = _router_app(exception_handlers={CustomError: custom_handler})
    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/custom_error/"):
        pass  # pragma: no cover
    assert (info.value.code, info.value.reason) == (1002, "foo")


def test_an_error_nobody_catches_with_middleware_is_re_raised_in_the_test() -> None:
    passed: list[str] = []

    @websocket_middleware
    async def passing(websocket: WebSocket, call_next: Callable[[], Awaitable[None]]) -> None:
        passed.append("in")
        await call_next()

    app = _router_app(middleware=[Middleware(passing)])
    with pytest.raises(NotImplementedError), TestClient(app).websocket_connect("/depends-err/"):
        pass  # pragma: no cover - the 500 denial is replaced by the error itself
    with (
        pytest.raises(WebSocketDisconnect) as info,
        TestClient(app, raise_server_exceptions=False).websocket_connect("/custom_error/"),
    ):
        pass  # pragma: no cover
    assert (info.value.code, getattr(info.value, "status_code", None)) == (1006, 500)
    assert passed == ["in", "in"]


# --- app, include_router and router dependencies, in FastAPI's order -----------------------------------


def dependency_list() -> list[str]:
    return []


DepList = Annotated[list[str], Depends(dependency_list)]


def create_dependency(name: str) -> Any:
    def fun(deps: DepList) -> None:
        deps.append(name)

    return Depends(fun)


def _dependencies_app() -> App:
    router = APIRouter(dependencies=[create_dependency("router")])
    prefix_router = APIRouter(dependencies=[create_dependency("prefix_router")])
    app = App(dependencies=[create_dependency("app")])

    @app.websocket("/", dependencies=[create_dependency("index")])
    async def index(websocket: WebSocket, deps: DepList) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps(deps))
        await websocket.close()

    @router.websocket("/router", dependencies=[create_dependency("routerindex")])
    async def routerindex(websocket: WebSocket, deps: DepList) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps(deps))
        await websocket.close()

    @prefix_router.websocket("/", dependencies=[create_dependency("routerprefixindex")])
    async def routerprefixindex(websocket: WebSocket, deps: DepList) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps(deps))
        await websocket.close()

    app.include_router(router, dependencies=[create_dependency("router2")])
    app.include_router(prefix_router, prefix="/prefix", dependencies=[create_dependency("prefix_router2")])
    return app


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", ["app", "index"]),
        ("/router", ["app", "router2", "router", "routerindex"]),
        ("/prefix/", ["app", "prefix_router2", "prefix_router", "routerprefixindex"]),
    ],
)
def test_dependency_order(url: str, expected: list[str]) -> None:
    with TestClient(_dependencies_app()).websocket_connect(url) as websocket:
        assert json.loads(websocket.receive_text()) == expected


# --- a `yield` dependency whose teardown runs after the endpoint ----------------------------------------


class Session:
    def __init__(self) -> None:
        self.data = ["foo", "bar", "baz"]
        self.open = True

    def __iter__(self) -> Iterator[str]:
        for item in self.data:
            if self.open:
                yield item
            else:
                raise ValueError("Session closed")


@contextmanager
def acquire_session() -> Iterator[Session]:
    session = Session()
    try:
        yield session
    finally:
        session.open = False


def dep_session() -> Iterator[Session]:
    with acquire_session() as s:
        yield s


def broken_dep_session() -> Iterator[Session]:
    with acquire_session() as s:
        s.open = False
        yield s


SessionDep = Annotated[Session, Depends(dep_session)]
BrokenSessionDep = Annotated[Session, Depends(broken_dep_session)]


def _session_app() -> App:
    app = App()

    @app.websocket("/ws")
    async def websocket_endpoint(websocket: WebSocket, session: SessionDep) -> None:
        await websocket.accept()
        for item in session:
            await websocket.send_text(f"{item}")

    @app.websocket("/ws-broken")
    async def websocket_endpoint_broken(websocket: WebSocket, session: BrokenSessionDep) -> None:
        await websocket.accept()
        for item in session:
            await websocket.send_text(f"{item}")  # pragma: no cover - the session is closed

    return app


def test_the_session_stays_open_while_the_endpoint_runs() -> None:
    with TestClient(_session_app()).websocket_connect("/ws") as websocket:
        assert [websocket.receive_text() for _ in range(3)] == ["foo", "bar", "baz"]


def test_an_error_in_the_endpoint_is_re_raised_in_the_test() -> None:
    with pytest.raises(ValueError, match="Session closed"), TestClient(_session_app()).websocket_connect("/ws-broken"):
        pass
