"""``Middleware(cls, *args, **kwargs)``: how ``App(middleware=[...])`` is told to wrap itself.

A middleware class is a pure ASGI app taking the app it wraps as its first argument:
``cls(app, *args, **kwargs)``. The first in the list is the outermost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sockjet.types import ASGIApp


class Middleware:
    def __init__(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return self.cls(app, *self.args, **self.kwargs)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        options = [repr(arg) for arg in self.args] + [f"{key}={value!r}" for key, value in self.kwargs.items()]
        name = getattr(self.cls, "__name__", repr(self.cls))
        return f"Middleware({', '.join([name, *options])})"


__all__ = ["Middleware"]
