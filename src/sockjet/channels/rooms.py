"""Rooms a channels client may subscribe to, declared by pattern, and methods it may call.

``@channels.room("chat:{room_id}")`` declares every room the pattern matches; its parameters are
converted as a route's path parameters are (``{n:int}``, ``{rest:path}``; a plain ``{name}``
matches no ``/``). The handler runs on every subscribe and decides: it raises ``Refuse`` (403)
or returns ``RoomOptions`` (or ``None`` for the defaults). A room no pattern matches is a 404:
nothing is subscribable unless declared. Patterns are tried in the order they were declared.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sockjet.channels.validation import Adapter
from sockjet.convertors import Convertor
from sockjet.exceptions import ConfigurationError, SockjetError
from sockjet.routing import compile_path

if TYPE_CHECKING:
    from sockjet.channels.connection import Connection

RoomHandler = Callable[..., Awaitable["RoomOptions | None"]]
PublishHandler = Callable[..., Awaitable[Any]]
MethodHandler = Callable[..., Awaitable[Any]]
_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


class Refuse(SockjetError):
    """Raise in a room, publish or method handler to refuse the command: the client gets 403 and ``reason``."""

    def __init__(self, reason: str = "refused") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class RoomOptions:
    """What a room handler allows one subscription.

    - ``presence``: the info announced for this connection in the room's presence (the server
      decides, never the client); ``None``: the connection's ``info`` from ``channels.serve``.
    - ``presence_events``: whether the client may ask for presence events and for ``presence``.
    - ``publish``: whether the client may publish here; ``None``: if the room has an
      ``on_publish`` handler.
    """

    presence: dict[str, Any] | None = None
    presence_events: bool = True
    publish: bool | None = None


DEFAULT_OPTIONS = RoomOptions()


def _accepts(function: Callable[..., Any]) -> tuple[set[str], bool]:
    parameters = inspect.signature(function).parameters.values()
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _check_async(function: Any, what: str) -> None:
    if not inspect.iscoroutinefunction(function):
        raise ConfigurationError(f"{what} must be an 'async def' function, got {function!r}.")


class Room:
    """One declared pattern: its subscribe handler and, optionally, its ``on_publish`` handler."""

    def __init__(self, pattern: str, handler: RoomHandler) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigurationError(f"A room pattern is a non-empty str, got {pattern!r}.")
        _check_async(handler, f"The handler of room pattern {pattern!r}")
        self.pattern = pattern
        try:
            self._regex, _, self._convertors = compile_path("/" + pattern)
        except ValueError as exc:
            raise ConfigurationError(f"Bad room pattern {pattern!r}: {exc}") from None
        names, var_keyword = _accepts(handler)
        missing = [name for name in self._convertors if name not in names and not var_keyword]
        if missing:
            raise ConfigurationError(
                f"The handler of room pattern {pattern!r} must take the pattern's parameter(s) {', '.join(missing)}."
            )
        self.handler = handler
        self._params = "params" in names or var_keyword
        self.publish_handler: PublishHandler | None = None
        self.publish_adapter = Adapter()
        self._publish_names: set[str] | None = None

    def __repr__(self) -> str:
        return f"<Room {self.pattern!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[RoomOptions | None]:
        """The decorated handler stays callable under its name."""
        return self.handler(*args, **kwargs)

    def match(self, room: str) -> dict[str, Any] | None:
        """The converted parameters if ``room`` matches this pattern, else ``None``."""
        found = self._regex.match("/" + room)
        if found is None:
            return None
        convertors: dict[str, Convertor] = self._convertors
        return {name: convertors[name].convert(value) for name, value in found.groupdict().items()}

    def on_publish(self, handler: _F) -> _F:
        """Decorate ``async def (conn, <params>, data) -> published``: clients may publish here.

        It gets the client's ``data`` (validated by its annotation) and returns what is published
        (validate, stamp the sender, transform), or raises ``Refuse``.
        """
        _check_async(handler, f"The on_publish handler of room pattern {self.pattern!r}")
        names, var_keyword = _accepts(handler)
        if "data" not in names and not var_keyword:
            raise ConfigurationError(f"The on_publish handler of room pattern {self.pattern!r} must take 'data'.")
        self.publish_handler = handler
        self.publish_adapter = Adapter.of(handler)
        self._publish_names = None if var_keyword else names
        return handler

    def publish_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The pattern's parameters the ``on_publish`` handler takes."""
        names = self._publish_names
        return params if names is None else {k: v for k, v in params.items() if k in names}

    async def authorize(self, conn: Connection, params: dict[str, Any], client_params: dict[str, Any]) -> RoomOptions:
        """Run the subscribe handler; ``Refuse`` passes through, its result is checked."""
        kwargs = dict(params)
        if self._params:
            kwargs["params"] = client_params
        options = await self.handler(conn, **kwargs)
        if options is None:
            return DEFAULT_OPTIONS
        if not isinstance(options, RoomOptions):
            raise TypeError(
                f"The handler of room pattern {self.pattern!r} returned {options!r}; return RoomOptions or None."
            )
        return options

    def may_publish(self, options: RoomOptions) -> bool:
        return options.publish if options.publish is not None else self.publish_handler is not None


class Method:
    """One ``@channels.rpc(name)`` handler: ``async def (conn, data) -> result``."""

    def __init__(self, name: str, handler: MethodHandler) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"A method name is a non-empty str, got {name!r}.")
        _check_async(handler, f"The handler of method {name!r}")
        self.name = name
        self.handler = handler
        names, var_keyword = _accepts(handler)
        self._data = "data" in names or var_keyword
        self.adapter = Adapter.of(handler)

    async def call(self, conn: Connection, data: Any) -> Any:
        value = self.adapter.validate(data)
        if self._data:
            return await self.handler(conn, data=value)
        return await self.handler(conn)


class Registry:
    """Room patterns in declaration order, and methods by name."""

    def __init__(self) -> None:
        self.rooms: list[Room] = []
        self.methods: dict[str, Method] = {}

    def add_room(self, room: Room) -> None:
        if any(r.pattern == room.pattern for r in self.rooms):
            raise ConfigurationError(f"Room pattern {room.pattern!r} is declared twice.")
        self.rooms.append(room)

    def add_method(self, method: Method) -> None:
        if method.name in self.methods:
            raise ConfigurationError(f"Method {method.name!r} is declared twice.")
        self.methods[method.name] = method

    def match(self, name: str) -> tuple[Room, dict[str, Any]] | None:
        for room in self.rooms:
            params = room.match(name)
            if params is not None:
                return room, params
        return None


__all__ = ["DEFAULT_OPTIONS", "Method", "Refuse", "Registry", "Room", "RoomOptions"]
