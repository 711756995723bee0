"""docs/grafana-sockjet.json: it parses, its PromQL is valid, and it names only series sockjet exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import sockjet.metrics
from tests.metrics.conftest import Reading

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-sockjet.json"
SERIES = re.compile(r"\bsockjet_[a-z_]+\b")


def _expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"  # Grafana asks for the data source on import
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert panels and all(panel["targets"] for panel in panels)
    return [target["expr"] for panel in panels for target in panel["targets"]]


def _exposed(text: str) -> tuple[set[str], set[str]]:
    """(sample names a scrape can hold, family names) of sockjet's series."""
    names: set[str] = set()
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("sockjet_") or family.name.endswith("_created"):
            continue  # _created: prometheus_client's creation time beside each counter and histogram
        families.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names, families


def test_every_expression_names_a_series_of_a_real_scrape_and_every_series_has_a_panel(metrics: Reading) -> None:
    names, families = _exposed(sockjet.metrics.scrape().decode())
    used = {name for expression in _expressions() for name in SERIES.findall(expression)}
    assert used - names == set()
    covered = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert families - covered == set()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not found (apt-get install prometheus)")
def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"sockjet:panel{i}", "expr": expression.replace("$__rate_interval", "1m")}
                    for i, expression in enumerate(_expressions())
                ],
            }
        ]
    }
    path = tmp_path / "rules.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(rules))
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
