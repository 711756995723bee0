"""The scrape: the ASGI app, the text format, the flusher, and the sum over worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

import sockjet.metrics
from sockjet import App, WebSocket
from sockjet.hub.outbox import Offer
from sockjet.metrics import workers
from sockjet.metrics._prometheus import DEPTH_BUCKETS, PrometheusRecorder, _LocalHistogram
from sockjet.testclient import TestClient
from tests.metrics.conftest import Reading


def _values(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def test_the_metrics_app_serves_the_text_format(metrics: Reading) -> None:
    app = App()
    app.add_route("/metrics", sockjet.metrics.metrics_app())

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")

    with TestClient(app) as client:
        with client.websocket_connect("/ws") as socket:
            assert socket.receive_text() == "hi"
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        values = _values(response.text)
        assert values["sockjet_messages_sent_total{route=/ws}"] >= 1
        assert "sockjet_connections_open{route=/ws}" in values
        assert client.head("/metrics").content == b""
        refused = client.post("/metrics")
        assert (refused.status_code, refused.text, refused.headers["allow"]) == (405, "Method Not Allowed", "GET, HEAD")


async def test_the_metrics_app_refuses_websockets_and_ignores_lifespan() -> None:
    app = sockjet.metrics.metrics_app()
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:  # pragma: no cover - never called
        return {}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "websocket"}, receive, send)
    await app({"type": "lifespan"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "metrics are served over HTTP"}]
    sockjet.metrics.disable()


def test_a_local_histogram_flushes_what_observe_would_have_counted() -> None:
    registry = CollectorRegistry()
    reference = Histogram("ref", "r", registry=registry, buckets=DEPTH_BUCKETS)
    fed = Histogram("fed", "f", registry=registry, buckets=DEPTH_BUCKETS)
    local = _LocalHistogram(fed, DEPTH_BUCKETS)
    for value in (0, 1, 2, 3, 4, 100, 5000, 7):
        reference.observe(value)
        local.observe(value)
        if value == 3:
            local.flush()
    local.flush()
    local.flush()  # nothing new: nothing moves
    ref = {s.name[3:]: s.value for s in next(iter(reference.collect())).samples if "created" not in s.name}
    got = {s.name[3:]: s.value for s in next(iter(fed.collect())).samples if "created" not in s.name}
    assert got == ref


def test_outbox_depths_land_in_the_buckets_prometheus_client_would_choose() -> None:
    registry = CollectorRegistry()
    reference = Histogram("sockjet_hub_outbox_depth_messages", "r", registry=registry, buckets=DEPTH_BUCKETS)
    recorder = PrometheusRecorder(CollectorRegistry())
    try:
        for depth in (*range(0, 70), 127, 128, 4095, 4096, 4097, 10**6):
            reference.observe(depth)
            recorder.enqueued(Offer.QUEUED, depth)
        recorder.flush()
        ref = {s.name: s.value for s in next(iter(reference.collect())).samples if "created" not in s.name}
        got = {
            s.name: s.value
            for family in recorder.registry.collect()
            if family.name == "sockjet_hub_outbox_depth_messages"
            for s in family.samples
            if "created" not in s.name
        }
        assert got == ref
    finally:
        recorder.stop()


def test_the_flusher_thread_hands_counts_on_without_a_scrape(metrics: Reading) -> None:
    recorder = metrics.recorder
    recorder.delivered(3)
    child = recorder.series.deliveries
    deadline = 50
    while child._value.get() < 3 and deadline:  # the flusher runs every FLUSH_INTERVAL seconds
        time.sleep(0.1)
        deadline -= 1
    assert metrics("sockjet_hub_deliveries_total") == 3


WORKER = textwrap.dedent(
    """
    import sys
    import sockjet.metrics
    from sockjet.metrics import recorder
    current = sockjet.metrics.enable()
    current.delivered(int(sys.argv[1]))
    current.series.open.labels("/ws").inc(int(sys.argv[1]))
    current.stop()
    print(sockjet.metrics.scrape().decode())
    """
)


def test_worker_processes_are_summed_and_a_dead_worker_keeps_its_counts(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in ("2", "5"):  # two workers that have exited (as if uvicorn replaced them)
        command = [sys.executable, "-c", WORKER, count]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    values = _values(done.stdout)
    assert values["sockjet_hub_deliveries_total{}"] == 7  # the dead one's counter is still in the sum
    # Each gauge counted while its process lived: the scraping process is alive, the first is gone.
    assert values["sockjet_connections_open{route=/ws}"] == 5
    gauges = [name for name in os.listdir(tmp_path) if name.startswith("gauge_livesum")]
    assert len(gauges) == 1  # the second worker's: the first one's went at that scrape
    workers.reap_dead_gauges(str(tmp_path))  # now both are gone
    assert [name for name in os.listdir(tmp_path) if name.startswith("gauge_livesum")] == []
    assert any(name.startswith("counter_") for name in os.listdir(tmp_path))


def test_a_scrape_in_multi_process_mode_reads_the_workers_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", WORKER, "4"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    try:
        values = _values(sockjet.metrics.scrape().decode())
    finally:
        sockjet.metrics.disable()
    assert values["sockjet_hub_deliveries_total{}"] == 4
    assert "sockjet_connections_open{route=/ws}" not in values  # that worker is gone


def test_prepare_points_workers_at_one_fresh_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # so that the test's own value is undone afterwards
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert workers.prepare(None) is None
    assert workers.prepare(1) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    directory = workers.prepare(2)
    assert directory is not None and os.path.isdir(directory) and os.listdir(directory) == []
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == directory
    assert workers.prepare(4) == directory  # already set (by the user, or before): kept as is
    os.rmdir(directory)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert workers.prepare(2) is None  # no prometheus_client: nothing to prepare
