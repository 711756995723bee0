"""What an exception escaping user code becomes: a response, a close code, a log line.

WebSocket endpoints are handled where the WebSocket object lives (the route's wrapper), so the
handler knows whether the handshake was accepted without wrapping ``send`` on the hot path:

==============================  ======================================================
escaped exception               what the client sees
==============================  ======================================================
WebSocketDisconnect             nothing more: the connection is already over
WebSocketException              close with its code and reason (HTTP 403 before accept);
                                a refusal before accept is logged with who raised it
WebSocketRequestValidationError close 1008, the reason naming the parameter and the
                                problem; logged as a refusal
HTTPException, before accept    denial response with its status and detail (close 1008
                                where the server lacks the denial-response extension);
                                logged as a refusal
HTTPException, after accept     close 1011, reason = detail
UnexpectedMessage               close 1003 (unsupported data), logged
invalid JSON from the client    close 1007 (invalid payload data), one line logged: a
                                JSONDecodeError, RecursionError (nested too deep) or
                                UnicodeDecodeError raised in receive_json/iter_json
PresenceInfoTooLarge            close 1008, one line logged: a join announced more than
                                the hub's max_presence_info (what the client sent)
any other Exception             close 1011 (HTTP 500 before accept), logged with route
                                and client (no close once the connection is over)
==============================  ======================================================

A user handler registered for the exception class (or an HTTP status) runs instead.

The lines of the refusals -- what a client causes: the rows logged as a refusal, 1003, 1007,
presence info, and the guard's -- are rate-limited per route and kind (``log_refusal``: one a
second, then "(N similar suppressed)"), so a client that floods a route with bad data cannot
flood the log. The App's own errors keep their tracebacks, unlimited.

The last five rows are what Starlette lets escape to the server. When the App has user
middleware they do escape the route, so that middleware can catch them as in Starlette, and the
outermost layer does the same. Either way, under the TestClient they are also recorded in the
scope (``SERVER_EXCEPTIONS_KEY``) for it to re-raise in the test (``raise_server_exceptions``).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from sockjet import status
from sockjet._log_limit import LogLimit
from sockjet.exceptions import (
    HTTPException,
    PresenceInfoTooLarge,
    RequestValidationError,
    WebSocketException,
    WebSocketRequestValidationError,
)
from sockjet.metrics import recorder as _metrics
from sockjet.requests import Request
from sockjet.responses import JSONResponse, PlainTextResponse, Response
from sockjet.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send
from sockjet.websockets import UnexpectedMessage, WebSocket, WebSocketDisconnect, WebSocketState

logger = logging.getLogger("sockjet.error")

HANDLERS_KEY = "sockjet.exception_handlers"
PROPAGATE_KEY = "sockjet.propagate_exceptions"  # set when user middleware should see what escaped
WEBSOCKET_KEY = "sockjet.websocket"  # the route's WebSocket, for the outer layer, when one propagates
SERVER_EXCEPTIONS_KEY = "sockjet.server_exceptions"  # a list the TestClient puts in the scope
_MAX_REASON_BYTES = 123  # RFC 6455 5.5: a control frame's payload is at most 125 bytes, 2 for the code
REFUSAL_LOG_INTERVAL = 1.0
"""Seconds between two logged refusals of one kind on one route; those in between are counted, not written."""
INVALID_JSON_REASON = "invalid JSON"
PRESENCE_TOO_LARGE_REASON = "presence info too large"


def close_reason(text: str) -> str:
    """``text`` cut to the 123 UTF-8 bytes a close frame can carry, never splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= _MAX_REASON_BYTES:
        return text
    return encoded[:_MAX_REASON_BYTES].decode("utf-8", errors="ignore")


class Handlers:
    """Exception handlers by class (most specific first, along the MRO) and by HTTP status.

    One per App, in every connection's scope; it also holds the App's ``refusals`` limit (see
    ``log_refusal``), so the limit is the App's own state, not the module's.
    """

    __slots__ = ("by_class", "by_status", "refusals")

    def __init__(self, handlers: Mapping[Any, ExceptionHandler] | None = None) -> None:
        self.by_class: dict[type[BaseException], ExceptionHandler] = {}
        self.by_status: dict[int, ExceptionHandler] = {}
        self.refusals = LogLimit(REFUSAL_LOG_INTERVAL)
        for key, handler in (handlers or {}).items():
            self.add(key, handler)

    def add(self, key: int | type[BaseException], handler: ExceptionHandler) -> None:
        if isinstance(key, int):
            self.by_status[key] = handler
        elif isinstance(key, type) and issubclass(key, BaseException):
            self.by_class[key] = handler
        else:
            raise TypeError(f"Exception handlers are keyed by an exception class or an HTTP status, not {key!r}")

    def lookup(self, exc: BaseException) -> ExceptionHandler | None:
        if isinstance(exc, HTTPException) and exc.status_code in self.by_status:
            return self.by_status[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self.by_class:
                return self.by_class[cls]
        return None


async def _call_handler(handler: ExceptionHandler, connection: Any, exc: Exception) -> Any:
    result = handler(connection, exc)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _close_quietly(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close if the application may still send a close; a peer already gone is not an error."""
    state = websocket.application_state
    if state is WebSocketState.RESPONSE:
        await websocket.send({"type": "websocket.http.response.body", "body": b""})
        return
    if state is WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(OSError, WebSocketDisconnect):
        await websocket.close(code, close_reason(reason))


def _describe(websocket: WebSocket) -> str:
    route = websocket.scope.get("route_path") or websocket.scope.get("path", "?")
    client = websocket.scope.get("client")
    who = f"{client[0]}:{client[1]}" if client else "unknown client"
    return f"WebSocket {route} from {who}"


def _raised_by(exc: BaseException) -> str:
    """The function the exception came from (the innermost frame): a dependency, or the endpoint."""
    tb = exc.__traceback__
    if tb is None:
        return "the app"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name


def log_refusal(scope: Scope, log: logging.Logger, level: int, message: str, *args: Any) -> None:
    """Log a refusal the client caused, at most once per ``REFUSAL_LOG_INTERVAL`` per route and kind.

    The lines of that kind (``message``, the format) held back in between are counted and the next
    one written says so: ``... (N similar suppressed)``. So a flood of one kind costs a line a
    second and hides no other kind. Routes are told apart by their endpoint (it lives as long as
    the App); outside an App nothing is held back.
    """
    handlers: Handlers | None = scope.get(HANDLERS_KEY)
    if handlers is not None:
        held = handlers.refusals.admit((id(scope.get("endpoint")), message))
        if held is None:
            return
        if held:
            message += " (%d similar suppressed)"
            args = (*args, held)
    log.log(level, message, *args)


_JSON_READERS = frozenset({WebSocket.receive_json.__code__, WebSocket.iter_json.__code__})


def _invalid_json(exc: Exception) -> bool:
    """True for a decoding error raised while ``receive_json``/``iter_json`` decoded the client's data."""
    if not isinstance(exc, json.JSONDecodeError | RecursionError | UnicodeDecodeError):
        return False
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in _JSON_READERS:
            return True
        tb = tb.tb_next
    return False


def record_server_exception(scope: Scope, exc: BaseException) -> None:
    """Keep ``exc`` for the TestClient to re-raise (a no-op under a real server)."""
    escaped = scope.get(SERVER_EXCEPTIONS_KEY)
    if escaped is not None:
        escaped.append(exc)


async def handle_websocket_exception(websocket: WebSocket, exc: Exception) -> None:
    """Turn an exception that escaped a WebSocket endpoint into what the client should see."""
    scope = websocket.scope
    if not isinstance(exc, WebSocketDisconnect):
        handlers: Handlers | None = scope.get(HANDLERS_KEY)
        handler = handlers.lookup(exc) if handlers is not None else None
        if handler is not None:
            result = await _call_handler(handler, websocket, exc)
            if isinstance(result, Response) and websocket.application_state is WebSocketState.CONNECTING:
                await deny(websocket, result)
            return
        before_accept = websocket.application_state is WebSocketState.CONNECTING
        if isinstance(exc, WebSocketException):
            if before_accept:
                log_refusal(
                    scope,
                    logger,
                    logging.WARNING,
                    "Refused %s: %s raised %s(code=%d, reason=%r)",
                    _describe(websocket),
                    _raised_by(exc),
                    type(exc).__name__,
                    exc.code,
                    exc.reason,
                )
            await _close_quietly(websocket, exc.code, exc.reason)
            return
        if isinstance(exc, WebSocketRequestValidationError):
            log_refusal(scope, logger, logging.WARNING, "Refused %s with 1008: %s", _describe(websocket), exc)
            _metrics.refusal_reason(scope, "parameter")
            await _close_quietly(websocket, status.WS_1008_POLICY_VIOLATION, exc.reason)
            return
        if isinstance(exc, HTTPException):
            if before_accept:
                log_refusal(
                    scope,
                    logger,
                    logging.WARNING,
                    "Refused %s with HTTP %d: %s raised HTTPException(%r)",
                    _describe(websocket),
                    exc.status_code,
                    _raised_by(exc),
                    exc.detail,
                )
                await deny(websocket, PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers))
            else:
                await _close_quietly(websocket, status.WS_1011_INTERNAL_ERROR, exc.detail)
            return
    if scope.get(PROPAGATE_KEY):
        # User middleware wraps this route: let it see the exception, as Starlette does; the
        # outermost layer (ServerErrorMiddleware) finishes the job with the WebSocket found here.
        scope[WEBSOCKET_KEY] = websocket
        raise exc
    await handle_unhandled(websocket, exc)


def log_swallowed(websocket: WebSocket, exc: Exception) -> None:
    """The endpoint raised, and a ``yield`` dependency caught the exception without re-raising it."""
    logger.warning(
        "%s: the endpoint raised %r, and a dependency with yield caught it without raising it again; "
        "re-raise it in the dependency's except block",
        _describe(websocket),
        exc,
    )


async def handle_unhandled(websocket: WebSocket, exc: Exception) -> None:
    """What nobody handled: Starlette would let it reach the server; sockjet logs it and closes."""
    record_server_exception(websocket.scope, exc)
    if isinstance(exc, WebSocketDisconnect):
        return
    scope = websocket.scope
    if isinstance(exc, UnexpectedMessage):
        log_refusal(scope, logger, logging.WARNING, "%s closed with 1003: %s", _describe(websocket), exc)
        _metrics.message_refused(websocket.scope, "malformed")
        await _close_quietly(websocket, status.WS_1003_UNSUPPORTED_DATA, str(exc))
        return
    if _invalid_json(exc):
        log_refusal(
            scope,
            logger,
            logging.WARNING,
            "%s closed with 1007: the client sent invalid JSON (%s: %s)",
            _describe(websocket),
            type(exc).__name__,
            exc,
        )
        await _close_quietly(websocket, status.WS_1007_INVALID_FRAME_PAYLOAD_DATA, INVALID_JSON_REASON)
        return
    if isinstance(exc, PresenceInfoTooLarge):
        log_refusal(scope, logger, logging.WARNING, "%s closed with 1008: %s", _describe(websocket), exc)
        await _close_quietly(websocket, status.WS_1008_POLICY_VIOLATION, PRESENCE_TOO_LARGE_REASON)
        return
    state = websocket.application_state
    if state is WebSocketState.DISCONNECTED or websocket.client_state is WebSocketState.DISCONNECTED:
        logger.error("Exception in %s after the connection was closed", _describe(websocket), exc_info=exc)
        return
    logger.error("Exception in %s; closing with 1011", _describe(websocket), exc_info=exc)
    if state is WebSocketState.CONNECTING:
        await deny(
            websocket,
            PlainTextResponse("Internal Server Error", status_code=500),
            close_code=status.WS_1011_INTERNAL_ERROR,
        )
    else:
        await _close_quietly(websocket, status.WS_1011_INTERNAL_ERROR)


async def deny(websocket: WebSocket, response: Response, *, close_code: int = status.WS_1008_POLICY_VIOLATION) -> None:
    """Refuse the handshake with ``response``, or close with ``close_code`` where the server cannot."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await _close_quietly(websocket, close_code)


async def close_after_failure(scope: Scope, send: Send, exc: Exception) -> None:
    """An exception raised outside an endpoint (a middleware, a raw ASGI app): the state is
    unknown, so close at best effort; a server that already saw a close refuses this one."""
    websocket: WebSocket | None = scope.get(WEBSOCKET_KEY)
    if websocket is not None:
        await handle_unhandled(websocket, exc)  # propagated from a route, through user middleware
        return
    if not isinstance(exc, WebSocketException):
        record_server_exception(scope, exc)
    if isinstance(exc, WebSocketDisconnect):
        return
    code, reason = status.WS_1011_INTERNAL_ERROR, ""
    if isinstance(exc, WebSocketException):
        code, reason = exc.code, exc.reason
    else:
        logger.error("Exception in the ASGI app for WebSocket %s", scope.get("path"), exc_info=exc)
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": code, "reason": close_reason(reason)})


class _StartWatch:
    """A ``send`` that remembers whether the response has started: after that, an error can no
    longer become a response of its own."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class ExceptionMiddleware:
    """Innermost layer: puts the handlers in the scope (WebSocket routes use them) and answers
    HTTP exceptions with responses."""

    def __init__(self, app: ASGIApp, handlers: Handlers, debug: bool = False) -> None:
        self.app = app
        self.handlers = handlers
        self.debug = debug

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: a WebSocket keeps no frame of this layer for its whole life.
        scope_type = scope["type"]
        if scope_type == "http":
            return self._http(scope, receive, send)
        if scope_type == "websocket":
            scope[HANDLERS_KEY] = self.handlers
            scope[PROPAGATE_KEY] = True
        return self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[HANDLERS_KEY] = self.handlers
        sender = _StartWatch(send)
        try:
            await self.app(scope, receive, sender)
        except Exception as exc:
            handler = self.handlers.lookup(exc)
            if handler is None and isinstance(exc, RequestValidationError):
                # FastAPI's answer: 422 with the errors as JSON.
                response: Response | None = JSONResponse({"detail": exc.errors()}, status_code=422)
            elif handler is None:
                if not isinstance(exc, HTTPException):
                    raise
                response = (
                    Response(status_code=exc.status_code, headers=exc.headers)
                    if exc.status_code in (204, 304)
                    else PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
                )
            else:
                response = await _call_handler(handler, Request(scope, receive, send), exc)
            if sender.started:
                raise RuntimeError("Caught handled exception, but response already started.") from exc
            if response is not None:
                await response(scope, receive, sender)


class ServerErrorMiddleware:
    """Outermost layer: an HTTP request that failed gets a 500 (then the error goes on to the server
    to be logged); a WebSocket that failed outside its endpoint is closed with 1011 and logged."""

    def __init__(self, app: ASGIApp, handler: ExceptionHandler | None = None, debug: bool = False) -> None:
        self.app = app
        self.handler = handler
        self.debug = debug

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        scope_type = scope["type"]
        if scope_type == "http":
            return self._http(scope, receive, send)
        if scope_type == "websocket":
            return self._websocket(scope, receive, send)
        return self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            await close_after_failure(scope, send, exc)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        sender = _StartWatch(send)
        try:
            await self.app(scope, receive, sender)
        except Exception as exc:
            if not sender.started:
                response: Any = None
                if self.handler is not None:
                    response = await _call_handler(self.handler, Request(scope, receive, send), exc)
                if response is None:
                    text = f"{type(exc).__name__}: {exc}" if self.debug else "Internal Server Error"
                    response = PlainTextResponse(text, status_code=500)
                await response(scope, receive, send)
            raise


__all__ = [
    "ExceptionMiddleware",
    "Handlers",
    "ServerErrorMiddleware",
    "close_after_failure",
    "close_reason",
    "deny",
    "handle_unhandled",
    "handle_websocket_exception",
    "log_refusal",
    "log_swallowed",
    "record_server_exception",
]
