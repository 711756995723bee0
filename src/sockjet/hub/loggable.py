"""Client-supplied values (room names, presence info, ...) in log lines and error messages, cut short.

A client chooses room names and presence info, so a line that shows one whole could be a megabyte:
every such value goes through ``loggable``, which never yields more than about ``MAX_LOGGED_CHARS``.
"""

from __future__ import annotations

MAX_LOGGED_CHARS = 200
"""The most characters of one value a log line or error message shows."""


def loggable(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """``repr(value)`` (``Type: message`` for an exception), cut to ``limit`` characters, the full length said."""
    if isinstance(value, BaseException):
        text = f"{type(value).__name__}: {value}" if str(value) else type(value).__name__
    else:
        text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


__all__ = ["MAX_LOGGED_CHARS", "loggable"]
