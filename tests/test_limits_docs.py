"""The example at the top of docs/guarantees.md runs and configures what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sockjet import App, RateLimit
from sockjet.testclient import TestClient, WebSocketDenialResponse

GUARANTEES = Path(__file__).resolve().parents[1] / "docs" / "guarantees.md"


def test_the_guarantees_example_runs() -> None:
    code = re.search(r"```python\n(.*?)```", GUARANTEES.read_text(encoding="utf-8"), re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(GUARANTEES), "exec"), namespace)
    app: App = namespace["app"]
    (route,) = app.routes
    guard = route.guard.resolve(app)  # type: ignore[attr-defined]
    assert guard.options.rate_limit == RateLimit(messages=20, per=1.0)
    assert (guard.options.idle_timeout, guard.options.max_message_size) == (300, 64 * 1024)
    assert guard.app_max_connections == 10_000
    with (
        TestClient(app) as client,
        pytest.raises(WebSocketDenialResponse) as denial,
        client.websocket_connect("/ws/chat", headers={"origin": "https://evil.example"}),
    ):
        pass  # pragma: no cover - refused
    assert denial.value.status_code == 403
