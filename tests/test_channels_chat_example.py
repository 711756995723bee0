"""examples/channels_chat.py in process: its page, sockjet.js beside it, and its rooms over raw channel frames."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sockjet.channels import token_subprotocol
from sockjet.testclient import TestClient, WebSocketTestSession
from sockjet.websockets import WebSocketDisconnect
from tests.conftest import MS

PAGE = Path(__file__).parents[1] / "examples" / "channels_chat.html"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv("HUB_URL", raising=False)
    import examples.channels_chat

    return importlib.reload(examples.channels_chat)  # a fresh hub and app for this test


@pytest.fixture
def client(example: ModuleType) -> Iterator[TestClient]:
    with TestClient(example.app) as client:
        yield client


def receive(ws: WebSocketTestSession, **fields: Any) -> dict[str, Any]:
    """The next frame with these fields (presence and other pushes in between are skipped)."""
    while True:
        frame: dict[str, Any] = ws.receive_json(timeout=2000 * MS)
        if all(frame.get(key) == value for key, value in fields.items()):
            return frame


def test_the_page_is_under_60_lines_and_uses_sockjet_js(client: TestClient) -> None:
    assert PAGE.read_text().count("\n") < 60
    page = client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'import { Client } from "/_sockjet/sockjet.js";' in page.text
    assert client.get("/_sockjet/sockjet.js").status_code == 200


def test_chat_with_presence_history_and_refusals(client: TestClient) -> None:
    offered = ["sockjet.v1", token_subprotocol("ada")]
    with client.websocket_connect("/ws", subprotocols=offered) as ws:
        assert receive(ws)["op"] == "connected"
        ws.send_json({"id": 1, "op": "subscribe", "room": "chat:team", "presence_events": "users"})
        assert receive(ws, id=1)["ok"]["recovered"] is True
        state = receive(ws, op="presence")
        assert [entry["info"] for entry in state["state"]] == [{"user": "ada"}]
        ws.send_json({"id": 2, "op": "publish", "room": "chat:team", "data": {"text": "hello"}})
        message = receive(ws, op="message")
        assert message["data"] == {"user": "ada", "text": "hello"}
        ws.send_json({"id": 3, "op": "publish", "room": "chat:team", "data": {"text": "x" * 501}})
        assert receive(ws, id=3)["error"] == {"code": 403, "message": "A message is 1 to 500 characters."}
        ws.send_json({"id": 4, "op": "history", "room": "chat:team", "limit": 100})
        assert [m["data"]["text"] for m in receive(ws, id=4)["ok"]["messages"]] == ["hello"]


@pytest.mark.parametrize("offered", [["sockjet.v1"], ["sockjet.v1", token_subprotocol("n" * 25)]])
def test_a_missing_or_long_nickname_is_refused(client: TestClient, offered: list[str]) -> None:
    with pytest.raises(WebSocketDisconnect) as exc_info, client.websocket_connect("/ws", subprotocols=offered) as ws:
        ws.receive_json(timeout=2000 * MS)
    assert (exc_info.value.code, exc_info.value.reason) == (4003, "a nickname is 1 to 24 characters")
