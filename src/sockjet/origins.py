"""Which web pages may open a WebSocket: the ``Origin`` check that stops cross-site WebSocket hijacking.

A browser always sends ``Origin`` on a WebSocket handshake and lets any page open a socket to any
host, with the user's cookies. The check is the server's job:

* ``allowed_origins=None`` (the default): same-origin only. A browser request is accepted when
  the host and port of its ``Origin`` equal the ``Host`` header it was sent to.
* ``allowed_origins=["https://app.example.com", "https://*.example.com"]``: exactly these origins;
  ``*.`` matches any subdomain (one label or more) of the rest, not the bare domain itself.
* ``allowed_origins=["*"]``: any origin (only for public, cookie-less endpoints).

A request without ``Origin`` does not come from a browser (``websockets``, curl, a mobile app, the
TestClient): a hostile page cannot make a browser omit it, so it is allowed unless
``allow_missing_origin=False``. The literal ``Origin: null`` (sandboxed frames, ``file://``) is a
browser request from an unknown page and is refused unless ``"null"`` or ``"*"`` is listed.

The pure matching lives here; ``check_origin`` reads a scope once per connection.
"""

from __future__ import annotations

from collections.abc import Iterable

from sockjet.exceptions import ConfigurationError
from sockjet.types import Scope

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _split_origin(origin: str) -> tuple[str, str, str] | None:
    """``(scheme, host, port)`` of a serialized origin, lowercased, default port filled in; None if malformed."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or not scheme or not rest or "/" in rest or "@" in rest:
        return None
    if rest.startswith("["):  # IPv6 literal: [::1]:8000
        host, bracket, after = rest.partition("]")
        if not bracket or (after and not after.startswith(":")):
            return None
        host, port = host + "]", after[1:]
    else:
        host, _, port = rest.partition(":")
    if not host or (port and not port.isdigit()):
        return None
    return scheme, host, port or _DEFAULT_PORTS.get(scheme, "")


def _split_host(host: str, scheme: str) -> tuple[str, str]:
    host = host.strip().lower()
    if host.startswith("["):
        name, _, after = host.partition("]")
        return name + "]", after[1:] or _DEFAULT_PORTS.get(scheme, "")
    name, _, port = host.partition(":")
    return name, port or _DEFAULT_PORTS.get(scheme, "")


class OriginPolicy:
    """Decides from the ``Origin`` and ``Host`` headers whether a handshake may go on.

    Patterns are validated when the policy is built; a malformed one raises ``ConfigurationError``.
    """

    __slots__ = ("allow_any", "allow_missing", "exact", "listed", "same_origin", "wildcards")

    def __init__(self, allowed_origins: Iterable[str] | None = None, *, allow_missing_origin: bool = True) -> None:
        if isinstance(allowed_origins, str):
            raise ConfigurationError(
                f"allowed_origins must be a list of origins, not the string {allowed_origins!r}: "
                f"write allowed_origins=[{allowed_origins!r}]"
            )
        self.allow_missing = allow_missing_origin
        self.same_origin = allowed_origins is None
        self.allow_any = False
        self.exact: set[str] = set()
        self.listed: set[str] = set()  # the patterns as written: a browser usually sends exactly that
        self.wildcards: list[tuple[str, str, str]] = []  # (scheme, ".example.com", port)
        for pattern in allowed_origins or ():
            self._add(pattern)

    def _add(self, pattern: str) -> None:
        if "*" not in pattern:
            self.listed.add(pattern)
        if pattern == "*":
            self.allow_any = True
            return
        if pattern == "null":
            self.exact.add("null")
            return
        parts = _split_origin(pattern)
        if parts is None or "*" in parts[1][2:] or ("*" in parts[1] and not parts[1].startswith("*.")):
            raise ConfigurationError(
                f"Invalid allowed origin {pattern!r}: expected 'scheme://host[:port]' with no path, "
                "'scheme://*.domain[:port]', '*' or 'null'"
            )
        scheme, host, port = parts
        if host.startswith("*."):
            self.wildcards.append((scheme, host[1:], port))
        else:
            self.exact.add(f"{scheme}://{host}:{port}")

    def allows(self, origin: str | None, host: str | None) -> bool:
        """True when a handshake with this ``Origin`` (None: header absent) sent to ``Host`` may proceed."""
        if origin is None:
            return self.allow_missing
        if self.allow_any:
            return True
        # Fast paths for what browsers send: the exact text of a listed origin, or "scheme://" + Host.
        if self.same_origin:
            sep = origin.find("://")
            if sep > 0 and host is not None and origin[sep + 3 :] == host and "/" not in host and "@" not in host:
                return True
        elif origin in self.listed:
            return True
        if origin.strip().lower() == "null":
            return "null" in self.exact
        parts = _split_origin(origin)
        if parts is None:
            return False
        scheme, name, port = parts
        if self.same_origin:
            return host is not None and _split_host(host, scheme) == (name, port)
        if f"{scheme}://{name}:{port}" in self.exact:
            return True
        for w_scheme, suffix, w_port in self.wildcards:
            if scheme == w_scheme and port == w_port and name.endswith(suffix) and len(name) > len(suffix):
                return True
        return False


def check_origin(policy: OriginPolicy, scope: Scope) -> bool:
    """Apply ``policy`` to a WebSocket scope's headers (the first ``Origin`` and ``Host`` count)."""
    origin: str | None = None
    host: str | None = None
    for key, value in scope.get("headers", ()):
        if key == b"origin":
            if origin is None:
                origin = value.decode("latin-1")
        elif key == b"host" and host is None:
            host = value.decode("latin-1")
    return policy.allows(origin, host)


__all__ = ["OriginPolicy", "check_origin"]
