"""Small immutable values read off a connection: URL, Headers, QueryParams, Address, State.

Each parses lazily: a WebSocket that never looks at its headers never pays for them.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any, NamedTuple, TypeVar
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from sockjet.types import Scope

_V = TypeVar("_V")

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class Address(NamedTuple):
    """The peer (``client``) or local (``server``) end of a connection."""

    host: str
    port: int


class URL(str):
    """A URL that is a ``str`` (as the Starlette docs promise) and exposes its parsed components.

    ``url.replace("a", "b")`` with positional arguments is ``str.replace``;
    ``url.replace(scheme="wss")`` with keywords returns a URL with those components replaced.
    """

    __slots__ = ("_components",)

    _components: SplitResult

    def __new__(cls, url: str = "", scope: Scope | None = None, **components: Any) -> URL:
        if scope is not None:
            if url or components:
                raise TypeError('Cannot set both "url" and "scope" (or "scope" and "**components").')
            url = _url_from_scope(scope)
        elif components:
            if url:
                raise TypeError('Cannot set both "url" and "**components".')
            url = URL("").replace(**components)
        return str.__new__(cls, url)

    @property
    def components(self) -> SplitResult:
        try:
            return self._components
        except AttributeError:
            self._components = urlsplit(str(self))
            return self._components

    @property
    def scheme(self) -> str:
        return self.components.scheme

    @property
    def netloc(self) -> str:
        return self.components.netloc

    @property
    def path(self) -> str:
        return self.components.path

    @property
    def query(self) -> str:
        return self.components.query

    @property
    def fragment(self) -> str:
        return self.components.fragment

    @property
    def username(self) -> str | None:
        return self.components.username

    @property
    def password(self) -> str | None:
        return self.components.password

    @property
    def hostname(self) -> str | None:
        return self.components.hostname

    @property
    def port(self) -> int | None:
        return self.components.port

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def replace(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            return str(self).replace(*args)
        if any(key in kwargs for key in ("username", "password", "hostname", "port")):
            hostname = kwargs.pop("hostname", None)
            port = kwargs.pop("port", self.port)
            username = kwargs.pop("username", self.username)
            password = kwargs.pop("password", self.password)
            if hostname is None:
                netloc = self.netloc
                _, _, hostname = netloc.rpartition("@")
                if hostname[-1] != "]":
                    hostname = hostname.rsplit(":", 1)[0]
            netloc = hostname
            if port is not None:
                netloc += f":{port}"
            if username is not None:
                userpass = username
                if password is not None:
                    userpass += f":{password}"
                netloc = f"{userpass}@{netloc}"
            kwargs["netloc"] = netloc
        return URL(self.components._replace(**kwargs).geturl())

    def include_query_params(self, **kwargs: Any) -> URL:
        params = MultiDict(parse_qsl(self.query, keep_blank_values=True))
        params.update({str(key): str(value) for key, value in kwargs.items()})
        return self.replace(query=urlencode(params.multi_items()))  # type: ignore[no-any-return]

    def replace_query_params(self, **kwargs: Any) -> URL:
        return self.replace(query=urlencode([(str(k), str(v)) for k, v in kwargs.items()]))  # type: ignore[no-any-return]

    def remove_query_params(self, keys: str | Sequence[str]) -> URL:
        drop = {keys} if isinstance(keys, str) else set(keys)
        params = [(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in drop]
        return self.replace(query=urlencode(params))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        url = str(self)
        if self.password:
            url = str(self.replace(password="********"))
        return f"{type(self).__name__}({url!r})"


def _url_from_scope(scope: Scope) -> str:
    scheme = scope.get("scheme", "http")
    server = scope.get("server")
    path = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    host_header = None
    for key, value in scope.get("headers", ()):
        if key == b"host":
            host_header = value.decode("latin-1")
            break
    if host_header is not None:
        netloc = host_header
    elif server is not None:
        host, port = server
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        netloc = host if port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    else:
        return f"{path}?{query}" if query else path
    url = f"{scheme}://{netloc}{path}"
    return f"{url}?{query}" if query else url


class URLPath(str):
    """A path produced by ``url_path_for``; ``make_absolute_url`` joins it to a base URL."""

    protocol: str
    host: str

    def __new__(cls, path: str, protocol: str = "", host: str = "") -> URLPath:
        if protocol not in ("http", "websocket", ""):
            raise ValueError(f'protocol must be "http", "websocket" or "", got {protocol!r}')
        return str.__new__(cls, path)

    def __init__(self, path: str, protocol: str = "", host: str = "") -> None:
        self.protocol = protocol
        self.host = host

    def make_absolute_url(self, base_url: str | URL) -> URL:
        base = base_url if isinstance(base_url, URL) else URL(base_url)
        if self.protocol:
            secure = base.is_secure
            scheme = {"http": {True: "https", False: "http"}, "websocket": {True: "wss", False: "ws"}}[self.protocol][
                secure
            ]
        else:
            scheme = base.scheme
        netloc = self.host or base.netloc
        path = base.path.rstrip("/") + str(self)
        return URL(scheme=scheme, netloc=netloc, path=path)


class ImmutableMultiDict(Mapping[str, _V]):
    """A mapping whose keys may repeat; ``d[key]`` is the last value, ``getlist(key)`` all of them."""

    _list: list[tuple[str, _V]]
    _dict: dict[str, _V]

    def __init__(
        self,
        *args: ImmutableMultiDict[_V] | Mapping[str, _V] | Iterable[tuple[str, _V]],
        **kwargs: _V,
    ) -> None:
        if len(args) > 1:
            raise TypeError("Too many arguments.")
        value: Any = args[0] if args else []
        if kwargs:
            value = list(ImmutableMultiDict(value).multi_items()) + list(kwargs.items())
        if not value:
            items: list[tuple[str, _V]] = []
        elif isinstance(value, ImmutableMultiDict):
            items = value.multi_items()
        elif isinstance(value, Mapping):
            items = list(value.items())
        else:
            items = list(value)
        self._list = items
        self._dict = dict(items)

    def getlist(self, key: str) -> list[_V]:
        return [item_value for item_key, item_value in self._list if item_key == key]

    def keys(self) -> KeysView[str]:
        return self._dict.keys()

    def values(self) -> ValuesView[_V]:
        return self._dict.values()

    def items(self) -> ItemsView[str, _V]:
        return self._dict.items()

    def multi_items(self) -> list[tuple[str, _V]]:
        return list(self._list)

    def __getitem__(self, key: str) -> _V:
        return self._dict[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, type(self)):
            return False
        return sorted(self._list) == sorted(other._list)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.multi_items()!r})"


class MultiDict(ImmutableMultiDict[Any]):
    """The mutable twin of :class:`ImmutableMultiDict`."""

    def __setitem__(self, key: str, value: Any) -> None:
        self.setlist(key, [value])

    def __delitem__(self, key: str) -> None:
        self._list = [(k, v) for k, v in self._list if k != key]
        del self._dict[key]

    def pop(self, key: str, default: Any = None) -> Any:
        self._list = [(k, v) for k, v in self._list if k != key]
        return self._dict.pop(key, default)

    def setlist(self, key: str, values: list[Any]) -> None:
        if not values:
            self.pop(key, None)
            return
        self._list = [(k, v) for k, v in self._list if k != key] + [(key, v) for v in values]
        self._dict[key] = values[-1]

    def append(self, key: str, value: Any) -> None:
        self._list.append((key, value))
        self._dict[key] = value

    def update(self, *args: MultiDict | Mapping[str, Any] | list[tuple[str, Any]], **kwargs: Any) -> None:
        value = MultiDict(*args, **kwargs)
        existing = [(k, v) for k, v in self._list if k not in value]
        self._list = existing + value.multi_items()
        self._dict.update(value)


class QueryParams(ImmutableMultiDict[str]):
    """Query string parameters, an immutable multi-dict; ``str()`` gives the encoded query."""

    def __init__(
        self,
        *args: ImmutableMultiDict[str] | Mapping[str, str] | list[tuple[str, str]] | str | bytes,
        **kwargs: str,
    ) -> None:
        if args and isinstance(args[0], (str, bytes)):
            raw = args[0].decode("latin-1") if isinstance(args[0], bytes) else args[0]
            super().__init__(parse_qsl(raw, keep_blank_values=True), **kwargs)
        else:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return urlencode(self._list)


class Headers(Mapping[str, str]):
    """Request or response headers: immutable, case-insensitive, keys may repeat.

    ``headers[key]`` is the first value; ``getlist(key)`` gives them all; ``raw`` the ASGI list.
    """

    __slots__ = ("_list",)

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        raw: list[tuple[bytes, bytes]] | None = None,
        scope: Scope | None = None,
    ) -> None:
        self._list: list[tuple[bytes, bytes]]
        if headers is not None:
            if raw is not None or scope is not None:
                raise TypeError('Cannot set "headers" together with "raw" or "scope".')
            self._list = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        elif raw is not None:
            if scope is not None:
                raise TypeError('Cannot set both "raw" and "scope".')
            self._list = raw
        elif scope is not None:
            # The ASGI spec lets servers pass any iterable of pairs; keep a list we own.
            self._list = scope["headers"] = list(scope["headers"])
        else:
            self._list = []

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        return list(self._list)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [key.decode("latin-1") for key, _ in self._list]

    def values(self) -> list[str]:  # type: ignore[override]
        return [value.decode("latin-1") for _, value in self._list]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(key.decode("latin-1"), value.decode("latin-1")) for key, value in self._list]

    def getlist(self, key: str) -> list[str]:
        wanted = key.lower().encode("latin-1")
        return [value.decode("latin-1") for k, value in self._list if k == wanted]

    def mutablecopy(self) -> MutableHeaders:
        return MutableHeaders(raw=list(self._list))

    def __getitem__(self, key: str) -> str:
        wanted = key.lower().encode("latin-1")
        for k, value in self._list:
            if k == wanted:
                return value.decode("latin-1")
        raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        if not isinstance(key, str):
            return False
        wanted = key.lower().encode("latin-1")
        return any(k == wanted for k, _ in self._list)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._list)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Headers):
            return False
        return sorted(self._list) == sorted(other._list)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        as_dict = dict(self.items())
        if len(as_dict) == len(self):
            return f"{type(self).__name__}({as_dict!r})"
        return f"{type(self).__name__}(raw={self.raw!r})"


class MutableHeaders(Headers):
    """Headers a response is still building; setting a key replaces every value it had."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        name = key.lower().encode("latin-1")
        encoded = value.encode("latin-1")
        found = [i for i, (k, _) in enumerate(self._list) if k == name]
        for i in reversed(found[1:]):
            del self._list[i]
        if found:
            self._list[found[0]] = (name, encoded)
        else:
            self._list.append((name, encoded))

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self._list[:] = [(k, v) for k, v in self._list if k != name]

    def setdefault(self, key: str, value: str) -> str:
        if key in self:
            return self[key]
        self.append(key, value)
        return value

    def update(self, other: Mapping[str, str]) -> None:
        for key, value in other.items():
            self[key] = value

    def append(self, key: str, value: str) -> None:
        self._list.append((key.lower().encode("latin-1"), value.encode("latin-1")))

    def add_vary_header(self, vary: str) -> None:
        existing = self.get("vary")
        self["vary"] = f"{existing}, {vary}" if existing is not None else vary


class State:
    """Attribute access over a dict: ``app.state.db``, ``websocket.state.user``.

    The lifespan's yielded mapping becomes each connection's ``state``.
    """

    _state: dict[str, Any]

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__setattr__("_state", {} if state is None else state)

    def __setattr__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self._state[key]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'") from None

    def __delattr__(self, key: str) -> None:
        try:
            del self._state[key]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'") from None

    def __len__(self) -> int:
        return len(self._state)

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)

    def __contains__(self, key: str) -> bool:
        return key in self._state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._state!r})"


def parse_cookies(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header the way browsers send it: ``a=1; b=2``; the last duplicate wins."""
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            name, value = "", name
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name or value:
            cookies[name] = value
    return cookies


__all__ = [
    "URL",
    "Address",
    "Headers",
    "ImmutableMultiDict",
    "MultiDict",
    "MutableHeaders",
    "QueryParams",
    "State",
    "URLPath",
    "parse_cookies",
]
