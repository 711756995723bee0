"""bench/hub_expiry.py still runs: a few hundred publishes, a small fill (numbers are not judged)."""

from __future__ import annotations

from pathlib import Path

from bench import hub_expiry


def test_the_expiry_bench_measures_and_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "hub.md"
    doc.write_text(f"before\n{hub_expiry.START}\nold\n{hub_expiry.END}\nafter\n")
    argv = ["--rate", "500", "--meta-ttl", "0.4", "--during", "0.4", "--rooms", "2000", "--memory-meta-ttl", "0.3"]
    assert hub_expiry.main([*argv, "--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| during expiry |" in text and "(0 rooms kept)" in text  # the quiet hub was emptied by its sweep
