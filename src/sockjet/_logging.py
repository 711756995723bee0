"""sockjet's log lines under a server that configured only its own loggers.

``uvicorn app:app`` configures the ``uvicorn*`` loggers and leaves the root logger bare, so a
``sockjet`` warning would reach Python's last-resort handler and print without its level. When
nothing at all handles ``sockjet`` records (no handler on it or on the root logger),
``adopt_server_logging`` puts them on the server's error log handlers instead, so they read
``WARNING:  Refused WebSocket ...`` like the server's own lines. Any logging the user configured
(a root handler, a ``sockjet`` handler, ``sockjet run``'s config) is left as it is.
"""

from __future__ import annotations

import logging

SERVER_ERROR_LOGGER = "uvicorn.error"


def _handlers_of(logger: logging.Logger) -> list[logging.Handler]:
    """The handlers that write the logger's records: its own, or the first ancestor's it propagates to
    (uvicorn puts its handler on ``uvicorn``, and ``uvicorn.error`` propagates there)."""
    current: logging.Logger | None = logger
    while current is not None:
        if current.handlers:
            return list(current.handlers)
        if not current.propagate:
            return []
        current = current.parent
    return []  # pragma: no cover - the root logger ends the chain


def adopt_server_logging() -> bool:
    """Give the ``sockjet`` logger the server's handlers if nothing handles it; True if it did."""
    ours = logging.getLogger("sockjet")
    if ours.handlers or logging.getLogger().handlers:
        return False
    server = logging.getLogger(SERVER_ERROR_LOGGER)
    handlers = _handlers_of(server)
    if not handlers:
        return False
    for handler in handlers:
        ours.addHandler(handler)
    ours.propagate = False
    if ours.level == logging.NOTSET:
        ours.setLevel(server.getEffectiveLevel())
    return True


__all__ = ["adopt_server_logging"]
