# The endpoints are built from either library's names (`lib.WebSocket`), which mypy cannot follow.
# mypy: disable-error-code="name-defined,untyped-decorator"
"""sockjet against FastAPI, side by side: the same endpoint code, the same connections, the same outcomes.

Two parts:

- the FastAPI-style examples under ``examples/fastapi_ws_*`` are loaded twice, once as written
  (sockjet) and once with only the imports changed (``sockjet`` -> ``fastapi``, ``App`` ->
  ``FastAPI``), and the same client script runs against both;
- a table of parameter cases (types, aliases, defaults, missing and invalid values, constraints,
  dependencies that refuse, ``yield`` teardown order, overrides) runs on one endpoint module built
  from either library's names.

Compared: accepted or not, the close code, the denial status, the values that reach the endpoint,
and -- for a refusal by validation -- that sockjet's close reason names the same parameter, the same
kind of problem and pydantic's message as FastAPI's list of errors does. FastAPI's close reason
itself is that list (a Python object, not text a client can receive), so it is not compared as is.

This module does not use ``from __future__ import annotations``: the endpoints are defined inside
functions from the library passed in, and their annotations must be evaluated there.
"""

import datetime as dt
import enum
import importlib.util
import json
import re
import sys
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import fastapi
import fastapi.testclient
import pytest
import starlette.websockets

import sockjet
import sockjet.testclient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# --- loading the same code for both ---------------------------------------------------------------


def _as_fastapi(source: str) -> str:
    """The example's source with only the imports changed."""
    lines = []
    for line in source.splitlines():
        if line.startswith("from sockjet import "):
            names = [name.strip() for name in line.removeprefix("from sockjet import ").split(",")]
            names = ["FastAPI as App" if name == "App" else name for name in names]
            line = "from fastapi import " + ", ".join(names)
        elif line.startswith("from sockjet."):
            line = line.replace("from sockjet.", "from fastapi.", 1)
        lines.append(line)
    return "\n".join(lines) + "\n"


def load_example(name: str, library: str) -> types.ModuleType:
    source = (EXAMPLES / f"{name}.py").read_text()
    if library == "fastapi":
        source = _as_fastapi(source)
        assert not re.search(r"^(from|import) sockjet", source, re.M)
    module = types.ModuleType(f"differential_{library}_{name}")
    exec(compile(source, str(EXAMPLES / f"{name}.py"), "exec"), module.__dict__)
    return module


def test_the_rewrite_changes_only_imports() -> None:
    source = (EXAMPLES / "fastapi_ws_auth.py").read_text()
    rewritten = _as_fastapi(source)
    changed = [(a, b) for a, b in zip(source.splitlines(), rewritten.splitlines(), strict=True) if a != b]
    assert changed == [
        (
            "from sockjet import App, Cookie, Depends, Query, WebSocket, WebSocketException, status",
            "from fastapi import FastAPI as App, Cookie, Depends, Query, WebSocket, WebSocketException, status",
        ),
        ("from sockjet.responses import HTMLResponse", "from fastapi.responses import HTMLResponse"),
    ]


def _client(library: str, app: Any, **kwargs: Any) -> Any:
    if library == "fastapi":
        return fastapi.testclient.TestClient(app, **kwargs)
    return sockjet.testclient.TestClient(app, **kwargs)


DISCONNECTS = (starlette.websockets.WebSocketDisconnect, sockjet.WebSocketDisconnect)


def _outcome(library: str, app: Any, url: str, *, send: tuple[str, ...] = (), receive: int = 1, **kwargs: Any) -> Any:
    """What a client sees: ("accept", messages[, what the test client re-raised at the end])
    or ("close", code, reason) or ("denied", status)."""
    client = _client(library, app, **kwargs.pop("client", {}))
    received: list[str] | None = None
    try:
        with client.websocket_connect(url, **kwargs) as websocket:
            received = []
            for text in send:
                websocket.send_text(text)
            for _ in range(receive):
                received.append(websocket.receive_text())
    except DISCONNECTS as exc:
        if received is not None:  # the endpoint's own WebSocketDisconnect, re-raised when the block ended
            return ("accept", received, type(exc).__name__, exc.code)
        status = getattr(exc, "status_code", None)
        if status is not None:
            return ("denied", status)
        return ("close", exc.code, exc.reason)
    return ("accept", received)


LIBRARIES = ["fastapi", "sockjet"]


def _both(name: str) -> dict[str, Any]:
    return {library: load_example(name, library).app for library in LIBRARIES}


# --- the examples -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "client"),
    [
        ("/items/foo/ws", {"cookies": {"session": "fakesession"}}),
        ("/items/bar/ws?token=some-token", {}),
        ("/items/2/ws?q=3&token=some-token", {}),
        ("/items/2/ws?q=3&token=some-token&cookie_or_token=forged", {}),
    ],
)
def test_auth_example_accepts_the_same(url: str, client: dict[str, Any]) -> None:
    apps = _both("fastapi_ws_auth")
    outcomes = {lib: _outcome(lib, apps[lib], url, send=("hi",), receive=2, client=client) for lib in LIBRARIES}
    assert outcomes["fastapi"] == outcomes["sockjet"]
    assert outcomes["sockjet"][0] == "accept"


@pytest.mark.parametrize(
    "url", ["/items/foo/ws", "/items/foo/ws?cookie_or_token=forged", "/items/foo/ws?q=bar&token=some-token"]
)
def test_auth_example_refuses_the_same(url: str) -> None:
    apps = _both("fastapi_ws_auth")
    fastapi_outcome = _outcome("fastapi", apps["fastapi"], url)
    sockjet_outcome = _outcome("sockjet", apps["sockjet"], url)
    assert fastapi_outcome[:2] == sockjet_outcome[:2] == ("close", 1008)
    if fastapi_outcome[2]:  # a validation error: FastAPI's reason is its list of errors
        _assert_same_problem(fastapi_outcome[2], sockjet_outcome[2])
    else:
        assert sockjet_outcome[2] == ""


def test_echo_example_is_the_same() -> None:
    apps = _both("fastapi_ws_echo")
    outcomes = {
        lib: (
            _client(lib, apps[lib]).get("/").status_code,
            _outcome(lib, apps[lib], "/ws", send=("one", "two"), receive=2),
        )
        for lib in LIBRARIES
    }
    assert outcomes["fastapi"] == outcomes["sockjet"]
    assert outcomes["sockjet"] == (
        200,
        ("accept", ["Message text was: one", "Message text was: two"], "WebSocketDisconnect", 1000),
    )


def test_manager_example_is_the_same() -> None:
    def script(library: str) -> list[Any]:
        app = load_example("fastapi_ws_manager", library).app
        seen: list[Any] = []
        # Inside `with client`: one event loop for both connections (Starlette's TestClient gives each
        # connection its own loop otherwise, and a broadcast across loops may never wake the reader).
        with (
            _client(library, app) as client,
            client.websocket_connect("/ws/1") as first,
            client.websocket_connect("/ws/2") as second,
        ):
            first.send_text("hello")
            seen += [first.receive_text(), second.receive_text(), first.receive_text()]
            second.close()
            seen.append(first.receive_text())
        seen.append(_outcome(library, load_example("fastapi_ws_manager", library).app, "/ws/x"))
        return seen

    theirs, ours = script("fastapi"), script("sockjet")
    assert ours[:4] == theirs[:4]
    fastapi_refusal, sockjet_refusal = theirs[4], ours[4]
    assert fastapi_refusal[:2] == sockjet_refusal[:2] == ("close", 1008)
    _assert_same_problem(fastapi_refusal[2], sockjet_refusal[2])


def test_routers_example_is_the_same() -> None:
    def script(library: str) -> list[Any]:
        module = load_example("fastapi_ws_routers", library)
        client = _client(library, module.app)
        return [
            _outcome(library, module.app, "/ws"),
            _outcome(library, module.app, "/v1/rooms/lobby", headers={"x-api-key": "sesame"}),
            list(module.closed_sessions),
            _outcome(library, module.app, "/v1/rooms/lobby"),
            _outcome(library, module.app, "/rooms/lobby", headers={"x-api-key": "sesame"}),
            client.get("/").status_code,
        ]

    assert script("fastapi") == script("sockjet")
    assert script("sockjet")[1] == (
        "accept",
        ['{"room": "lobby", "user": "alice", "steps": ["app", "include", "router", "route", "session open"]}'],
    )


# --- the table of parameter cases -----------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def _jsonable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def build(lib: Any) -> Any:
    """One app, from ``lib``'s names only (FastAPI's or sockjet's)."""
    app = lib.App()
    journal: list[str] = []
    app.state.journal = journal

    async def reply(websocket: Any, **values: Any) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps({k: _jsonable(v) for k, v in values.items()}, sort_keys=True))
        await websocket.close()

    @app.websocket("/scalars/{item_id}")
    async def scalars(
        websocket: lib.WebSocket,
        item_id: int,
        i: int = 0,
        f: float = 0.0,
        b: bool = False,
        u: uuid.UUID | None = None,
        c: Color = Color.RED,
        d: Decimal = Decimal("0"),
        when: dt.datetime | None = None,
        day: dt.date | None = None,
        at: dt.time | None = None,
        s: str = "",
    ) -> None:
        await reply(websocket, item_id=item_id, i=i, f=f, b=b, u=u, c=c, d=d, when=when, day=day, at=at, s=s)

    @app.websocket("/options")
    async def options(
        websocket: lib.WebSocket,
        q: int | None = None,
        items: Annotated[list[int], lib.Query()] = [],  # noqa: B006 - FastAPI copies it per request
        aliased: Annotated[str, lib.Query(alias="item-query")] = "none",
        x_token: Annotated[str | None, lib.Header()] = None,
        raw_name: Annotated[str | None, lib.Header(convert_underscores=False)] = None,
        x_tags: Annotated[list[str] | None, lib.Header()] = None,
        session: Annotated[str | None, lib.Cookie()] = None,
        tok: Annotated[str, lib.Cookie(alias="token-cookie")] = "none",
        size: Annotated[int, lib.Query(ge=1, le=10)] = 5,
        name: Annotated[str, lib.Query(min_length=2, max_length=4, pattern="^[a-z]+$")] = "ab",
    ) -> None:
        await reply(
            websocket,
            q=q,
            items=items,
            aliased=aliased,
            x_token=x_token,
            raw_name=raw_name,
            x_tags=x_tags,
            session=session,
            tok=tok,
            size=size,
            name=name,
        )

    @app.websocket("/required")
    async def required(
        websocket: lib.WebSocket,
        token: str,
        x_key: Annotated[str, lib.Header()],
        sid: Annotated[str, lib.Cookie()],
        n: Annotated[int, lib.Query()] = 1,
    ) -> None:
        await reply(websocket, token=token, x_key=x_key, sid=sid, n=n)

    async def user(websocket: lib.WebSocket, token: Annotated[str | None, lib.Query()] = None) -> str:
        if token is None:
            raise lib.WebSocketException(code=lib.status.WS_1008_POLICY_VIOLATION)
        if token == "banned":
            raise lib.HTTPException(status_code=403, detail="banned")
        if token == "odd":
            raise lib.WebSocketException(code=4001, reason="odd token")
        return f"user:{token}"

    async def database() -> AsyncIterator[str]:
        journal.append("db open")
        try:
            yield "db"
        finally:
            journal.append("db closed")

    def cache() -> Iterator[str]:
        journal.append("cache open")
        try:
            yield "cache"
        finally:
            journal.append("cache closed")

    def counter() -> int:
        journal.append("counter")
        return len(journal)

    @app.websocket("/deps")
    async def deps(
        websocket: lib.WebSocket,
        who: Annotated[str, lib.Depends(user)],
        db: Annotated[str, lib.Depends(database)],
        kv: Annotated[str, lib.Depends(cache)],
        a: Annotated[int, lib.Depends(counter)],
        b: Annotated[int, lib.Depends(counter)],
        c: Annotated[int, lib.Depends(counter, use_cache=False)],
    ) -> None:
        journal.append("endpoint")
        await reply(websocket, who=who, db=db, kv=kv, cached=a == b, fresh=c != a)

    app.state.user = user
    return app


def _lib(name: str) -> Any:
    if name == "fastapi":
        return types.SimpleNamespace(
            App=fastapi.FastAPI,
            WebSocket=fastapi.WebSocket,
            Depends=fastapi.Depends,
            Query=fastapi.Query,
            Header=fastapi.Header,
            Cookie=fastapi.Cookie,
            WebSocketException=fastapi.WebSocketException,
            HTTPException=fastapi.HTTPException,
            status=fastapi.status,
        )
    return types.SimpleNamespace(
        App=sockjet.App,
        WebSocket=sockjet.WebSocket,
        Depends=sockjet.Depends,
        Query=sockjet.Query,
        Header=sockjet.Header,
        Cookie=sockjet.Cookie,
        WebSocketException=sockjet.WebSocketException,
        HTTPException=sockjet.HTTPException,
        status=sockjet.status,
    )


UUID_TEXT = "12345678-1234-5678-1234-567812345678"
CASES: list[tuple[str, dict[str, Any]]] = [
    ("/scalars/1", {}),
    (
        f"/scalars/2?i=3&f=2.5&b=yes&u={UUID_TEXT.replace('-', '')}&c=blue&d=1.10&when=2024-01-02T03:04:05Z"
        "&day=2024-01-02&at=03:04&s=x",
        {},
    ),
    ("/scalars/3?i=+7&f=1e3&b=off&when=1700000000&d=1_0", {}),
    ("/scalars/4?i=3.0&f=inf&b=T", {}),
    ("/scalars/x", {}),
    ("/scalars/1?i=x", {}),
    ("/scalars/1?i=3.5", {}),
    ("/scalars/1?f=x", {}),
    ("/scalars/1?b=maybe", {}),
    ("/scalars/1?u=nope", {}),
    ("/scalars/1?c=green", {}),
    ("/scalars/1?d=nan", {}),
    ("/scalars/1?when=tomorrow", {}),
    ("/scalars/1?day=2024-01-02T03:04:05", {}),
    ("/scalars/1?at=noon", {}),
    ("/scalars/1?i=x&f=y&b=z", {}),
    ("/options", {}),
    (
        "/options?q=1&items=1&items=2&item-query=aq&size=10&name=abcd",
        {"headers": {"x-token": "t", "raw_name": "r", "x-tags": "a"}, "client": {"cookies": {"session": "s"}}},
    ),
    ("/options", {"client": {"cookies": {"token-cookie": "c1"}}}),
    ("/options?aliased=ignored", {}),
    ("/options?items=1&items=x", {}),
    ("/options?size=0", {}),
    ("/options?size=11", {}),
    ("/options?name=a", {}),
    ("/options?name=abcde", {}),
    ("/options?name=ABC", {}),
    ("/required", {}),
    ("/required?token=t", {"headers": {"x-key": "k"}, "client": {"cookies": {"sid": "s"}}}),
    ("/required?token=t&n=x", {"headers": {"x-key": "k"}}),
    ("/deps?token=alice", {}),
    ("/deps", {}),
    ("/deps?who=forged", {}),
    ("/deps?token=banned", {}),
    ("/deps?token=odd", {}),
]


def _assert_same_problem(fastapi_errors: Any, sockjet_reason: str) -> None:
    """sockjet's reason names FastAPI's first error: its parameter, its kind, pydantic's message."""
    first = fastapi_errors[0]
    source, key = first["loc"][0], first["loc"][1]
    where = {"path": "path parameter", "query": "query parameter", "header": "header", "cookie": "cookie"}[source]
    if first["type"] == "missing":
        expected = f"Missing required {where} '{key}'"
        assert sockjet_reason.startswith(expected), (sockjet_reason, first)
    else:
        match = re.match(
            rf"Invalid {where} '{re.escape(str(key))}': (?:item (\d+): )?(.*?)(?: \(and \d+ more\))?$", sockjet_reason
        )
        assert match, (sockjet_reason, first)
        if match.group(1) is not None:
            assert first["loc"][2] == int(match.group(1))
        assert first["msg"].startswith(match.group(2)), (sockjet_reason, first)
    more = len(fastapi_errors) - 1
    assert sockjet_reason.endswith(f"(and {more} more)") == bool(more)


@pytest.mark.parametrize(("url", "options"), CASES, ids=[url for url, _ in CASES])
def test_parameter_cases_are_the_same(url: str, options: dict[str, Any]) -> None:
    outcomes = {}
    journals = {}
    for library in LIBRARIES:
        app = build(_lib(library))
        outcomes[library] = _outcome(library, app, url, **dict(options))
        journals[library] = list(app.state.journal)
    theirs, ours = outcomes["fastapi"], outcomes["sockjet"]
    if theirs[0] == "close" and isinstance(theirs[2], list):
        assert ours[:2] == theirs[:2]
        _assert_same_problem(theirs[2], ours[2])
    else:
        assert ours == theirs
    assert journals["sockjet"] == journals["fastapi"]


def test_teardown_order_and_cache_are_the_same() -> None:
    journals = {}
    for library in LIBRARIES:
        app = build(_lib(library))
        assert _outcome(library, app, "/deps?token=alice")[0] == "accept"
        journals[library] = app.state.journal
    assert (
        journals["sockjet"]
        == journals["fastapi"]
        == [
            "db open",
            "cache open",
            "counter",
            "counter",
            "endpoint",
            "cache closed",
            "db closed",
        ]
    )


def test_overrides_are_the_same() -> None:
    outcomes = {}
    for library in LIBRARIES:
        app = build(_lib(library))
        app.dependency_overrides[app.state.user] = lambda: "override"
        outcomes[library] = _outcome(library, app, "/deps")
    assert outcomes["sockjet"] == outcomes["fastapi"]
    assert json.loads(outcomes["sockjet"][1][0])["who"] == "override"


def test_an_endpoint_error_is_re_raised_in_the_test_by_both() -> None:
    for library in LIBRARIES:
        lib = _lib(library)
        app = lib.App()

        @app.websocket("/ws")
        async def broken(websocket: lib.WebSocket) -> None:
            await websocket.accept()
            raise ZeroDivisionError("endpoint bug")

        with pytest.raises(ZeroDivisionError, match="endpoint bug"), _client(library, app).websocket_connect("/ws"):
            pass


def test_handshake_headers_are_the_same() -> None:
    seen = {}
    for library in LIBRARIES:
        lib = _lib(library)
        app = lib.App()

        @app.websocket("/ws")
        async def headers(websocket: lib.WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text(json.dumps(dict(websocket.headers)))
            await websocket.close()

        seen[library] = json.loads(_outcome(library, app, "/ws")[1][0])
    for name in ("accept-encoding", "user-agent"):  # httpx vs httpx2 defaults, and sockjet's "testclient"
        seen["fastapi"].pop(name)
        seen["sockjet"].pop(name)
    assert (
        seen["sockjet"]
        == seen["fastapi"]
        == {
            "accept": "*/*",
            "connection": "upgrade",
            "host": "testserver",
            "sec-websocket-key": "testserver==",
            "sec-websocket-version": "13",
        }
    )


assert sys.version_info >= (3, 10)
assert importlib.util.find_spec("fastapi") is not None
