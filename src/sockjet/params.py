"""Where an endpoint parameter comes from: ``Depends``, ``Query``, ``Header``, ``Cookie``, ``Path``.

Written as in FastAPI, as a default or inside ``Annotated``::

    async def endpoint(
        websocket: WebSocket,
        user: Annotated[User, Depends(current_user)],
        q: int | None = Query(None, ge=1),
        x_token: Annotated[str, Header()] = "",
    ): ...

A marker only describes; ``sockjet.dependencies`` reads the markers when the route is defined and
fills the parameters for each connection. Options that change behaviour (``alias``, defaults,
``gt``/``ge``/``lt``/``le``, ``min_length``/``max_length``, ``pattern``) are enforced; the ones that
only document an API for OpenAPI (``title``, ``description``, ``examples``, ...) are accepted and
ignored, since sockjet makes no schema. Any other keyword is a ``TypeError`` at once.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Any, Literal, ParamSpec

_P = ParamSpec("_P")

_REQUIRED_TEXT = "required"


class _Required:
    """The default of a parameter that has none: the value must come from the connection."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Required"


Required: Any = _Required()


class Source(enum.Enum):
    """Where a parameter's raw value is read."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"


class Dependency:
    """The parameter is the value returned (or yielded) by ``dependency``, called once per connection.

    ``Depends()`` with no callable uses the parameter's annotation (a class) as the dependency.
    ``use_cache=False`` calls it again for each place it is declared instead of once per connection.
    ``scope`` (FastAPI's ``"function"`` or ``"request"``) says when a ``yield`` dependency's teardown
    runs on an HTTP route: before the response is sent, or after; on a WebSocket both mean "after
    the endpoint returned".
    """

    __slots__ = ("dependency", "scope", "use_cache")

    def __init__(
        self,
        dependency: Callable[..., Any] | None = None,
        *,
        use_cache: bool = True,
        scope: Literal["function", "request"] | None = None,
    ) -> None:
        if dependency is not None and not callable(dependency):
            raise TypeError(f"Depends() takes a callable, not {dependency!r}")
        if scope not in (None, "function", "request"):
            raise ValueError(f'Depends(scope=...) is "function", "request" or None, not {scope!r}')
        self.dependency = dependency
        self.use_cache = use_cache
        self.scope = scope

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        cache = "" if self.use_cache else ", use_cache=False"
        return f"Depends({'' if self.dependency is None else name}{cache})"


class Param:
    """A value read from the connection; the subclasses say where."""

    source: Source = Source.QUERY

    __slots__ = (
        "alias",
        "default",
        "default_factory",
        "ge",
        "gt",
        "le",
        "lt",
        "max_length",
        "min_length",
        "pattern",
    )

    def __init__(
        self,
        default: Any = Required,
        *,
        default_factory: Callable[[], Any] | None = None,
        alias: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        regex: str | None = None,
        # Schema-only options, accepted so FastAPI code ports unchanged; sockjet makes no OpenAPI schema.
        title: str | None = None,
        description: str | None = None,
        examples: list[Any] | None = None,
        example: Any = None,
        openapi_examples: dict[str, Any] | None = None,
        deprecated: bool | str | None = None,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | None = None,
    ) -> None:
        if default is Ellipsis:
            default = Required
        if default is not Required and default_factory is not None:
            raise TypeError("cannot set both default and default_factory")
        self.default = default
        self.default_factory = default_factory
        self.alias = alias
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.min_length, self.max_length = min_length, max_length
        text = pattern if pattern is not None else regex
        self.pattern = None if text is None else re.compile(text)

    @property
    def required(self) -> bool:
        return self.default is Required and self.default_factory is None

    def __repr__(self) -> str:
        default = _REQUIRED_TEXT if self.required else repr(self.default)
        return f"{type(self).__name__.removesuffix('Param')}({default})"


class QueryParam(Param):
    """A query-string value: ``?q=3``; ``list[X]`` takes every ``q``."""

    source = Source.QUERY
    __slots__ = ()


class PathParam(Param):
    """A path parameter of the route (``/items/{item_id}``); always required."""

    source = Source.PATH
    __slots__ = ()


class CookieParam(Param):
    """A cookie of the handshake request."""

    source = Source.COOKIE
    __slots__ = ()


class HeaderParam(Param):
    """A request header; ``x_token`` reads ``x-token`` unless ``convert_underscores=False``."""

    source = Source.HEADER
    __slots__ = ("convert_underscores",)

    def __init__(self, default: Any = Required, *, convert_underscores: bool = True, **options: Any) -> None:
        super().__init__(default, **options)
        self.convert_underscores = convert_underscores


def _marker(cls: Callable[_P, Any], name: str) -> Callable[_P, Any]:
    """The function users call: the class's signature, typed ``Any`` so ``q: int = Query(1)`` type-checks
    (FastAPI's functions are typed the same way)."""

    def make(*args: _P.args, **kwargs: _P.kwargs) -> Any:
        return cls(*args, **kwargs)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = cls.__doc__
    return make


Depends = _marker(Dependency, "Depends")
Query = _marker(QueryParam, "Query")
Header = _marker(HeaderParam, "Header")
Cookie = _marker(CookieParam, "Cookie")
Path = _marker(PathParam, "Path")

__all__ = [
    "Cookie",
    "CookieParam",
    "Dependency",
    "Depends",
    "Header",
    "HeaderParam",
    "Param",
    "Path",
    "PathParam",
    "Query",
    "QueryParam",
    "Required",
    "Source",
]
