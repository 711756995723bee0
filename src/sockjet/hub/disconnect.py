"""The ``WebSocketDisconnect`` a join block raises, catchable as the endpoint's own library spells it.

A FastAPI or Starlette endpoint catches ``starlette.websockets.WebSocketDisconnect``, which is not
sockjet's class. When the hub ends a join block (an interrupted close, a peer found gone), it
raises a class that derives from both, so ``except WebSocketDisconnect`` works whichever of the two
the endpoint imported. The foreign class is found beside the WebSocket's own class, never imported.
"""

from __future__ import annotations

import sys

from sockjet.websockets import WebSocketDisconnect

_COMBINED: dict[type[Exception], type[WebSocketDisconnect]] = {}  # one class per foreign class


def _both(foreign: type[Exception]) -> type[WebSocketDisconnect]:
    both = _COMBINED.get(foreign)
    if both is None:
        namespace = {"__module__": WebSocketDisconnect.__module__}
        both = _COMBINED[foreign] = type("WebSocketDisconnect", (WebSocketDisconnect, foreign), namespace)
    return both


def disconnect_for(websocket: object, code: int, reason: str | None = None) -> WebSocketDisconnect:
    """``WebSocketDisconnect(code, reason)`` that is also the WebSocket's library's disconnect class."""
    module = sys.modules.get(type(websocket).__module__)
    foreign = getattr(module, "WebSocketDisconnect", None)
    if (
        isinstance(foreign, type)
        and issubclass(foreign, Exception)
        and not issubclass(WebSocketDisconnect, foreign)
        and not issubclass(foreign, WebSocketDisconnect)
    ):
        return _both(foreign)(code, reason)
    return WebSocketDisconnect(code, reason)
