"""A real Prometheus scrapes a real ``sockjet run --workers 2``: what an operator would graph.

The session: echo clients and their messages, a refused foreign Origin, room members across both
workers, a Redis outage and recovery, a member that stops reading (closed for overflow), a worker
killed and replaced. Then Prometheus' own HTTP API must answer with the sums over the workers,
and no counter may have gone backwards across the worker's replacement.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import MS
from tests.e2e.test_hardening import CLIENT
from tests.servers.prometheus_server import Prometheus, running_prometheus
from tests.servers.redis_server import RedisServer, running_redis
from tests.servers.servers import ROOT, Server, free_port, start_process, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
TIMEOUT = 30000 * MS


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def served(redis: RedisServer) -> Iterator[Server]:
    port = free_port()
    argv = [sys.executable, "-m", "sockjet", "run", "tests.e2e.metrics_app:app", "--port", str(port)]
    argv += ["--workers", "2", "--log-level", "warning"]
    server = start_process(argv, port, env={"METRICS_E2E_REDIS_URL": redis.url})
    try:
        yield server
    finally:
        stop_process(server.process)
        assert server.process.stdout is not None
        server.process.stdout.close()


def _workers(parent: int) -> list[int]:
    """The uvicorn worker processes of ``parent`` (spawned children, not the resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


async def _echo_session(url: str, messages: int) -> None:
    async with connect(url + "/echo", ping_interval=None) as ws:
        for i in range(messages):
            await ws.send(f"m{i}")
            assert await ws.recv() == f"m{i}"


async def _session(server: Server, redis: RedisServer, prometheus: Prometheus) -> None:
    await asyncio.gather(*(_echo_session(server.url, 5) for _ in range(4)))
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.url + "/echo", origin="http://evil.test"):  # type: ignore[arg-type]
            pass  # pragma: no cover - refused
    assert refused.value.response.status_code == 403

    # Members of one room on both workers (connections spread over them; 6 make both very likely).
    members = [await connect(server.url + "/room/chat", ping_interval=None) for _ in range(6)]
    try:
        for ws in members:
            assert await ws.recv() == "joined"
        redis.stop()
        await asyncio.sleep(1000 * MS)
        redis.start()
        reconnects = await asyncio.to_thread(
            prometheus.wait_value, 'sum(sockjet_hub_broker_reconnects_total{backend="redis"})', lambda v: v and v >= 1
        )
        assert reconnects is not None and reconnects >= 1
        await members[0].send("after the outage")
        for ws in members:  # live delivery works again, on every worker
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "after the outage"
    finally:
        for ws in members:
            await ws.close()

    # A member that stops reading: its socket buffers fill, then its outbox (8): closed with 1013.
    stalled = await asyncio.to_thread(_stalled_client, server.url + "/room/flood")
    try:
        stalled.send_signal(signal.SIGSTOP)
        request = urllib.request.Request(f"{server.http_url}/publish?room=flood&n=400&size=65536", method="POST")
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=TIMEOUT).close())
        closes = await asyncio.to_thread(
            prometheus.wait_value, "sum(sockjet_hub_overflow_closes_total)", lambda v: v == 1
        )
        assert closes == 1
    finally:
        stalled.kill()
        stalled.wait()
        assert stalled.stdout is not None
        stalled.stdout.close()


def _stalled_client(url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", CLIENT, url, "joined"], stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    assert process.stdout.readline() == b"connected\n"
    return process


@pytest.mark.timeout(240)
def test_prometheus_sees_the_sum_over_workers(served: Server, redis: RedisServer, tmp_path: Path) -> None:
    with running_prometheus(served.port, tmp_path) as prometheus:
        up = prometheus.wait_value('up{job="sockjet"}', lambda v: v == 1)
        assert up == 1, (tmp_path / "prometheus.log").read_text()
        asyncio.run(_session(served, redis, prometheus))

        def settled(expression: str, expected: float) -> None:
            value = prometheus.wait_value(expression, lambda v: v == expected, TIMEOUT)
            assert value == expected, expression

        settled('sum(sockjet_messages_received_total{route="/echo"})', 20)
        settled('sum(sockjet_messages_sent_total{route="/echo"})', 20)
        settled('sum(sockjet_received_bytes_total{route="/echo"})', 40)
        settled('sum(sockjet_connections_accepted_total{route="/echo"})', 4)
        settled('sum(sockjet_connections_closed_total{route="/echo",side="client",code="1000"})', 4)
        settled('sum(sockjet_connections_refused_total{route="/echo",reason="origin"})', 1)
        settled('sum(sockjet_connections_open{route="/room/{name}"})', 0)
        settled('sum(sockjet_connections_closed_total{route="/room/{name}",side="server",code="1013"})', 1)
        settled('sum(sockjet_hub_publishes_total{backend="redis",outcome="ok"})', 1 + 400)
        # Two workers took part in the scrape's sums: each wrote its own files.
        workers = _workers(served.process.pid)
        assert len(workers) == 2

        # A worker killed and replaced: every counter keeps its sum (the dead worker's files stay).
        before = prometheus.value('sum(sockjet_messages_received_total{route="/echo"})')
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT
        while len(_workers(served.process.pid)) < 2 or workers[0] in _workers(served.process.pid):
            assert time.monotonic() < deadline, "uvicorn did not replace the killed worker"
            time.sleep(100 * MS)
        asyncio.run(_echo_session(served.url, 3))
        settled('sum(sockjet_messages_received_total{route="/echo"})', before + 3 if before is not None else 3)
        resets = prometheus.value('sum(resets(sockjet_messages_received_total{route="/echo"}[5m]))')
        assert resets == 0
        with urllib.request.urlopen(f"{served.http_url}/metrics", timeout=5) as response:
            assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert b"sockjet_connections_open" in response.read()
        names = json.load(urllib.request.urlopen(f"http://127.0.0.1:{prometheus.port}/api/v1/label/__name__/values"))
        assert "sockjet_hub_publish_duration_seconds_bucket" in names["data"]
