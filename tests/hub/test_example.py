"""examples/chat_room.py, exercised as a user would: two clients in a room, an HTTP publish, counts."""

from __future__ import annotations

import importlib

import pytest

from sockjet.testclient import TestClient
from tests.conftest import MS


@pytest.fixture
def chat_room(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.delenv("HUB_URL", raising=False)
    import examples.chat_room

    return importlib.reload(examples.chat_room)  # a fresh hub and app for this test


def test_chat_room(chat_room: object) -> None:
    app, hub = chat_room.app, chat_room.hub  # type: ignore[attr-defined]
    with TestClient(app) as client:
        with (
            client.websocket_connect("/ws/chat/lobby") as ann,
            client.websocket_connect("/ws/chat/lobby") as bob,
            client.websocket_connect("/ws/chat/other") as eve,
        ):
            assert client.get("/rooms/lobby").json() == {"room": "lobby", "members": 2}
            ann.send_text("hi bob")
            assert bob.receive_text(timeout=2000 * MS) == "hi bob"
            assert ann.receive_text(timeout=2000 * MS) == "hi bob"
            assert client.post("/rooms/lobby/announce").json() == {"ok": True}
            assert bob.receive_json(timeout=2000 * MS) == {"announcement": "hello lobby"}
            assert ann.receive_json(timeout=2000 * MS) == {"announcement": "hello lobby"}
            eve.send_text("only for other")
            assert eve.receive_text(timeout=2000 * MS) == "only for other"
        assert client.get("/rooms/lobby").json() == {"room": "lobby", "members": 0}
    assert not hub.running


def test_chat_room_reports_a_failed_publish_to_the_sender(chat_room: object) -> None:
    from sockjet.exceptions import PublishError

    app, hub = chat_room.app, chat_room.hub  # type: ignore[attr-defined]

    async def failing_publish(room: str, data: object) -> None:
        raise PublishError("Redis is down")

    with TestClient(app) as client, client.websocket_connect("/ws/chat/lobby") as ws:
        hub.publish = failing_publish
        ws.send_text("lost")
        assert ws.receive_json(timeout=2000 * MS) == {"error": "Redis is down"}
