"""From the strings a connection carries (query values, headers, cookies, path segments) to typed values.

Pure code, no I/O. ``field_type(annotation)`` is called once, when a route is defined, and returns
a ``FieldType`` whose ``convert`` turns one raw string into a value or raises ``ConversionError``.
An annotation sockjet cannot convert gives ``None``: the caller turns that into an error at
definition time, never into "pass the raw string through".

The rules follow pydantic's lax mode for string input, which is what FastAPI applies, so a value
accepted (or refused) by FastAPI is accepted (or refused) here; ``tests/test_conversions.py``
checks the table against pydantic where it is installed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sockjet.hub.position import Position

Convert = Callable[[str], Any]


class ConversionError(ValueError):
    """A raw value that does not fit the annotation; ``kind`` is pydantic's error type for the same case."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldType:
    """How to read one parameter: ``convert`` for each raw string; ``many`` for ``list[X]`` and friends."""

    convert: Convert
    description: str
    optional: bool = False
    many: type | None = None  # list, set or tuple: the parameter takes every repeated value


_INT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")
_INT_WITH_ZERO_FRACTION = re.compile(r"([+-]?[0-9]+(?:_[0-9]+)*)\.0*")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SHORT_FRACTION = re.compile(r"(:[0-9]{2}[.,])([0-9]{1,5})(?![0-9])")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def to_str(raw: str) -> str:
    return raw


def to_bytes(raw: str) -> bytes:
    return raw.encode("utf-8")


def to_int(raw: str) -> int:
    if raw.isdigit() and raw.isascii():  # the common case, without a regex
        return int(raw)
    text = raw.strip()
    if _INT.fullmatch(text):
        return int(text)
    match = _INT_WITH_ZERO_FRACTION.fullmatch(text)
    if match:
        return int(match.group(1))
    raise ConversionError("int_parsing", "Input should be a valid integer")


def to_float(raw: str) -> float:
    text = raw.strip()
    if text.isascii() and text:
        try:
            return float(text)
        except ValueError:
            pass
    raise ConversionError("float_parsing", "Input should be a valid number")


def to_bool(raw: str) -> bool:
    text = raw.lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConversionError("bool_parsing", "Input should be a valid boolean")


def to_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ConversionError("uuid_parsing", "Input should be a valid UUID") from None


def to_decimal(raw: str) -> decimal.Decimal:
    try:
        value: decimal.Decimal | None = decimal.Decimal(raw.strip())
    except decimal.InvalidOperation:
        value = None
    if value is None:
        raise ConversionError("decimal_parsing", "Input should be a valid decimal")
    if not value.is_finite():
        raise ConversionError("finite_number", "Input should be a finite number")
    return value


def _timestamp(text: str) -> dt.datetime | None:
    """Unix seconds (or milliseconds past 2e10, as pydantic reads them), in UTC."""
    if not _NUMBER.fullmatch(text):
        return None
    seconds = float(text)
    if abs(seconds) > 2e10:
        seconds /= 1000
    try:
        return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)
    except OverflowError:
        return None


def _six_digit_fraction(match: re.Match[str]) -> str:
    return match.group(1) + match.group(2).ljust(6, "0")


def _iso(text: str, parse: Callable[[str], Any]) -> Any:
    if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not read "Z"
        text = text[:-1] + "+00:00"
    # nor a fraction of 1, 2, 4 or 5 digits: "05.5" is read as "05.500000", the same instant.
    text = _SHORT_FRACTION.sub(_six_digit_fraction, text)
    try:
        return parse(text)
    except ValueError:
        return None


def to_datetime(raw: str) -> dt.datetime:
    value = _timestamp(raw)
    if value is None and _ISO_DATE.match(raw) and (len(raw) == 10 or raw[10] in "Tt "):
        value = _iso(raw, dt.datetime.fromisoformat)
    if value is None:
        raise ConversionError("datetime_parsing", "Input should be a valid datetime")
    return value


def to_date(raw: str) -> dt.date:
    if _ISO_DATE.fullmatch(raw):
        value = _iso(raw, dt.date.fromisoformat)
        if value is not None:
            return value  # type: ignore[no-any-return]
    moment = to_datetime(raw) if _ISO_DATE.match(raw) or _NUMBER.fullmatch(raw) else None
    if moment is None:
        raise ConversionError("date_parsing", "Input should be a valid date")
    if moment.time() != dt.time(0):
        raise ConversionError("date_from_datetime_inexact", "Datetimes provided to dates should have zero time")
    return moment.date()


def to_time(raw: str) -> dt.time:
    value = _iso(raw, dt.time.fromisoformat) if raw[:2].isdigit() else None
    if value is None:
        raise ConversionError("time_parsing", "Input should be in a valid time format")
    return value  # type: ignore[no-any-return]


def to_position(raw: str) -> Position:
    """A hub ``Position`` from its token (``str(position)``), as ``Position.parse`` reads it."""
    try:
        return Position.parse(raw)
    except ValueError:
        raise ConversionError("position_parsing", "Input should be a sockjet position ('<epoch>.<offset>')") from None


def _expected(values: Sequence[Any]) -> str:
    shown = [repr(v) for v in values]
    if len(shown) <= 2:
        return " or ".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _enum_converter(cls: type[enum.Enum]) -> Convert:
    members = list(cls)
    message = f"Input should be {_expected([m.value for m in members])}"
    # An int or float enum takes what its base type parses ("1" and "01" alike); any other, the text itself.
    parse: Callable[[str], Any] = to_int if issubclass(cls, int) else to_float if issubclass(cls, float) else str
    by_value = {m.value: m for m in members if isinstance(m.value, (str, int, float))}

    def convert(raw: str) -> Any:
        try:
            return by_value[parse(raw)]
        except (ConversionError, KeyError):
            raise ConversionError("enum", message) from None

    return convert


def _literal_converter(values: tuple[Any, ...]) -> Convert:
    allowed = {v for v in values if isinstance(v, str)}
    message = f"Input should be {_expected(values)}"

    def convert(raw: str) -> str:
        if raw in allowed:
            return raw
        raise ConversionError("literal_error", message)

    return convert


def _union_converter(converters: list[tuple[Convert, str]]) -> Convert:
    message = "Input should be " + " or ".join(description for _, description in converters)

    def convert(raw: str) -> Any:
        for one, _ in converters:
            try:
                return one(raw)
            except ConversionError:
                continue
        raise ConversionError("union", message)

    return convert


_SCALARS: dict[Any, tuple[Convert, str]] = {
    str: (to_str, "a valid string"),
    bytes: (to_bytes, "a valid bytes value"),
    int: (to_int, "a valid integer"),
    float: (to_float, "a valid number"),
    bool: (to_bool, "a valid boolean"),
    uuid.UUID: (to_uuid, "a valid UUID"),
    decimal.Decimal: (to_decimal, "a valid decimal"),
    dt.datetime: (to_datetime, "a valid datetime"),
    dt.date: (to_date, "a valid date"),
    dt.time: (to_time, "a valid time"),
    Position: (to_position, "a sockjet position"),
    Any: (to_str, "a valid string"),
}
_SEQUENCES: dict[Any, type] = {
    list: list,
    typing.List: list,  # noqa: UP006 - the old spelling is still an annotation users write
    Sequence: list,
    typing.Sequence: list,
    set: set,
    typing.Set: set,  # noqa: UP006
    frozenset: frozenset,
    tuple: tuple,
    typing.Tuple: tuple,  # noqa: UP006
}


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def scalar(annotation: Any) -> tuple[Convert, str] | None:
    """The converter for one value of type ``annotation``, or None if sockjet cannot convert to it."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_converter(annotation), f"one of {_expected([m.value for m in annotation])}"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        return _literal_converter(values), f"one of {_expected(values)}"
    if _is_union(origin):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if str in members:  # a string input matches str exactly: pydantic's smart mode picks it
            return _SCALARS[str]
        converters = [scalar(member) for member in members]
        if any(c is None for c in converters):
            return None
        known = [c for c in converters if c is not None]
        return _union_converter(known), " or ".join(description for _, description in known)
    return None


def field_type(annotation: Any) -> FieldType | None:
    """How to convert a parameter annotated ``annotation``; None when sockjet cannot.

    ``X | None`` and ``Optional[X]`` allow a missing value; ``list[X]``, ``set[X]``,
    ``tuple[X, ...]`` and ``Sequence[X]`` take every value of a repeated key.
    """
    optional = False
    origin = typing.get_origin(annotation)
    if _is_union(origin):
        args = typing.get_args(annotation)
        if type(None) in args:
            optional = True
            rest = [a for a in args if a is not type(None)]
            annotation = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
            origin = typing.get_origin(annotation)
    many = _SEQUENCES.get(annotation) or _SEQUENCES.get(origin)
    if many is not None:
        args = typing.get_args(annotation)
        if many is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            return None  # fixed-length tuples are not repeated values
        item = scalar(args[0] if args else str)
        if item is None:
            return None
        convert, description = item
        return FieldType(convert, f"a list of {description.removeprefix('a ')}", optional, many)
    one = scalar(annotation)
    if one is None:
        return None
    return FieldType(one[0], one[1], optional)


__all__ = ["ConversionError", "FieldType", "field_type", "scalar"]
