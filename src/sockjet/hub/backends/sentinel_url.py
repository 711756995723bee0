"""``redis+sentinel://`` URLs: which Sentinels to ask, for which master, with which credentials. Pure.

    redis+sentinel://[user:password@]host1:26379[,host2:26379...]/<master name>[/<db>][?options]
    rediss+sentinel://...    the same, with TLS to the master (and to the Sentinels)

``user:password`` are the master's (as in a ``redis://`` URL); the Sentinels' own password, if
they have one, is the query option ``sentinel_password`` (and ``sentinel_username``). A host
without a port is on 26379, Sentinel's port.
"""

from __future__ import annotations

from dataclasses import dataclass

from sockjet.exceptions import ConfigurationError
from sockjet.hub.backends._urls import redacted, split_multi_host

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
    parts = split_multi_host(url, noun="Sentinel", default_port=SENTINEL_PORT, known=_OPTIONS, bad=bad)
    if not parts.path:
        raise bad("it names no master (the name Sentinel monitors, e.g. 'mymaster')")
    if len(parts.path) > 2:
        raise bad("after the master name only a database number may follow")
    db = 0
    if len(parts.path) == 2:
        if not parts.path[1].isdigit():
            raise bad(f"the database must be a number, got {parts.path[1]!r}")
        db = int(parts.path[1])
    return SentinelURL(
        sentinels=parts.hosts,
        master=parts.path[0],
        db=db,
        username=parts.username,
        password=parts.password,
        sentinel_username=parts.options.get("sentinel_username") or None,
        sentinel_password=parts.options.get("sentinel_password") or None,
        tls=parts.scheme == "rediss+sentinel",
    )


__all__ = ["SCHEMES", "SENTINEL_PORT", "SentinelURL", "parse_sentinel_url"]
