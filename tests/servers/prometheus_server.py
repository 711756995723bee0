"""A Prometheus server of the tests' own (Debian's /usr/bin/prometheus), on a free port, with a tmp TSDB."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.servers import free_port
from tests.timing import MS

PROMETHEUS = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin:/usr/sbin")
SKIP_REASON = "prometheus binary not found (apt-get install prometheus); the metrics e2e test needs a real server"
SCRAPE_INTERVAL = "1s"


class Prometheus:
    def __init__(self, port: int) -> None:
        self.port = port

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of ``expression`` (``/api/v1/query``)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expression: str) -> float | None:
        """The single value of ``expression`` (None: no series)."""
        result = self.query(expression)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expression: str, predicate: Any, timeout: float = 30000 * MS) -> float | None:
        """Poll until ``predicate(value)`` holds (scrapes are a second apart); the last value otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expression)
            if predicate(value) or time.monotonic() > deadline:
                return value
            time.sleep(200 * MS)


@contextlib.contextmanager
def running_prometheus(target_port: int, directory: Path) -> Iterator[Prometheus]:
    """Prometheus scraping ``127.0.0.1:target_port/metrics`` every second; stopped by its own PID."""
    if PROMETHEUS is None:  # pragma: no cover - CI installs prometheus
        pytest.skip(SKIP_REASON)
    port = free_port()
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL}\n"
        f"  evaluation_interval: {SCRAPE_INTERVAL}\n"
        "scrape_configs:\n"
        "  - job_name: sockjet\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n"
    )
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30000 * MS
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as response,
            ):
                if response.status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not become ready:\n{(directory / 'prometheus.log').read_text()}")
            time.sleep(100 * MS)
        yield Prometheus(port)
    finally:
        process.terminate()
        try:
            process.wait(10000 * MS)
        except subprocess.TimeoutExpired:  # pragma: no cover - it stops on SIGTERM
            process.kill()
            process.wait()
        log.close()


__all__ = ["PROMETHEUS", "SKIP_REASON", "Prometheus", "running_prometheus"]
