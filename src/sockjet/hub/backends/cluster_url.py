"""``redis+cluster://`` URLs: the seed nodes to learn a Redis Cluster from, and the credentials. Pure.

    redis+cluster://[user:password@]host1:7000[,host2:7001...][/0]
    rediss+cluster://...    the same, with TLS to every node

One seed is enough (the cluster tells the client every node and which slots each serves);
more are tried in turn when the first does not answer. A host without a port is on 6379.
A cluster has only database 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from sockjet.exceptions import ConfigurationError
from sockjet.hub.backends._urls import redacted, split_multi_host

SCHEMES = ("redis+cluster://", "rediss+cluster://")
REDIS_PORT = 6379


@dataclass(frozen=True)
class ClusterURL:
    """What a ``redis+cluster://`` URL says."""

    seeds: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_cluster_url(url: str) -> ClusterURL:
    """The parts of ``url``; ``ConfigurationError`` naming what is wrong (the password hidden)."""

    def bad(why: str) -> ConfigurationError:
        return ConfigurationError(
            f"Bad Redis Cluster URL {redacted(url)!r}: {why}. Use 'redis+cluster://host1:7000,host2:7001'."
        )

    if not url.startswith(SCHEMES):
        raise bad("it must start with redis+cluster:// or rediss+cluster://")
    parts = split_multi_host(url, noun="seed", default_port=REDIS_PORT, known=(), bad=bad)
    if parts.path not in ((), ("0",)):
        raise bad(f"a cluster has only database 0, got {'/'.join(parts.path)!r}")
    return ClusterURL(
        seeds=parts.hosts, username=parts.username, password=parts.password, tls=parts.scheme == "rediss+cluster"
    )


__all__ = ["REDIS_PORT", "SCHEMES", "ClusterURL", "parse_cluster_url"]
