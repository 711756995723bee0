"""docs/metrics.md shows examples/metrics_echo.py as it is, and that example serves its own metrics."""

from __future__ import annotations

from pathlib import Path

from sockjet.testclient import TestClient
from tests.metrics.conftest import Reading

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_show_the_example_verbatim() -> None:
    example = (ROOT / "examples" / "metrics_echo.py").read_text()
    assert f"```python\n{example}```" in (ROOT / "docs" / "metrics.md").read_text()


def test_the_example_counts_its_echoes_and_serves_them(metrics: Reading) -> None:
    from examples.metrics_echo import app

    with TestClient(app) as client:
        with client.websocket_connect("/ws/echo") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"
        scrape = client.get("/metrics").text
    assert 'sockjet_messages_received_total{route="/ws/echo"}' in scrape
    assert metrics("sockjet_messages_received_total", route="/ws/echo") == 1
    assert metrics("sockjet_sent_bytes_total", route="/ws/echo") == 5
