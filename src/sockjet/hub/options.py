"""A hub's options as one frozen, checked value (``hub.options``), like ``ConnectionOptions``.

Every option is checked once, here, when the hub is made: a mistake is a ``ConfigurationError``
naming the option, never a surprise at the first publish. The value is frozen: a hub's limits do
not change under its members (``hub.max_queue = 10`` raises instead of silently doing nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sockjet._checks import check_at_least_zero, check_int, check_positive, is_number
from sockjet.exceptions import ConfigurationError
from sockjet.hub.backends.base import Retention
from sockjet.hub.backends.presence import PRESENCE_TTL
from sockjet.hub.history import Frame, RetentionRules
from sockjet.hub.loggable import loggable
from sockjet.hub.outbox import OverflowPolicy, check_limits

_T = TypeVar("_T")


@dataclass(frozen=True)
class HubOptions:
    """What ``Hub(...)`` was given besides its URL or backend (see ``Hub`` for each option)."""

    max_queue: int = 256
    max_queue_bytes: int = 4 * 1024 * 1024
    overflow: OverflowPolicy = "close"
    max_payload: int = 1024 * 1024
    timeout: float = 2.0
    close_timeout: float = 1.0
    drain_timeout: float = 1.0
    presence_ttl: float = PRESENCE_TTL
    max_presence_info: int = 1024
    presence_interval: float = 0.1
    prefix: str = "sockjet:hub:"
    history_size: int = 0
    history_ttl: float | None = None
    history_meta_ttl: float = 3600.0
    frame: Frame | None = None
    history_by_prefix: dict[str, int] | None = None
    """Normalised to a dict (``{}`` for ``None``)."""
    idempotency_ttl: float = 300.0
    retention: RetentionRules = field(init=False, repr=False, compare=False)
    """Which rooms keep history and how much, derived from the history options."""

    def __post_init__(self) -> None:
        check_limits(max_messages=self.max_queue, max_bytes=self.max_queue_bytes, overflow=self.overflow)
        check_int("max_payload", self.max_payload, 1)
        check_int("max_presence_info", self.max_presence_info, 2)
        check_at_least_zero("presence_interval", self.presence_interval)
        for name in ("timeout", "close_timeout", "drain_timeout", "presence_ttl"):
            check_positive(name, getattr(self, name))
        _check_idempotency_ttl(self.idempotency_ttl)
        default = _retention(self.history_size, self.history_ttl, self.history_meta_ttl)
        by_prefix = _by_prefix(self.history_by_prefix)
        rules = RetentionRules(
            default,
            {prefix: _retention(size, self.history_ttl, self.history_meta_ttl) for prefix, size in by_prefix.items()},
        )
        if self.frame is not None and not callable(self.frame):
            raise ConfigurationError(
                f"frame must be a callable (Publication) -> str | bytes, or None; got {self.frame!r}."
            )
        object.__setattr__(self, "history_by_prefix", dict(by_prefix))
        object.__setattr__(self, "retention", rules)


class Option(Generic[_T]):
    """A hub attribute that reads ``hub.options``; assigning it is an error, not a silent no-op."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, hub: Any, owner: type | None = None) -> _T:
        value: _T = getattr(hub.options, self.name)
        return value

    def __set__(self, hub: Any, value: _T) -> None:
        raise AttributeError(
            f"Hub.{self.name} is fixed when the hub is made: pass it as Hub(..., {self.name}={value!r})."
        )


def _by_prefix(sizes: Any) -> dict[str, int]:
    if sizes is None:
        return {}
    if not isinstance(sizes, dict) or not all(isinstance(p, str) and p for p in sizes):
        raise ConfigurationError(
            f"history_by_prefix must be a dict of non-empty room-name prefixes to sizes, got {sizes!r}."
        )
    return sizes


def _retention(size: Any, ttl: Any, meta_ttl: Any) -> Retention | None:
    check_int("history_size", size, 0, " (0: no history)")
    if ttl is not None:
        check_positive("history_ttl", ttl)
    check_positive("history_meta_ttl", meta_ttl)
    if ttl is not None and meta_ttl < ttl:
        raise ConfigurationError(
            f"history_meta_ttl ({meta_ttl!r}) must be >= history_ttl ({ttl!r}): "
            "a room's position must outlive its messages."
        )
    if size == 0:
        return None
    return Retention(size=size, ttl=None if ttl is None else float(ttl), meta_ttl=float(meta_ttl))


def _check_idempotency_ttl(ttl: Any) -> None:
    if not is_number(ttl):
        raise TypeError(f"idempotency_ttl must be a number of seconds (int or float), got {loggable(ttl)}.")
    if not 0 < ttl < math.inf:
        raise ConfigurationError(f"idempotency_ttl must be a finite number of seconds > 0, got {ttl!r}.")


__all__ = ["HubOptions", "Option"]
