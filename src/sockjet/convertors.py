"""Path parameter convertors: ``{name}``, ``{name:int}``, ``{name:float}``, ``{name:path}``, ``{name:uuid}``.

A convertor is a regex plus the two functions that turn a matched string into a value and back.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, ClassVar


class Convertor:
    regex: ClassVar[str] = ""

    def convert(self, value: str) -> Any:
        raise NotImplementedError  # pragma: no cover - abstract

    def to_string(self, value: Any) -> str:
        raise NotImplementedError  # pragma: no cover - abstract


class StringConvertor(Convertor):
    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: Any) -> str:
        text = str(value)
        if "/" in text:
            raise ValueError("May not contain path separators")
        if not text:
            raise ValueError("Must not be empty")
        return text


class PathConvertor(Convertor):
    regex = ".*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: Any) -> str:
        return str(value)


class IntegerConvertor(Convertor):
    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: Any) -> str:
        value = int(value)
        if value < 0:
            raise ValueError("Negative integers are not supported")
        return str(value)


class FloatConvertor(Convertor):
    regex = r"[0-9]+(\.[0-9]+)?"

    def convert(self, value: str) -> float:
        return float(value)

    def to_string(self, value: Any) -> str:
        value = float(value)
        if value < 0:
            raise ValueError("Negative floats are not supported")
        if math.isnan(value) or math.isinf(value):
            raise ValueError("NaN and infinite values are not supported")
        return f"{value:0.20f}".rstrip("0").rstrip(".")


class UUIDConvertor(Convertor):
    regex = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: Any) -> str:
        return str(value)


CONVERTOR_TYPES: dict[str, Convertor] = {
    "str": StringConvertor(),
    "path": PathConvertor(),
    "int": IntegerConvertor(),
    "float": FloatConvertor(),
    "uuid": UUIDConvertor(),
}


def register_url_convertor(key: str, convertor: Convertor) -> None:
    """Make ``{name:key}`` available in every route compiled after this call."""
    CONVERTOR_TYPES[key] = convertor


__all__ = [
    "CONVERTOR_TYPES",
    "Convertor",
    "FloatConvertor",
    "IntegerConvertor",
    "PathConvertor",
    "StringConvertor",
    "UUIDConvertor",
    "register_url_convertor",
]
