"""bench/channels_recovery.py on a handful of clients, so the benchmark cannot rot (no number is judged)."""

from __future__ import annotations

import argparse

import pytest

from bench import channels_recovery

pytestmark = [pytest.mark.e2e]


async def test_the_recovery_bench_runs_and_reports_both_clients() -> None:
    report = await channels_recovery.run(argparse.Namespace(clients=5, missed=3, rounds=1))
    assert "5 clients reconnecting at once, 3 messages behind each" in report
    assert "| plain Hub | " in report and "| channels | " in report
