"""bench/channels.py runs end to end on a tiny configuration and reports both figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import channels as bench


def test_the_channels_benchmark_runs_and_writes_its_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n<!-- bench:channels -->\nold\n<!-- /bench:channels -->\n")
    argv = ["--clients", "20", "--repeat", "2", "--warmup", "1", "--rounds", "1", "--connections", "20"]
    assert bench.main([*argv, "--write", str(page)]) == 0
    out = capsys.readouterr().out
    assert "| 20 |" in out and "channels, 10 subscriptions" in out
    text = page.read_text()
    assert "old" not in text and text.count("<!-- bench:channels -->") == 1 and "| 20 |" in text
