"""bench/hub_presence_refresh.py still runs: a few connections on each broker (numbers are not judged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import hub_presence_refresh

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.nats]


def test_the_refresh_bench_measures_both_brokers_and_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "hub.md"
    doc.write_text(f"before\n{hub_presence_refresh.START}\nstale text\n{hub_presence_refresh.END}\nafter\n")
    argv = ["--connections", "40", "--rooms", "1,40", "--ttls", "0.9", "--cycles", "1", "--write", str(doc)]
    assert hub_presence_refresh.main(argv) == 0
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "stale text" not in text
    for row in ("| redis | 1 | 0.9 s |", "| redis | 40 | 0.9 s |", "| nats | 1 | 0.9 s |", "| nats | 40 | 0.9 s |"):
        assert row in text
