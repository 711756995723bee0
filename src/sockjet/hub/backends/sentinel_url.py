"""``redis+sentinel://`` URLs: which Sentinels to ask, for which master, with which credentials. Pure.

    redis+sentinel://[user:password@]host1:26379[,host2:26379...]/<master name>[/<db>][?options]
    rediss+sentinel://...    the same, with TLS to the master (and to the Sentinels)

``user:password`` are the master's (as in a ``redis://`` URL); the Sentinels' own password, if
they have one, is the query option ``sentinel_password`` (and ``sentinel_username``). A host
without a port is on 26379, Sentinel's port.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from sockjet.exceptions import ConfigurationError
from sockjet.hub.backends._urls import redacted

SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
SENTINEL_PORT = 26379
_OPTIONS = ("sentinel_password", "sentinel_username")


@dataclass(frozen=True)
class SentinelURL:
    """What a ``redis+sentinel://`` URL says."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: bool = False


def parse_sentinel_url(url: str) -> SentinelURL:
    """The parts of ``url``; ``ConfigurationError`` naming what is wrong (the password hidden)."""

    def bad(why: str) -> ConfigurationError:
        return ConfigurationError(
            f"Bad Sentinel URL {redacted(url)!r}: {why}. "
            "Use 'redis+sentinel://host1:26379,host2:26379/<master name>/<db>'."
        )

    if not url.startswith(SCHEMES):
        raise bad("it must start with redis+sentinel:// or rediss+sentinel://")
    scheme, _, rest = url.partition("://")
    credentials, _, after = rest.rpartition("@") if "@" in rest.split("/", 1)[0] else ("", "", rest)
    hosts, _, tail = after.partition("/")
    path, _, query = tail.partition("?")
    sentinels = []
    for host in hosts.split(","):
        if not host:
            raise bad("it names no Sentinel host" if not hosts else "it has an empty Sentinel address")
        try:
            parts = urlsplit(f"//{host}")
            port = parts.port or SENTINEL_PORT
        except ValueError:
            raise bad(f"{host!r} is not host:port") from None
        if not parts.hostname:
            raise bad(f"{host!r} is not host:port")
        sentinels.append((parts.hostname, port))
    segments = [unquote(segment) for segment in path.split("/") if segment]
    if not segments:
        raise bad("it names no master (the name Sentinel monitors, e.g. 'mymaster')")
    if len(segments) > 2:
        raise bad("after the master name only a database number may follow")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise bad(f"the database must be a number, got {segments[1]!r}")
        db = int(segments[1])
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise bad(f"unknown option {unknown[0]!r} (known: {', '.join(_OPTIONS)})")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    return SentinelURL(
        sentinels=tuple(sentinels),
        master=segments[0],
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_username=options.get("sentinel_username", [None])[-1] or None,
        sentinel_password=options.get("sentinel_password", [None])[-1] or None,
        tls=scheme == "rediss+sentinel",
    )


__all__ = ["SCHEMES", "SENTINEL_PORT", "SentinelURL", "parse_sentinel_url"]
