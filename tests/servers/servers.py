"""Real server processes for end-to-end tests: start on a free 127.0.0.1 port, wait, stop by PID.

uvicorn runs sockjet's protocols (``sockjet.server``) unless a test chooses its protocols itself:
``start_process`` adds ``--ws sockjet.server:SockjetWebSocketProtocol --http
sockjet.server:SockjetHTTPProtocol`` to a ``python -m uvicorn`` command line that has neither option.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.timing import MS

ROOT = Path(__file__).resolve().parents[2]
SOCKJET_WS = "sockjet.server:SockjetWebSocketProtocol"
SOCKJET_HTTP = "sockjet.server:SockjetHTTPProtocol"
UVICORN_WS = ("websockets-sansio", "websockets", "wsproto")
"""uvicorn's own implementations; ``ws="sockjet"`` (the default) is sockjet's."""


def with_sockjet_protocols(argv: Sequence[str]) -> list[str]:
    """``argv`` with sockjet's protocols added when it starts uvicorn without choosing any itself."""
    argv = list(argv)
    if argv[1:3] != ["-m", "uvicorn"]:
        return argv
    if "--ws" not in argv and "--http" not in argv:
        argv += ["--ws", SOCKJET_WS, "--http", SOCKJET_HTTP]
    return argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode} before listening:\n{out}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(20 * MS)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.1f}s")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the server printed (only once it has stopped)."""
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")


def start_process(argv: Sequence[str], port: int, *, env: dict[str, str] | None = None) -> Server:
    merged = dict(os.environ)
    merged["PYTHONPATH"] = os.pathsep.join([str(ROOT), merged.get("PYTHONPATH", "")])
    merged.update(env or {})
    process = subprocess.Popen(
        with_sockjet_protocols(argv),
        cwd=ROOT,
        env=merged,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, 15000 * MS, process)
    except BaseException:
        stop_process(process)
        raise
    return Server(process, port)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float | None = None) -> int:
    """Stop the server we started (by its own PID) and return its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout if timeout is not None else 10000 * MS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextlib.contextmanager
def uvicorn_server(app: str, *, ws: str = "sockjet", extra: Sequence[str] = ()) -> Iterator[Server]:
    """``uvicorn app`` on a free port with the given WebSocket implementation: ``"sockjet"`` (sockjet's
    protocols), or one of uvicorn's own (``UVICORN_WS``, behind uvicorn's own HTTP protocol)."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    if ws != "sockjet":
        argv += ["--ws", ws]
    argv += ["--log-level", "warning", *extra]
    server = start_process(argv, port)
    try:
        yield server
    finally:
        stop_process(server.process)
