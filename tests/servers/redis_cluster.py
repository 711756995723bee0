"""A Redis Cluster of the tests' own: three masters (and, if asked, one replica each) on free
ports, nothing on disk, made with ``redis-cli --cluster create`` -- the Hub on ``redis+cluster://``.

A test can kill a master (``kill(port)``), move a slot to another master while it is live
(``move_slot``), and wipe every master (``flush``).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from tests.servers.redis_server import RedisServer
from tests.servers.servers import free_port
from tests.timing import MS

REDIS_CLI = shutil.which("redis-cli")


class ClusterTopology:
    """``masters`` masters sharing the 16384 slots, each with ``replicas`` replicas."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="sockjet-cluster-")
        self.replicas = replicas
        self.nodes: list[RedisServer] = []
        for index in range(masters * (1 + replicas)):
            node_dir = f"{self._dir.name}/{index}"
            self.nodes.append(
                RedisServer(
                    extra=[
                        *("--cluster-enabled", "yes", "--dir", self._dir.name),
                        *("--cluster-config-file", f"{node_dir}.conf", "--cluster-node-timeout", "1000"),
                        *("--cluster-port", str(free_port())),  # port + 10000 may be past 65535
                        *("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"),
                        *("--cluster-require-full-coverage", "no"),  # other slots serve while one has no master
                    ]
                )
            )

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[:2])

    def start(self) -> None:
        assert REDIS_CLI is not None, "redis-cli is not installed"
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        argv = [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=60)
        self._until(self._healthy, "the cluster is ok on every node")

    def _healthy(self) -> bool:
        for node in self.nodes:
            if not node.running:
                continue
            info = _client(node.port).cluster("INFO")
            if info.get("cluster_state") != "ok":
                return False
        return self.replicas == 0 or all(
            _client(port).info("replication").get("connected_slaves", 0) >= self.replicas
            for port in self.master_ports()
        )

    def master_ports(self) -> list[int]:
        """The ports of the live masters, as the cluster sees them."""
        alive = next(node for node in self.nodes if node.running)
        masters = []
        for line in _command(alive.port, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" in fields[2] and "fail" not in fields[2]:
                masters.append(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(masters)

    def port_of_slot(self, slot: int) -> int:
        """The port of the master that owns ``slot``."""
        alive = next(node for node in self.nodes if node.running)
        for start, end, master, *_ in _command(alive.port, "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"slot {slot} is not covered")

    def room_per_master(self, prefix: str) -> dict[int, str]:
        """One room per master for a hub with ``prefix``: the master's port -> a room whose slot it owns."""
        from redis.crc import key_slot

        from sockjet.hub.backends.redis import RedisBackend

        backend = RedisBackend(self.url, prefix=prefix)
        rooms: dict[int, str] = {}
        for i in range(300):
            room = f"room-{i}"
            rooms.setdefault(self.port_of_slot(key_slot(backend.channel(room))), room)
        assert len(rooms) == len(self.master_ports()), "300 rooms and not one on each master"
        return rooms

    def kill(self, port: int) -> None:
        """``kill -9`` of the node on ``port``."""
        next(node for node in self.nodes if node.port == port).stop()

    def restart(self, port: int) -> None:
        """Start the killed node on ``port`` again: it rejoins with its slots (its cluster config
        survives in the temporary directory), its keys gone."""
        next(node for node in self.nodes if node.port == port).start()
        self._until(self._healthy, "the cluster is ok on every node")

    def move_slot(self, slot: int, to_port: int) -> None:
        """Migrate ``slot`` with its keys to the master on ``to_port`` (what resharding does, one slot)."""
        source_port = self.port_of_slot(slot)
        source_id, target_id = _command(source_port, "CLUSTER", "MYID"), _command(to_port, "CLUSTER", "MYID")
        _command(to_port, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        _command(source_port, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while keys := _command(source_port, "CLUSTER", "GETKEYSINSLOT", slot, 100):
            _command(source_port, "MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys)
        for port in self.master_ports():
            _command(port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self._until(lambda: self.port_of_slot(slot) == to_port, f"slot {slot} is on {to_port}")

    def flush(self) -> None:
        for port in self.master_ports():
            _client(port).flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self._dir.cleanup()

    def _until(self, condition: Callable[[], bool], what: str, timeout: float = 30000 * MS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(redis.RedisError, OSError):
                if condition():
                    return
            assert time.monotonic() < deadline, f"timed out waiting until {what}"
            time.sleep(50 * MS)


def _command(port: int, *args: Any) -> Any:
    return _client(port).execute_command(*args)  # type: ignore[no-untyped-call]


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=2, decode_responses=True)


@contextlib.contextmanager
def running_cluster(masters: int = 3, replicas: int = 0) -> Iterator[ClusterTopology]:
    topology = ClusterTopology(masters, replicas)
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


__all__ = ["ClusterTopology", "running_cluster"]
