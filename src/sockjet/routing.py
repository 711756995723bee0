"""Routing: match a scope's path to a Route, WebSocketRoute or Mount, with path parameters converted.

Paths compile once, when the route is built; a connection costs one regex match per route tried.
Endpoint parameters (the connection, path, query, headers, cookies, ``Depends``) are read and
filled by ``sockjet.dependencies``; this module only matches and dispatches.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import re
import traceback
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

from sockjet._errors import handle_websocket_exception, log_swallowed
from sockjet.convertors import CONVERTOR_TYPES, Convertor
from sockjet.datastructures import URLPath
from sockjet.dependencies import Injector
from sockjet.exceptions import HTTPException, ParameterError, SockjetError
from sockjet.guard import ConnectionOptions, GuardSlot
from sockjet.metrics import recorder as _metrics
from sockjet.params import Dependency
from sockjet.requests import Request, route_path
from sockjet.responses import JSONResponse, PlainTextResponse, Response
from sockjet.shutdown import CONNECTION_KEY
from sockjet.types import ASGIApp, Lifespan, Receive, Scope, Send
from sockjet.websockets import WebSocket, WebSocketClose


class NoMatchFound(Exception):
    """``url_path_for`` found no route with that name and those parameters."""

    def __init__(self, name: str, path_params: dict[str, Any]) -> None:
        params = ", ".join(path_params)
        super().__init__(f'No route exists for name "{name}" and params "{params}".')


class Match(enum.Enum):
    NONE = 0
    PARTIAL = 1
    FULL = 2


_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(:[a-zA-Z_][a-zA-Z0-9_]*)?}")


def compile_path(path: str) -> tuple[re.Pattern[str], str, dict[str, Convertor]]:
    """Turn ``/rooms/{room}/{n:int}`` into a regex, a format string and the convertors by name."""
    is_host = not path.startswith("/")
    regex, path_format, index = "^", "", 0
    convertors: dict[str, Convertor] = {}
    duplicated: set[str] = set()
    for match in _PARAM.finditer(path):
        name, kind = match.groups("str")
        kind = kind.lstrip(":")
        if kind not in CONVERTOR_TYPES:
            raise ValueError(f"Unknown path convertor '{kind}'")
        convertor = CONVERTOR_TYPES[kind]
        regex += re.escape(path[index : match.start()]) + f"(?P<{name}>{convertor.regex})"
        path_format += path[index : match.start()] + f"{{{name}}}"
        if name in convertors:
            duplicated.add(name)
        convertors[name] = convertor
        index = match.end()
    if duplicated:
        names = ", ".join(sorted(duplicated))
        ending = "s" if len(duplicated) > 1 else ""
        raise ValueError(f"Duplicated param name{ending} {names} at path {path}")
    if is_host:
        hostname = path[index:].split(":")[0]
        regex += re.escape(hostname) + "$"
    else:
        regex += re.escape(path[index:]) + "$"
    path_format += path[index:]
    return re.compile(regex), path_format, convertors


def _replace_params(path: str, convertors: dict[str, Convertor], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for key, value in list(params.items()):
        if "{" + key + "}" in path:
            path = path.replace("{" + key + "}", convertors[key].to_string(value))
            params.pop(key)
    return path, params


def _name_of(endpoint: Callable[..., Any]) -> str:
    return getattr(endpoint, "__name__", type(endpoint).__name__)


def websocket_session(
    func: Callable[..., Awaitable[None]],
    path_params: Collection[str] = (),
    *,
    dependencies: Sequence[Dependency] = (),
    name: str | None = None,
) -> ASGIApp:
    """Wrap ``async def endpoint(websocket, **params)`` as an ASGI app; parameters as ``sockjet.dependencies`` says.

    Raises ``ParameterError`` now, naming the endpoint and the parameter, for one it cannot fill.
    """
    injector = Injector(func, path_params=path_params, kind="websocket", dependencies=dependencies, name=name)

    if injector.simple:

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            websocket = WebSocket(scope, receive, send)
            connection = scope.get(CONNECTION_KEY)
            if connection is not None:
                connection.websocket = websocket  # so a shutdown or a limit closes it through its state machine
            try:
                kwargs = injector.arguments(websocket)
                endpoint = func(**kwargs)
                del kwargs  # bound into the endpoint's frame; an idle connection need not keep the dict too
                await endpoint
            except Exception as exc:
                await handle_websocket_exception(websocket, exc)

        return app

    async def app_with_dependencies(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        connection = scope.get(CONNECTION_KEY)
        if connection is not None:
            connection.websocket = websocket
        failure: Exception | None = None
        try:
            # Teardowns of `yield` dependencies run when this block ends, whatever ended it,
            # and before the exception (if any) becomes a close code.
            async with AsyncExitStack() as stack:
                _metrics.refusal_reason(scope, "dependency")  # a refusal while solving is the dependencies'
                kwargs = await injector.solve(websocket, stack)
                _metrics.refusal_reason(scope, "denial")
                endpoint = func(**kwargs)
                del kwargs
                try:
                    await endpoint
                except Exception as exc:
                    failure = exc
                    raise
        except Exception as exc:
            await handle_websocket_exception(websocket, exc)
            return
        if failure is not None:
            log_swallowed(websocket, failure)

    return app_with_dependencies


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return PlainTextResponse(result)
    return JSONResponse(result)


def request_response(
    func: Callable[..., Any],
    path_params: Collection[str] = (),
    *,
    dependencies: Sequence[Dependency] = (),
    name: str | None = None,
) -> ASGIApp:
    """Wrap ``def endpoint(request, **params)`` (sync or async) returning a Response, str or JSON-able value.

    Missing or invalid parameters raise ``RequestValidationError`` (the App answers 422); ``yield``
    dependencies with ``scope="function"`` are torn down before the response is sent, the others after.
    """
    injector = Injector(func, path_params=path_params, kind="http", dependencies=dependencies, name=name)
    is_async = inspect.iscoroutinefunction(func)

    async def call(kwargs: dict[str, Any]) -> Response:
        if is_async:
            return _to_response(await func(**kwargs))
        return _to_response(await asyncio.to_thread(functools.partial(func, **kwargs)))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        if injector.simple:
            response = await call(injector.arguments(request))
            await response(scope, receive, send)
            return
        async with AsyncExitStack() as request_stack:
            async with AsyncExitStack() as function_stack:
                response = await call(await injector.solve(request, request_stack, function_stack))
            await response(scope, receive, send)

    return app


def _is_plain_function(endpoint: Any) -> bool:
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    return inspect.isfunction(endpoint) or inspect.ismethod(endpoint)


class BaseRoute:
    path: str
    name: str | None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raise NotImplementedError  # pragma: no cover - abstract

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NotImplementedError  # pragma: no cover - abstract

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A route used on its own as an ASGI app: not-found handling as the Router does it."""
        match, child_scope = self.matches(scope)
        if match is Match.NONE:
            if scope["type"] == "http":
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            elif scope["type"] == "websocket":  # pragma: no branch
                await WebSocketClose()(scope, receive, send)
            return
        scope.update(child_scope)
        await self.handle(scope, receive, send)


class Route(BaseRoute):
    """An HTTP route: ``Route("/health", endpoint, methods=["GET"])``; ``dependencies=`` as on WebSocketRoute."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        dependencies: Sequence[Dependency] | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError("Routed paths must start with '/'")
        self.path = path
        self.endpoint = endpoint
        self.name = _name_of(endpoint) if name is None else name
        self.include_in_schema = include_in_schema
        self.dependencies = list(dependencies or [])
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        if _is_plain_function(endpoint):
            self.app: ASGIApp = request_response(
                endpoint, self.param_convertors, dependencies=self.dependencies, name=_name_of(endpoint)
            )
            if methods is None:
                methods = ["GET"]
        elif self.dependencies:
            raise ParameterError(f"dependencies=[...] need a function endpoint; {self.name!r} is an ASGI app")
        else:
            self.app = endpoint
        if methods is None:
            self.methods: set[str] | None = None
        else:
            self.methods = {method.upper() for method in methods}
            if "GET" in self.methods:
                self.methods.add("HEAD")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        match = self.path_regex.match(route_path(scope))
        if match is None:
            return Match.NONE, {}
        params = dict(scope.get("path_params", {}))
        for key, value in match.groupdict().items():
            params[key] = self.param_convertors[key].convert(value)
        child_scope = {"endpoint": self.endpoint, "path_params": params}
        if self.methods and scope["method"] not in self.methods:
            return Match.PARTIAL, child_scope
        return Match.FULL, child_scope

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if name != self.name or set(path_params) != set(self.param_convertors):
            raise NoMatchFound(name, path_params)
        path, remaining = _replace_params(self.path_format, self.param_convertors, dict(path_params))
        assert not remaining
        return URLPath(path=path, protocol="http")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            headers = {"Allow": ", ".join(sorted(self.methods))}
            if "app" in scope:
                raise HTTPException(status_code=405, headers=headers)
            await PlainTextResponse("Method Not Allowed", status_code=405, headers=headers)(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def __repr__(self) -> str:
        methods = sorted(self.methods or [])
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r}, methods={methods!r})"


class WebSocketRoute(BaseRoute):
    """A WebSocket route: ``WebSocketRoute("/ws/{room}", endpoint)``; endpoint a function or an ASGI class.

    ``dependencies=[Depends(...)]`` run before the endpoint's own (FastAPI's route-level dependencies).
    The origin policy and limits are ``sockjet.guard.ConnectionOptions``, given as one ``options=``
    value or as its fields by keyword (``max_message_size=...``); None means "as the App says".
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[Dependency] | None = None,
        options: ConnectionOptions | None = None,
        **option_values: Any,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError("Routed paths must start with '/'")
        self.path = path
        self.endpoint = endpoint
        self.name = _name_of(endpoint) if name is None else name
        self.dependencies = list(dependencies or [])
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.options = ConnectionOptions.build(options, option_values, where="WebSocketRoute")
        self.guard = GuardSlot(self.options, path)
        if _is_plain_function(endpoint):
            self.app: ASGIApp = websocket_session(
                endpoint, self.param_convertors, dependencies=self.dependencies, name=_name_of(endpoint)
            )
        elif self.dependencies:
            raise ParameterError(f"dependencies=[...] need a function endpoint; {self.name!r} is an ASGI app")
        else:
            self.app = endpoint

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "websocket":
            return Match.NONE, {}
        match = self.path_regex.match(route_path(scope))
        if match is None:
            return Match.NONE, {}
        params = dict(scope.get("path_params", {}))
        for key, value in match.groupdict().items():
            params[key] = self.param_convertors[key].convert(value)
        return Match.FULL, {"endpoint": self.endpoint, "path_params": params}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if name != self.name or set(path_params) != set(self.param_convertors):
            raise NoMatchFound(name, path_params)
        path, remaining = _replace_params(self.path_format, self.param_convertors, dict(path_params))
        assert not remaining
        return URLPath(path=path, protocol="websocket")

    def handle(self, scope: Scope, receive: Receive, send: Send) -> Any:
        # Not a coroutine function: it returns the guard's (or the app's) awaitable for the caller to
        # await, so no frame of its own stays suspended for the whole life of the connection.
        guard = self.guard.resolve(scope.get("app"))
        if guard is None:
            return self.app(scope, receive, send)
        return guard.run(self.app, scope, receive, send)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r})"


class Mount(BaseRoute):
    """Everything under a path prefix goes to another ASGI app (a sockjet App, Starlette, FastAPI, ...)."""

    def __init__(
        self,
        path: str,
        app: ASGIApp | None = None,
        routes: Sequence[BaseRoute] | None = None,
        name: str | None = None,
    ) -> None:
        if path != "" and not path.startswith("/"):
            raise ValueError("Routed paths must start with '/'")
        if (app is None) == (routes is None):
            raise ValueError("Either 'app=...', or 'routes=' must be specified")
        self.path = path.rstrip("/")
        self.app: ASGIApp = app if app is not None else Router(routes=routes)
        self.name = name
        self.path_regex, self.path_format, self.param_convertors = compile_path(self.path + "/{path:path}")

    @property
    def routes(self) -> list[BaseRoute]:
        return getattr(self.app, "routes", [])

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        path = route_path(scope)
        match = self.path_regex.match(path)
        if match is None:
            return Match.NONE, {}
        matched = match.groupdict()
        remaining = "/" + matched.pop("path")
        params = dict(scope.get("path_params", {}))
        for key, value in matched.items():
            params[key] = self.param_convertors[key].convert(value)
        matched_path = path[: -len(remaining)]
        root_path = scope.get("root_path", "")
        child_scope = {
            "path_params": params,
            "app_root_path": scope.get("app_root_path", root_path),
            "root_path": root_path + matched_path,
            "endpoint": self.app,
        }
        return Match.FULL, child_scope

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        if self.name is not None and name == self.name and "path" in path_params:
            path_params["path"] = path_params["path"].lstrip("/")
            path, remaining = _replace_params(self.path_format, self.param_convertors, dict(path_params))
            if not remaining:
                return URLPath(path=path)
        elif self.name is None or name.startswith(self.name + ":"):
            remaining_name = name if self.name is None else name[len(self.name) + 1 :]
            own = {k: v for k, v in path_params.items() if k in self.param_convertors}
            rest = {k: v for k, v in path_params.items() if k not in self.param_convertors}
            own["path"] = ""
            prefix, _ = _replace_params(self.path_format, self.param_convertors, own)
            for route in self.routes:
                try:
                    url = route.url_path_for(remaining_name, **rest)
                except Exception as exc:
                    # A mounted Starlette/FastAPI app raises its own NoMatchFound; anything else is real.
                    if type(exc).__name__ != "NoMatchFound":
                        raise
                    continue
                return URLPath(path=prefix.rstrip("/") + str(url), protocol=url.protocol)
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name or ''!r}, app={self.app!r})"


class Router:
    """An ASGI app that dispatches to the first matching route; also runs the lifespan."""

    def __init__(
        self,
        routes: Sequence[BaseRoute] | None = None,
        *,
        default: ASGIApp | None = None,
        lifespan: Lifespan[Any] | None = None,
    ) -> None:
        self.routes: list[BaseRoute] = [] if routes is None else list(routes)
        self.default = self.not_found if default is None else default
        self.lifespan_context = lifespan

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
            return
        if "app" in scope:
            # Inside an App the exception handlers turn this into the response.
            raise HTTPException(status_code=404)
        await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the ASGI lifespan protocol around the user's lifespan context manager."""
        app = scope.get("app")
        await receive()
        started = False
        try:
            context: AbstractAsyncContextManager[Any] | None = (
                None if self.lifespan_context is None else self.lifespan_context(app)
            )
            if context is None:
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()
            else:
                async with context as state:
                    if state is not None:
                        if "state" not in scope:
                            raise RuntimeError('The server does not support "state" in the lifespan scope.')
                        scope["state"].update(state)
                    await send({"type": "lifespan.startup.complete"})
                    started = True
                    await receive()
        except BaseException as exc:
            # sockjet's own errors (a hub that cannot reach its server) already say what to fix:
            # one line for the server's log instead of a traceback burying it.
            message = f"{type(exc).__name__}: {exc}" if isinstance(exc, SockjetError) else traceback.format_exc()
            if started:
                await send({"type": "lifespan.shutdown.failed", "message": message})
            else:
                await send({"type": "lifespan.startup.failed", "message": message})
            raise
        await send({"type": "lifespan.shutdown.complete"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "router" not in scope:
            scope["router"] = self
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        route = self._route_for(scope)
        if route is None:
            await self.default(scope, receive, send)
        else:
            await route.handle(scope, receive, send)

    def _route_for(self, scope: Scope) -> BaseRoute | None:
        """The first full match, else the first partial one, with its child scope merged into ``scope``.

        Not inlined in ``__call__``: a WebSocket's frame stays suspended for the whole connection,
        so it should not keep the loop's iterator and child scopes alive.
        """
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                return route
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope.update(partial_scope)
        return partial

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        self.routes.append(Mount(path, app=app, name=name))

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        dependencies: Sequence[Dependency] | None = None,
    ) -> None:
        self.routes.append(
            Route(
                path,
                endpoint,
                methods=methods,
                name=name,
                include_in_schema=include_in_schema,
                dependencies=dependencies,
            )
        )

    def add_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[Dependency] | None = None,
        **options: Any,
    ) -> None:
        """``options``: the WebSocketRoute's origin policy and limits (``allowed_origins=...``, ...)."""
        self.routes.append(WebSocketRoute(path, endpoint, name=name, dependencies=dependencies, **options))


__all__ = [
    "BaseRoute",
    "Match",
    "Mount",
    "NoMatchFound",
    "Route",
    "Router",
    "WebSocketRoute",
    "compile_path",
    "request_response",
    "websocket_session",
]
