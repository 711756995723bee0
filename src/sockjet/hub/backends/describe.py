"""One way to name a broker client's failure inside an error message or a log line."""

from __future__ import annotations

import asyncio


def describe(exc: BaseException) -> str:
    """``timed out`` for a bare timeout, else ``<Type>: <text>`` (or the type alone without text)."""
    if isinstance(exc, asyncio.TimeoutError) and not str(exc):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


__all__ = ["describe"]
