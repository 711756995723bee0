"""Parameter injection: an endpoint's signature read once, its parameters filled for each connection.

``Injector(endpoint, ...)`` runs when the route is defined. It reads every parameter of the
endpoint and of its dependencies (``Depends``), decides where each value comes from -- the
connection, the path, the query string, a header, a cookie, a dependency -- and raises
``ParameterError`` naming the endpoint and the parameter for anything it cannot fill: an unknown
marker (``fastapi.Depends`` included), an annotation it cannot convert to, a ``Request`` on a
WebSocket route. Nothing unknown is ever read from the query string.

Per connection, FastAPI's order: route-level ``dependencies=[...]`` first, then the endpoint's
dependencies in declaration order (each after its own sub-dependencies), then path, query, header
and cookie values. Every problem is collected; if there is any, ``RequestValidationError``
(``WebSocketRequestValidationError`` on a WebSocket) lists them all and the endpoint is not called.
A dependency is called once per connection (``use_cache``) unless it says otherwise; one that
``yield``s is torn down, in reverse order, when the endpoint ends -- normally, by an exception, or
by cancellation -- and sees the endpoint's exception at its ``yield``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import decimal
import enum
import functools
import inspect
import types
import typing
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

from sockjet.conversions import ConversionError, FieldType, field_type
from sockjet.exceptions import ParameterError, RequestValidationError, WebSocketRequestValidationError
from sockjet.hub.position import Position
from sockjet.params import Dependency, Param, Required, Source
from sockjet.requests import HTTPConnection, Request
from sockjet.websockets import WebSocket

RouteKind = Literal["websocket", "http"]
_EMPTY = inspect.Parameter.empty
_WHERE = {
    Source.PATH: "path parameter",
    Source.QUERY: "query parameter",
    Source.HEADER: "header",
    Source.COOKIE: "cookie",
}
# What a parameter's default may be: a value of a type the conversions produce (or a container).
_VALUE_DEFAULTS = (
    str,
    bytes,
    int,
    float,
    decimal.Decimal,
    uuid.UUID,
    dt.date,
    dt.time,
    enum.Enum,
    list,
    tuple,
    set,
    frozenset,
    Position,
)
_SOURCE_ORDER = {Source.PATH: 0, Source.QUERY: 1, Source.HEADER: 2, Source.COOKIE: 3}
_IMMUTABLE = (str, bytes, int, float, bool, tuple, frozenset, type(None), enum.Enum, Position)
_FOREIGN_MODULES = ("fastapi", "starlette", "pydantic", "annotated_types")
_MARKER_NAMES = frozenset({"Depends", "Security", "Query", "Header", "Cookie", "Path", "Body", "Form", "File", "Param"})


class CallKind(enum.Enum):
    """How a dependency is called and whether it has a teardown."""

    ASYNC = "async"
    SYNC = "sync"  # run in a worker thread, as FastAPI does
    ASYNC_GENERATOR = "async generator"
    SYNC_GENERATOR = "sync generator"


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """What the analysis needs to know about the route: for messages and for deciding sources."""

    endpoint: str
    path_params: frozenset[str]
    kind: RouteKind


@dataclass(frozen=True, slots=True)
class Problem:
    """One parameter that could not be filled; ``as_error()`` is FastAPI's error dict for it."""

    kind: str
    source: Source
    key: str
    message: str
    input: Any = None
    whole: str | None = None  # a problem of a whole model (a model validator), named here

    def as_error(self) -> dict[str, Any]:
        loc = (self.source.value, self.key) if self.whole is None else (self.whole,)
        return {"type": self.kind, "loc": loc, "msg": self.message, "input": self.input}

    def describe(self) -> str:
        if self.whole is not None:
            return f"Invalid {self.whole}: {self.message}"
        where = _WHERE[self.source]
        if self.kind == "missing":
            return f"Missing required {where} '{self.key}'"
        return f"Invalid {where} '{self.key}': {self.message}"


@dataclass(frozen=True, slots=True)
class ParamField:
    """One value read from the connection."""

    name: str
    source: Source
    key: str
    type: FieldType
    default: Any
    default_factory: Callable[[], Any] | None
    marker: Param | None

    def raw(self, connection: HTTPConnection) -> Any:
        """What the connection carries for this parameter: a string, a list of them, or None."""
        source = self.source
        many = self.type.many is not None
        if source is Source.QUERY:
            return connection.query_params.getlist(self.key) if many else connection.query_params.get(self.key)
        if source is Source.HEADER:
            return connection.headers.getlist(self.key) if many else connection.headers.get(self.key)
        if source is Source.COOKIE:
            cookie = connection.cookies.get(self.key)
            return [cookie] if many and cookie is not None else cookie
        value = connection.path_params.get(self.key)  # already converted by the path's convertor
        return value if value is None or isinstance(value, str) else str(value)

    def read(self, connection: HTTPConnection) -> Any:
        """The value for this connection; raises ``_Missing`` or ``ConversionError``."""
        raw = self.raw(connection)
        if raw is None or (self.type.many is not None and not raw):
            if self.default is Required and self.default_factory is None:
                raise _Missing
            if self.default_factory is not None:
                return self.default_factory()
            return self.default if isinstance(self.default, _IMMUTABLE) else copy.deepcopy(self.default)
        convert = self.type.convert
        if self.type.many is not None:
            items = []
            for index, item in enumerate(raw):
                try:
                    items.append(convert(item))
                except ConversionError as exc:
                    raise ConversionError(exc.kind, f"item {index}: {exc.message}") from None
            value: Any = self.type.many(items)
        else:
            value = convert(raw)
        if self.marker is not None:
            _check_constraints(self.marker, value)
        return value


class _Missing(Exception):
    """A required value that the connection does not carry."""


def _check_constraints(marker: Param, value: Any) -> None:
    if marker.gt is not None and not value > marker.gt:
        raise ConversionError("greater_than", f"Input should be greater than {marker.gt}")
    if marker.ge is not None and not value >= marker.ge:
        raise ConversionError("greater_than_equal", f"Input should be greater than or equal to {marker.ge}")
    if marker.lt is not None and not value < marker.lt:
        raise ConversionError("less_than", f"Input should be less than {marker.lt}")
    if marker.le is not None and not value <= marker.le:
        raise ConversionError("less_than_equal", f"Input should be less than or equal to {marker.le}")
    what = "String" if isinstance(value, str | bytes) else "Value"
    unit = "characters" if isinstance(value, str) else "items" if what == "Value" else "bytes"
    if marker.min_length is not None and len(value) < marker.min_length:
        raise ConversionError("too_short", f"{what} should have at least {marker.min_length} {unit}")
    if marker.max_length is not None and len(value) > marker.max_length:
        raise ConversionError("too_long", f"{what} should have at most {marker.max_length} {unit}")
    if marker.pattern is not None and isinstance(value, str) and marker.pattern.search(value) is None:
        raise ConversionError("string_pattern_mismatch", f"String should match pattern '{marker.pattern.pattern}'")


@dataclass(frozen=True, slots=True)
class SubDependency:
    """A ``Depends`` in a signature (``name``) or in a ``dependencies=[...]`` list (``name`` None)."""

    name: str | None
    call: Callable[..., Any]
    use_cache: bool
    scope: str | None
    dependant: Dependant


@dataclass(frozen=True, slots=True)
class Dependant:
    """A callable's parameters, sorted by where they come from."""

    call: Callable[..., Any]
    kind: CallKind
    connection_params: tuple[str, ...]
    params: tuple[ParamField, ...]
    dependencies: tuple[SubDependency, ...]
    var_keyword: bool
    is_model: bool = False  # a pydantic model class: its ValidationError is about these parameters

    def model_problems(self, error: Any) -> list[Problem]:
        """A pydantic ``ValidationError`` from building the model, as problems of its parameters."""
        by_name = {field.name: field for field in self.params}
        problems = []
        for item in error.errors():
            field = by_name.get(str(item["loc"][0])) if item.get("loc") else None
            if field is None:
                problem = Problem(
                    item["type"], Source.QUERY, "", item["msg"], item.get("input"), whole=_name(self.call)
                )
            else:
                problem = Problem(item["type"], field.source, field.key, item["msg"], item.get("input"))
            problems.append(problem)
        return problems

    def fill_params(self, connection: HTTPConnection, values: dict[str, Any], problems: list[Problem]) -> None:
        for name in self.connection_params:
            values[name] = connection
        for field in self.params:
            try:
                values[field.name] = field.read(connection)
            except _Missing:
                problems.append(Problem("missing", field.source, field.key, "Field required"))
            except ConversionError as exc:
                problems.append(Problem(exc.kind, field.source, field.key, exc.message, field.raw(connection)))
        if self.var_keyword:
            for key, value in connection.path_params.items():
                values.setdefault(key, value)


# --- analysis, when the route is defined ---------------------------------------------------------


def _name(call: Any) -> str:
    while isinstance(call, functools.partial):
        call = call.func
    return getattr(call, "__name__", None) or type(call).__name__


def _call_kind(call: Any) -> CallKind:
    target = call
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target) or isinstance(target, type)):
        target = getattr(target, "__call__", target)  # noqa: B004 - a callable instance's method
    if inspect.isasyncgenfunction(target):
        return CallKind.ASYNC_GENERATOR
    if inspect.isgeneratorfunction(target):
        return CallKind.SYNC_GENERATOR
    if inspect.iscoroutinefunction(target):
        return CallKind.ASYNC
    return CallKind.SYNC


def _hint_source(call: Any) -> Any:
    while isinstance(call, functools.partial):
        call = call.func
    if isinstance(call, type):
        return call.__init__  # type: ignore[misc]
    if inspect.isfunction(call) or inspect.ismethod(call):
        return call
    return getattr(call, "__call__", call)  # noqa: B004


def _is_foreign_marker(value: Any) -> bool:
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    if module.split(".")[0] in _FOREIGN_MODULES:
        return True
    return cls.__name__ in _MARKER_NAMES and not isinstance(value, Dependency | Param)


def _is_pydantic_model(call: Any) -> bool:
    return isinstance(call, type) and any(
        cls.__name__ == "BaseModel" and cls.__module__.startswith("pydantic") for cls in call.__mro__
    )


def _is_validation_error(exc: Exception) -> bool:
    return type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic")


def _without_implicit_optional(hint: Any, default: Any) -> Any:
    """``Annotated[X, marker]`` out of ``Optional[Annotated[X, marker]]`` for a parameter defaulting to None.

    Python 3.10's ``get_type_hints`` wraps the annotation of such a parameter in ``Optional[...]``,
    which would hide FastAPI's ``q: Annotated[int | None, Query()] = None`` marker; the None
    default already admits None.
    """
    if default is not None or typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return hint
    rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if len(rest) == 1 and typing.get_origin(rest[0]) is typing.Annotated:
        return rest[0]
    return hint


def _is_documentation(item: Any) -> bool:
    """Metadata in ``Annotated[...]`` that only documents (a string, ``typing_extensions.Doc``)."""
    module = getattr(type(item), "__module__", "") or ""
    return isinstance(item, str) or module.split(".")[0] in ("typing", "typing_extensions", "annotated_doc")


def _marker_name(marker: Dependency | Param) -> str:
    return "Depends" if isinstance(marker, Dependency) else type(marker).__name__.removesuffix("Param")


def _foreign_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True, slots=True)
class _Unresolved:
    """An annotation string that names something the function's module does not define."""

    text: str
    error: Exception


class _Analysis:
    """Reads one route's endpoint and dependencies; raises ParameterError naming what it cannot fill."""

    def __init__(self, route: RouteInfo, localns: dict[str, Any] | None = None) -> None:
        self.route = route
        # Where the route is defined: string annotations (`from __future__ import annotations`)
        # may name a dependency defined in that function, next to the endpoint.
        self.localns = localns

    def fail(self, owner: str, param: str, problem: str) -> ParameterError:
        where = (
            f"endpoint '{owner}'"
            if owner == self.route.endpoint
            else f"dependency '{owner}' of endpoint '{self.route.endpoint}'"
        )
        return ParameterError(f"Cannot fill parameter '{param}' of {where}: {problem}")

    def parameters(self, call: Any, owner: str) -> list[tuple[inspect.Parameter, Any]]:
        try:
            signature = inspect.signature(call)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"Cannot read the parameters of '{owner}' ({exc})") from None
        source = _hint_source(call)
        try:
            hints = typing.get_type_hints(source, localns=self.localns, include_extras=True)
        except Exception:
            hints = self._resolve_one_by_one(source, signature)
        parameters = []
        for param in signature.parameters.values():
            if param.default is Ellipsis:  # `= ...`: required, as in FastAPI
                param = param.replace(default=_EMPTY)
            parameters.append(
                (param, _without_implicit_optional(hints.get(param.name, param.annotation), param.default))
            )
        return parameters

    def _resolve_one_by_one(self, source: Any, signature: inspect.Signature) -> dict[str, Any]:
        namespace = getattr(inspect.unwrap(source), "__globals__", {})
        hints: dict[str, Any] = {}
        for param in signature.parameters.values():
            if isinstance(param.annotation, str):
                try:
                    hints[param.name] = eval(param.annotation, namespace, self.localns)
                except Exception as exc:
                    hints[param.name] = _Unresolved(param.annotation, exc)
        return hints

    def dependant(self, call: Any, *, is_endpoint: bool, route_dependencies: Sequence[Dependency] = ()) -> Dependant:
        owner = self.route.endpoint if is_endpoint else _name(call)
        parameters = self.parameters(call, owner)
        connection_params: list[str] = []
        params: list[ParamField] = []
        dependencies: list[SubDependency] = [self.parameterless(depends) for depends in route_dependencies]
        var_keyword = False
        annotated_connection = any(self._connection_class(owner, p.name, hint) for p, hint in parameters)
        model = _is_pydantic_model(call)
        for index, (param, hint) in enumerate(parameters):
            base, marker = self.marker(owner, param, hint, model=model)
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                if marker is not None:
                    raise self.fail(owner, param.name, "**kwargs takes the path parameters; it cannot have a marker")
                var_keyword = True
                continue
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                if marker is not None:
                    raise self.fail(owner, param.name, "*args is never filled; it cannot have a marker")
                continue
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                if param.default is not _EMPTY and marker is None:
                    continue
                raise self.fail(owner, param.name, "positional-only parameters cannot be filled by name")
            if isinstance(marker, Dependency):
                dependencies.append(self.sub_dependency(owner, param.name, marker, base))
                continue
            if self._connection_class(owner, param.name, base):
                if marker is not None:
                    raise self.fail(owner, param.name, f"the connection cannot also be a {_marker_name(marker)}()")
                connection_params.append(param.name)
                continue
            if (
                is_endpoint
                and index == 0
                and marker is None
                and (base is _EMPTY or base is Any or isinstance(base, _Unresolved))
                and param.default is _EMPTY
                and not annotated_connection
                and param.name not in self.route.path_params
            ):
                # Starlette style: `async def endpoint(websocket)`, the connection first and unannotated
                # (or annotated Any, or with a name this module cannot resolve).
                connection_params.append(param.name)
                continue
            if isinstance(base, _Unresolved):
                raise self.fail(
                    owner,
                    param.name,
                    f"its annotation {base.text!r} cannot be resolved ({type(base.error).__name__}: {base.error}); "
                    "define the types it names at module level",
                )
            params.append(self.param_field(owner, param, base, marker))
        return Dependant(
            call=call,
            kind=_call_kind(call),
            connection_params=tuple(connection_params),
            # FastAPI's order, so that errors are listed as it lists them: path, query, header, cookie.
            params=tuple(sorted(params, key=lambda field: _SOURCE_ORDER[field.source])),
            dependencies=tuple(dependencies),
            var_keyword=var_keyword,
            is_model=model,
        )

    def marker(
        self, owner: str, param: inspect.Parameter, hint: Any, *, model: bool = False
    ) -> tuple[Any, Dependency | Param | None]:
        """The annotation without ``Annotated``, and the one sockjet marker (from it or the default).

        ``model``: the fields of a pydantic model, whose constraints pydantic checks when it is built.
        """
        base: Any = hint
        metadata: tuple[Any, ...] = ()
        if typing.get_origin(hint) is typing.Annotated:
            base, *rest = typing.get_args(hint)
            metadata = tuple(rest)
        marker: Dependency | Param | None = None
        for item in metadata:
            if isinstance(item, Dependency | Param):
                if marker is not None:
                    raise self.fail(owner, param.name, "Annotated[...] holds more than one Depends/Query/Header/...")
                marker = item
            elif model:
                continue
            elif _is_foreign_marker(item):
                raise self.fail(owner, param.name, self._foreign_problem(item))
            elif not _is_documentation(item):
                raise self.fail(
                    owner,
                    param.name,
                    f"Annotated[...] holds {item!r}, which sockjet does not read; its markers are "
                    "Depends, Query, Header, Cookie and Path (a string there is taken as documentation)",
                )
        default = param.default
        if isinstance(default, Dependency | Param):
            if marker is not None:
                raise self.fail(owner, param.name, "a marker in Annotated[...] and another as the default")
            marker = default
        elif _is_foreign_marker(default):
            raise self.fail(owner, param.name, self._foreign_problem(default))
        return base, marker

    def _foreign_problem(self, value: Any) -> str:
        name = type(value).__name__
        if name in _MARKER_NAMES:
            hint = f"import {name} from sockjet (`from sockjet import {name}`)"
            if name in ("Body", "Form", "File", "Security"):
                hint = f"sockjet has no {name}(); read the value in a dependency instead"
            return f"its marker {_foreign_name(value)} is not sockjet's, so sockjet would not run it: {hint}"
        return f"sockjet does not read {_foreign_name(value)} (a constraint or marker of another library)"

    def _connection_class(self, owner: str, param: str, annotation: Any) -> bool:
        """True for WebSocket / Request / HTTPConnection (checked against the route's kind)."""
        if not isinstance(annotation, type) or isinstance(annotation, types.GenericAlias):
            return False  # on Python 3.10, list[int] is an instance of type, but no class
        if issubclass(annotation, HTTPConnection):
            if issubclass(annotation, WebSocket) and self.route.kind == "http":
                raise self.fail(owner, param, "an HTTP route has no WebSocket: annotate it Request or HTTPConnection")
            if issubclass(annotation, Request) and self.route.kind == "websocket":
                raise self.fail(
                    owner, param, "a WebSocket route has no Request: annotate it WebSocket or HTTPConnection"
                )
            return True
        if annotation.__name__ in ("WebSocket", "Request", "HTTPConnection") and (
            annotation.__module__.split(".")[0] in _FOREIGN_MODULES
        ):
            raise self.fail(
                owner,
                param,
                f"it is annotated {annotation.__module__}.{annotation.__qualname__}; "
                f"import {annotation.__name__} from sockjet instead",
            )
        return False

    def parameterless(self, depends: Any) -> SubDependency:
        if not isinstance(depends, Dependency):
            found = _foreign_name(depends)
            raise ParameterError(
                f"dependencies=[...] of endpoint '{self.route.endpoint}' holds {found}, not a sockjet Depends(...)"
            )
        if depends.dependency is None:
            raise ParameterError(
                f"dependencies=[...] of endpoint '{self.route.endpoint}' holds Depends() without a callable"
            )
        return SubDependency(
            None,
            depends.dependency,
            depends.use_cache,
            depends.scope,
            self.dependant(depends.dependency, is_endpoint=False),
        )

    def sub_dependency(self, owner: str, name: str, depends: Dependency, annotation: Any) -> SubDependency:
        call = depends.dependency
        if call is None:
            if annotation is _EMPTY or not isinstance(annotation, type):
                raise self.fail(owner, name, "Depends() without a callable needs a class as the annotation")
            call = annotation
        return SubDependency(name, call, depends.use_cache, depends.scope, self.dependant(call, is_endpoint=False))

    def param_field(self, owner: str, param: inspect.Parameter, base: Any, marker: Any) -> ParamField:
        name = param.name
        in_path = name in self.route.path_params
        if marker is None:
            source = Source.PATH if in_path else Source.QUERY
        else:
            source = marker.source
            if in_path and source is not Source.PATH:
                raise self.fail(owner, name, f"it is a path parameter; it cannot be a {_marker_name(marker)}()")
        ftype = field_type(Any if base is _EMPTY else base)
        if ftype is None:
            shown = repr(base) if typing.get_args(base) else getattr(base, "__qualname__", repr(base))
            raise self.fail(
                owner,
                name,
                f"sockjet cannot convert a {_WHERE[source]} to {shown}; use str, int, float, bool, UUID, Decimal, "
                "datetime, date, time, an Enum, a Literal, X | None or list[X] -- or Depends(...)",
            )
        if source is Source.PATH:
            if marker is not None and marker.alias is not None:
                raise self.fail(owner, name, "a path parameter is named by the route path; it takes no alias")
            if name not in self.route.path_params:
                raise self.fail(owner, name, f"Path() names a path parameter, but the route has no {{{name}}}")
            if ftype.many is not None:
                raise self.fail(owner, name, "a path parameter holds one value, not a list")
        key = name
        if marker is not None and marker.alias is not None:
            key = marker.alias
        elif source is Source.HEADER and getattr(marker, "convert_underscores", True):
            key = name.replace("_", "-")
        if source is Source.HEADER:
            key = key.lower()
        default: Any = Required
        default_factory = None
        if marker is not None:
            default, default_factory = marker.default, marker.default_factory
            if param.default is not _EMPTY and param.default is not marker:
                if default is not Required or default_factory is not None:
                    raise self.fail(owner, name, "a default both in the marker and after '='")
                default = param.default
        elif param.default is not _EMPTY:
            default = param.default
        if source is Source.PATH:
            default, default_factory = Required, None
        elif not (default is Required or default is None or isinstance(default, _VALUE_DEFAULTS)):
            raise self.fail(
                owner,
                name,
                f"its default {default!r} is not a value a {_WHERE[source]} can take; if it says where the "
                "value comes from, it is no sockjet marker (Depends, Query, Header, Cookie, Path)",
            )
        return ParamField(name, source, key, ftype, default, default_factory, marker)


# --- solving, per connection ----------------------------------------------------------------------


class _Solve:
    """One connection's solve: its dependency cache, its exit stacks, the overrides in force."""

    __slots__ = ("cache", "connection", "function_stack", "injector", "overrides", "request_stack")

    def __init__(
        self,
        injector: Injector,
        connection: HTTPConnection,
        request_stack: AsyncExitStack,
        function_stack: AsyncExitStack,
        overrides: Mapping[Any, Any] | None,
    ) -> None:
        self.injector = injector
        self.connection = connection
        self.request_stack = request_stack
        self.function_stack = function_stack
        self.overrides = overrides
        self.cache: dict[Any, Any] = {}

    async def solve(self, dependant: Dependant) -> tuple[dict[str, Any], list[Problem]]:
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for sub in dependant.dependencies:
            use, call = sub.dependant, sub.call
            if self.overrides and call in self.overrides:
                call = self.overrides[call]
                use = self.injector.override_dependant(call)
            sub_values, sub_problems = await self.solve(use)
            if sub_problems:
                problems.extend(sub_problems)
                continue
            if sub.use_cache and sub.call in self.cache:
                value = self.cache[sub.call]
            else:
                value = await self.call(use, call, sub_values, sub.scope)
            if sub.name is not None:
                values[sub.name] = value
            self.cache.setdefault(sub.call, value)
        dependant.fill_params(self.connection, values, problems)
        return values, problems

    async def call(self, dependant: Dependant, call: Any, values: dict[str, Any], scope: str | None) -> Any:
        kind = dependant.kind
        if kind is CallKind.ASYNC:
            return await call(**values)
        if kind is CallKind.SYNC:
            try:
                return await asyncio.to_thread(functools.partial(call, **values))
            except Exception as exc:
                if dependant.is_model and _is_validation_error(exc):
                    # `Depends()` on a pydantic model: its Field(...) constraints are parameter checks.
                    raise self.injector.error(dependant.model_problems(exc)) from None
                raise
        stack = self.function_stack if scope == "function" else self.request_stack
        if kind is CallKind.ASYNC_GENERATOR:
            return await stack.enter_async_context(contextlib.asynccontextmanager(call)(**values))
        manager = contextlib.contextmanager(call)(**values)
        value = await asyncio.to_thread(manager.__enter__)

        async def exit_in_thread(*exc_info: Any) -> bool:
            return bool(await asyncio.to_thread(manager.__exit__, *exc_info))

        stack.push_async_exit(exit_in_thread)
        return value


def _definition_locals() -> dict[str, Any] | None:
    """The local names of the innermost caller outside sockjet: the function that defines the route."""
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "sockjet":
        frame = frame.f_back
    if frame is None or frame.f_code.co_name == "<module>":
        return None
    return dict(frame.f_locals)


class Injector:
    """An endpoint's parameters, read once when the route is defined; filled for each connection."""

    __slots__ = ("_only_connection", "_overridden", "dependant", "endpoint", "route", "simple")

    def __init__(
        self,
        endpoint: Callable[..., Any],
        *,
        path_params: Collection[str] = (),
        kind: RouteKind,
        dependencies: Sequence[Any] = (),
        name: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.route = RouteInfo(name or _name(endpoint), frozenset(path_params), kind)
        analysis = _Analysis(self.route, _definition_locals())
        self.dependant = analysis.dependant(endpoint, is_endpoint=True, route_dependencies=dependencies)
        # No dependency at all: arguments() fills everything without awaiting (the common WebSocket case).
        self.simple = not self.dependant.dependencies
        # `async def endpoint(websocket)`: nothing to read, only the connection to pass.
        self._only_connection: tuple[str, ...] | None = (
            self.dependant.connection_params
            if self.simple and not self.dependant.params and not self.dependant.var_keyword
            else None
        )
        self._overridden: dict[Any, Dependant] = {}

    def override_dependant(self, call: Any) -> Dependant:
        """The analysis of an override from ``app.dependency_overrides``, made at its first use."""
        dependant = self._overridden.get(call)
        if dependant is None:
            dependant = self._overridden[call] = _Analysis(self.route).dependant(call, is_endpoint=False)
        return dependant

    def error(self, problems: list[Problem]) -> RequestValidationError:
        reason = problems[0].describe()
        if len(problems) > 1:
            reason += f" (and {len(problems) - 1} more)"
        cls = WebSocketRequestValidationError if self.route.kind == "websocket" else RequestValidationError
        return cls([p.as_error() for p in problems], reason, summary="; ".join(p.describe() for p in problems))

    def arguments(self, connection: HTTPConnection) -> dict[str, Any]:
        """The keyword arguments, for an Injector that is ``simple``; raises ``RequestValidationError``."""
        only = self._only_connection
        if only is not None:
            return {only[0]: connection} if len(only) == 1 else dict.fromkeys(only, connection)
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        self.dependant.fill_params(connection, values, problems)
        if problems:
            raise self.error(problems)
        return values

    async def solve(
        self, connection: HTTPConnection, request_stack: AsyncExitStack, function_stack: AsyncExitStack | None = None
    ) -> dict[str, Any]:
        """Run the dependencies and read the parameters; ``yield`` teardowns go on the stacks given."""
        overrides = getattr(connection.scope.get("app"), "dependency_overrides", None)
        solve = _Solve(self, connection, request_stack, function_stack or request_stack, overrides)
        values, problems = await solve.solve(self.dependant)
        if problems:
            raise self.error(problems)
        return values


__all__ = ["CallKind", "Dependant", "Injector", "ParamField", "Problem", "RouteInfo", "SubDependency"]
