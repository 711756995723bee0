"""sockjet.conversions, pure: raw strings to typed values, checked case by case against pydantic's lax mode
(what FastAPI applies to the same strings). pydantic is a test-only dependency here."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import typing
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import pydantic
import pytest

from sockjet.conversions import ConversionError, field_type, scalar


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Ratio(float, enum.Enum):
    HALF = 0.5


class Mixed(enum.Enum):
    NAME = "name"
    ONE = 1


CASES: list[tuple[Any, list[str]]] = [
    (str, ["", " a ", "x"]),
    (bytes, ["abc", ""]),
    (
        int,
        ["3", " 3 ", "+3", "-3", "03", "3.0", "3.00", "1_000", "99999999999999999999", "3.5", "0x10", "1e3", "", "٣"],
    ),
    (float, ["3", "3.5", " 3.5 ", "inf", "-inf", "nan", "1e3", "1_0.5", "infinity", "", "0x1p3", "1,5", "٣"]),
    (bool, ["true", "True", "TRUE", "tRuE", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n", "2", " true", ""]),
    (
        uuid.UUID,
        [
            "12345678-1234-5678-1234-567812345678",
            "12345678123456781234567812345678",
            "{12345678-1234-5678-1234-567812345678}",
            "urn:uuid:12345678-1234-5678-1234-567812345678",
            " 12345678-1234-5678-1234-567812345678",
            "x",
        ],
    ),
    (decimal.Decimal, ["1.5", " 1.5 ", "1e3", "1_0", "-0", "nan", "inf", "x", "٣"]),
    (
        dt.datetime,
        [
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05",
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05+01:00",
            "2024-01-02T03:04:05.5",
            "2024-01-02T03:04:05.25+01:00",
            "2024-01-02T03:04:05.1234Z",
            "2024-01-02T03:04",
            "2024-01-02",
            "1700000000",
            "1700000000.5",
            "1700000000000",
            "x",
            "20240102T030405",
        ],
    ),
    (
        dt.date,
        ["2024-01-02", "2024-01-02T00:00:00", "2024-01-02T03:04:05", "1699920000", "1700000000", "x", "2024-13-01"],
    ),
    (dt.time, ["03:04:05", "03:04", "03:04:05.5", "03:04:05.12345", "03:04:05.123456", "03:04:05Z", "x", "3600"]),
    (Color, ["red", "blue", "RED", "x"]),
    (Level, ["1", "2", "1.0", "3", "x"]),
    (Ratio, ["0.5", "1"]),
    (Mixed, ["name", "1"]),
    (Literal["a", "b"], ["a", "c"]),
    (Literal[1, 2], ["1"]),
    (int | str, ["3", "x"]),
    (int | float, ["3", "3.5", "x"]),
]


def _pydantic(annotation: Any, raw: str) -> tuple[bool, Any]:
    try:
        return True, pydantic.TypeAdapter(annotation).validate_python(raw)
    except pydantic.ValidationError:
        return False, None


def _ours(annotation: Any, raw: str) -> tuple[bool, Any]:
    found = scalar(annotation)
    assert found is not None
    try:
        return True, found[0](raw)
    except ConversionError:
        return False, None


@pytest.mark.parametrize(
    ("annotation", "raw"),
    [(annotation, raw) for annotation, raws in CASES for raw in raws],
    ids=[f"{getattr(a, '__name__', a)}-{raw!r}" for a, raws in CASES for raw in raws],
)
def test_same_verdict_and_value_as_pydantic(annotation: Any, raw: str) -> None:
    ok, value = _ours(annotation, raw)
    expected_ok, expected = _pydantic(annotation, raw)
    assert ok == expected_ok
    if isinstance(value, float) and value != value:  # nan
        assert expected != expected
    else:
        assert value == expected
        assert type(value) is type(expected)


def test_errors_say_what_was_expected() -> None:
    cases: list[tuple[Any, str, str, str]] = [
        (int, "x", "int_parsing", "Input should be a valid integer"),
        (float, "x", "float_parsing", "Input should be a valid number"),
        (bool, "x", "bool_parsing", "Input should be a valid boolean"),
        (uuid.UUID, "x", "uuid_parsing", "Input should be a valid UUID"),
        (decimal.Decimal, "x", "decimal_parsing", "Input should be a valid decimal"),
        (decimal.Decimal, "nan", "finite_number", "Input should be a finite number"),
        (dt.datetime, "x", "datetime_parsing", "Input should be a valid datetime"),
        (dt.date, "x", "date_parsing", "Input should be a valid date"),
        (
            dt.date,
            "2024-01-02T03:04:05",
            "date_from_datetime_inexact",
            "Datetimes provided to dates should have zero time",
        ),
        (dt.time, "x", "time_parsing", "Input should be in a valid time format"),
        (Color, "x", "enum", "Input should be 'red' or 'blue'"),
        (Level, "x", "enum", "Input should be 1 or 2"),
        (Ratio, "x", "enum", "Input should be 0.5"),
        (Literal["a", "b", "c"], "x", "literal_error", "Input should be 'a', 'b' or 'c'"),
        (int | float, "x", "union", "Input should be a valid integer or a valid number"),
    ]
    for annotation, raw, kind, message in cases:
        found = scalar(annotation)
        assert found is not None
        with pytest.raises(ConversionError, match=message) as info:
            found[0](raw)
        assert (info.value.kind, info.value.message) == (kind, message)


def test_datetime_timestamps_are_utc() -> None:
    found = scalar(dt.datetime)
    assert found is not None
    assert found[0]("0") == dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert found[0]("2024-01-02T03:04:05z").tzinfo == dt.timezone.utc
    with pytest.raises(ConversionError):
        found[0]("1" + "0" * 30)  # far beyond datetime's range


def test_field_types() -> None:
    optional = field_type(int | None)
    assert optional is not None and optional.optional and optional.many is None
    legacy = field_type(typing.Optional[int])  # noqa: UP045 - the spelling under test
    assert legacy is not None and legacy.optional and legacy.convert("4") == 4
    union = field_type(int | float | None)
    assert union is not None and union.optional and union.convert("2.5") == 2.5
    for annotation, container in [
        (list[int], list),
        (typing.List[int], list),  # noqa: UP006 - the spelling under test
        (Sequence[int], list),
        (set[int], set),
        (frozenset[int], frozenset),
        (tuple[int, ...], tuple),
        (list[int] | None, list),
    ]:
        many = field_type(annotation)
        assert many is not None and many.many is container and many.convert("5") == 5
        assert many.description == "a list of valid integer"
    bare = field_type(list)
    assert bare is not None and bare.many is list and bare.convert("x") == "x"
    assert field_type(Any) is not None
    for unsupported in (dict, dict[str, int], tuple[int, str], list[dict[str, int]], object, int | dict[str, int]):
        assert field_type(unsupported) is None, unsupported
    assert scalar(str | int) == scalar(str)  # a string matches str exactly, as in pydantic's smart mode
