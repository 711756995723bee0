"""sockjet: WebSocket applications on ASGI.

The WebSocket API of Starlette/FastAPI, call for call (``sockjet.websockets``), an ``App`` with
routing and a test client, and a ``Hub`` for rooms and broadcast that scale across workers.
"""

from sockjet import status
from sockjet.applications import App
from sockjet.datastructures import URL, Address, Headers, QueryParams, State
from sockjet.exceptions import (
    HTTPException,
    ParameterError,
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

__version__ = "0.1.0"

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
    "JSONResponse",
    "Middleware",
    "Mount",
    "ParameterError",
    "Path",
    "PlainTextResponse",
    "Position",
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
