"""Query, Header, Cookie, Path and plain parameters of WebSocket and HTTP endpoints, through the TestClient;
and the parameters sockjet refuses when the route is defined."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import re
import uuid
from decimal import Decimal
from typing import Annotated, Any

import fastapi
import pytest
import starlette.websockets
import typing_extensions

import sockjet
import sockjet.params
from sockjet import (
    App,
    Cookie,
    Depends,
    Header,
    HTTPConnection,
    ParameterError,
    Path,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    WebSocketRequestValidationError,
)
from sockjet.routing import Route, WebSocketRoute
from sockjet.testclient import TestClient


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def _values(app: App, url: str, **kwargs: Any) -> Any:
    with TestClient(app, **kwargs).websocket_connect(url) as ws:
        return ws.receive_json()


def _refusal(app: App, url: str) -> tuple[int, str]:
    with pytest.raises(WebSocketDisconnect) as info, TestClient(app).websocket_connect(url):
        pass  # pragma: no cover - refused before accept
    return info.value.code, info.value.reason


def _echo_app(**params: Any) -> App:
    """An App whose /ws endpoint sends back the repr-free JSON of its parameters."""
    app = App()

    @app.websocket("/ws/{item_id}")
    async def endpoint(
        websocket: WebSocket,
        item_id: int,
        q: int | None = None,
        flag: bool = False,
        ratio: float = 1.0,
        price: Decimal = Decimal("0"),
        ident: uuid.UUID | None = None,
        color: Color = Color.RED,
        when: dt.datetime | None = None,
        day: dt.date | None = None,
        tags: list[str] = Query([]),
        ids: Annotated[list[int], Query(alias="id")] = [],  # noqa: B006 - copied per connection
        size: Annotated[int, Query(ge=1, le=10)] = 5,
        name: Annotated[str, Query(min_length=2, max_length=5, pattern="^[a-z]+$")] = "ab",
        x_token: Annotated[str | None, Header()] = None,
        user_agent: str = Header(""),
        raw_name: Annotated[str | None, Header(convert_underscores=False)] = None,
        x_many: Annotated[list[str], Header()] = [],  # noqa: B006
        session: Annotated[str | None, Cookie()] = None,
        token: str = Cookie("none", alias="tok"),
        stamp: Annotated[float, Query(default_factory=lambda: 42.0)] = ...,  # type: ignore[assignment]
    ) -> None:
        await websocket.accept()
        ids.append(-1)  # the default list must not leak into the next connection
        await websocket.send_json(
            {
                "item_id": item_id,
                "q": q,
                "flag": flag,
                "ratio": ratio,
                "price": str(price),
                "ident": None if ident is None else str(ident),
                "color": color.value,
                "when": None if when is None else when.isoformat(),
                "day": None if day is None else day.isoformat(),
                "tags": tags,
                "ids": ids,
                "size": size,
                "name": name,
                "x_token": x_token,
                "user_agent": user_agent,
                "raw_name": raw_name,
                "x_many": x_many,
                "session": session,
                "token": token,
                "stamp": stamp,
            }
        )
        await websocket.close()

    return app


def test_values_reach_the_endpoint_converted() -> None:
    app = _echo_app()
    url = (
        "/ws/7?q=3&flag=yes&ratio=2.5&price=1.10&ident=12345678123456781234567812345678&color=blue"
        "&when=2024-01-02T03:04:05Z&day=2024-01-02&tags=a&tags=b&id=1&id=2&size=10&name=abc"
    )
    client = TestClient(app, cookies={"session": "s1", "tok": "t1"})
    headers = {"x-token": "secret", "raw_name": "raw", "x-many": "m1"}
    with client.websocket_connect(url, headers=headers) as ws:
        got = ws.receive_json()
    assert got == {
        "item_id": 7,
        "q": 3,
        "flag": True,
        "ratio": 2.5,
        "price": "1.10",
        "ident": "12345678-1234-5678-1234-567812345678",
        "color": "blue",
        "when": "2024-01-02T03:04:05+00:00",
        "day": "2024-01-02",
        "tags": ["a", "b"],
        "ids": [1, 2, -1],
        "size": 10,
        "name": "abc",
        "x_token": "secret",
        "user_agent": "testclient",
        "raw_name": "raw",
        "x_many": ["m1"],
        "session": "s1",
        "token": "t1",
        "stamp": 42.0,
    }


def test_defaults_are_used_and_copied_per_connection() -> None:
    app = _echo_app()
    for _ in range(2):
        got = _values(app, "/ws/1")
        assert got["ids"] == [-1]
        assert (got["q"], got["flag"], got["color"], got["session"], got["token"], got["tags"]) == (
            None,
            False,
            "red",
            None,
            "none",
            [],
        )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("q=x", "Invalid query parameter 'q': Input should be a valid integer"),
        ("flag=maybe", "Invalid query parameter 'flag': Input should be a valid boolean"),
        ("ident=nope", "Invalid query parameter 'ident': Input should be a valid UUID"),
        ("color=green", "Invalid query parameter 'color': Input should be 'red' or 'blue'"),
        ("id=1&id=x", "Invalid query parameter 'id': item 1: Input should be a valid integer"),
        ("size=0", "Invalid query parameter 'size': Input should be greater than or equal to 1"),
        ("size=11", "Invalid query parameter 'size': Input should be less than or equal to 10"),
        ("name=a", "Invalid query parameter 'name': String should have at least 2 characters"),
        ("name=abcdef", "Invalid query parameter 'name': String should have at most 5 characters"),
        ("name=ABC", "Invalid query parameter 'name': String should match pattern '^[a-z]+$'"),
        ("q=x&flag=maybe", "Invalid query parameter 'q': Input should be a valid integer (and 1 more)"),
    ],
)
def test_invalid_values_close_1008_naming_the_parameter(query: str, reason: str) -> None:
    assert _refusal(_echo_app(), f"/ws/1?{query}") == (1008, reason)


def test_invalid_path_parameter_closes_1008() -> None:
    assert _refusal(_echo_app(), "/ws/abc") == (
        1008,
        "Invalid path parameter 'item_id': Input should be a valid integer",
    )


def test_missing_values_close_1008_and_the_refusal_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(
        websocket: WebSocket,
        token: str,
        x_key: Annotated[str, Header()],
        sid: Annotated[str, Cookie()],
    ) -> None:  # pragma: no cover - never called
        await websocket.accept()

    with caplog.at_level(logging.WARNING, logger="sockjet"):
        assert _refusal(app, "/ws") == (1008, "Missing required query parameter 'token' (and 2 more)")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "Refused WebSocket /ws from testclient:50000 with 1008: Missing required query parameter 'token'; "
        "Missing required header 'x-key'; Missing required cookie 'sid'"
    )


def test_a_long_reason_is_cut_to_fit_a_close_frame() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, **kwargs: Any) -> None:  # pragma: no cover - never called
        await websocket.accept()

    def needs(name: str) -> Any:
        def dependency(value: int = Query(alias=name)) -> int:
            return value

        return Depends(dependency)

    long_app = App()
    long_app.add_api_websocket_route("/ws", endpoint, dependencies=[needs("p" * 200)])
    code, reason = _refusal(long_app, "/ws")
    assert code == 1008
    assert reason.startswith("Missing required query parameter 'ppp")
    assert len(reason.encode()) == 123


def test_validation_error_can_be_handled_by_the_app() -> None:
    async def on_invalid(websocket: WebSocket, exc: Exception) -> None:
        assert isinstance(exc, WebSocketRequestValidationError)
        await websocket.close(4400, str(exc.errors()[0]["loc"]))

    app = App(exception_handlers={WebSocketRequestValidationError: on_invalid})

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, n: int) -> None:  # pragma: no cover - never called
        await websocket.accept()

    assert _refusal(app, "/ws?n=x") == (4400, "('query', 'n')")


def test_validation_error_lists_every_problem_as_fastapi_does() -> None:
    error = WebSocketRequestValidationError(
        [{"type": "missing", "loc": ("query", "q"), "msg": "Field required", "input": None}], "reason", summary="all"
    )
    assert error.errors() == [{"type": "missing", "loc": ("query", "q"), "msg": "Field required", "input": None}]
    assert (error.reason, str(error)) == ("reason", "all")
    assert str(WebSocketRequestValidationError([], "only")) == "only"


def test_kwargs_receives_the_path_parameters() -> None:
    app = App()

    @app.websocket("/rooms/{room}/{n:int}")
    async def endpoint(websocket: WebSocket, room: str, **kwargs: Any) -> None:
        await websocket.accept()
        await websocket.send_json({"room": room, "kwargs": kwargs})
        await websocket.close()

    assert _values(app, "/rooms/lobby/3?x=1") == {"room": "lobby", "kwargs": {"n": 3}}


def test_starlette_style_endpoints_still_get_the_connection_first() -> None:
    async def plain(websocket) -> None:  # type: ignore[no-untyped-def]
        await websocket.accept()
        await websocket.send_json(["plain"])
        await websocket.close()

    async def annotated_any(ws: Any, room: str) -> None:
        await ws.accept()
        await ws.send_json(["any", room])
        await ws.close()

    async def unresolved(ws: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        await ws.accept()
        await ws.send_json(["unresolved"])
        await ws.close()

    async def connection_later(room: str, conn: HTTPConnection) -> None:
        await conn.accept()  # type: ignore[attr-defined]
        await conn.send_json([room])  # type: ignore[attr-defined]
        await conn.close()  # type: ignore[attr-defined]

    app = App(
        routes=[
            WebSocketRoute("/plain", plain),
            WebSocketRoute("/any/{room}", annotated_any),
            WebSocketRoute("/unresolved", unresolved),
            WebSocketRoute("/later/{room}", connection_later),
        ]
    )
    assert _values(app, "/plain") == ["plain"]
    assert _values(app, "/any/r") == ["any", "r"]
    assert _values(app, "/unresolved") == ["unresolved"]
    with TestClient(app).websocket_connect("/later/r") as ws:
        assert ws.receive_json() == ["r"]


def test_unannotated_parameters_after_the_first_are_query_strings() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket, page, size=10):  # type: ignore[no-untyped-def]
        await websocket.accept()
        await websocket.send_json([page, size])
        await websocket.close()

    assert _values(app, "/ws?page=2") == ["2", 10]


def test_markers_are_importable_from_sockjet_and_sockjet_params() -> None:
    for name in ("Depends", "Query", "Header", "Cookie", "Path"):
        assert getattr(sockjet, name) is getattr(sockjet.params, name)
    assert repr(Query()) == "Query(required)"
    assert repr(Header("x")) == "Header('x')"
    assert repr(Path(...)) == "Path(required)"
    assert Query(default_factory=list).required is False
    with pytest.raises(TypeError, match="cannot set both default and default_factory"):
        Query(1, default_factory=list)
    with pytest.raises(TypeError, match="unexpected keyword argument 'strict'"):
        Query(strict=True)  # type: ignore[call-arg]


# --- HTTP routes ------------------------------------------------------------------------------------


def test_http_routes_take_the_same_parameters() -> None:
    app = App()

    @app.get("/items/{item_id}")
    def read(item_id: int, request: Request, q: list[int] = Query([]), x_id: str = Header("none")) -> Any:
        return {"item_id": item_id, "q": q, "x_id": x_id, "path": request.url.path}

    client = TestClient(app)
    assert client.get("/items/3?q=1&q=2", headers={"x-id": "h"}).json() == {
        "item_id": 3,
        "q": [1, 2],
        "x_id": "h",
        "path": "/items/3",
    }
    response = client.get("/items/x?q=y")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"type": "int_parsing", "loc": ["path", "item_id"], "msg": "Input should be a valid integer", "input": "x"},
            {
                "type": "int_parsing",
                "loc": ["query", "q"],
                "msg": "item 0: Input should be a valid integer",
                "input": ["y"],
            },
        ]
    }


# --- refused when the route is defined ----------------------------------------------------------------


def _define(endpoint: Any, path: str = "/ws", kind: str = "websocket", **options: Any) -> None:
    if kind == "websocket":
        WebSocketRoute(path, endpoint, **options)
    else:
        Route(path, endpoint, **options)


def get_token(token: str = Query("")) -> str:  # pragma: no cover - never called
    return token


async def foreign_depends(websocket: WebSocket, token: Annotated[str, fastapi.Depends(get_token)]) -> None: ...


async def foreign_depends_default(websocket: WebSocket, token: str = fastapi.Depends(get_token)) -> None: ...


async def foreign_query(websocket: WebSocket, q: Annotated[int, fastapi.Query(ge=1)] = 1) -> None: ...


async def foreign_body(websocket: WebSocket, body: Any = fastapi.Body(None)) -> None: ...


async def pydantic_constraint(websocket: WebSocket, q: Annotated[int, pydantic_field()] = 1) -> None: ...


def pydantic_field() -> Any:
    import pydantic

    return pydantic.Field(gt=0)


async def unsupported(websocket: WebSocket, data: dict[str, int]) -> None: ...


async def unsupported_depends_free(websocket: WebSocket, helper: Color | dict[str, int] = Color.RED) -> None: ...


async def starlette_websocket(websocket: starlette.websockets.WebSocket) -> None: ...


async def request_on_websocket(websocket: WebSocket, request: Request) -> None: ...


def websocket_on_http(websocket: WebSocket) -> None: ...


async def path_not_in_route(websocket: WebSocket, room: Annotated[str, Path()]) -> None: ...


async def path_alias(websocket: WebSocket, room: Annotated[str, Path(alias="r")]) -> None: ...


async def path_list(websocket: WebSocket, room: list[str]) -> None: ...


async def query_for_path(websocket: WebSocket, room: Annotated[str, Query()]) -> None: ...


async def two_markers(websocket: WebSocket, q: Annotated[int, Query(), Header()]) -> None: ...


async def marker_twice(websocket: WebSocket, q: Annotated[int, Query()] = Query(1)) -> None: ...


async def default_twice(websocket: WebSocket, q: Annotated[int, Query(2)] = 1) -> None: ...


async def positional_only(websocket: WebSocket, q: int, /) -> None: ...


async def marked_kwargs(websocket: WebSocket, **kwargs: Annotated[Any, Query()]) -> None: ...


async def marked_args(websocket: WebSocket, *args: Annotated[Any, Query()]) -> None: ...


async def connection_with_marker(websocket: Annotated[WebSocket, Query()]) -> None: ...


async def unresolved_later(websocket: WebSocket, q: Missing) -> None: ...  # type: ignore[name-defined]  # noqa: F821


async def depends_without_callable(websocket: WebSocket, q: int | None = Depends()) -> None: ...


def dependency_with_bad_param(value: dict[str, int]) -> int:  # pragma: no cover - never called
    return 0


async def uses_bad_dependency(websocket: WebSocket, v: int = Depends(dependency_with_bad_param)) -> None: ...


async def fine(websocket: WebSocket) -> None: ...


class HomemadeDepends:
    """A marker sockjet has never heard of, with a name it does not recognise."""

    def __init__(self, dependency: Any) -> None:
        self.dependency = dependency

    def __repr__(self) -> str:
        return "HomemadeDepends(get_token)"


async def unknown_marker_default(websocket: WebSocket, token: str = HomemadeDepends(get_token)) -> None: ...  # type: ignore[assignment]


async def unknown_marker_untyped(websocket: WebSocket, token=HomemadeDepends(get_token)) -> None: ...  # type: ignore[no-untyped-def]  # noqa: B008


async def unknown_marker_annotated(websocket: WebSocket, token: Annotated[str, HomemadeDepends(get_token)]) -> None: ...


async def documented(
    websocket: WebSocket, token: Annotated[str, "the session token", typing_extensions.Doc("documented")] = ""
) -> None: ...


DEFINITION_ERRORS: list[tuple[Any, dict[str, Any], str]] = [
    (
        foreign_depends,
        {},
        "Cannot fill parameter 'token' of endpoint 'foreign_depends': its marker fastapi.params.Depends is not "
        "sockjet's, so sockjet would not run it: import Depends from sockjet (`from sockjet import Depends`)",
    ),
    (foreign_depends_default, {}, "parameter 'token' of endpoint 'foreign_depends_default': its marker fastapi"),
    (foreign_query, {}, "its marker fastapi.params.Query is not sockjet's"),
    (foreign_body, {}, "sockjet has no Body(); read the value in a dependency instead"),
    (pydantic_constraint, {}, "sockjet does not read pydantic.fields.FieldInfo"),
    (
        unsupported,
        {},
        "Cannot fill parameter 'data' of endpoint 'unsupported': sockjet cannot convert a query parameter to "
        "dict[str, int]; use str, int, float, bool, UUID, Decimal, datetime, date, time, an Enum, a Literal, "
        "X | None or list[X] -- or Depends(...)",
    ),
    (unsupported_depends_free, {}, "parameter 'helper' of endpoint 'unsupported_depends_free': sockjet cannot"),
    (
        starlette_websocket,
        {},
        "parameter 'websocket' of endpoint 'starlette_websocket': it is annotated starlette.websockets.WebSocket; "
        "import WebSocket from sockjet instead",
    ),
    (request_on_websocket, {}, "a WebSocket route has no Request: annotate it WebSocket or HTTPConnection"),
    (path_not_in_route, {}, "Path() names a path parameter, but the route has no {room}"),
    (path_alias, {"path": "/ws/{room}"}, "a path parameter is named by the route path; it takes no alias"),
    (path_list, {"path": "/ws/{room}"}, "a path parameter holds one value, not a list"),
    (query_for_path, {"path": "/ws/{room}"}, "it is a path parameter; it cannot be a Query()"),
    (two_markers, {}, "Annotated[...] holds more than one Depends/Query/Header/..."),
    (marker_twice, {}, "a marker in Annotated[...] and another as the default"),
    (default_twice, {}, "a default both in the marker and after '='"),
    (positional_only, {}, "parameter 'websocket' of endpoint 'positional_only': positional-only parameters cannot"),
    (marked_kwargs, {}, "**kwargs takes the path parameters; it cannot have a marker"),
    (marked_args, {}, "*args is never filled; it cannot have a marker"),
    (connection_with_marker, {}, "the connection cannot also be a Query()"),
    (unresolved_later, {}, "parameter 'q' of endpoint 'unresolved_later': its annotation 'Missing' cannot be resolved"),
    (depends_without_callable, {}, "Depends() without a callable needs a class as the annotation"),
    (
        uses_bad_dependency,
        {},
        "Cannot fill parameter 'value' of dependency 'dependency_with_bad_param' of endpoint 'uses_bad_dependency'",
    ),
    (
        unknown_marker_default,
        {},
        "Cannot fill parameter 'token' of endpoint 'unknown_marker_default': its default HomemadeDepends(get_token) "
        "is not a value a query parameter can take; if it says where the value comes from, it is no sockjet "
        "marker (Depends, Query, Header, Cookie, Path)",
    ),
    (unknown_marker_untyped, {}, "parameter 'token' of endpoint 'unknown_marker_untyped': its default HomemadeDepends"),
    (
        unknown_marker_annotated,
        {},
        "Cannot fill parameter 'token' of endpoint 'unknown_marker_annotated': Annotated[...] holds "
        "HomemadeDepends(get_token), which sockjet does not read; its markers are Depends, Query, Header, Cookie "
        "and Path (a string there is taken as documentation)",
    ),
    (fine, {"dependencies": [fastapi.Depends(get_token)]}, "holds fastapi.params.Depends, not a sockjet Depends"),
    (fine, {"dependencies": [Depends()]}, "dependencies=[...] of endpoint 'fine' holds Depends() without a callable"),
]


@pytest.mark.parametrize(("endpoint", "options", "message"), DEFINITION_ERRORS)
def test_what_sockjet_cannot_fill_is_refused_when_the_route_is_defined(
    endpoint: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        _define(endpoint, **options)


def test_documentation_in_annotated_is_ignored() -> None:
    _define(documented)


def test_definition_errors_are_type_and_value_errors() -> None:
    assert issubclass(ParameterError, TypeError) and issubclass(ParameterError, ValueError)
    with pytest.raises(ParameterError, match="an HTTP route has no WebSocket: annotate it Request or HTTPConnection"):
        _define(websocket_on_http, path="/", kind="http")
    with pytest.raises(ParameterError, match=re.escape("dependencies=[...] need a function endpoint; 'x' is an ASGI")):
        WebSocketRoute("/ws", object(), name="x", dependencies=[Depends(get_token)])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=re.escape("dependencies=[...] need a function endpoint; 'x' is an ASGI")):
        Route("/", object(), name="x", dependencies=[Depends(get_token)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("Depends() takes a callable, not 3")):
        Depends(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("Depends(scope=...) is")):
        Depends(get_token, scope="session")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=re.escape("Cannot read the parameters of 'dict' (no signature found")):
        _define(fine, dependencies=[Depends(dict)])


# --- the bypass of issue 13 ----------------------------------------------------------------------------


def test_a_query_parameter_never_replaces_a_dependency() -> None:
    """With the dependency present, `?name=...` of the same name is never used in its place."""
    calls: list[str | None] = []

    async def current_user(token: Annotated[str | None, Query()] = None) -> str:
        calls.append(token)
        if token != "good":
            raise sockjet.WebSocketException(code=sockjet.status.WS_1008_POLICY_VIOLATION, reason="bad token")
        return "alice"

    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, user: Annotated[str, Depends(current_user)]) -> None:
        await websocket.accept()
        await websocket.send_json(user)
        await websocket.close()

    for query in ("user=mallory", "user=mallory&token=bad", "current_user=mallory"):
        assert _refusal(app, f"/ws?{query}") == (1008, "bad token")
    assert _values(app, "/ws?token=good&user=mallory") == "alice"
    assert calls == [None, "bad", None, "good"]


def test_edges_of_reading_values() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(
        websocket: WebSocket,
        *extra: Any,
        positive: Annotated[float, Query(gt=0, lt=10)] = 1.0,
        crumbs: Annotated[list[str], Cookie()] = [],  # noqa: B006
        x_count: Annotated[int, Header(), "documentation only"] = 0,
        visits: Annotated[int, Cookie()] = 0,
    ) -> None:
        await websocket.accept()
        await websocket.send_json([positive, crumbs, x_count, visits, list(extra)])
        await websocket.close()

    client = TestClient(app, cookies={"crumbs": "c1"})
    with client.websocket_connect("/ws?positive=2.5", headers={"x-count": "3"}) as ws:
        assert ws.receive_json() == [2.5, ["c1"], 3, 0, []]
    assert _refusal(app, "/ws?positive=0")[1] == "Invalid query parameter 'positive': Input should be greater than 0"
    assert _refusal(app, "/ws?positive=10")[1] == "Invalid query parameter 'positive': Input should be less than 10"
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws", headers={"x-count": "x"}):
        pass  # pragma: no cover - refused
    assert info.value.reason == "Invalid header 'x-count': Input should be a valid integer"
    bad_cookie = TestClient(app, cookies={"visits": "many"})
    with pytest.raises(WebSocketDisconnect) as info, bad_cookie.websocket_connect("/ws"):
        pass  # pragma: no cover - refused
    assert info.value.reason == "Invalid cookie 'visits': Input should be a valid integer"


def positional_with_default(unused: int = 0, /, *, websocket: WebSocket) -> None: ...  # pragma: no cover


def test_a_positional_only_parameter_with_a_default_is_left_to_its_default() -> None:
    WebSocketRoute("/ws", positional_with_default)  # no error: the default stands


def test_reprs() -> None:
    assert repr(sockjet.params.Required) == "Required"
    assert repr(Depends(get_token)) == "Depends(get_token)"
    assert repr(Depends(use_cache=False)) == "Depends(, use_cache=False)"


def test_optional_around_annotated_as_python_310_resolves_it() -> None:
    # Python 3.10's get_type_hints turns `q: Annotated[int | None, Query()] = None` into
    # Optional[Annotated[...]]: written out here, so every Python checks that the marker is still read.
    app = App()

    async def get_token(token: Annotated[str | None, Query()] | None = None) -> str | None:
        return token

    @app.websocket("/ws")
    async def endpoint(
        websocket: WebSocket,
        q: Annotated[int | None, Query(ge=1, alias="page")] | None = None,
        token: Annotated[str | None, Depends(get_token)] | None = None,
        either: int | str | None = None,
    ) -> None:
        await websocket.accept()
        await websocket.send_json([q, token, either])

    assert _values(app, "/ws?page=3&token=t&either=x") == [3, "t", "x"]
    assert _values(app, "/ws") == [None, None, None]
    assert _refusal(app, "/ws?page=0") == (
        1008,
        "Invalid query parameter 'page': Input should be greater than or equal to 1",
    )
