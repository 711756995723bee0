"""Deselecting by marker starts no server: ``-m "not redis and not nats"`` runs the memory cases of
the shared backend suites and never starts redis-server or nats-server (tests/conftest.py's
``hub_url`` params carry the marks)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.servers.redis_server import NO_SERVERS
from tests.servers.servers import ROOT

# Modules that take the shared servers through hub_url / backend_url / shared_url and redis_server.
MODULES = ["tests/metrics/test_deduplicated.py", "tests/hub/backends/test_history_every_backend.py"]


def test_a_run_without_redis_and_nats_starts_neither() -> None:
    env = {**os.environ, NO_SERVERS: "1", "COVERAGE_PROCESS_START": ""}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not redis and not nats", *MODULES]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "deselected" in summary and "error" not in summary, summary


def test_the_guard_itself_refuses_a_server() -> None:
    env = {**os.environ, NO_SERVERS: "1", "COVERAGE_PROCESS_START": ""}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "redis", MODULES[0]]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"{NO_SERVERS} is set, yet a test started a redis-server" in done.stdout
