"""What runs around every routed WebSocket connection: Origin check, connection caps, limits, tracking.

Options are set on the App (defaults for all its WebSocket routes) and on a route (overrides).
They are resolved once per (route, App) pair, at the first connection; after that a connection
costs one Origin scan, a capacity check and a set add/discard. Only a route with a
``max_message_size``, ``rate_limit`` or ``idle_timeout`` wraps ``receive`` (see ``limits``), and
only enabled metrics wrap it to count (``sockjet.metrics``: labelled by the route's pattern).

Refusals happen before the handshake is accepted: with the server's denial-response extension
the client gets the HTTP status (403 foreign Origin, 503 over capacity or shutting down);
otherwise the connection is closed before accept (1008 / 1013), which servers answer with 403.
Their log lines are rate-limited per route and kind (``_errors.log_refusal``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from sockjet import status
from sockjet._checks import is_int, is_number
from sockjet._errors import log_refusal
from sockjet.exceptions import ConfigurationError
from sockjet.limits import Limiter, RateLimit
from sockjet.metrics import recorder as _metrics
from sockjet.origins import OriginPolicy, check_origin
from sockjet.responses import PlainTextResponse
from sockjet.shutdown import CONNECTION_KEY, ConnectionRegistry, TrackedConnection
from sockjet.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("sockjet.guard")


@dataclass(frozen=True, kw_only=True)
class ConnectionOptions:
    """Per-connection options; on a route, ``None`` means "as the App says"."""

    allowed_origins: Sequence[str] | None = None
    allow_missing_origin: bool | None = None
    max_message_size: int | None = None
    max_connections: int | None = None
    rate_limit: RateLimit | None = None
    idle_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.allowed_origins is not None:
            if isinstance(self.allowed_origins, str):
                OriginPolicy(self.allowed_origins)  # raises the actionable error
            object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
            OriginPolicy(self.allowed_origins)  # validate the patterns now, not at the first handshake
        for name in ("max_message_size", "max_connections"):
            value = getattr(self, name)
            if value is not None and (not is_int(value) or value < 1):
                raise ConfigurationError(f"{name} must be a positive integer or None, not {value!r}")
        idle = self.idle_timeout
        if idle is not None and (not is_number(idle) or not idle > 0):
            raise ConfigurationError(
                f"idle_timeout must be a positive number of seconds or None, not {self.idle_timeout!r}"
            )
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise ConfigurationError(
                f"rate_limit must be a sockjet.RateLimit(messages=..., per=...), not {self.rate_limit!r}"
            )

    @classmethod
    def build(cls, options: ConnectionOptions | None, values: Mapping[str, Any], *, where: str) -> ConnectionOptions:
        """``options`` with ``values`` (options by keyword) on top; a keyword that is no option is a TypeError."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TypeError(
                f"{where}() got unexpected keyword argument(s) {', '.join(unknown)}; "
                f"its connection options are {', '.join(sorted(names))}"
            )
        if options is None:
            return cls(**values)
        return replace(options, **values) if values else options

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def over(self, defaults: ConnectionOptions) -> ConnectionOptions:
        """These options, with the ones left at None taken from ``defaults``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in values.items():
            if value is None:
                values[name] = getattr(defaults, name)
        return ConnectionOptions(**values)


class AppConnectionSettings:
    """What an App contributes: its default options and its registry of open connections."""

    __slots__ = ("options", "registry")

    def __init__(self, options: ConnectionOptions, registry: ConnectionRegistry | None) -> None:
        self.options = options
        self.registry = registry


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str, close_code: int) -> None:
    """Refuse a handshake with an HTTP ``status`` where the server can, else close with ``close_code``."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await PlainTextResponse(text, status_code=status)(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": close_code, "reason": text})


class Guard:
    """The resolved options of one route in one App, and the route's open-connection count."""

    __slots__ = (
        "app_max_connections",
        "count",
        "limited",
        "max_connections",
        "options",
        "origins",
        "registry",
        "route",
    )

    def __init__(
        self,
        options: ConnectionOptions,
        registry: ConnectionRegistry | None,
        app_max_connections: int | None = None,
        *,
        route: str = "",
    ) -> None:
        self.route = route
        """The route's pattern: the ``route`` label of its metrics."""
        self.options = options
        self.registry = registry
        self.app_max_connections = app_max_connections if registry is not None else None
        allow_missing = options.allow_missing_origin
        self.origins = OriginPolicy(
            options.allowed_origins, allow_missing_origin=True if allow_missing is None else allow_missing
        )
        self.max_connections = options.max_connections
        self.limited = not (
            options.max_message_size is None and options.rate_limit is None and options.idle_timeout is None
        )
        self.count = 0

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if not check_origin(self.origins, scope):
            log_refusal(scope, logger, logging.INFO, "Refused WebSocket %s: Origin not allowed", scope.get("path"))
            _metrics.current.refused(self.route, "origin")
            await refuse(scope, receive, send, 403, "Origin not allowed", status.WS_1008_POLICY_VIOLATION)
            return
        registry = self.registry
        if registry is not None:
            if registry.closing:
                _metrics.current.refused(self.route, "shutdown")
                await refuse(scope, receive, send, 503, "Server shutting down", status.WS_1013_TRY_AGAIN_LATER)
                return
            if self.app_max_connections is not None and len(registry) >= self.app_max_connections:
                log_refusal(
                    scope,
                    logger,
                    logging.WARNING,
                    "Refused WebSocket %s: the app has %d connections open",
                    scope.get("path"),
                    len(registry),
                )
                _metrics.current.refused(self.route, "limit")
                await refuse(scope, receive, send, 503, "Too many connections", status.WS_1013_TRY_AGAIN_LATER)
                return
        if self.max_connections is not None and self.count >= self.max_connections:
            log_refusal(
                scope,
                logger,
                logging.WARNING,
                "Refused WebSocket %s: the route has %d connections open",
                scope.get("path"),
                self.count,
            )
            _metrics.current.refused(self.route, "limit")
            await refuse(scope, receive, send, 503, "Too many connections", status.WS_1013_TRY_AGAIN_LATER)
            return
        receive, send, tap = _metrics.current.tap(self.route, scope, receive, send)
        connection = TrackedConnection(scope, send)
        scope[CONNECTION_KEY] = connection
        limiter = None
        if self.limited:
            options = self.options
            limiter = Limiter(
                connection,
                receive,
                max_message_size=options.max_message_size,
                rate_limit=options.rate_limit,
                idle_timeout=options.idle_timeout,
            )
            receive = limiter.receive
        self.count += 1
        if registry is not None:
            registry.add(connection)
        try:
            await app(scope, receive, send)
        finally:
            self.count -= 1
            if registry is not None:
                registry.discard(connection)
            if limiter is not None:
                limiter.stop()
            if tap is not None:
                tap.finish(connection.websocket)


class GuardSlot:
    """Held by a route: its own options, and the Guard resolved for the App it last ran in."""

    __slots__ = ("_app", "_guard", "options", "route")

    def __init__(self, options: ConnectionOptions, route: str = "") -> None:
        self.options = options
        self.route = route
        self._app: Any = _UNSET
        self._guard: Guard | None = None

    def resolve(self, app: Any) -> Guard | None:
        """The Guard for connections arriving through ``app`` (None: nothing to do for them)."""
        if app is self._app:
            return self._guard
        settings: AppConnectionSettings | None = getattr(app, "connection_settings", None)
        if settings is None:
            guard = None if self.options.is_empty() else Guard(self.options, None, route=self.route)
        else:
            defaults = settings.options
            # The App's max_connections caps the App as a whole, not each of its routes.
            guard = Guard(
                self.options.over(replace(defaults, max_connections=None)),
                settings.registry,
                defaults.max_connections,
                route=self.route,
            )
        self._app, self._guard = app, guard
        return guard


_UNSET: Any = object()


def connection_settings(
    options: ConnectionOptions, *, shutdown_timeout: float | None, drain_on_signal: bool
) -> AppConnectionSettings:
    """The App's settings, validated when the App is built (``ConfigurationError`` otherwise)."""
    registry = None
    if shutdown_timeout is not None:
        if not shutdown_timeout >= 0:
            raise ConfigurationError(
                f"shutdown_timeout must be a number of seconds >= 0 or None, not {shutdown_timeout!r}"
            )
        registry = ConnectionRegistry(shutdown_timeout=shutdown_timeout, drain_on_signal=drain_on_signal)
    elif options.max_connections is not None:
        raise ConfigurationError("App(max_connections=...) counts tracked connections: it needs shutdown_timeout set")
    return AppConnectionSettings(options, registry)


__all__ = ["AppConnectionSettings", "ConnectionOptions", "Guard", "GuardSlot", "connection_settings", "refuse"]
