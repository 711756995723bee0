"""examples/chat_history.py, exercised as a user would: a first frame with the client's position,
positions on every frame, a reconnect that catches up once and in order (also for a client that
dropped before any message), a resync when history cannot, and a bad ``since``."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from sockjet import Position
from sockjet.testclient import TestClient
from sockjet.websockets import WebSocketDisconnect
from tests.conftest import MS


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("HUB_URL", raising=False)
    import examples.chat_history

    return importlib.reload(examples.chat_history)  # a fresh hub and app for this test


def live(ws: Any, room: str = "lobby") -> Position:
    """The endpoint's first frame: the client's position now that it is live."""
    frame = ws.receive_json(timeout=2000 * MS)
    assert set(frame) == {"room", "position"} and frame["room"] == room, frame
    return Position.parse(frame["position"])


def test_a_fresh_client_that_drops_before_any_message_resumes_from_its_first_frame(example: Any) -> None:
    with TestClient(example.app) as client:
        with client.websocket_connect("/ws/idle") as fresh:
            start = live(fresh, "idle")  # nobody has spoken yet: offset 0 of the room's epoch
        assert start.offset == 0
        with client.websocket_connect("/ws/idle") as ann:
            assert live(ann, "idle") == start
            for text in ("while", "away"):
                ann.send_text(text)
                ann.receive_json(timeout=2000 * MS)
        with client.websocket_connect(f"/ws/idle?since={start}") as back:
            got = [back.receive_json(timeout=2000 * MS) for _ in range(2)]
            assert [g["data"]["text"] for g in got] == ["while", "away"]  # nothing missed, no resync
            assert [Position.parse(g["position"]) for g in got] == [Position(start.epoch, 1), Position(start.epoch, 2)]
            assert live(back, "idle") == Position(start.epoch, 2)


def test_a_reconnecting_client_gets_what_it_missed_once_in_order(example: Any) -> None:
    with TestClient(example.app) as client:
        with client.websocket_connect("/ws/lobby") as ann:
            live(ann)
            with client.websocket_connect("/ws/lobby") as bob:
                live(bob)
                bob.send_text("hello")
                first = ann.receive_json(timeout=2000 * MS)
                assert first["data"] == {"text": "hello"} and first["room"] == "lobby"
                assert bob.receive_json(timeout=2000 * MS) == first
            for i in range(3):  # ann keeps talking while bob is away
                ann.send_text(f"missed {i}")
                ann.receive_json(timeout=2000 * MS)
            with client.websocket_connect(f"/ws/lobby?since={first['position']}") as bob:
                got = [bob.receive_json(timeout=2000 * MS) for _ in range(3)]
                assert live(bob).offset == 4
                assert [g["data"]["text"] for g in got] == ["missed 0", "missed 1", "missed 2"]
                offsets = [Position.parse(g["position"]).offset for g in got]
                assert offsets == [2, 3, 4]
                ann.send_text("live")
                assert bob.receive_json(timeout=2000 * MS)["data"] == {"text": "live"}
        history = client.get("/rooms/lobby/history").json()
        assert [m["data"]["text"] for m in history["messages"]] == ["hello", "missed 0", "missed 1", "missed 2", "live"]
        assert Position.parse(history["top"]).offset == 5


def test_a_client_whose_position_cannot_be_recovered_gets_a_resync(example: Any) -> None:
    with TestClient(example.app) as client, client.websocket_connect("/ws/lobby") as ann:
        live(ann)
        ann.send_text("kept")
        kept = ann.receive_json(timeout=2000 * MS)
        with client.websocket_connect("/ws/lobby?since=0ld3poch.7") as bob:  # another epoch
            assert live(bob) == Position.parse(kept["position"])
            resync = bob.receive_json(timeout=2000 * MS)
            assert resync == {"resync": [{"position": kept["position"], "data": {"text": "kept"}}]}


def test_a_bad_since_is_refused(example: Any) -> None:
    with TestClient(example.app) as client, client.websocket_connect("/ws/lobby?since=garbage") as ws:
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive_text(timeout=2000 * MS)
        assert (caught.value.code, caught.value.reason) == (1008, "since is not a position")
