"""A redis-server of the tests' own, on a free port, that a test can stop and restart.

The fixture ``redis_server`` (one per test; tests/conftest.py offers it everywhere) or
``running_redis()``; ``shared_redis`` is one server for the whole run.

Started with ``--save '' --appendonly no`` (nothing on disk). Tests that need it are skipped,
with the reason, only when the ``redis-server`` binary is absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest

from tests.servers.servers import free_port
from tests.timing import MS

REDIS_SERVER = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
SKIP_REASON = "redis-server binary not found (apt-get install redis-server); the Redis tests need a real server"


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


NO_SERVERS = "SOCKJET_TEST_NO_SERVERS"
"""Set (by tests/test_markers.py) to prove a marker-deselected run starts no server."""


class RedisServer:
    """One ``redis-server`` process on ``port`` (fixed for its life, so clients can reconnect)."""

    def __init__(self, port: int | None = None, *, extra: Sequence[str] = ()) -> None:
        if os.environ.get(NO_SERVERS):
            raise RuntimeError(f"{NO_SERVERS} is set, yet a test started a redis-server")
        if REDIS_SERVER is None:  # pragma: no cover - CI installs redis-server
            pytest.skip(SKIP_REASON)
        self.port = port or free_port()
        self.extra = list(extra)
        """More redis-server arguments, e.g. ``["--replicaof", "127.0.0.1", "6379"]``."""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        assert not self.running, "already running"
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += self.extra
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10000 * MS
        while not _answers_ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} (port {self.port} taken?)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"redis-server did not answer PING on port {self.port}")
            time.sleep(5 * MS)

    def stop(self) -> None:
        """Stop it (SIGKILL: an outage, not a polite shutdown) and wait until the port is free."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10000 * MS)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A redis-server of our own on a free port, stopped on exit whatever happened."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server for one test, stopped afterwards."""
    with running_redis() as server:
        yield server


__all__ = ["REDIS_SERVER", "SKIP_REASON", "RedisServer", "redis_server", "running_redis"]
