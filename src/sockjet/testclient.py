"""An in-process, synchronous test client: HTTP through httpx2, WebSockets through ASGI messages.

The app runs on an event loop in a background thread (one per ``with TestClient(app)`` block,
shared by every request and WebSocket inside it, so the lifespan and the hub live on the same
loop as the connections). No sockets are opened.

Differences from a real server that tests may notice, all chosen to fail loudly, not hang:

- once the client has closed, the app's ``send`` raises an ``OSError`` (as uvicorn's does), so an
  endpoint that only sends still ends; on leaving the ``with`` block the app gets
  ``_EXIT_GRACE`` seconds to finish, then is cancelled;
- an app that returns without closing gets a close with 1000 after accept (as uvicorn does), and
  an HTTP 500 denial before accept;
- with ``raise_server_exceptions=True`` (the default), an exception that escaped the endpoint --
  one Starlette would let reach the server, ``WebSocketDisconnect`` included -- is re-raised in
  the test when the ``with websocket_connect(...)`` block ends (the client still saw the close
  first, as a real client would); with ``False`` the test sees only what a client would see.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urljoin

import httpx2

from sockjet import status
from sockjet._errors import SERVER_EXCEPTIONS_KEY
from sockjet.types import ASGIApp, Message, Scope
from sockjet.websockets import WebSocketDisconnect

_T = TypeVar("_T")
_EXIT_GRACE = 1.0
_APP_DONE: Message = {"type": "sockjet.testclient.app_done"}


class WebSocketDenialResponse(httpx2.Response, WebSocketDisconnect):  # type: ignore[misc]
    """The app refused the handshake with an HTTP response (``send_denial_response`` or an
    HTTPException before accept). It is the response (``status_code``, ``headers``, ``text``)
    and a ``WebSocketDisconnect`` with code 1006, what a browser reports for a failed handshake."""

    def __init__(self, status_code: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        httpx2.Response.__init__(self, status_code, headers=headers, content=content)
        self.code = status.WS_1006_ABNORMAL_CLOSURE
        self.reason = f"HTTP {status_code}"

    def __str__(self) -> str:
        return f"WebSocket handshake denied with HTTP {self.status_code}: {self.text}"


class ClientDisconnected(OSError):
    """The test's side of the WebSocket is closed; what the app's ``send`` raises then."""


class _Portal:
    """An event loop running in a daemon thread, reached from the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sockjet-testclient", daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"No answer from the app within {timeout} seconds") from None

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        async def cancel_leftovers() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class WebSocketTestSession:
    """The client end of one WebSocket, driven synchronously from the test."""

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        portal: Callable[[], contextlib.AbstractContextManager[_Portal]],
        raise_server_exceptions: bool = True,
    ) -> None:
        self.app = app
        self.scope = scope
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] | None = None
        self._portal_factory = portal
        self._raise_server_exceptions = raise_server_exceptions
        self._accepted = False
        self._client_closed = False
        self._app_sent_close = False
        self._close_message: Message | None = None
        self._exit_stack = contextlib.ExitStack()

    # -- the app's side, running on the portal's loop ------------------------------------------
    async def _start(self) -> None:
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def _app_receive(self) -> Message:
        return await self._to_app.get()

    async def _app_send(self, message: Message) -> None:
        if self._app_sent_close:
            raise RuntimeError(f"Unexpected ASGI message {message.get('type')!r}, after sending 'websocket.close'.")
        if message.get("type") == "websocket.close":
            self._app_sent_close = True
        elif self._client_closed and message.get("type") == "websocket.send":
            raise ClientDisconnected("The test client has closed this WebSocket.")
        self._from_app.put_nowait(message)

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope, self._app_receive, self._app_send)
        finally:
            self._from_app.put_nowait(_APP_DONE)

    # -- the test's side ----------------------------------------------------------------------
    def __enter__(self) -> WebSocketTestSession:
        with contextlib.ExitStack() as stack:
            self.portal = stack.enter_context(self._portal_factory())
            self.portal.call(self._start())
            self._task = self.portal.spawn(self._run_app())
            stack.callback(self._finish)
            self.send({"type": "websocket.connect"})
            message = self.receive()
            self._raise_on_close(message)
            self.accepted_subprotocol = message.get("subprotocol")
            self.extra_headers = message.get("headers")
            self._accepted = True
            self._exit_stack = stack.pop_all()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit_stack.__exit__(exc_type, exc, tb)

    def _finish(self) -> None:
        if not self._client_closed and not self._task.done():
            self.close(status.WS_1000_NORMAL_CLOSURE)
        try:
            self._task.result(timeout=_EXIT_GRACE)
        except concurrent.futures.TimeoutError:
            self._task.cancel()
            with contextlib.suppress(concurrent.futures.CancelledError, Exception):
                self._task.result(timeout=_EXIT_GRACE)
        except concurrent.futures.CancelledError:  # pragma: no cover - cancelled by the portal's shutdown
            pass
        except Exception:
            if self._raise_server_exceptions:
                raise
        escaped = self.scope.get(SERVER_EXCEPTIONS_KEY)
        if escaped and self._raise_server_exceptions:
            raise escaped[0]

    def send(self, message: Message) -> None:
        """Hand one raw ASGI message to the app (``websocket.receive``, ``websocket.disconnect``...)."""
        if message.get("type") == "websocket.disconnect":
            self._client_closed = True
        self.portal.loop.call_soon_threadsafe(self._to_app.put_nowait, message)

    def send_text(self, data: str) -> None:
        self.send({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        self.send({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            self.send({"type": "websocket.receive", "text": text})
        else:
            self.send({"type": "websocket.receive", "bytes": text.encode("utf-8")})

    def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Close from the client's side: the app receives ``websocket.disconnect`` with ``code``."""
        self.send({"type": "websocket.disconnect", "code": code, "reason": reason or ""})

    def receive(self, timeout: float | None = None) -> Message:
        """The next raw ASGI message the app sent; waits up to ``timeout`` seconds (None: no limit)."""
        if self._close_message is not None:
            return self._close_message
        message = self.portal.call(self._from_app.get(), timeout)
        if message is _APP_DONE:
            message = self._app_ended()
        if message["type"] == "websocket.close":
            self._close_message = message
        return message

    def _raise_app_error(self) -> None:
        error = self._task.exception() if self._task.done() and not self._task.cancelled() else None
        if error is not None and self._raise_server_exceptions:
            raise error

    def _app_ended(self) -> Message:
        self._raise_app_error()
        error = self._task.exception() if self._task.done() and not self._task.cancelled() else None
        if not self._accepted:
            # Never accepted: a server answers the handshake with 500.
            return {"type": "websocket.http.response.start", "status": 500, "headers": [], "_ended": True}
        return {
            "type": "websocket.close",
            "code": status.WS_1000_NORMAL_CLOSURE if error is None else status.WS_1011_INTERNAL_ERROR,
            "reason": "",
        }

    def _raise_on_close(self, message: Message) -> None:
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(
                code=message.get("code", status.WS_1000_NORMAL_CLOSURE), reason=message.get("reason", "")
            )
        if message["type"] == "websocket.http.response.start":
            http_status: int = message["status"]
            headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
            body: list[bytes] = []
            while not message.get("_ended"):
                message = self.portal.call(self._from_app.get(), _EXIT_GRACE * 5)
                if message is _APP_DONE:
                    self._raise_app_error()
                    break
                if message["type"] != "websocket.http.response.body":
                    raise RuntimeError(f"Expected 'websocket.http.response.body', got {message['type']!r}")
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            raise WebSocketDenialResponse(http_status, headers, b"".join(body))

    def receive_text(self, timeout: float | None = None) -> str:
        message = self.receive(timeout)
        self._raise_on_close(message)
        return message["text"]  # type: ignore[no-any-return]

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        message = self.receive(timeout)
        self._raise_on_close(message)
        return message["bytes"]  # type: ignore[no-any-return]

    def receive_json(self, mode: Literal["text", "binary"] = "text", timeout: float | None = None) -> Any:
        message = self.receive(timeout)
        self._raise_on_close(message)
        if mode == "text":
            return json.loads(message["text"])
        return json.loads(message["bytes"].decode("utf-8"))


class _Transport(httpx2.BaseTransport):
    """Runs each HTTP request through the app on the client's portal."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        scope = self.client._scope_for("http", request.url, request.headers.multi_items())
        scope["method"] = request.method
        scope["http_version"] = "1.1"
        body = request.read()
        with self.client._portal() as portal:
            status, headers, content = portal.call(self.client._run_http(scope, body))
        return httpx2.Response(status, headers=headers, content=content, request=request)


class TestClient(httpx2.Client):
    """``with TestClient(app) as client:`` runs the lifespan; ``client.get(...)``,
    ``client.websocket_connect(path)`` talk to the app in-process."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        cookies: httpx2.Cookies | dict[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self.client_address = client
        self.app_state: dict[str, Any] = {}
        self._shared_portal: _Portal | None = None
        self._open_portal: _Portal | None = None
        self._portal_users = 0
        merged = {"user-agent": "testclient"}
        merged.update(headers or {})
        super().__init__(
            base_url=base_url,
            headers=merged,
            transport=_Transport(self),
            follow_redirects=follow_redirects,
            cookies=cookies,
        )

    # -- plumbing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _portal(self) -> Iterator[_Portal]:
        if self._shared_portal is not None:
            yield self._shared_portal
            return
        # Outside `with TestClient(app)`: connections open at the same time share one loop (as
        # on a server, so an endpoint may send to another connection); it stops with the last.
        if self._open_portal is None:
            self._open_portal = _Portal()
        portal = self._open_portal
        self._portal_users += 1
        try:
            yield portal
        finally:
            self._portal_users -= 1
            if self._portal_users == 0:
                self._open_portal = None
                portal.close()

    def _scope_for(self, kind: str, url: httpx2.URL, headers: Sequence[tuple[str, str]]) -> Scope:
        scheme = url.scheme
        default_port = {"http": 80, "ws": 80, "https": 443, "wss": 443}[scheme]
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if not any(k == b"host" for k, _ in raw_headers):
            raw_headers.insert(0, (b"host", url.netloc))
        return {
            "type": kind,
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "root_path": self.root_path,
            "scheme": scheme,
            "query_string": url.query,
            "headers": raw_headers,
            "client": list(self.client_address),
            "server": [url.host, url.port or default_port],
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}} if kind == "websocket" else {},
        }

    async def _run_http(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        sent_request = False
        done = asyncio.Event()
        start: Message | None = None
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        try:
            await self.app(scope, receive, send)
        except Exception:
            if self.raise_server_exceptions:
                raise
            if start is None:
                return 500, [], b"Internal Server Error"
        finally:
            done.set()
        if start is None:
            raise RuntimeError("The app returned without sending an HTTP response.")
        return start["status"], list(start.get("headers", [])), b"".join(chunks)

    # -- WebSockets -----------------------------------------------------------------------------
    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> WebSocketTestSession:
        """Open a WebSocket to ``url`` (a path, or ``ws://`` URL); use it as a context manager."""
        full = httpx2.URL(urljoin(str(self.base_url), url))
        if full.scheme in ("http", "https"):
            full = full.copy_with(scheme="ws" if full.scheme == "http" else "wss")
        # The handshake headers Starlette's TestClient sends: one `connection: upgrade` (not the
        # client's keep-alive), a key and a version.
        merged: list[tuple[str, str]] = [
            (k, v) for k, v in self.headers.multi_items() if k.lower() not in ("host", "connection")
        ]
        merged += [
            ("connection", "upgrade"),
            ("sec-websocket-key", "testserver=="),
            ("sec-websocket-version", "13"),
        ]
        if subprotocols:
            merged.append(("sec-websocket-protocol", ", ".join(subprotocols)))
        if self.cookies:
            merged.append(("cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())))
        for key, value in (headers or {}).items():
            merged = [(k, v) for k, v in merged if k.lower() != key.lower()] + [(key, value)]
        scope = self._scope_for("websocket", full, merged)
        scope["subprotocols"] = list(subprotocols or [])
        scope[SERVER_EXCEPTIONS_KEY] = []
        return WebSocketTestSession(self.app, scope, self._portal, self.raise_server_exceptions)

    # -- lifespan -------------------------------------------------------------------------------
    def __enter__(self) -> TestClient:
        portal = _Portal()
        self._shared_portal = portal
        self._lifespan_in: asyncio.Queue[Message]
        self._lifespan_out: asyncio.Queue[Message]

        async def start() -> None:
            self._lifespan_in = asyncio.Queue()
            self._lifespan_out = asyncio.Queue()

        portal.call(start())
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.app_state}

        async def run_lifespan() -> None:
            try:
                await self.app(scope, self._lifespan_in.get, self._lifespan_out.put)
            finally:
                self._lifespan_out.put_nowait(_APP_DONE)

        self._lifespan_task = portal.spawn(run_lifespan())
        try:
            self._lifespan_step("lifespan.startup")
        except BaseException:
            self._shared_portal = None
            portal.close()
            raise
        return self

    def __exit__(self, *args: Any) -> None:
        portal = self._shared_portal
        if portal is None:  # pragma: no cover - exit without enter
            return
        try:
            self._lifespan_step("lifespan.shutdown")
        finally:
            self._shared_portal = None
            portal.close()
            self.close()

    def _lifespan_step(self, step: str) -> None:
        portal = self._shared_portal
        assert portal is not None
        if self._lifespan_task.done() and self._lifespan_out.empty():
            return  # the app ended its lifespan (it does not speak the protocol)
        portal.loop.call_soon_threadsafe(self._lifespan_in.put_nowait, {"type": step})
        message = portal.call(self._lifespan_out.get())
        if message is _APP_DONE:
            error = self._lifespan_task.exception()
            if error is not None:
                raise error
            return  # an app that does not speak lifespan
        if message["type"] == f"{step}.failed":
            error = self._lifespan_task.exception(timeout=_EXIT_GRACE * 5)
            if error is not None:
                raise error
            raise RuntimeError(message.get("message", f"{step} failed"))


__all__ = ["ClientDisconnected", "TestClient", "WebSocketDenialResponse", "WebSocketTestSession"]
