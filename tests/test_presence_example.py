"""examples/presence_room.py as a user would run it: two tabs of one user and another user, in process."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pytest

from sockjet.testclient import TestClient
from tests.conftest import MS


@pytest.fixture
def presence_room(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("HUB_URL", raising=False)
    monkeypatch.delenv("PRESENCE_TTL", raising=False)
    import examples.presence_room

    return importlib.reload(examples.presence_room)  # a fresh hub and app for this test


def receive_until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = ws.receive_json(timeout=2000 * MS)
        if frame["type"] == kind:
            return frame


def follow(ws: Any, known: dict[str, Any], until: int) -> None:
    """Apply presence frames (state, then leaves then joins) until ``known`` has ``until`` entries."""
    while len(known) != until:
        frame = receive_until(ws, "presence")
        if "state" in frame:
            known.clear()
            known.update({e["id"]: e["info"] for e in frame["state"]})
            continue
        for entry in frame["leaves"]:
            known.pop(entry["id"], None)
        known.update({e["id"]: e["info"] for e in frame["joins"]})


def test_presence_room(presence_room: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="examples.presence_room")
    with TestClient(presence_room.app) as client:
        with client.websocket_connect("/ws/lobby?user=ada&name=Ada") as tab1:
            known: dict[str, Any] = {}
            follow(tab1, known, 1)
            me = receive_until(tab1, "hello")["id"]
            assert known == {me: {"user": "ada", "name": "Ada", "worker": known[me]["worker"]}}
            with (
                client.websocket_connect("/ws/lobby?user=ada&name=Ada") as tab2,
                client.websocket_connect("/ws/lobby?user=bob") as bob,
            ):
                follow(tab1, known, 3)
                bob.send_text("hi")
                assert receive_until(tab2, "message") == {"type": "message", "from": "bob", "text": "hi"}
                answer = client.get("/presence/lobby").json()
                assert (answer["connections"], answer["users"], answer["presence"]) == (3, 2, known)
            follow(tab1, known, 1)
            assert list(known) == [me]
        assert client.get("/presence/lobby").json() == {"connections": 0, "users": 0, "presence": {}}
    lines = [r.getMessage() for r in caplog.records if r.name == "examples.presence_room"]
    assert sorted(lines) == [  # ada's second tab is not news; her last tab leaving is
        "user ada joined room lobby",
        "user ada left room lobby",
        "user bob joined room lobby",
        "user bob left room lobby",
    ]
