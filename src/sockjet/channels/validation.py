"""The ``data`` of a publish or a call, checked against the handler's annotation; results encoded back.

``data: Model`` (a pydantic model, when the app uses pydantic), ``data: SomeDataclass`` or
``data: SomeTypedDict`` is validated; a failure is ``Invalid`` with details shaped as pydantic's
(``{"loc", "msg", "type"}``), which the connection answers with 422. Dataclasses and TypedDicts
are checked here, without pydantic: it is imported by the user's annotation, never by sockjet.
Return values are encoded the same way: a model by ``model_dump(mode="json")``, a dataclass as
its fields.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

from sockjet.exceptions import ConfigurationError, SockjetError

Details = list[dict[str, Any]]


class Invalid(SockjetError, ValueError):
    """``data`` did not match the handler's annotation; ``details`` say where and why."""

    def __init__(self, details: Details) -> None:
        super().__init__("data failed validation")
        self.details = details


def _error(loc: tuple[Any, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _pydantic_model(annotation: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None)
    return isinstance(annotation, type) and base is not None and issubclass(annotation, base)


_SCALARS: dict[Any, tuple[str, str]] = {
    str: ("Input should be a valid string", "string_type"),
    int: ("Input should be a valid integer", "int_type"),
    float: ("Input should be a valid number", "float_type"),
    bool: ("Input should be a valid boolean", "bool_type"),
}


def _check(annotation: Any, value: Any, loc: tuple[Any, ...], errors: Details) -> Any:
    """``value`` checked against ``annotation`` (JSON values: no coercion but int -> float)."""
    if annotation is Any or annotation is object:
        return value
    if annotation is None or annotation is type(None):
        if value is not None:
            errors.append(_error(loc, "Input should be None", "none_required"))
        return value
    scalar = _SCALARS.get(annotation)
    if scalar is not None:
        ok = isinstance(value, annotation) and not (annotation is int and isinstance(value, bool))
        if annotation is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        if not ok:
            errors.append(_error(loc, *scalar))
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _check(args[0], value, loc, errors)
    if origin is Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        for option in args:
            attempt: Details = []
            checked = _check(option, value, loc, attempt)
            if not attempt:
                return checked
        errors.append(_error(loc, "Input does not match any of the allowed types", "union_type"))
        return value
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            allowed = " or ".join(repr(a) for a in args)
            errors.append(_error(loc, f"Input should be {allowed}", "literal_error"))
        return value
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset):
        if not isinstance(value, list):
            errors.append(_error(loc, "Input should be a valid list", "list_type"))
            return value
        item = args[0] if args and origin is not tuple else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                errors.append(_error(loc, f"Tuple should have {len(args)} items", "too_short"))
                return value
            return tuple(_check(a, v, (*loc, i), errors) for i, (a, v) in enumerate(zip(args, value, strict=True)))
        items = [_check(item, v, (*loc, i), errors) for i, v in enumerate(value)]
        kind = origin or annotation
        return items if kind is list else kind(items)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            errors.append(_error(loc, "Input should be a valid dictionary", "dict_type"))
            return value
        item = args[1] if len(args) == 2 else Any
        return {k: _check(item, v, (*loc, k), errors) for k, v in value.items()}
    if _pydantic_model(annotation):
        return _check_model(annotation, value, loc, errors)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return _check_fields(annotation, value, loc, errors, dataclass=True)
    if typing.is_typeddict(annotation):
        return _check_fields(annotation, value, loc, errors, dataclass=False)
    if isinstance(annotation, type):
        if not isinstance(value, annotation):
            errors.append(_error(loc, f"Input should be an instance of {annotation.__name__}", "is_instance_of"))
        return value
    raise ConfigurationError(f"sockjet.channels cannot validate data against {annotation!r}.")


def _check_model(model: Any, value: Any, loc: tuple[Any, ...], errors: Details) -> Any:
    from pydantic import ValidationError  # the user's annotation is a pydantic model: pydantic is there

    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            errors.append(_error((*loc, *error["loc"]), error["msg"], error["type"]))
        return value


def _check_fields(kind: Any, value: Any, loc: tuple[Any, ...], errors: Details, *, dataclass: bool) -> Any:
    if not isinstance(value, dict):
        errors.append(_error(loc, "Input should be a valid dictionary", "dict_type"))
        return value
    hints = typing.get_type_hints(kind)
    if dataclass:
        fields = {f.name: f for f in dataclasses.fields(kind) if f.init}
        required = {
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        names = list(fields)
    else:
        required = set(kind.__required_keys__)
        names = list(hints)
    checked: dict[str, Any] = {}
    before = len(errors)
    for name in names:
        if name not in value:
            if name in required:
                errors.append(_error((*loc, name), "Field required", "missing"))
            continue
        checked[name] = _check(hints.get(name, Any), value[name], (*loc, name), errors)
    if len(errors) > before:
        return value
    return kind(**checked) if dataclass else checked


class Adapter:
    """Validates a handler's ``data`` by its annotation (``Any``: passed as it is)."""

    __slots__ = ("annotation",)

    def __init__(self, annotation: Any = Any) -> None:
        self.annotation = annotation

    def validate(self, value: Any) -> Any:
        """``value`` as the handler wants it; ``Invalid`` with the details otherwise."""
        if self.annotation is Any:
            return value
        errors: Details = []
        checked = _check(self.annotation, value, (), errors)
        if errors:
            raise Invalid(errors)
        return checked

    @classmethod
    def of(cls, handler: Callable[..., Any]) -> Adapter:
        """The adapter for ``handler``'s ``data`` parameter; ``ConfigurationError`` for an unresolvable annotation."""
        try:
            hints = typing.get_type_hints(handler, include_extras=True)
        except Exception as exc:
            raise ConfigurationError(f"Cannot read the annotations of {handler!r}: {exc}") from None
        return cls(hints.get("data", Any))


def encode(value: Any) -> Any:
    """A handler's result as a JSON-able value: models dumped, dataclasses as dicts, containers walked."""
    if _pydantic_model(type(value)):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


__all__ = ["Adapter", "Invalid", "encode"]
