"""The benchmark harness still runs: one config, 2 connections, about a second (numbers are not judged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import apps, client, harness, report, run, serve, stats

pytestmark = pytest.mark.e2e


def test_one_config_measures_a_positive_rate_and_renders(tmp_path: Path) -> None:
    assert callable(apps.raw) and serve.STACKS and isinstance(client.EchoResult, type)
    config = harness.Config("sockjet", "websockets-sansio")
    with harness.server(config) as target:
        measured = harness.measure_echo(target, payload=32, connections=2, duration=0.8, warmup=0.2)
        memory = harness.measure_memory(target, connections=10, settle=0.05)
    echo = measured.echo
    assert echo.msg_per_s > 0
    assert measured.server_cpu_s >= 0
    assert echo.errors == 0
    assert 0 < echo.p50_us <= echo.p99_us
    assert memory.connections == 10 and memory.rss_before_kib > 0

    records = [
        {"kind": "echo", "round": 0, "key": config.key, "payload": 32, **echo.__dict__, "cpu_us_per_msg": 1.0},
        {"kind": "memory", "round": 0, "key": config.key, "kib_per_connection": memory.kib_per_connection},
    ]
    results = {
        "command": "python -m bench.run --quick",
        "started": "now",
        "minutes": 0.1,
        "machine": run.machine(),
        "settings": {
            "rounds": 1,
            "duration": 0.8,
            "warmup": 0.2,
            "connections": 2,
            "idle_connections": 10,
            "payloads": [32],
        },
        "configs": [{"key": config.key, "label": config.label, "stack": config.stack, "ws": config.ws}],
        "records": records,
    }
    output = tmp_path / "benchmarks.md"
    report.write_report(results, output)
    text = output.read_text()
    assert f"| **{config.label}** | {echo.msg_per_s:,.0f} (" in text
    assert "## Hub fan-out" in text
    assert stats.baseline_key(config.key) == "raw@websockets-sansio"
