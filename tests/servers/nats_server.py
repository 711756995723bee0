"""A nats-server of the tests' own (JetStream on), on a free port, that a test can stop, restart and wipe.

The fixture ``nats_server`` (one per test; tests/conftest.py offers it everywhere) or
``running_nats()``; ``shared_nats`` is one server for the whole run.

Its JetStream store is a temporary directory (``-sd``) that lives as long as the object, so a
restart keeps the streams and ``wipe()`` loses them. Tests that need it are skipped, with the
reason, only when the ``nats-server`` binary is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.servers.servers import free_port
from tests.timing import MS

NATS_SERVER = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/bin:/usr/sbin")
SKIP_REASON = "nats-server binary not found (apt-get install nats-server); the NATS tests need a real server"


def _answers_ping(port: int) -> bool:
    """The server greets a new connection with its INFO line (it is ready for clients)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.settimeout(0.5)
            return sock.recv(4096).startswith(b"INFO ")
    except OSError:
        return False


NO_SERVERS = "SOCKJET_TEST_NO_SERVERS"
"""Set (by tests/test_markers.py) to prove a marker-deselected run starts no server."""


class NatsServer:
    """One ``nats-server`` process on ``port`` (fixed for its life, so clients can reconnect)."""

    def __init__(self, port: int | None = None, *, jetstream: bool = True, extra: Sequence[str] = ()) -> None:
        if os.environ.get(NO_SERVERS):
            raise RuntimeError(f"{NO_SERVERS} is set, yet a test started a nats-server")
        if NATS_SERVER is None:  # pragma: no cover - CI installs nats-server
            pytest.skip(SKIP_REASON)
        self.port = port or free_port()
        self.jetstream = jetstream
        self.extra = list(extra)
        self.monitor_port = free_port()
        self._store = tempfile.TemporaryDirectory(prefix="sockjet-nats-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def store_dir(self) -> str:
        return self._store.name

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert NATS_SERVER is not None
        assert not self.running, "already running"
        argv = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port), *self.extra]
        if self.jetstream:
            argv += ["-js", "-sd", self.store_dir]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10000 * MS
        while not _answers_ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode} (port {self.port} taken?)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"nats-server did not greet a client on port {self.port}")
            time.sleep(5 * MS)

    def connections(self) -> list[dict[str, Any]]:
        """The server's view of its clients (monitoring ``/connz?subs=1``): name, subscriptions_list, ..."""
        url = f"http://127.0.0.1:{self.monitor_port}/connz?subs=1"
        with urllib.request.urlopen(url, timeout=2) as response:
            connz: dict[str, Any] = json.load(response)
        return list(connz.get("connections") or [])

    def stop(self) -> None:
        """Stop it (SIGKILL: an outage, not a polite shutdown) and wait until it is gone."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10000 * MS)

    def restart(self) -> None:
        """Stop and start again with the same store: JetStream streams survive."""
        self.stop()
        self.start()

    def wipe(self) -> None:
        """Lose the JetStream store (stopped first if running; start it again yourself)."""
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def close(self) -> None:
        self.stop()
        self._store.cleanup()


@contextlib.contextmanager
def running_nats(*, jetstream: bool = True, extra: Sequence[str] = ()) -> Iterator[NatsServer]:
    """A nats-server of our own on a free port, stopped (and its store removed) on exit whatever happened."""
    server = NatsServer(jetstream=jetstream, extra=extra)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream for one test, stopped and wiped afterwards."""
    with running_nats() as server:
        yield server


__all__ = ["NATS_SERVER", "SKIP_REASON", "NatsServer", "nats_server", "running_nats"]
