"""The small HTTP side: Request, responses, exceptions, status names, the public surface."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import sockjet
from sockjet import status
from sockjet.exceptions import HTTPException, WebSocketException
from sockjet.requests import ClientDisconnect, Request, route_path
from sockjet.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from tests.asgi import Channel, http_scope


async def test_request_body_json_and_stream() -> None:
    channel = Channel(
        [
            {"type": "http.request", "body": b'{"a"', "more_body": True},
            {"type": "http.request", "body": b":1}", "more_body": False},
        ]
    )
    request = Request(http_scope(method="POST"), channel.receive, channel.send)
    assert request.method == "POST"
    assert request.receive == channel.receive
    assert await request.json() == {"a": 1}
    assert await request.body() == b'{"a":1}'
    assert [chunk async for chunk in request.stream()] == [b'{"a":1}', b""]


async def test_request_disconnect_while_reading() -> None:
    channel = Channel([{"type": "http.disconnect"}])
    request = Request(http_scope(), channel.receive, channel.send)
    with pytest.raises(ClientDisconnect):
        await request.body()


async def test_request_without_channels() -> None:
    request = Request(http_scope())
    with pytest.raises(RuntimeError, match=re.escape("Receive channel has not been made available")):
        await request.body()
    with pytest.raises(RuntimeError, match=re.escape("Send channel has not been made available")):
        await request._send({})


def test_route_path_below_root_path() -> None:
    assert route_path({"path": "/api/ws", "root_path": "/api"}) == "/ws"
    assert route_path({"path": "/api", "root_path": "/api"}) == ""
    assert route_path({"path": "/apiary", "root_path": "/api"}) == "/apiary"
    assert route_path({"path": "/other", "root_path": "/api"}) == "/other"
    assert route_path({"path": "/x"}) == "/x"


def test_base_url_uses_app_root_path() -> None:
    request = Request(http_scope("/api/x", root_path="/api", query_string=b"q=1"))
    assert request.base_url == "http://testserver/api/"
    assert request.url == "http://testserver/api/x?q=1"


def test_responses_headers_and_bodies() -> None:
    assert PlainTextResponse("é").raw_headers == [
        (b"content-length", b"2"),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]
    assert HTMLResponse("<b>").headers["content-type"] == "text/html; charset=utf-8"
    assert JSONResponse({"é": [1, 2]}).body == '{"é":[1,2]}'.encode()
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        JSONResponse(float("nan"))
    assert Response(status_code=204).raw_headers == []
    assert (
        Response(b"x", media_type="text/plain; charset=latin-1").headers["content-type"]
        == "text/plain; charset=latin-1"
    )
    assert Response(memoryview(b"ab")).body == b"ab"
    custom = Response("x", headers={"Content-Type": "application/x", "Content-Length": "1"})
    assert custom.raw_headers == [(b"content-type", b"application/x"), (b"content-length", b"1")]
    redirect = RedirectResponse("/there")
    assert (redirect.status_code, redirect.headers["location"]) == (307, "/there")


async def test_response_background_runs_after_body() -> None:
    order: list[str] = []

    async def after() -> None:
        order.append("background")

    channel = Channel()
    await Response("x", background=after)(http_scope(), channel.receive, channel.send)
    assert channel.types() == ["http.response.start", "http.response.body"]
    assert order == ["background"]


def test_exceptions_text() -> None:
    exc = HTTPException(404)
    assert (exc.detail, str(exc), repr(exc)) == (
        "Not Found",
        "404: Not Found",
        "HTTPException(status_code=404, detail='Not Found')",
    )
    ws = WebSocketException(1008)
    assert (ws.reason, str(ws), repr(ws)) == ("", "1008: ", "WebSocketException(code=1008, reason='')")
    assert issubclass(sockjet.exceptions.ConfigurationError, ValueError)


def test_status_names() -> None:
    assert status.WS_1000_NORMAL_CLOSURE == 1000
    assert status.WS_1011_INTERNAL_ERROR == 1011
    assert status.WS_1013_TRY_AGAIN_LATER == 1013
    assert status.HTTP_403_FORBIDDEN == 403
    assert status.HTTP_413_CONTENT_TOO_LARGE == 413
    assert int(status.CloseCode.GOING_AWAY) == 1001


def test_public_names_match_all() -> None:
    exported = {name for name in dir(sockjet) if not name.startswith("_")} - {
        "applications",
        "datastructures",
        "exceptions",
        "middleware",
        "requests",
        "responses",
        "routing",
        "types",
        "websockets",
        "convertors",
        "status",
        "testclient",
        "endpoints",
        "hub",
        "cli",
        "demo",
    }
    exported = {name for name in exported if not name.islower() or name in sockjet.__all__}
    assert exported <= set(sockjet.__all__)
    for name in sockjet.__all__:
        assert hasattr(sockjet, name), name


def test_testclient_is_exported_without_importing_httpx2_for_a_server() -> None:
    code = (
        "import sys, sockjet\n"
        "assert 'httpx2' not in sys.modules and 'sockjet.testclient' not in sys.modules\n"
        "from sockjet import TestClient\n"
        "from sockjet.testclient import TestClient as Direct\n"
        "assert TestClient is Direct\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from sockjet.testclient import TestClient

    assert sockjet.TestClient is TestClient
    with pytest.raises(AttributeError, match=re.escape("module 'sockjet' has no attribute 'TestKlient'")):
        sockjet.TestKlient  # noqa: B018 - the attribute access is the test


def test_status_names_cover_starlettes() -> None:
    import starlette.status

    theirs = {name: getattr(starlette.status, name) for name in starlette.status.__all__}
    ours = {name: getattr(status, name) for name in dir(status) if name.isupper()}
    assert theirs.items() <= ours.items()
    assert status.HTTP_422_UNPROCESSABLE_ENTITY == status.HTTP_422_UNPROCESSABLE_CONTENT  # older names work too


def test_starlette_name_ports_to_app() -> None:
    from sockjet.applications import App, Starlette

    assert Starlette is App
