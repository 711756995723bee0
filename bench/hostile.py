"""Hostile-client probes against a running server: a ping flood that never reads, and slowloris.

``python -m bench.hostile`` serves ``tests/e2e/hardening_app.py`` on uvicorn with each WebSocket
implementation (uvicorn's ``websockets-sansio`` and ``wsproto``, and sockjet's protocol), runs both
probes against it and prints one line per server. The e2e tests run the same probes, shorter.

Every socket is on 127.0.0.1; every loop is bounded in time; servers are stopped by their own PID.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = "tests.e2e.hardening_app:app"
SERVERS = {
    "websockets-sansio": ["--ws", "websockets-sansio"],
    "wsproto": ["--ws", "wsproto"],
    "sockjet": ["--ws", "sockjet.server:SockjetWebSocketProtocol", "--http", "sockjet.server:SockjetHTTPProtocol"],
    # sockjet's protocol without its ping budget: read back-pressure alone.
    "sockjet-no-budget": ["--ws", "tests.servers.server_protocols:UnlimitedPings"],
}
"""uvicorn's command-line options for each server under test."""


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid``, from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")  # pragma: no cover - Linux always has it


def handshake_request(port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def masked_ping(payload: bytes) -> bytes:
    """One client-to-server ping frame (clients must mask), ``payload`` at most 125 bytes."""
    mask = os.urandom(4)
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return struct.pack("!BB", 0x89, 0x80 | len(payload)) + mask + body


def close_code(data: bytes) -> int | None:
    """The code of the first close frame among the server's (unmasked) frames in ``data``, if any."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = struct.unpack("!H", data[at : at + 2])[0], at + 2
        elif length == 127:
            length, at = struct.unpack("!Q", data[at : at + 8])[0], at + 8
        if opcode == 0x8 and length >= 2 and at + 2 <= len(data):
            return int(struct.unpack("!H", data[at : at + 2])[0])
        at += length
    return None


@dataclass(frozen=True)
class FloodResult:
    seconds: float
    pings_sent: int
    rss_before_kib: int
    rss_peak_kib: int
    closed_by_server: bool
    close_code: int | None

    @property
    def growth_mib(self) -> float:
        return (self.rss_peak_kib - self.rss_before_kib) / 1024


def ping_flood(
    pid: int, port: int, path: str = "/echo", *, duration: float, batch: int = 100, payload: bytes = b"x" * 16
) -> FloodResult:
    """Flood ``path`` with pings, ``batch`` per send, never reading, for at most ``duration`` seconds.

    The client's receive buffer is 4 KiB (set before connecting, so TCP honours it): the server's
    pongs cannot drain into it. The flood ends early when the server closes the connection; then
    what the server sent is read, to find its close frame.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5.0)
    sock.connect(("127.0.0.1", port))
    try:
        sock.sendall(handshake_request(port, path))
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(1)  # byte by byte: nothing past the handshake response is read
            if not chunk:
                raise RuntimeError("the server closed the connection during the handshake")
            response += chunk
        if not response.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake refused: {response[:80]!r}")
        frames = b"".join(masked_ping(payload) for _ in range(batch))
        before = peak = rss_kib(pid)
        sent, closed = 0, False
        sock.setblocking(False)
        start = time.monotonic()
        pending = memoryview(frames)
        while (elapsed := time.monotonic() - start) < duration:
            _, writable, _ = select.select([], [sock], [], min(0.05, duration - elapsed))
            if writable:
                try:
                    pending = pending[sock.send(pending) :]
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if not pending:
                    sent, pending = sent + batch, memoryview(frames)
            peak = max(peak, rss_kib(pid))
        seconds = time.monotonic() - start
        peak = max(peak, rss_kib(pid))
        received = _drain(sock)
        code = close_code(received)
        return FloodResult(seconds, sent, before, peak, closed or code is not None, code)
    finally:
        sock.close()


def _drain(sock: socket.socket, timeout: float = 1.0) -> bytes:
    """What the server had sent, read until EOF, a reset or ``timeout`` seconds without data."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    received = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            received += chunk
            if len(received) > 64 * 1024 * 1024:  # pragma: no cover - an unbounded server, stop reading
                break
    return received


@dataclass(frozen=True)
class SlowlorisResult:
    connections: int
    closed: int
    seconds: float


def slowloris(port: int, *, connections: int, wait: float, path: str = "/echo") -> SlowlorisResult:
    """Open ``connections`` that send half a handshake (no final blank line), then wait ``wait``
    seconds at most for the server to close them; returns how many it closed and when the last went."""
    socks = []
    start = time.monotonic()
    try:
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
            sock.sendall(handshake_request(port, path)[:-2])  # everything but the blank line that ends it
            sock.setblocking(False)
            socks.append(sock)
        open_socks = set(socks)
        last = start
        while open_socks and time.monotonic() - start < wait:
            readable, _, _ = select.select(list(open_socks), [], [], 0.1)
            for sock in readable:
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    open_socks.discard(sock)
                    last = time.monotonic()
        return SlowlorisResult(connections, connections - len(open_socks), last - start)
    finally:
        for sock in socks:
            sock.close()


@contextlib.contextmanager
def uvicorn(name: str, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """uvicorn serving the hardening app with server ``name`` (a key of ``SERVERS``) on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    argv = [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port)]
    argv += [*SERVERS[name], "--log-level", "warning", *extra]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    )
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20.0
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name}: uvicorn did not start listening")
            time.sleep(0.05)
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(10.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--flood-seconds", type=float, default=30.0)
    parser.add_argument("--ping-payload", type=int, default=16, help="bytes in each ping (0 to 125)")
    parser.add_argument("--slowloris", type=int, default=500, help="unfinished handshakes to open")
    parser.add_argument("--slowloris-wait", type=float, default=45.0)
    parser.add_argument("--only", nargs="*", choices=sorted(SERVERS), default=list(SERVERS))
    args = parser.parse_args(argv)
    for name in args.only:
        with uvicorn(name) as (process, port):
            flood = ping_flood(process.pid, port, duration=args.flood_seconds, payload=b"x" * args.ping_payload)
        print(
            f"{name:18} ping flood: {flood.pings_sent:>9,} pings in {flood.seconds:4.1f} s, RSS "
            f"{flood.rss_before_kib / 1024:.1f} -> {flood.rss_peak_kib / 1024:.1f} MiB (+{flood.growth_mib:.1f}), "
            f"closed by the server: {flood.closed_by_server} (code {flood.close_code})",
            flush=True,
        )
        with uvicorn(name) as (process, port):
            loris = slowloris(port, connections=args.slowloris, wait=args.slowloris_wait)
        print(
            f"{name:18} slowloris: {loris.closed}/{loris.connections} unfinished handshakes closed by the server "
            f"within {args.slowloris_wait:.0f} s (last after {loris.seconds:.1f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
