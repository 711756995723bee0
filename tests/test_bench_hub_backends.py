"""bench/hub_backends.py still runs: every backend once, a handful of messages (numbers are not judged)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import hub_backends

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.nats]


def test_every_backend_measures_and_the_report_is_written(tmp_path: Path) -> None:
    doc = tmp_path / "hub.md"
    markers = "<!-- bench/hub_backends.py results: start -->\nold\n<!-- bench/hub_backends.py results: end -->"
    doc.write_text(f"before\n{markers}\nafter\n")
    assert asyncio.run(hub_backends.main(["--rounds", "1", "--messages", "32", "--write", str(doc)])) == 0
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    for row in ("| memory | off |", "| redis | 100 |", "| nats | 100 |", "| nats | 2 |"):
        assert row in text
