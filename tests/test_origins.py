"""The Origin check: pure matching first, then through the App and its routes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sockjet import App, Router, WebSocket, WebSocketRoute
from sockjet.exceptions import ConfigurationError
from sockjet.origins import OriginPolicy
from sockjet.testclient import TestClient, WebSocketDenialResponse
from sockjet.types import Message


def test_same_origin_by_default() -> None:
    policy = OriginPolicy()
    assert policy.allows("http://example.com", "example.com")
    assert policy.allows("https://Example.COM", "example.com:443")
    assert policy.allows("http://example.com:8000", "example.com:8000")
    assert policy.allows("http://[::1]:8000", "[::1]:8000")
    assert policy.allows("https://[::1]", "[::1]:443")
    assert policy.allows("HTTP://[::1]", "[::1]")
    assert not policy.allows("http://[::1]:8000", "[::1]:9000")
    assert not policy.allows("http://example.com:8000", "example.com:9000")
    assert not policy.allows("http://evil.com", "example.com")
    assert not policy.allows("http://example.com", None)


def test_missing_origin_is_allowed_unless_refused() -> None:
    assert OriginPolicy().allows(None, "example.com")
    assert OriginPolicy(["https://a.com"]).allows(None, None)
    assert not OriginPolicy(allow_missing_origin=False).allows(None, "example.com")


def test_exact_origins_normalise_case_and_default_ports() -> None:
    policy = OriginPolicy(["https://app.example.com", "http://localhost:3000"])
    assert policy.allows("https://app.example.com", "api.example.com")
    assert policy.allows("HTTPS://APP.EXAMPLE.COM:443", None)
    assert policy.allows("http://localhost:3000", None)
    assert not policy.allows("http://app.example.com", None)
    assert not policy.allows("https://app.example.com:8443", None)
    assert not policy.allows("http://localhost:3001", None)


def test_wildcard_matches_subdomains_only() -> None:
    policy = OriginPolicy(["https://*.example.com"])
    assert policy.allows("https://a.example.com", None)
    assert policy.allows("https://a.b.example.com", None)
    assert not policy.allows("https://example.com", None)
    assert not policy.allows("https://evilexample.com", None)
    assert not policy.allows("https://a.example.com.evil.com", None)
    assert not policy.allows("http://a.example.com", None)
    assert not policy.allows("https://a.example.com:8443", None)


def test_any_and_null() -> None:
    assert OriginPolicy(["*"]).allows("http://anything.test", None)
    assert OriginPolicy(["*"]).allows("null", None)
    assert not OriginPolicy().allows("null", "null")
    assert OriginPolicy(["null"]).allows("null", None)


@pytest.mark.parametrize(
    "origin",
    [
        "",
        "example.com",
        "http://",
        "http://a.com/path",
        "http://a.com:x",
        "http://u@a.com",
        "http://[::1",
        "http://[::1]x",
    ],
)
def test_malformed_origin_headers_are_refused(origin: str) -> None:
    assert not OriginPolicy().allows(origin, "a.com")
    assert not OriginPolicy(["https://*.a.com", "http://a.com"]).allows(origin, "a.com")


@pytest.mark.parametrize("pattern", ["example.com", "https://a.com/", "https://*example.com", "https://a.*.com", "*.a"])
def test_invalid_patterns_are_configuration_errors(pattern: str) -> None:
    message = (
        f"Invalid allowed origin {pattern!r}: expected 'scheme://host[:port]' with no path, "
        "'scheme://*.domain[:port]', '*' or 'null'"
    )
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        App(allowed_origins=[pattern])


def test_a_bare_string_is_a_configuration_error() -> None:
    message = (
        "allowed_origins must be a list of origins, not the string 'https://a.com': "
        "write allowed_origins=['https://a.com']"
    )
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        App(allowed_origins="https://a.com")
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        WebSocketRoute("/ws", _echo, allowed_origins="https://a.com")


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def _open(app: Any, origin: str | None, path: str = "/ws") -> str:
    headers = {} if origin is None else {"origin": origin}
    with TestClient(app) as client, client.websocket_connect(path, headers=headers) as ws:
        return ws.receive_text()


def _refused(app: Any, origin: str | None, path: str = "/ws") -> WebSocketDenialResponse:
    with pytest.raises(WebSocketDenialResponse) as info:
        _open(app, origin, path)
    return info.value


def test_app_default_accepts_same_origin_and_clients_without_origin() -> None:
    app = App()
    app.add_websocket_route("/ws", _echo)
    assert _open(app, None) == "hello"
    assert _open(app, "http://testserver") == "hello"
    denial = _refused(app, "https://evil.example")
    assert denial.status_code == 403
    assert denial.text == "Origin not allowed"


def test_app_allowed_origins_and_missing_origin_refused() -> None:
    app = App(allowed_origins=["https://*.example.com"], allow_missing_origin=False)
    app.add_websocket_route("/ws", _echo)
    assert _open(app, "https://chat.example.com") == "hello"
    assert _refused(app, "http://testserver").status_code == 403
    assert _refused(app, None).status_code == 403


def test_route_options_override_the_app() -> None:
    app = App(allowed_origins=["https://a.example"])

    @app.websocket("/ws", allowed_origins=["https://b.example"])
    async def only_b(websocket: WebSocket) -> None:
        await _echo(websocket)

    app.router.routes.append(WebSocketRoute("/any", _echo, allowed_origins=["*"]))
    app.add_websocket_route("/strict", _echo, allow_missing_origin=False)
    assert _open(app, "https://b.example") == "hello"
    assert _refused(app, "https://a.example").status_code == 403
    assert _open(app, "https://whoever.example", "/any") == "hello"
    assert _refused(app, None, "/strict").status_code == 403
    assert _open(app, "https://a.example", "/strict") == "hello"


def test_a_router_without_app_checks_only_when_the_route_asks() -> None:
    router = Router([WebSocketRoute("/open", _echo), WebSocketRoute("/ws", _echo, allowed_origins=["https://a.b"])])
    assert _open(router, "https://evil.example", "/open") == "hello"
    assert _open(router, "https://a.b") == "hello"
    assert _refused(router, "https://evil.example").status_code == 403


async def test_refused_with_close_1008_when_the_server_has_no_denial_extension() -> None:
    app = App()
    app.add_websocket_route("/ws", _echo)
    scope = {
        "type": "websocket",
        "path": "/ws",
        "headers": [(b"host", b"a.com"), (b"origin", b"https://evil.com"), (b"origin", b"http://a.com")],
        "query_string": b"",
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Origin not allowed"}]
