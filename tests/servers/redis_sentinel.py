"""One master, one replica and one Sentinel of the tests' own (free ports, nothing on disk), that a
test can fail over (``failover()``: ``SENTINEL FAILOVER``) -- the Hub on ``redis+sentinel://``."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from tests.servers.redis_server import REDIS_SERVER, RedisServer
from tests.servers.servers import free_port
from tests.timing import MS

MASTER = "mymaster"


class SentinelTopology:
    """A master, its replica, and a Sentinel that monitors them (quorum 1, down after 1 s)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="sockjet-sentinel-")
        # Diskless replication, any file in the temporary directory: nothing lands in the tree.
        disk = ["--dir", self._dir.name, "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        self.master = RedisServer(extra=disk)
        self.replica = RedisServer(extra=[*disk, "--replicaof", "127.0.0.1", str(self.master.port)])
        self.sentinel_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{MASTER}/0"

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        self._until(lambda: _info(self.replica.port, "replication").get("master_link_status") == "up", "replica syncs")
        conf = Path(self._dir.name) / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self._dir.name}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        assert REDIS_SERVER is not None
        argv = [REDIS_SERVER, str(conf), "--sentinel"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._until(lambda: len(self._sentinel().sentinel_slaves(MASTER)) == 1, "the Sentinel knows the replica")

    def master_port(self) -> int:
        address: Any = self._sentinel().sentinel_get_master_addr_by_name(MASTER)  # (host, port)
        return int(address[1])

    def failover(self) -> int:
        """``SENTINEL FAILOVER``: the replica becomes the master. Returns the new master's port."""
        old = self.master_port()
        deadline = time.monotonic() + 20000 * MS
        while True:  # NOGOODSLAVE until the Sentinel has heard from the replica itself
            try:
                self._sentinel().sentinel_failover(MASTER)
                break
            except redis.ResponseError as exc:
                assert "NOGOODSLAVE" in str(exc) and time.monotonic() < deadline, exc
                time.sleep(100 * MS)
        self._until(lambda: self.master_port() != old, "the Sentinel switches the master")
        new = self.master_port()
        self._until(lambda: _info(new, "replication").get("role") == "master", "the new master takes writes")
        self._until(lambda: _info(old, "replication").get("role") == "slave", "the old master is demoted")
        return new

    def kill_master(self) -> int:
        """``kill -9`` of the master: the Sentinel sees it down after 1 s and promotes the replica.
        Returns the new master's port."""
        old = self.master_port()
        dead = self.master if self.master.port == old else self.replica
        dead.stop()
        self._until(lambda: self.master_port() != old, "the Sentinel promotes the replica")
        new = self.master_port()
        self._until(lambda: _info(new, "replication").get("role") == "master", "the new master takes writes")
        return new

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10000 * MS)
        self.replica.stop()
        self.master.stop()
        self._dir.cleanup()

    def _sentinel(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel_port, socket_timeout=2, decode_responses=True)

    def _until(self, condition: object, what: str, timeout: float = 20000 * MS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(redis.RedisError, OSError):
                if callable(condition) and condition():
                    return
            assert time.monotonic() < deadline, f"timed out waiting until {what}"
            time.sleep(50 * MS)


def _info(port: int, section: str) -> dict[str, object]:
    info: dict[str, object] = redis.Redis(port=port, socket_timeout=2, decode_responses=True).info(section)
    return info


@contextlib.contextmanager
def running_sentinel() -> Iterator[SentinelTopology]:
    topology = SentinelTopology()
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


__all__ = ["MASTER", "SentinelTopology", "running_sentinel"]
