"""The chat demo App in-process: its page, static files, health check and chat protocol on a real Hub."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sockjet.demo import app as demo_app
from sockjet.demo import protocol
from sockjet.exceptions import HubError, PublishError
from sockjet.hub import Hub
from sockjet.testclient import TestClient, WebSocketTestSession
from sockjet.websockets import WebSocket, WebSocketDisconnect
from tests.conftest import MS

WAIT = 2000 * MS


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(demo_app.create_app(hub=Hub())) as client:
        yield client


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    data: dict[str, Any] = ws.receive_json(timeout=WAIT)
    return data


def join(ws: WebSocketTestSession, room: str, nick: str) -> str:
    """Join and return the connection id, after the welcome and our own join event."""
    ws.send_json({"type": "join", "room": room, "nick": nick})
    welcome = receive(ws)
    assert welcome["type"] == "welcome"
    assert receive(ws) == {"type": "presence", "event": "join", "id": welcome["id"], "room": room.lower(), "nick": nick}
    return str(welcome["id"])


def test_page_and_static_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="/static/app.js" defer></script>' in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "new WebSocket(" in script.text
    assert client.get("/static/app.css").headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/..%2F__init__.py", "/static/../app.py"])
def test_only_shipped_static_files_exist(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_static_files_come_from_the_package() -> None:
    assert sorted(demo_app.load_static()) == ["app.css", "app.js", "index.html"]


def test_health(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["hub"] == "memory"
    assert isinstance(body["pid"], int)


def test_hub_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Built, not started: the hub connects in the lifespan, which this client never runs.
    monkeypatch.setenv(demo_app.REDIS_URL_ENV, "redis://127.0.0.1:1/0")
    assert TestClient(demo_app.create_app()).get("/healthz").json()["hub"] == "redis"
    monkeypatch.delenv(demo_app.REDIS_URL_ENV)
    assert TestClient(demo_app.create_app()).get("/healthz").json()["hub"] == "memory"
    assert TestClient(demo_app.create_app(redis_url="redis://x:1/0")).get("/healthz").json()["hub"] == "redis"
    monkeypatch.setenv(demo_app.HUB_URL_ENV, "nats://127.0.0.1:1")  # wins over the Redis variable
    monkeypatch.setenv(demo_app.REDIS_URL_ENV, "redis://127.0.0.1:1/0")
    assert TestClient(demo_app.create_app()).get("/healthz").json()["hub"] == "nats"


def test_two_members_chat_and_see_each_other(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ada, client.websocket_connect("/ws") as bob:
        ada_id = join(ada, "lobby", "ada")
        bob_id = join(bob, "Lobby", "bob")
        assert receive(ada) == {"type": "presence", "event": "join", "id": bob_id, "room": "lobby", "nick": "bob"}
        # Ada's page answers a join with "here", so Bob learns she is online.
        ada.send_json({"type": "here"})
        here = {"type": "presence", "event": "here", "id": ada_id, "room": "lobby", "nick": "ada"}
        assert receive(bob) == here
        assert receive(ada) == here
        bob.send_json({"type": "say", "text": "  hi ada  "})
        for ws in (ada, bob):
            message = receive(ws)
            assert message["ts"] > 0
            assert message | {"ts": 0} == {
                "type": "message",
                "id": bob_id,
                "room": "lobby",
                "nick": "bob",
                "text": "hi ada",
                "ts": 0,
            }
        bob.close()
        assert receive(ada) == {"type": "presence", "event": "leave", "id": bob_id, "room": "lobby", "nick": "bob"}


def test_switching_rooms_leaves_the_old_one(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ada, client.websocket_connect("/ws") as bob:
        join(ada, "lobby", "ada")
        bob_id = join(bob, "lobby", "bob")
        assert receive(ada)["event"] == "join"
        join(bob, "random", "bob")
        assert receive(ada) == {"type": "presence", "event": "leave", "id": bob_id, "room": "lobby", "nick": "bob"}
        ada.send_json({"type": "say", "text": "only lobby hears this"})
        assert receive(ada)["text"] == "only lobby hears this"
        bob.send_json({"type": "say", "text": "only random hears this"})
        assert receive(bob)["text"] == "only random hears this"


def test_bad_input_gets_an_error_frame_and_the_connection_stays(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "say", "text": "too early"})
        assert receive(ws) == {"type": "error", "error": "join a room first"}
        ws.send_bytes(b"\x00")
        assert receive(ws) == {"type": "error", "error": "send JSON in text frames, not binary frames"}
        ws.send_json({"type": "join", "room": "lobby", "nick": ""})
        assert receive(ws) == {"type": "error", "error": "nick must not be empty"}
        join(ws, "lobby", "ada")
        ws.send_text("{")
        assert receive(ws) == {"type": "error", "error": "frame is not valid JSON"}
        ws.send_json({"type": "say", "text": "still here"})
        assert receive(ws)["text"] == "still here"


@pytest.mark.parametrize("in_room", [False, True], ids=["before-join", "in-room"])
def test_oversized_frame_closes_with_1008(client: TestClient, in_room: bool) -> None:
    with client.websocket_connect("/ws") as ws:
        if in_room:
            join(ws, "lobby", "ada")
        ws.send_text(json.dumps({"type": "say", "text": "x" * 5000}))
        with pytest.raises(WebSocketDisconnect) as exc_info:
            receive(ws)
    assert (exc_info.value.code, exc_info.value.reason) == (1008, "frame larger than 4096 characters")


def test_too_many_invalid_frames_close_with_1008(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        for _ in range(protocol.MAX_INVALID):
            ws.send_text("nope")
            assert receive(ws)["type"] == "error"
        ws.send_text("nope")
        with pytest.raises(WebSocketDisconnect) as exc_info:
            receive(ws)
    assert (exc_info.value.code, exc_info.value.reason) == (1008, "too many invalid frames")


def test_heartbeat_publishes_here(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "HEARTBEAT", 10 * MS)
    with client.websocket_connect("/ws") as ws:
        ada_id = join(ws, "lobby", "ada")
        assert receive(ws) == {"type": "presence", "event": "here", "id": ada_id, "room": "lobby", "nick": "ada"}


class FailingLeaveHub(Hub):
    """A hub that cannot publish ``leave`` (as while shutting down)."""

    async def publish(self, room: str, data: Any) -> None:
        if isinstance(data, dict) and data.get("event") == "leave":
            raise RuntimeError("hub is stopping")
        await super().publish(room, data)


def test_a_failed_leave_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sockjet.demo")
    with TestClient(demo_app.create_app(hub=FailingLeaveHub())) as client:
        with client.websocket_connect("/ws") as ws:
            ada_id = join(ws, "lobby", "ada")
        assert client.get("/healthz").status_code == 200
    assert f"could not publish leave of {ada_id} in lobby" in caplog.text


class DownHub(Hub):
    """A hub whose backend is unreachable: joins and publishes fail as ``HubError`` says."""

    def __init__(self, *, fail_join: bool) -> None:
        super().__init__()
        self.fail_join = fail_join

    def join(self, room: str, websocket: WebSocket, **options: Any) -> Any:
        if not self.fail_join:
            return super().join(room, websocket, **options)

        @contextlib.asynccontextmanager
        async def refused() -> AsyncIterator[None]:
            raise HubError("Redis at redis://127.0.0.1:1/0 is unreachable")
            yield  # pragma: no cover - never reached

        return refused()

    async def publish(self, room: str, data: Any) -> None:
        if isinstance(data, dict) and data.get("type") == "message":
            raise PublishError("publish timed out after 2.0s")
        await super().publish(room, data)


def test_a_failed_publish_is_an_error_frame_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(demo_app.create_app(hub=DownHub(fail_join=False))) as client, client.websocket_connect("/ws") as ws:
        join(ws, "lobby", "ada")
        ws.send_json({"type": "say", "text": "lost?"})
        assert receive(ws) == {"type": "error", "error": "message not sent, try again: publish timed out after 2.0s"}
        ws.send_json({"type": "here"})
        assert receive(ws)["event"] == "here"
    assert "publish to lobby failed: publish timed out after 2.0s" in caplog.text


def test_a_failed_join_closes_with_1013_so_the_page_retries(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(demo_app.create_app(hub=DownHub(fail_join=True))) as client, client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "join", "room": "lobby", "nick": "ada"})
        with pytest.raises(WebSocketDisconnect) as exc_info:
            receive(ws)
    assert (exc_info.value.code, exc_info.value.reason) == (1013, "chat backend unavailable, try again later")
    assert "join of lobby failed: Redis at redis://127.0.0.1:1/0 is unreachable" in caplog.text


# -- with history (the demo's own hub) ---------------------------------------------------------------------
@pytest.fixture
def history_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv(demo_app.REDIS_URL_ENV, raising=False)
    with TestClient(demo_app.create_app()) as client:
        yield client


def enter(ws: WebSocketTestSession, room: str, nick: str, since: str | None = None) -> list[dict[str, Any]]:
    """Join (with ``since``, a re-join) and return every frame up to and including the welcome."""
    frame: dict[str, Any] = {"type": "join", "room": room, "nick": nick}
    if since is not None:
        frame["since"] = since
    ws.send_json(frame)
    frames = [receive(ws)]
    while frames[-1].get("type") != "welcome":
        frames.append(receive(ws))
    return frames


def test_a_page_joining_sees_the_rooms_history_then_live(history_client: TestClient) -> None:
    assert history_client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    with history_client.websocket_connect("/ws") as ada:
        first = enter(ada, "lobby", "ada")
        assert first[0] == {"type": "history", "room": "lobby", "resync": False, "top": None, "messages": []}
        joined = receive(ada)  # our own join, from the room's stream, with its position
        assert joined["room"] == "lobby" and joined["data"]["event"] == "join" and joined["position"]
        ada.send_json({"type": "say", "text": "kept for later"})
        said = receive(ada)
        assert said["data"]["text"] == "kept for later"
        with history_client.websocket_connect("/ws") as bob:
            frames = enter(bob, "lobby", "bob")
            history = frames[0]
            assert history["type"] == "history" and history["top"] == said["position"]
            assert [m["data"].get("text") for m in history["messages"]] == [None, "kept for later"]
            assert frames[-1]["recovered"] is True


def test_a_page_that_comes_back_gets_exactly_what_it_missed(history_client: TestClient) -> None:
    with history_client.websocket_connect("/ws") as ada:
        enter(ada, "lobby", "ada")
        last = receive(ada)["position"]  # ada's own join line
        with history_client.websocket_connect("/ws") as bob:
            enter(bob, "lobby", "bob")
            receive(bob)
            for text in ("one", "two", "three"):
                bob.send_json({"type": "say", "text": text})
                receive(bob)
        with history_client.websocket_connect("/ws") as again:
            frames = enter(again, "lobby", "ada", since=last)
            replayed = [f["data"] for f in frames if "position" in f]
            kinds = [d.get("text") or d["event"] for d in replayed]
            assert kinds == ["join", "one", "two", "three", "leave"]  # bob's join, his 3 lines, his leave
            assert frames[-1]["type"] == "welcome" and frames[-1]["recovered"] is True
            assert not any(f.get("type") == "history" for f in frames)


def test_a_page_whose_position_is_gone_is_told_and_reloaded(history_client: TestClient) -> None:
    with history_client.websocket_connect("/ws") as ada:
        frames = enter(ada, "lobby", "ada", since="0ld3poch.12")
        resync = [f for f in frames if f.get("type") == "history"]
        assert len(resync) == 1 and resync[0]["resync"] is True
        assert frames[-1]["recovered"] is False
