"""Start a server, point the load generator at it, stop it: one measurement at a time.

Every process is started here and stopped by its own PID; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.client import EchoResult

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = 0
CLIENT_CPU = 1


@dataclass(frozen=True)
class Config:
    """One server under test: a stack on a WebSocket implementation (``picows`` has none)."""

    stack: str
    ws: str = ""

    @property
    def key(self) -> str:
        return f"{self.stack}@{self.ws}" if self.ws else self.stack

    @property
    def label(self) -> str:
        return f"{self.stack} ({self.ws})" if self.ws else f"{self.stack} (Cython, no ASGI)"


@dataclass(frozen=True)
class MemoryResult:
    connections: int
    rss_before_kib: int
    rss_after_kib: int

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.connections


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode} before listening:\n{out}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    config: Config
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far, from /proc."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        """The server's resident set size, from /proc."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")  # pragma: no cover - Linux always has it


@contextlib.contextmanager
def server(config: Config) -> Iterator[Server]:
    """The server of ``config`` on a free port, pinned to the server core, stopped on exit."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.serve", "--stack", config.stack, "--port", str(port)]
    argv += ["--cpu", str(SERVER_CPU)]
    if config.ws:
        argv += ["--ws", config.ws]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        _wait_listening(port, process)
        yield Server(config, process, port)
    finally:
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()


def _client_argv(mode: str, url: str, **options: object) -> list[str]:
    argv = [sys.executable, "-m", "bench.client", mode, "--url", url, "--cpu", str(CLIENT_CPU)]
    for name, value in options.items():
        argv += [f"--{name}", str(value)]
    return argv


@dataclass(frozen=True)
class EchoMeasurement:
    """What the load generator saw, and the server's CPU time over the same counted window."""

    echo: EchoResult
    server_cpu_s: float

    @property
    def cpu_us_per_msg(self) -> float:
        """Server CPU per echoed message: unlike msg/s, barely moved by other processes on the machine."""
        return self.server_cpu_s * 1e6 / self.echo.messages if self.echo.messages else 0.0


def measure_echo(
    target: Server, *, payload: int, connections: int = 50, duration: float = 5.0, warmup: float = 1.0
) -> EchoMeasurement:
    """Run the echo load generator against ``target`` in its own process, pinned to the client core."""
    argv = _client_argv("echo", target.url, connections=connections, payload=payload, duration=duration, warmup=warmup)
    with subprocess.Popen(
        argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as client:
        watchdog = threading.Timer(warmup + duration + 60, client.kill)
        watchdog.start()
        try:
            assert client.stdout is not None and client.stderr is not None
            marks: list[float] = []
            last = ""
            for line in client.stdout:
                last = line.strip()
                if last in ("start", "stop"):
                    marks.append(target.cpu_seconds())
            returncode = client.wait()
            err = client.stderr.read()
        finally:
            watchdog.cancel()
    if returncode != 0 or len(marks) != 2:
        raise RuntimeError(f"load generator failed against {target.config.key}:\n{err}")
    result = EchoResult(**json.loads(last))
    if result.errors:
        raise RuntimeError(f"{target.config.key}: {result.errors} echoes were wrong or missing")
    return EchoMeasurement(result, marks[1] - marks[0])


def _expect(process: subprocess.Popen[str], word: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != word:
        err = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"load generator said {line!r}, expected {word!r}:\n{err}")


def measure_memory(target: Server, *, connections: int = 2000, payload: int = 32, settle: float = 0.5) -> MemoryResult:
    """Server RSS growth over ``connections`` idle connections that each echoed one message.

    The baseline is taken after one connection has echoed, so lazily imported code and the first
    buffers are already in it; both readings are taken ``settle`` seconds after the server went quiet.
    """
    argv = _client_argv("idle", target.url, connections=connections, payload=payload)
    client = subprocess.Popen(
        argv, cwd=ROOT, env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert client.stdin is not None
    try:
        _expect(client, "warm")
        time.sleep(settle)
        before = target.rss_kib()
        client.stdin.write("go\n")
        client.stdin.flush()
        _expect(client, "ready")
        time.sleep(settle)
        after = target.rss_kib()
        client.stdin.write("close\n")
        client.stdin.flush()
        _expect(client, "closed")
        client.wait(30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        for pipe in (client.stdin, client.stdout, client.stderr):
            if pipe is not None:
                pipe.close()
    return MemoryResult(connections=connections, rss_before_kib=before, rss_after_kib=after)
