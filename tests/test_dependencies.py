"""Depends on WebSocket and HTTP routes: calls, sub-dependencies, caching, teardown of `yield` dependencies
(normal end, disconnect, error, cancellation), overrides, route/router/app dependencies and their order."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest

from sockjet import (
    APIRouter,
    App,
    Depends,
    Header,
    HTTPConnection,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)
from sockjet.responses import PlainTextResponse
from sockjet.routers import APIWebSocketRoute
from sockjet.routing import Mount, Router, WebSocketRoute
from sockjet.testclient import TestClient, WebSocketDenialResponse
from sockjet.types import Message
from tests.asgi import websocket_scope
from tests.conftest import MS


def _first(app: App, url: str, **kwargs: Any) -> Any:
    with TestClient(app, **kwargs).websocket_connect(url) as ws:
        return ws.receive_json()


# --- how dependencies are called ---------------------------------------------------------------------


class Pagination:
    def __init__(self, page: int = 1, size: int = 10) -> None:
        self.page, self.size = page, size


class Prefixer:
    """A callable instance used as a dependency."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    async def __call__(self, name: str = Query("anon")) -> str:
        return self.prefix + name


def sync_dependency(x_id: Annotated[str, Header()] = "none") -> dict[str, Any]:
    return {"x_id": x_id, "thread": threading.current_thread().name}


def scaled(factor: int, n: int = 1) -> int:
    return factor * n


def test_functions_classes_instances_partials_and_sub_dependencies() -> None:
    async def user(token: str = Query("t"), extra: dict[str, Any] = Depends(sync_dependency)) -> str:
        return f"user:{token}:{extra['x_id']}"

    app = App()

    @app.websocket("/ws")
    async def endpoint(
        websocket: WebSocket,
        who: Annotated[str, Depends(user)],
        pages: Annotated[Pagination, Depends()],
        greeting: str = Depends(Prefixer("hello ")),
        tripled: int = Depends(functools.partial(scaled, 3)),
        raw: dict[str, Any] = Depends(sync_dependency),
    ) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "who": who,
                "pages": [pages.page, pages.size],
                "greeting": greeting,
                "tripled": tripled,
                "worker_thread": raw["thread"] != threading.current_thread().name,
            }
        )
        await websocket.close()

    got = _first(app, "/ws?token=abc&page=2&name=bob&n=5", headers={"x-id": "h1"})
    assert got == {
        "who": "user:abc:h1",
        "pages": [2, 10],
        "greeting": "hello bob",
        "tripled": 15,
        "worker_thread": True,
    }


def test_a_dependency_runs_once_per_connection_unless_use_cache_is_false() -> None:
    calls: list[str] = []

    def counted() -> int:
        calls.append("counted")
        return len(calls)

    def uses_counted(value: int = Depends(counted)) -> int:
        return value

    def fresh(value: int = Depends(counted, use_cache=False)) -> int:
        return value

    app = App()

    @app.websocket("/ws")
    async def endpoint(
        websocket: WebSocket, a: int = Depends(counted), b: int = Depends(uses_counted), c: int = Depends(fresh)
    ) -> None:
        await websocket.accept()
        await websocket.send_json([a, b, c])
        await websocket.close()

    assert _first(app, "/ws") == [1, 1, 2]
    assert _first(app, "/ws") == [3, 3, 4]  # a new connection, a new cache


def test_dependencies_get_the_websocket_or_the_connection() -> None:
    async def client_of(websocket: WebSocket) -> str:
        return f"{websocket.client.host}:{websocket.url.path}"  # type: ignore[union-attr]

    def path_of(connection: HTTPConnection) -> str:
        return connection.url.path

    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, a: str = Depends(client_of), b: str = Depends(path_of)) -> None:
        await websocket.accept()
        await websocket.send_json([a, b])
        await websocket.close()

    @app.get("/http")
    def page(request: Request, b: str = Depends(path_of)) -> Any:
        return [request.method, b]

    assert _first(app, "/ws") == ["testclient:/ws", "/ws"]
    assert TestClient(app).get("/http").json() == ["GET", "/http"]


def test_a_dependency_that_refuses_closes_with_its_code_and_the_refusal_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def member(websocket: WebSocket, room: str = Query("")) -> str:
        if room == "secret":
            raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="members only")
        if room == "vip":
            raise HTTPException(status_code=403, detail="VIPs only", headers={"X-Why": "vip"})
        return room

    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, room: str = Depends(member)) -> None:
        await websocket.accept()
        await websocket.send_json(room)
        await websocket.close()

    client = TestClient(app)
    with caplog.at_level(logging.WARNING, logger="sockjet"):
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws?room=secret"):
            pass  # pragma: no cover - refused
        assert (info.value.code, info.value.reason) == (1008, "members only")
        with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws?room=vip"):
            pass  # pragma: no cover - refused
        assert (denied.value.status_code, denied.value.text, denied.value.headers["x-why"]) == (403, "VIPs only", "vip")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "Refused WebSocket /ws from testclient:50000: member raised WebSocketException(code=1008, "
            "reason='members only')",
        ),
        (
            logging.WARNING,
            "Refused WebSocket /ws from testclient:50000 with HTTP 403: member raised HTTPException('VIPs only')",
        ),
    ]
    assert _first(app, "/ws?room=lobby") == "lobby"


def test_a_websocket_exception_after_accept_is_a_close_not_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(code=4000, reason="bye")

    with (
        caplog.at_level(logging.INFO, logger="sockjet"),
        TestClient(app).websocket_connect("/ws") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert (info.value.code, info.value.reason) == (4000, "bye")
    assert caplog.records == []


# --- teardown of `yield` dependencies ----------------------------------------------------------------


class Journal:
    """What the dependencies of one test saw, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def database(self) -> AsyncIterator[str]:
        self.lines.append("db open")
        try:
            yield "db"
        except Exception as exc:
            self.lines.append(f"db saw {type(exc).__name__}")
            raise
        finally:
            self.lines.append("db closed")

    def cache(self) -> Iterator[str]:
        self.lines.append("cache open")
        try:
            yield "cache"
        finally:
            self.lines.append(f"cache closed in {'worker' if threading.current_thread().name != 'main' else 'main'}")


def _journal_app(journal: Journal) -> App:
    app = App()
    db = Depends(journal.database)
    cache = Depends(journal.cache)

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, d: str = db, c: str = cache, mode: str = "normal") -> None:
        journal.lines.append(f"endpoint with {d}, {c}")
        await websocket.accept()
        if mode == "error":
            raise ValueError("endpoint failed")
        if mode == "wait":
            await websocket.receive_text()
        await websocket.send_text("done")
        await websocket.close()

    return app


def test_teardown_after_a_normal_end_in_reverse_order() -> None:
    journal = Journal()
    with TestClient(_journal_app(journal)).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "done"
    assert journal.lines == [
        "db open",
        "cache open",
        "endpoint with db, cache",
        "cache closed in worker",
        "db closed",
    ]


def test_teardown_after_a_disconnect_sees_it() -> None:
    journal = Journal()
    with (
        pytest.raises(WebSocketDisconnect),
        TestClient(_journal_app(journal)).websocket_connect("/ws?mode=wait") as ws,
    ):
        ws.close(1001)
    assert journal.lines[2:] == [
        "endpoint with db, cache",
        "cache closed in worker",
        "db saw WebSocketDisconnect",
        "db closed",
    ]


def test_teardown_after_an_error_sees_it_then_the_client_gets_1011() -> None:
    journal = Journal()
    with (
        TestClient(_journal_app(journal), raise_server_exceptions=False).websocket_connect("/ws?mode=error") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 1011
    assert journal.lines[-2:] == ["db saw ValueError", "db closed"]


async def test_teardown_after_cancellation() -> None:
    journal = Journal()
    app = _journal_app(journal)
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []

    async def send(message: Message) -> None:
        sent.append(dict(message))

    task = asyncio.create_task(app(websocket_scope("/ws", query_string=b"mode=wait"), incoming.get, send))
    while not sent:
        await asyncio.sleep(MS)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == [{"type": "websocket.accept", "subprotocol": None, "headers": []}]
    # The cancellation reached the endpoint in receive(); both teardowns ran (CancelledError is not
    # an Exception, so the database's `except Exception` did not see it, its `finally` did).
    assert journal.lines == ["db open", "cache open", "endpoint with db, cache", "cache closed in worker", "db closed"]


def test_a_failed_validation_still_tears_down_what_was_opened() -> None:
    journal = Journal()
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, d: str = Depends(journal.database), n: int = 0) -> None:
        await websocket.accept()  # pragma: no cover - refused

    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/ws?n=x"):
        pass  # pragma: no cover - refused
    assert info.value.code == 1008
    assert journal.lines == ["db open", "db saw WebSocketRequestValidationError", "db closed"]


def test_http_teardown_function_scope_before_the_response_request_scope_after() -> None:
    lines: list[str] = []

    async def per_request() -> AsyncIterator[None]:
        yield
        lines.append("request teardown")

    async def per_function() -> AsyncIterator[None]:
        yield
        lines.append("function teardown")

    class Recorder:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def sending(message: Any) -> None:
                if message["type"] == "http.response.start":
                    lines.append("response sent")
                await send(message)

            await self.app(scope, receive, sending)

    app = App()
    app.add_middleware(Recorder)

    @app.get("/", dependencies=[Depends(per_request), Depends(per_function, scope="function")])
    def index() -> str:
        lines.append("endpoint")
        return "ok"

    assert TestClient(app).get("/").text == "ok"
    assert lines == ["endpoint", "function teardown", "response sent", "request teardown"]


# --- overrides ----------------------------------------------------------------------------------------


async def real_user(token: str = Query()) -> str:
    return f"real:{token}"


def test_dependency_overrides_replace_a_dependency_with_its_own_parameters() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, user: Annotated[str, Depends(real_user)]) -> None:
        await websocket.accept()
        await websocket.send_json(user)
        await websocket.close()

    assert _first(app, "/ws?token=t") == "real:t"
    app.dependency_overrides[real_user] = lambda: "fake"
    assert _first(app, "/ws") == "fake"

    closed: list[str] = []

    async def override_with_teardown(name: str = Query("n")) -> AsyncIterator[str]:
        yield f"override:{name}"
        closed.append(name)

    app.dependency_overrides[real_user] = override_with_teardown
    assert _first(app, "/ws?name=x") == "override:x"
    assert _first(app, "/ws?name=y") == "override:y"
    assert closed == ["x", "y"]
    app.dependency_overrides.clear()
    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/ws"):
        pass  # pragma: no cover - refused
    assert info.value.reason == "Missing required query parameter 'token'"


# --- routers and the order of dependencies ------------------------------------------------------------


def _tagger(name: str) -> Any:
    def tag(deps: Annotated[list[str], Depends(_collected)]) -> None:
        deps.append(name)

    return Depends(tag)


def _collected() -> list[str]:
    return []


def _order_app() -> App:
    router = APIRouter(dependencies=[_tagger("router")])
    prefixed = APIRouter(prefix="/prefix", dependencies=[_tagger("prefixed")])
    nested = APIRouter(dependencies=[_tagger("nested")])
    app = App(dependencies=[_tagger("app")])

    async def report(websocket: WebSocket, deps: Annotated[list[str], Depends(_collected)]) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps(deps))
        await websocket.close()

    app.websocket("/", dependencies=[_tagger("index")])(report)
    router.websocket("/router", dependencies=[_tagger("route")])(report)
    prefixed.websocket("/in", dependencies=[_tagger("route")])(report)
    nested.websocket("/nested")(report)
    router.include_router(nested, prefix="/n", dependencies=[_tagger("include-nested")])
    router.websocket_route("/plain")(report)
    app.include_router(router, dependencies=[_tagger("include")])
    app.include_router(prefixed, prefix="/p", dependencies=[_tagger("include-p")])

    @router.get("/late")
    def late() -> str:  # pragma: no cover - added after the include: not part of the app
        return "late"

    return app


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", ["app", "index"]),
        ("/router", ["app", "include", "router", "route"]),
        ("/p/prefix/in", ["app", "include-p", "prefixed", "route"]),
        ("/n/nested", ["app", "include", "router", "include-nested", "nested"]),
        ("/plain", []),
    ],
)
def test_dependencies_run_app_include_router_route(url: str, expected: list[str]) -> None:
    with TestClient(_order_app()).websocket_connect(url) as ws:
        assert json.loads(ws.receive_text()) == expected


def test_routes_added_after_include_router_are_not_included() -> None:
    assert TestClient(_order_app()).get("/late").status_code == 404


def test_http_routes_in_routers() -> None:
    router = APIRouter(prefix="/api", dependencies=[Depends(real_user)])
    seen: list[str] = []

    @router.get("/items/{item_id}")
    def item(item_id: int, user: str = Depends(real_user)) -> Any:
        seen.append(user)
        return {"item_id": item_id}

    @router.post("/items")
    def create() -> str:
        return "created"

    @router.put("/items")
    def replace() -> str:
        return "replaced"

    @router.patch("/items")
    def patch() -> str:
        return "patched"

    @router.delete("/items")
    def delete() -> str:
        return "deleted"

    @router.route("/starlette")
    def starlette_style(request: Request) -> str:
        return "plain"

    async def other(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("mounted")(scope, receive, send)

    router.routes.append(Mount("/mounted", app=other))  # appended as is: no router prefix
    app = App()
    app.include_router(router, prefix="/v1", tags=["ignored"])

    @app.post("/direct")
    def direct() -> str:
        return "direct"

    @app.api_route("/any", methods=["GET", "PUT"])
    def anything() -> str:
        return "any"

    client = TestClient(app)
    assert client.get("/v1/api/items/3?token=t").json() == {"item_id": 3}
    assert seen == ["real:t"]
    assert client.get("/v1/api/items/3").status_code == 422
    assert [client.post("/v1/api/items?token=t").text, client.put("/v1/api/items?token=t").text] == [
        "created",
        "replaced",
    ]
    assert [client.patch("/v1/api/items?token=t").text, client.delete("/v1/api/items?token=t").text] == [
        "patched",
        "deleted",
    ]
    assert client.get("/v1/api/starlette").text == "plain"
    assert client.get("/v1/mounted/").text == "mounted"
    assert client.post("/direct").text == "direct"
    assert client.put("/any").text == "any"


def test_router_errors() -> None:
    with pytest.raises(ValueError, match="A path prefix must start with '/' and must not end with '/', not 'x/'"):
        APIRouter(prefix="x/")
    router = Router(routes=[WebSocketRoute("/ws", lambda websocket: None)])
    router.routes.append(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="include_router cannot copy <object object"):
        App().include_router(router)


def test_websocket_routes_keep_their_options_through_include_router() -> None:
    router = APIRouter()

    @router.websocket("/ws", max_message_size=10)
    async def small(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())

    app = App()
    app.include_router(router, prefix="/r")
    (route,) = app.routes
    assert isinstance(route, APIWebSocketRoute)
    assert route.options.max_message_size == 10
    with (
        TestClient(app, raise_server_exceptions=False).websocket_connect("/r/ws") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.send_text("x" * 11)
        ws.receive_text()
    assert info.value.code == 1009


def test_a_dependency_that_swallows_the_endpoints_error_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def swallowing() -> AsyncIterator[str]:
        try:  # noqa: SIM105 - the mistake under test, as users write it
            yield "x"
        except Exception:
            pass

    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, d: str = Depends(swallowing)) -> None:
        await websocket.accept()
        raise ValueError("boom")

    with (
        caplog.at_level(logging.WARNING, logger="sockjet"),
        TestClient(app).websocket_connect("/ws") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 1000  # the exception was swallowed: the endpoint ended normally
    assert [record.getMessage() for record in caplog.records] == [
        "WebSocket /ws from testclient:50000: the endpoint raised ValueError('boom'), and a dependency with yield "
        "caught it without raising it again; re-raise it in the dependency's except block"
    ]


def test_a_pydantic_model_as_a_dependency_class_reads_its_fields_from_the_query() -> None:
    import pydantic

    class Filters(pydantic.BaseModel):
        page: int = 1
        tag: str | None = None

    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, filters: Annotated[Filters, Depends()]) -> None:
        await websocket.accept()
        await websocket.send_json(filters.model_dump())
        await websocket.close()

    assert _first(app, "/ws?page=3&tag=x") == {"page": 3, "tag": "x"}
    assert _first(app, "/ws") == {"page": 1, "tag": None}
    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect("/ws?page=x"):
        pass  # pragma: no cover - refused
    assert info.value.reason == "Invalid query parameter 'page': Input should be a valid integer"


def test_the_field_constraints_of_a_pydantic_model_dependency_are_parameter_checks() -> None:
    import pydantic

    class Page(pydantic.BaseModel):
        number: int = pydantic.Field(1, ge=1)
        size: int = pydantic.Field(10, le=50)

        @pydantic.model_validator(mode="after")
        def not_too_far(self) -> Page:
            if self.number * self.size > 1000:
                raise ValueError("too far")
            return self

    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, page: Annotated[Page, Depends()]) -> None:
        await websocket.accept()
        await websocket.send_json(page.model_dump())
        await websocket.close()

    assert _first(app, "/ws?number=2") == {"number": 2, "size": 10}
    client = TestClient(app)
    refusals = []
    for query in ("number=0", "number=0&size=99", "number=100&size=50"):
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(f"/ws?{query}"):
            pass  # pragma: no cover - refused
        refusals.append((info.value.code, info.value.reason))
    assert refusals == [
        (1008, "Invalid query parameter 'number': Input should be greater than or equal to 1"),
        (1008, "Invalid query parameter 'number': Input should be greater than or equal to 1 (and 1 more)"),
        (1008, "Invalid Page: Value error, too far"),
    ]


def test_other_errors_of_a_model_dependency_are_errors() -> None:
    import pydantic

    class Strict(pydantic.BaseModel):
        n: int = 0

        def __init__(self, **data: Any) -> None:
            raise RuntimeError("not a validation problem")

    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, s: Annotated[Strict, Depends()]) -> None:  # pragma: no cover
        await websocket.accept()

    with pytest.raises(RuntimeError, match="not a validation problem"), TestClient(app).websocket_connect("/ws"):
        pass  # pragma: no cover - refused with 500
