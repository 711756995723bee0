"""bench/metrics_cost.py's in-process part runs (so it cannot rot); no number is judged here."""

from __future__ import annotations

import re

import pytest

import sockjet.metrics
from bench import metrics_cost


def test_the_in_process_cost_bench_reports_echo_and_fan_out(capsys: pytest.CaptureFixture[str]) -> None:
    metrics_cost._alone(rounds=2, messages=2000, clients=20, publishes=4)
    out = capsys.readouterr().out
    assert re.search(r"alone: echo CPU per message off=[\d.]+us on=[\d.]+us", out), out
    assert re.search(r"alone: fan-out N=20 publish CPU off=[\d.]+ms on=[\d.]+ms", out), out
    assert not sockjet.metrics.is_enabled()  # left as it found it
