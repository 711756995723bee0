"""sockjet: WebSocket applications on ASGI.

The WebSocket API of Starlette/FastAPI, call for call (``sockjet.websockets``), an ``App`` with
routing and a test client, and a ``Hub`` for rooms and broadcast that scale across workers.
"""

from sockjet.applications import App
from sockjet.datastructures import URL, Address, Headers, QueryParams, State
from sockjet.exceptions import HTTPException, ReceiveTimeout, SockjetError, WebSocketException
from sockjet.hub import History, Hub, Position
from sockjet.limits import RateLimit
from sockjet.middleware import Middleware
from sockjet.requests import HTTPConnection, Request
from sockjet.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sockjet.routing import Mount, Route, Router, WebSocketRoute
from sockjet.websockets import WebSocket, WebSocketClose, WebSocketDisconnect, WebSocketState

__version__ = "0.1.0"

__all__ = [
    "URL",
    "Address",
    "App",
    "HTMLResponse",
    "HTTPConnection",
    "HTTPException",
    "Headers",
    "History",
    "Hub",
    "JSONResponse",
    "Middleware",
    "Mount",
    "PlainTextResponse",
    "Position",
    "QueryParams",
    "RateLimit",
    "ReceiveTimeout",
    "Request",
    "Response",
    "Route",
    "Router",
    "SockjetError",
    "State",
    "WebSocket",
    "WebSocketClose",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRoute",
    "WebSocketState",
    "__version__",
]
