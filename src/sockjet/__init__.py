"""sockjet: WebSocket applications on ASGI.

The WebSocket API of Starlette/FastAPI, call for call (``sockjet.websockets``), an ``App`` with
routing and a test client, and a ``Hub`` for rooms and broadcast that scale across workers.
"""

import typing as _typing

from sockjet import status
from sockjet.applications import App
from sockjet.datastructures import URL, Address, Headers, QueryParams, State
from sockjet.exceptions import (
    HTTPException,
    HubError,
    ParameterError,
    PublishError,
    PublishOutcomeUnknown,
    ReceiveTimeout,
    RequestValidationError,
    SockjetError,
    WebSocketException,
    WebSocketRequestValidationError,
)
from sockjet.guard import ConnectionOptions
from sockjet.hub import History, Hub, Position
from sockjet.limits import RateLimit
from sockjet.middleware import Middleware
from sockjet.params import Cookie, Depends, Header, Path, Query
from sockjet.requests import HTTPConnection, Request
from sockjet.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sockjet.routers import APIRouter
from sockjet.routing import Mount, Route, Router, WebSocketRoute
from sockjet.websockets import WebSocket, WebSocketClose, WebSocketDisconnect, WebSocketState

if _typing.TYPE_CHECKING:
    from sockjet.testclient import TestClient

__version__ = "0.1.0"


def __getattr__(name: str) -> _typing.Any:
    # TestClient is imported on first use: it needs httpx2, which a server never does.
    if name == "TestClient":
        from sockjet.testclient import TestClient

        return TestClient
    raise AttributeError(f"module 'sockjet' has no attribute {name!r}")


__all__ = [
    "URL",
    "APIRouter",
    "Address",
    "App",
    "ConnectionOptions",
    "Cookie",
    "Depends",
    "HTMLResponse",
    "HTTPConnection",
    "HTTPException",
    "Header",
    "Headers",
    "History",
    "Hub",
    "HubError",
    "JSONResponse",
    "Middleware",
    "Mount",
    "ParameterError",
    "Path",
    "PlainTextResponse",
    "Position",
    "PublishError",
    "PublishOutcomeUnknown",
    "Query",
    "QueryParams",
    "RateLimit",
    "ReceiveTimeout",
    "Request",
    "RequestValidationError",
    "Response",
    "Route",
    "Router",
    "SockjetError",
    "State",
    "TestClient",
    "WebSocket",
    "WebSocketClose",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRequestValidationError",
    "WebSocketRoute",
    "WebSocketState",
    "__version__",
    "status",
]
