"""The FastAPI tutorial examples (``examples/fastapi_ws_*``) on a real uvicorn, driven by the ``websockets`` client:
dependencies that accept or refuse, refusals as the HTTP status a browser sees, and nothing unexplained in the log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import MS
from tests.servers.servers import Server, uvicorn_server

pytestmark = pytest.mark.e2e

TIMEOUT = 5000 * MS


@pytest.fixture(scope="module", params=["websockets-sansio", "wsproto"])
def ws_impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _serve(app: str, ws_impl: str) -> Iterator[Server]:
    with uvicorn_server(app, ws=ws_impl) as server:
        yield server
    output = server.output()
    assert server.process.stdout is not None
    server.process.stdout.close()
    assert "Traceback" not in output


@pytest.fixture(scope="module")
def auth_server(ws_impl: str) -> Iterator[Server]:
    yield from _serve("examples.fastapi_ws_auth:app", ws_impl)


@pytest.fixture(scope="module")
def routers_server(ws_impl: str) -> Iterator[Server]:
    yield from _serve("examples.fastapi_ws_routers:app", ws_impl)


async def test_a_token_in_the_query_and_q_converted(auth_server: Server) -> None:
    async with asyncio.timeout(TIMEOUT), connect(f"{auth_server.url}/items/7/ws?q=3&token=abc") as websocket:
        await websocket.send("hello")
        assert [await websocket.recv() for _ in range(3)] == [
            "Session cookie or query token value is: abc",
            "Query parameter q is: 3",
            "Message text was: hello, for item ID: 7",
        ]


async def test_a_session_cookie(auth_server: Server) -> None:
    url = f"{auth_server.url}/items/foo/ws"
    async with asyncio.timeout(TIMEOUT), connect(url, additional_headers={"Cookie": "session=s1"}) as websocket:
        await websocket.send("hi")
        assert await websocket.recv() == "Session cookie or query token value is: s1"


@pytest.mark.parametrize(
    "query", ["", "?cookie_or_token=forged", "?q=notint&token=abc"], ids=["no-credentials", "forged", "invalid-q"]
)
async def test_refusals_are_http_403_before_the_handshake(auth_server: Server, query: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{auth_server.url}/items/foo/ws{query}")
    assert refused.value.response.status_code == 403


async def test_router_dependencies_in_order(routers_server: Server) -> None:
    url = f"{routers_server.url}/v1/rooms/lobby"
    async with asyncio.timeout(TIMEOUT), connect(url, additional_headers={"X-API-Key": "sesame"}) as websocket:
        assert json.loads(await websocket.recv()) == {
            "room": "lobby",
            "user": "alice",
            "steps": ["app", "include", "router", "route", "session open"],
        }
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url)
    assert refused.value.response.status_code == 403


async def test_plain_uvicorn_prints_refusals_with_their_level() -> None:
    # `uvicorn app` configures only its own loggers: sockjet's lines go to its handler (sockjet._logging).
    with uvicorn_server("examples.fastapi_ws_auth:app") as server:
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(InvalidStatus):
                await connect(f"{server.url}/items/foo/ws?q=x&token=t")
    output = server.output()
    assert server.process.stdout is not None
    server.process.stdout.close()
    (line,) = [line for line in output.splitlines() if "Refused" in line]
    assert line.startswith("WARNING:  Refused WebSocket /items/foo/ws from 127.0.0.1:")
    assert line.endswith("with 1008: Invalid query parameter 'q': Input should be a valid integer")
