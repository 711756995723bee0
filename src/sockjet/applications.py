"""``App``: routing, a small HTTP side, middleware, lifespan and exception handling around WebSockets.

An App is a plain ASGI app, so it runs on any ASGI server and mounts inside FastAPI or Starlette
(and they inside it). Layers, outermost first::

    ServerErrorMiddleware -> user middleware... -> ExceptionMiddleware -> Router -> endpoint

None of them wraps a WebSocket's ``send`` or ``receive``: a message costs the same as on a bare
ASGI app plus the WebSocket's own state check.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from sockjet._errors import HANDLERS_KEY, ExceptionMiddleware, Handlers, ServerErrorMiddleware, close_after_failure
from sockjet._logging import adopt_server_logging
from sockjet.datastructures import State, URLPath
from sockjet.guard import ConnectionOptions, connection_settings
from sockjet.middleware import Middleware
from sockjet.params import Dependency
from sockjet.routers import APIRouter
from sockjet.routing import BaseRoute, Mount, Router
from sockjet.types import ASGIApp, ExceptionHandler, Lifespan, Receive, Scope, Send

_F = TypeVar("_F", bound=Callable[..., Any])


class App:
    """A sockjet application.

    ``lifespan`` is an async context manager factory taking the app; a mapping it yields becomes
    each connection's ``state``. ``exception_handlers`` maps an exception class or HTTP status to
    ``handler(connection, exc)``. ``dependencies`` run first on every route added through the App
    (``@app.websocket``, ``@app.get``, ``include_router``...).

    The WebSocket connection options (docs/guarantees.md) are one ``ConnectionOptions`` value,
    given as ``options=`` or as its fields by keyword: ``allowed_origins``, ``allow_missing_origin``
    (default True), ``max_message_size``, ``max_connections``, ``rate_limit``, ``idle_timeout``.
    An unknown keyword is a ``TypeError`` that lists them.
    """

    def __init__(
        self,
        routes: Sequence[BaseRoute] | None = None,
        *,
        debug: bool = False,
        middleware: Sequence[Middleware] | None = None,
        lifespan: Lifespan[Any] | None = None,
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
        dependencies: Sequence[Dependency] | None = None,
        shutdown_timeout: float | None = 5.0,
        drain_on_signal: bool = True,
        options: ConnectionOptions | None = None,
        **option_values: Any,
    ) -> None:
        self.debug = debug
        # WebSocket origin policy, limits and graceful shutdown: docs/guarantees.md, sockjet.guard.
        # The options are ConnectionOptions' fields (allowed_origins=..., max_message_size=..., ...).
        self.connection_settings = connection_settings(
            ConnectionOptions.build(options, option_values, where="App"),
            shutdown_timeout=shutdown_timeout,
            drain_on_signal=drain_on_signal,
        )
        self.state = State()
        self.router = APIRouter(routes, lifespan=lifespan, dependencies=dependencies)
        # Tests replace a dependency: ``app.dependency_overrides[get_user] = lambda: fake_user``.
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self.exception_handlers: dict[Any, ExceptionHandler] = dict(exception_handlers or {})
        self.user_middleware: list[Middleware] = list(middleware or [])
        self.middleware_stack: ASGIApp | None = None
        self._websocket_handlers: Handlers | None = None

    def build_middleware_stack(self) -> ASGIApp:
        handlers = Handlers(
            {key: value for key, value in self.exception_handlers.items() if key not in (500, Exception)}
        )
        server_error = self.exception_handlers.get(500) or self.exception_handlers.get(Exception)
        app: ASGIApp = ExceptionMiddleware(self.router, handlers, debug=self.debug)
        for middleware in reversed(self.user_middleware):
            app = middleware.wrap(app)
        # Without user middleware a WebSocket skips both layers: __call__ does their work itself,
        # so a connection keeps two fewer coroutine frames alive for its whole life.
        self._websocket_handlers = None if self.user_middleware else handlers
        return ServerErrorMiddleware(app, handler=server_error, debug=self.debug)

    @property
    def routes(self) -> list[BaseRoute]:
        return self.router.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if scope["type"] == "lifespan":
            adopt_server_logging()
            if self.connection_settings.registry is not None:
                receive = self.connection_settings.registry.lifespan_receive(receive)
        stack = self.middleware_stack
        if stack is None:
            stack = self.middleware_stack = self.build_middleware_stack()
        if scope["type"] == "websocket" and self._websocket_handlers is not None:
            scope[HANDLERS_KEY] = self._websocket_handlers
            try:
                await self.router(scope, receive, send)
            except Exception as exc:
                await close_after_failure(scope, send, exc)
            return
        await stack(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.router.url_path_for(name, **path_params)

    def _check_not_started(self, what: str) -> None:
        if self.middleware_stack is not None:
            raise RuntimeError(f"Cannot {what} after an application has started")

    def add_middleware(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        self._check_not_started("add middleware")
        self.user_middleware.insert(0, Middleware(cls, *args, **kwargs))

    def add_exception_handler(self, key: int | type[Exception], handler: ExceptionHandler) -> None:
        self._check_not_started("add an exception handler")
        self.exception_handlers[key] = handler

    def exception_handler(self, key: int | type[Exception]) -> Callable[[_F], _F]:
        def decorator(func: _F) -> _F:
            self.add_exception_handler(key, func)
            return func

        return decorator

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        self.router.routes.append(Mount(path, app=app, name=name))

    def add_route(
        self,
        path: str,
        route: Callable[..., Any],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        self.router.add_route(path, route, methods=methods, name=name, include_in_schema=include_in_schema)

    def add_websocket_route(
        self, path: str, route: Callable[..., Any], name: str | None = None, **options: Any
    ) -> None:
        self.router.add_websocket_route(path, route, name=name, **options)

    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[Dependency] | None = None,
        **options: Any,
    ) -> None:
        self.router.add_api_websocket_route(path, endpoint, name=name, dependencies=dependencies, **options)

    def websocket(
        self, path: str, name: str | None = None, *, dependencies: Sequence[Dependency] | None = None, **options: Any
    ) -> Callable[[_F], _F]:
        """``@app.websocket("/ws/{room}")``: the endpoint's parameters are filled as in FastAPI
        (the WebSocket, path and query parameters, ``Header``, ``Cookie``, ``Depends``...).

        ``dependencies`` run after the App's, before the endpoint's own; ``options`` override the
        App's origin policy and limits for this route (see ``WebSocketRoute``).
        """
        return self.router.websocket(path, name=name, dependencies=dependencies, **options)

    def websocket_route(self, path: str, name: str | None = None) -> Callable[[_F], _F]:
        """Starlette's decorator: a WebSocketRoute without the App's dependencies."""
        return self.router.websocket_route(path, name=name)

    def include_router(
        self,
        router: Router,
        *,
        prefix: str = "",
        dependencies: Sequence[Dependency] | None = None,
        **schema_options: Any,
    ) -> None:
        """Add ``router``'s routes under ``prefix``; see ``APIRouter.include_router``."""
        self.router.include_router(router, prefix=prefix, dependencies=dependencies, **schema_options)

    def route(
        self,
        path: str,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[_F], _F]:
        """``@app.route("/", methods=["GET"])``: the endpoint returns a Response, a str or a JSON-able value."""

        def decorator(func: _F) -> _F:
            self.add_route(path, func, methods=methods, name=name, include_in_schema=include_in_schema)
            return func

        return decorator

    def api_route(
        self,
        path: str,
        *,
        methods: Collection[str] | None = None,
        name: str | None = None,
        dependencies: Sequence[Dependency] | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[_F], _F]:
        """An HTTP route that takes the App's dependencies (FastAPI's ``@app.api_route``)."""
        return self.router.api_route(
            path, methods=methods, name=name, dependencies=dependencies, include_in_schema=include_in_schema
        )

    def get(
        self, path: str, name: str | None = None, *, dependencies: Sequence[Dependency] | None = None
    ) -> Callable[[_F], _F]:
        return self.api_route(path, methods=["GET"], name=name, dependencies=dependencies)

    def post(
        self, path: str, name: str | None = None, *, dependencies: Sequence[Dependency] | None = None
    ) -> Callable[[_F], _F]:
        return self.api_route(path, methods=["POST"], name=name, dependencies=dependencies)


Starlette = App
"""``Starlette`` is ``App``: code written as ``Starlette(debug=True, routes=[...])`` ports by
changing ``starlette.applications`` to ``sockjet.applications`` (as FastAPI ports by ``FastAPI()`` → ``App()``)."""

__all__ = ["App", "Starlette"]
