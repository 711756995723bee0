"""The number checks of sockjet's options, in one place.

``True`` is an ``int`` to Python, but ``max_queue=True`` is a mistake, never a 1: every check
here refuses bools, and a message names the option, the rule and the value given.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from sockjet.exceptions import ConfigurationError


def is_int(value: Any) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int, note: str = "") -> None:
    """``<name> must be an int >= <minimum><note>, got <value>.``"""
    if not is_int(value) or value < minimum:
        raise ConfigurationError(f"{name} must be an int >= {minimum}{note}, got {value!r}.")


def check_positive(name: str, value: Any) -> None:
    """``<name> must be a number > 0, got <value>.``"""
    if not is_number(value) or not value > 0:
        raise ConfigurationError(f"{name} must be a number > 0, got {value!r}.")


def check_at_least_zero(name: str, value: Any) -> None:
    """``<name> must be a number >= 0, got <value>.``"""
    if not is_number(value) or value < 0:
        raise ConfigurationError(f"{name} must be a number >= 0, got {value!r}.")


__all__ = ["check_at_least_zero", "check_int", "check_positive", "is_int", "is_number"]
