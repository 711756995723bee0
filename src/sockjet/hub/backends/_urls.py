"""Backend URLs: as they may be shown (passwords hidden), and the parts of a URL that names
several hosts (``redis+sentinel://``, ``redis+cluster://``). Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit


def redacted(url: str) -> str:
    """``url`` without its password (each URL of a comma-separated list), for error messages and logs."""
    if "," in url:
        return ",".join(redacted(part) for part in url.split(","))
    try:
        parts = urlsplit(url)
    except ValueError:  # not even a URL: hide whatever could be credentials
        return re.sub(r"//[^/@]*@", "//***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@dataclass(frozen=True)
class MultiHostURL:
    """``scheme://[user:password@]host1:port1[,host2:port2...][/path][?options]``, split."""

    scheme: str
    hosts: tuple[tuple[str, int], ...]
    path: tuple[str, ...]
    """The path's segments, unquoted."""
    options: dict[str, str]
    """Each query option's last value."""
    username: str | None = None
    password: str | None = None


def split_multi_host(
    url: str, *, noun: str, default_port: int, known: tuple[str, ...], bad: Callable[[str], Exception]
) -> MultiHostURL:
    """The parts of ``url``; ``bad(why)`` is raised for what is wrong (an empty or malformed host,
    an option not in ``known``). A host (a ``noun`` host) without a port is on ``default_port``."""
    scheme, _, rest = url.partition("://")
    credentials, _, after = rest.rpartition("@") if "@" in rest.split("/", 1)[0] else ("", "", rest)
    hosts, _, tail = after.partition("/")
    path, _, query = tail.partition("?")
    if "?" in hosts:
        hosts, _, query = hosts.partition("?")
    addresses = []
    for host in hosts.split(","):
        if not host:
            raise bad(f"it names no {noun} host" if not hosts else f"it has an empty {noun} address")
        try:
            parts = urlsplit(f"//{host}")
            port = parts.port or default_port
        except ValueError:
            raise bad(f"{host!r} is not host:port") from None
        if not parts.hostname:
            raise bad(f"{host!r} is not host:port")
        addresses.append((parts.hostname, port))
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise bad(f"unknown option {unknown[0]!r}" + (f" (known: {', '.join(known)})" if known else ""))
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    return MultiHostURL(
        scheme=scheme,
        hosts=tuple(addresses),
        path=tuple(unquote(segment) for segment in path.split("/") if segment),
        options={name: values[-1] for name, values in options.items()},
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


__all__ = ["MultiHostURL", "redacted", "split_multi_host"]
