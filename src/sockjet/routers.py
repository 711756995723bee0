"""``APIRouter``: FastAPI's way of grouping routes, with a path prefix and dependencies shared by its routes.

Dependencies are collected when a route is added, in FastAPI's order -- the App's, then those
given to ``include_router``, then the router's, then the route's own -- and run in that order for
each connection, before the endpoint's own ``Depends`` parameters.

``@router.websocket`` / ``@router.get`` (and ``add_api_websocket_route`` / ``add_api_route``) make
``APIWebSocketRoute`` / ``APIRoute`` routes, which take those dependencies. ``@router.websocket_route``
and ``@router.route`` are Starlette's: plain routes, without the router's dependencies.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from sockjet.params import Dependency
from sockjet.routing import BaseRoute, Mount, Route, Router, WebSocketRoute
from sockjet.types import ASGIApp, Lifespan

_F = TypeVar("_F", bound=Callable[..., Any])


class APIWebSocketRoute(WebSocketRoute):
    """A WebSocket route made by an APIRouter (or ``App.websocket``): it carries the router's dependencies."""


class APIRoute(Route):
    """An HTTP route made by an APIRouter (or ``App.get`` ...): it carries the router's dependencies."""


def _check_prefix(prefix: str) -> str:
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"A path prefix must start with '/' and must not end with '/', not {prefix!r}")
    return prefix


class APIRouter(Router):
    """Routes under a common ``prefix`` sharing ``dependencies``; include it in an App (or another router).

    FastAPI's schema-only options (``tags``, ``responses``, ``deprecated``, ``include_in_schema``...)
    are accepted and ignored: sockjet makes no OpenAPI schema.
    """

    def __init__(
        self,
        routes: Sequence[BaseRoute] | None = None,
        *,
        prefix: str = "",
        dependencies: Sequence[Dependency] | None = None,
        default: ASGIApp | None = None,
        lifespan: Lifespan[Any] | None = None,
        tags: Sequence[Any] | None = None,
        responses: dict[Any, Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
    ) -> None:
        super().__init__(routes, default=default, lifespan=lifespan)
        self.prefix = _check_prefix(prefix)
        self.dependencies: list[Dependency] = list(dependencies or [])

    # -- WebSockets -------------------------------------------------------------------------------
    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[Dependency] | None = None,
        **options: Any,
    ) -> None:
        """Add a WebSocket route at ``prefix + path``; ``options`` are its connection options (limits...)."""
        self.routes.append(
            APIWebSocketRoute(
                self.prefix + path,
                endpoint,
                name=name,
                dependencies=[*self.dependencies, *(dependencies or [])],
                **options,
            )
        )

    def websocket(
        self, path: str, name: str | None = None, *, dependencies: Sequence[Dependency] | None = None, **options: Any
    ) -> Callable[[_F], _F]:
        """``@router.websocket("/ws/{room}", dependencies=[Depends(auth)])``."""

        def decorator(func: _F) -> _F:
            self.add_api_websocket_route(path, func, name=name, dependencies=dependencies, **options)
            return func

        return decorator

    def websocket_route(self, path: str, name: str | None = None) -> Callable[[_F], _F]:
        """Starlette's decorator: a plain WebSocketRoute, without the router's dependencies."""

        def decorator(func: _F) -> _F:
            self.add_websocket_route(self.prefix + path, func, name=name)
            return func

        return decorator

    # -- HTTP ---------------------------------------------------------------------------------------
    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Collection[str] | None = None,
        name: str | None = None,
        dependencies: Sequence[Dependency] | None = None,
        include_in_schema: bool = True,
    ) -> None:
        self.routes.append(
            APIRoute(
                self.prefix + path,
                endpoint,
                methods=methods,
                name=name,
                include_in_schema=include_in_schema,
                dependencies=[*self.dependencies, *(dependencies or [])],
            )
        )

    def api_route(
        self,
        path: str,
        *,
        methods: Collection[str] | None = None,
        name: str | None = None,
        dependencies: Sequence[Dependency] | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[_F], _F]:
        def decorator(func: _F) -> _F:
            self.add_api_route(
                path, func, methods=methods, name=name, dependencies=dependencies, include_in_schema=include_in_schema
            )
            return func

        return decorator

    def get(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Dependency] | None = None
    ) -> Callable[[_F], _F]:
        return self.api_route(path, methods=["GET"], name=name, dependencies=dependencies)

    def post(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Dependency] | None = None
    ) -> Callable[[_F], _F]:
        return self.api_route(path, methods=["POST"], name=name, dependencies=dependencies)

    def put(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Dependency] | None = None
    ) -> Callable[[_F], _F]:
        return self.api_route(path, methods=["PUT"], name=name, dependencies=dependencies)

    def patch(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Dependency] | None = None
    ) -> Callable[[_F], _F]:
        return self.api_route(path, methods=["PATCH"], name=name, dependencies=dependencies)

    def delete(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Dependency] | None = None
    ) -> Callable[[_F], _F]:
        return self.api_route(path, methods=["DELETE"], name=name, dependencies=dependencies)

    def route(
        self,
        path: str,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[_F], _F]:
        """Starlette's decorator: a plain Route, without the router's dependencies."""

        def decorator(func: _F) -> _F:
            self.add_route(self.prefix + path, func, methods=methods, name=name, include_in_schema=include_in_schema)
            return func

        return decorator

    # -- composition --------------------------------------------------------------------------------
    def include_router(
        self,
        router: Router,
        *,
        prefix: str = "",
        dependencies: Sequence[Dependency] | None = None,
        tags: Sequence[Any] | None = None,
        responses: dict[Any, Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Copy ``router``'s routes here under ``prefix``; its API routes get ``dependencies`` (and ours) first.

        Routes are copied when this is called: a route added to ``router`` afterwards is not included.
        """
        prefix = _check_prefix(prefix)
        extra = list(dependencies or [])
        for route in router.routes:
            if isinstance(route, APIWebSocketRoute):
                self.add_api_websocket_route(
                    prefix + route.path,
                    route.endpoint,
                    name=route.name,
                    dependencies=[*extra, *route.dependencies],
                    options=route.options,
                )
            elif isinstance(route, APIRoute):
                self.add_api_route(
                    prefix + route.path,
                    route.endpoint,
                    methods=route.methods,
                    name=route.name,
                    dependencies=[*extra, *route.dependencies],
                    include_in_schema=route.include_in_schema,
                )
            elif isinstance(route, WebSocketRoute):
                self.routes.append(
                    WebSocketRoute(
                        prefix + route.path,
                        route.endpoint,
                        name=route.name,
                        dependencies=route.dependencies,
                        options=route.options,
                    )
                )
            elif isinstance(route, Route):
                self.routes.append(
                    Route(
                        prefix + route.path,
                        route.endpoint,
                        methods=route.methods,
                        name=route.name,
                        include_in_schema=route.include_in_schema,
                        dependencies=route.dependencies,
                    )
                )
            elif isinstance(route, Mount):
                self.routes.append(Mount(prefix + route.path, app=route.app, name=route.name))
            else:
                raise TypeError(f"include_router cannot copy {route!r}: add it to the App directly")


__all__ = ["APIRoute", "APIRouter", "APIWebSocketRoute"]
