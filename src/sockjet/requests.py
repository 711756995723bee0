"""HTTPConnection, the base shared by Request and WebSocket, and the small Request of the HTTP side.

Every property is computed on first use and kept: a connection pays only for what it reads.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from sockjet.datastructures import URL, Address, Headers, QueryParams, State, parse_cookies
from sockjet.types import Message, Receive, Scope, Send


def route_path(scope: Scope) -> str:
    """The part of ``scope["path"]`` below ``root_path``: what routes inside a mount match against."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


class HTTPConnection(Mapping[str, Any]):
    """What HTTP requests and WebSockets have in common; a read-only view of the ASGI scope."""

    __slots__ = ("_base_url", "_cookies", "_headers", "_query_params", "_state", "_url", "scope")

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        assert scope["type"] in ("http", "websocket")
        self.scope = scope
        self._url: URL | None = None
        self._base_url: URL | None = None
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None

    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    # A connection is equal only to itself, as in Starlette (Mapping would compare scopes).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def app(self) -> Any:
        return self.scope["app"]

    @property
    def url(self) -> URL:
        if self._url is None:
            self._url = URL(scope=self.scope)
        return self._url

    @property
    def base_url(self) -> URL:
        if self._base_url is None:
            root = self.scope.get("app_root_path", self.scope.get("root_path", ""))
            path = root if root.endswith("/") else root + "/"
            base_scope = dict(self.scope)
            base_scope.update(path=path, query_string=b"", root_path=root)
            self._base_url = URL(scope=base_scope)
        return self._base_url

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(scope=self.scope)
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self.scope.get("query_string", b""))
        return self._query_params

    @property
    def path_params(self) -> dict[str, Any]:
        return self.scope.get("path_params", {})  # type: ignore[no-any-return]

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            header = self.headers.get("cookie")
            self._cookies = parse_cookies(header) if header is not None else {}
        return self._cookies

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        return None if client is None else Address(*client)

    @property
    def state(self) -> State:
        """Per-connection state; starts as a copy of what the lifespan yielded."""
        if self._state is None:
            self._state = State(self.scope.setdefault("state", {}))
        return self._state

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        provider = self.scope.get("router") or self.scope.get("app")
        if provider is None:
            raise RuntimeError("The `url_for` method can only be used inside a Starlette application or with a router.")
        return provider.url_path_for(name, **path_params).make_absolute_url(  # type: ignore[no-any-return]
            base_url=self.base_url
        )


async def _empty_receive() -> Message:
    raise RuntimeError("Receive channel has not been made available")


async def _empty_send(message: Message) -> None:
    raise RuntimeError("Send channel has not been made available")


class Request(HTTPConnection):
    """An HTTP request: method, body, JSON. Deliberately small: sockjet's HTTP side serves pages and JSON."""

    __slots__ = ("_body", "_receive", "_send")

    def __init__(self, scope: Scope, receive: Receive = _empty_receive, send: Send = _empty_send) -> None:
        super().__init__(scope)
        assert scope["type"] == "http"
        self._receive = receive
        self._send = send
        self._body: bytes | None = None

    @property
    def method(self) -> str:
        return self.scope["method"]  # type: ignore[no-any-return]

    @property
    def receive(self) -> Receive:
        return self._receive

    async def stream(self) -> AsyncIterator[bytes]:
        if self._body is not None:
            yield self._body
            yield b""
            return
        while True:
            message = await self._receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                if body:
                    yield body
                if not message.get("more_body", False):
                    break
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect()
        yield b""

    async def body(self) -> bytes:
        if self._body is None:
            chunks = [chunk async for chunk in self.stream()]
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        return json.loads(await self.body())


class ClientDisconnect(Exception):
    """The client went away while its request body was being read."""


__all__ = ["ClientDisconnect", "HTTPConnection", "Request", "route_path"]
