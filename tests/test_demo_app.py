"""The chat demo App in-process: its page, static files, health check and chat protocol on a real Hub."""

from __future__ import annotations

import contextlib
import json
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


def receive_any(ws: WebSocketTestSession) -> dict[str, Any]:
    data: dict[str, Any] = ws.receive_json(timeout=WAIT)
    return data


def is_presence(frame: dict[str, Any]) -> bool:
    """The hub's presence frames, and the join/leave lines (published: maybe inside a publication)."""
    data = frame.get("data", frame) if "position" in frame else frame
    return frame.get("type") == "presence" or (isinstance(data, dict) and data.get("type") == "presence")


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next frame that is not about presence (those arrive at their own pace: see ``Page``)."""
    while True:
        frame = receive_any(ws)
        if not is_presence(frame):
            return frame


class Page:
    """What the demo page makes of the frames: the online list (by user) and the system lines."""

    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws
        self.online: dict[str, str] = {}
        self.lines: list[str] = []
        self.others: list[dict[str, Any]] = []
        """Frames about something else, in order, for ``next``."""

    def take(self) -> dict[str, Any]:
        frame = receive_any(self.ws)
        data = frame["data"] if "position" in frame else frame
        if frame.get("type") == "presence" and "event" not in frame:
            if "state" in frame:
                self.online = {e["info"]["user"]: e["info"]["nick"] for e in frame["state"]}
            else:
                for entry in frame["leaves"]:
                    self.online.pop(entry["info"]["user"], None)
                self.online.update({e["info"]["user"]: e["info"]["nick"] for e in frame["joins"]})
        elif data.get("type") == "presence":
            self.lines.append(f"{data['nick']} {'joined' if data['event'] == 'join' else 'left'}")
        else:
            self.others.append(frame)
        return frame

    def until(self, predicate: Any) -> None:
        while not predicate(self):
            self.take()

    def next(self) -> dict[str, Any]:
        """The next frame that is not about presence."""
        self.until(lambda p: p.others)
        return self.others.pop(0)

    def join(self, room: str, nick: str) -> dict[str, Any]:
        self.ws.send_json({"type": "join", "room": room, "nick": nick})
        welcome = self.next()
        while welcome["type"] == "history":  # a hub with history sends it first
            welcome = self.next()
        assert welcome["type"] == "welcome"
        return welcome


def join(ws: WebSocketTestSession, room: str, nick: str) -> str:
    """Join and return the connection id (from the welcome; presence frames may come around it)."""
    ws.send_json({"type": "join", "room": room, "nick": nick})
    welcome = receive(ws)
    assert welcome["type"] == "welcome"
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
    with client.websocket_connect("/ws") as ada_ws, client.websocket_connect("/ws") as bob_ws:
        ada, bob = Page(ada_ws), Page(bob_ws)
        assert ada.join("lobby", "ada")["user"] == "ada"
        ada.until(lambda p: p.online == {"ada": "ada"} and p.lines == ["ada joined"])
        bob.join("Lobby", "bob")
        assert bob.online == {"ada": "ada", "bob": "bob"}  # the state, before the welcome
        ada.until(lambda p: p.online == {"ada": "ada", "bob": "bob"} and p.lines == ["ada joined", "bob joined"])
        bob_ws.send_json({"type": "say", "text": "  hi ada  "})
        for page in (ada, bob):
            message = page.next()
            assert message["ts"] > 0
            assert message | {"ts": 0, "id": "?"} == {
                "type": "message",
                "id": "?",
                "room": "lobby",
                "nick": "bob",
                "text": "hi ada",
                "ts": 0,
            }
        bob_ws.close()
        ada.until(lambda p: p.online == {"ada": "ada"} and p.lines[-1] == "bob left")


def test_switching_rooms_leaves_the_old_one(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ada_ws, client.websocket_connect("/ws") as bob_ws:
        ada, bob = Page(ada_ws), Page(bob_ws)
        ada.join("lobby", "ada")
        bob.join("lobby", "bob")
        ada.until(lambda p: "bob" in p.online)
        bob.join("random", "bob")
        assert bob.online == {"bob": "bob"}
        ada.until(lambda p: p.online == {"ada": "ada"} and p.lines[-1] == "bob left")
        ada_ws.send_json({"type": "say", "text": "only lobby hears this"})
        assert ada.next()["text"] == "only lobby hears this"
        bob_ws.send_json({"type": "say", "text": "only random hears this"})
        assert bob.next()["text"] == "only random hears this"


def test_pages_with_one_nick_are_one_user(client: TestClient) -> None:
    with client.websocket_connect("/ws") as bob_ws:
        bob = Page(bob_ws)
        bob.join("lobby", "bob")
        with client.websocket_connect("/ws") as tab1, client.websocket_connect("/ws") as tab2:
            Page(tab1).join("lobby", "Ada")
            second = Page(tab2)
            second.join("lobby", "ada")  # the same user, whatever the case
            assert second.online == {"ada": "Ada", "bob": "bob"}
            bob.until(lambda p: "ada" in p.online)
            tab1.close()  # one tab closes: ada is still here
            bob_ws.send_json({"type": "say", "text": "marker"})
            assert bob.next()["text"] == "marker"
            assert bob.lines == ["bob joined", "Ada joined"] and "ada" in bob.online
        bob.until(lambda p: p.online == {"bob": "bob"})
        assert bob.lines == ["bob joined", "Ada joined", "ada left"]  # the nick of the last page to leave


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


class LinelessHub(Hub):
    """A hub that cannot publish the join and leave lines (as while Redis is down)."""

    async def publish(self, room: str, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "presence":
            raise PublishError("Redis is down")
        return await super().publish(room, data)


def test_a_line_that_cannot_be_published_is_logged_and_the_list_stays_right(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(demo_app.create_app(hub=LinelessHub())) as client, client.websocket_connect("/ws") as ws:
        page = Page(ws)
        page.join("lobby", "ada")
        assert page.online == {"ada": "ada"}
        ws.send_json({"type": "say", "text": "still here"})
        assert page.next()["text"] == "still here"
    assert "could not publish that ada join lobby: Redis is down" in caplog.text


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
        ws.send_json({"type": "here"})  # not a command any more: presence is the hub's
        assert receive(ws) == {"type": "error", "error": '"type" must be one of "join", "say"'}
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
    frames = [receive_any(ws)]
    while frames[-1].get("type") != "welcome":
        frames.append(receive_any(ws))
    return frames


def test_a_page_joining_sees_the_rooms_history_then_live(history_client: TestClient) -> None:
    assert history_client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    with history_client.websocket_connect("/ws") as ada:
        first = enter(ada, "lobby", "ada")
        assert first[0] == {"type": "history", "room": "lobby", "resync": False, "top": None, "messages": []}
        page = Page(ada)
        page.until(lambda p: p.lines == ["ada joined"])  # our own join line, from the room's stream
        ada.send_json({"type": "say", "text": "kept for later"})
        said = receive(ada)
        assert said["data"]["text"] == "kept for later"
        with history_client.websocket_connect("/ws") as bob:
            frames = enter(bob, "lobby", "bob")
            history = frames[0]
            assert history["type"] == "history" and history["top"] == said["position"]
            assert [m["data"].get("text") or m["data"]["event"] for m in history["messages"]] == [
                "join",
                "kept for later",
            ]
            assert frames[-1]["recovered"] is True


def test_a_page_that_comes_back_gets_exactly_what_it_missed(history_client: TestClient) -> None:
    with history_client.websocket_connect("/ws") as ada_ws:
        ada = Page(ada_ws)
        ada.join("lobby", "ada")
        frame = ada.take()
        while "position" not in frame:
            frame = ada.take()
        last = frame["position"]  # ada's own join line
        with history_client.websocket_connect("/ws") as bob:
            enter(bob, "lobby", "bob")
            for text in ("one", "two", "three"):
                bob.send_json({"type": "say", "text": text})
                receive(bob)
        ada.until(lambda p: p.lines[-1:] == ["bob left"])
        with history_client.websocket_connect("/ws") as again:  # ada's page again: she is still here
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
