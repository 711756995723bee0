"""The chat demo App in-process: its page, static files, health check, and its rooms on Channels over a real Hub.

The page's side is sockjet.js (tested with node and in a browser); here ``Page`` speaks the channels
protocol with raw frames and keeps what the page would show: the online list and the system lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sockjet.channels import token_subprotocol
from sockjet.demo import app as demo_app
from sockjet.exceptions import PublishError
from sockjet.hub import Hub, Position
from sockjet.testclient import TestClient, WebSocketTestSession
from sockjet.websockets import WebSocketDisconnect
from tests.conftest import MS

WAIT = 2000 * MS


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(demo_app.create_app(hub=Hub())) as client:
        yield client


@pytest.fixture
def history_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The demo's own hub: it keeps every room's last 100 messages."""
    monkeypatch.delenv(demo_app.REDIS_URL_ENV, raising=False)
    monkeypatch.delenv(demo_app.HUB_URL_ENV, raising=False)
    with TestClient(demo_app.create_app()) as client:
        yield client


def connect(client: TestClient, nick: str | None) -> WebSocketTestSession:
    """Open /ws as the page does: the nickname is the token."""
    offered = ["sockjet.v1"] + ([token_subprotocol(nick)] if nick is not None else [])
    return client.websocket_connect("/ws", subprotocols=offered)


class Page:
    """What the demo page makes of the frames: the online list (by user), the system lines, the rest."""

    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws
        self.online: dict[str, str] = {}
        self.lines: list[str] = []
        self.messages: list[dict[str, Any]] = []
        """Chat message pushes, in order."""
        self.replies: dict[int, dict[str, Any]] = {}
        self.ids = 0
        self.connected = self.take()
        assert self.connected["op"] == "connected"

    def take(self) -> dict[str, Any]:
        frame: dict[str, Any] = self.ws.receive_json(timeout=WAIT)
        if "id" in frame:
            self.replies[frame["id"]] = frame
        elif frame["op"] == "presence":
            if "state" in frame:
                self.online = {e["info"]["user"]: e["info"]["nick"] for e in frame["state"]}
            for entry in frame.get("leaves", []):
                self.online.pop(entry["info"]["user"], None)
            self.online.update({e["info"]["user"]: e["info"]["nick"] for e in frame.get("joins", [])})
        elif frame["op"] == "message" and frame["data"]["type"] == "presence":
            data = frame["data"]
            self.lines.append(f"{data['nick']} {'joined' if data['event'] == 'join' else 'left'}")
        elif frame["op"] == "message":
            self.messages.append(frame)
        return frame

    def until(self, predicate: Any) -> None:
        while not predicate(self):
            self.take()

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send a command and return its reply (frames that come meanwhile are taken in)."""
        self.ids += 1
        ident = self.ids
        self.ws.send_json({"id": ident, **command})
        self.until(lambda p: ident in p.replies)
        return self.replies.pop(ident)

    def subscribe(self, room: str, since: str | None = None) -> dict[str, Any]:
        command: dict[str, Any] = {"op": "subscribe", "room": room, "presence_events": "users"}
        if since is not None:
            command["since"] = since
        return self.ask(command)

    def say(self, room: str, text: Any) -> dict[str, Any]:
        return self.ask({"op": "publish", "room": room, "data": {"text": text}})

    def next_message(self) -> dict[str, Any]:
        self.until(lambda p: p.messages)
        return self.messages.pop(0)


def test_page_and_static_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/static/app.js"></script>' in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert 'import { Client, parsePosition } from "/_sockjet/sockjet.js";' in script.text
    assert "new WebSocket(" not in script.text, "the page's connection is sockjet.js's"
    assert client.get("/_sockjet/sockjet.js").text.startswith("// sockjet.js")
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
    assert client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"


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
    with connect(client, "ada") as ada_ws, connect(client, "bob") as bob_ws:
        ada, bob = Page(ada_ws), Page(bob_ws)
        hello = ada.ask({"op": "call", "method": "hello"})["ok"]["data"]
        assert hello["hub"] == "memory" and hello["user"] == "ada" and isinstance(hello["worker"], int)
        assert ada.subscribe("lobby")["ok"]["room"] == "lobby"
        ada.until(lambda p: p.online == {"ada": "ada"} and p.lines == ["ada joined"])
        bob.subscribe("lobby")
        bob.until(lambda p: p.online == {"ada": "ada", "bob": "bob"})
        ada.until(lambda p: p.online == {"ada": "ada", "bob": "bob"} and p.lines == ["ada joined", "bob joined"])
        assert "ok" in bob.say("lobby", "  hi ada  ")
        for page, connection in ((ada, bob.connected["connection"]), (bob, bob.connected["connection"])):
            data = page.next_message()["data"]
            assert data["ts"] > 0
            assert data | {"ts": 0} == {
                "type": "message",
                "id": connection,
                "room": "lobby",
                "nick": "bob",
                "text": "hi ada",
                "ts": 0,
            }
        bob_ws.close()
        ada.until(lambda p: p.online == {"ada": "ada"} and p.lines[-1] == "bob left")


def test_switching_rooms_leaves_the_old_one(client: TestClient) -> None:
    with connect(client, "ada") as ada_ws, connect(client, "bob") as bob_ws:
        ada, bob = Page(ada_ws), Page(bob_ws)
        ada.subscribe("lobby")
        bob.subscribe("lobby")
        ada.until(lambda p: "bob" in p.online)
        assert bob.ask({"op": "unsubscribe", "room": "lobby"}) == {"id": bob.ids, "ok": {}}
        bob.subscribe("random")
        bob.until(lambda p: p.online == {"bob": "bob"})
        ada.until(lambda p: p.online == {"ada": "ada"} and p.lines[-1] == "bob left")
        ada.say("lobby", "only lobby hears this")
        assert ada.next_message()["data"]["text"] == "only lobby hears this"
        bob.say("random", "only random hears this")
        assert bob.next_message()["data"]["text"] == "only random hears this"
        assert bob.messages == []


def test_pages_with_one_nick_are_one_user(client: TestClient) -> None:
    with connect(client, "bob") as bob_ws:
        bob = Page(bob_ws)
        bob.subscribe("lobby")
        with connect(client, "Ada") as tab1, connect(client, "ada") as tab2:
            Page(tab1).subscribe("lobby")
            second = Page(tab2)
            second.subscribe("lobby")  # the same user, whatever the case
            second.until(lambda p: p.online == {"ada": "Ada", "bob": "bob"})
            bob.until(lambda p: "ada" in p.online)
            tab1.close()  # one tab closes: ada is still here
            bob.say("lobby", "marker")
            assert bob.next_message()["data"]["text"] == "marker"
            assert bob.lines == ["bob joined", "Ada joined"] and "ada" in bob.online
        bob.until(lambda p: p.online == {"bob": "bob"})
        assert bob.lines == ["bob joined", "Ada joined", "ada left"]  # the nick of the last page to leave


@pytest.mark.parametrize(
    ("nick", "reason"),
    [
        (None, "nick must be a string"),
        ("   ", "nick must not be empty"),
        ("n" * 25, "nick must be at most 24 characters"),
    ],
)
def test_a_bad_nick_is_refused_with_4003_and_says_why(client: TestClient, nick: str | None, reason: str) -> None:
    with pytest.raises(WebSocketDisconnect) as exc_info, connect(client, nick) as ws:
        ws.receive_json(timeout=WAIT)
    assert (exc_info.value.code, exc_info.value.reason) == (4003, reason)


@pytest.mark.parametrize(
    ("room", "code", "message"),
    [
        ("a room", 403, "room may only contain letters, digits, '_' and '-'"),
        ("Lobby", 403, "room names are lowercase"),
        ("r" * 33, 403, "room must be at most 32 characters"),
        ("a/b", 404, "No room matches 'a/b'."),
    ],
)
def test_a_bad_room_is_refused(client: TestClient, room: str, code: int, message: str) -> None:
    with connect(client, "ada") as ws:
        reply = Page(ws).subscribe(room)
    assert reply["error"] == {"code": code, "message": message}


def test_a_bad_message_is_refused_and_the_connection_stays(client: TestClient) -> None:
    with connect(client, "ada") as ws:
        page = Page(ws)
        assert page.say("lobby", "too early")["error"]["code"] == 403
        page.subscribe("lobby")
        assert page.say("lobby", " \n ")["error"] == {"code": 403, "message": "text must not be empty"}
        assert page.say("lobby", "t" * 501)["error"] == {"code": 403, "message": "text must be at most 500 characters"}
        assert page.say("lobby", "bell\u0007")["error"]["message"] == "text must not contain control characters"
        assert page.say("lobby", 7)["error"]["code"] == 422
        assert "ok" in page.say("lobby", "still here")
        assert page.next_message()["data"]["text"] == "still here"


class LinelessHub(Hub):
    """A hub that cannot publish the join and leave lines (as while Redis is down)."""

    async def publish(self, room: str, data: Any, *, idempotency_key: str | None = None) -> Position | None:
        if isinstance(data, dict) and data.get("type") == "presence":
            raise PublishError("Redis is down")
        return await super().publish(room, data, idempotency_key=idempotency_key)


def test_a_line_that_cannot_be_published_is_logged_and_the_list_stays_right(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(demo_app.create_app(hub=LinelessHub())) as client, connect(client, "ada") as ws:
        page = Page(ws)
        page.subscribe("lobby")
        page.until(lambda p: p.online == {"ada": "ada"})
        page.say("lobby", "still here")
        assert page.next_message()["data"]["text"] == "still here"
        assert page.lines == []
    assert "could not publish that ada join lobby: Redis is down" in caplog.text


# -- with history (the demo's own hub) ---------------------------------------------------------------------


def test_a_page_joining_loads_the_rooms_history_then_live(history_client: TestClient) -> None:
    with connect(history_client, "ada") as ada_ws:
        ada = Page(ada_ws)
        first = ada.subscribe("lobby")["ok"]
        assert (first["recovered"], first["missed"]) == (True, 0)
        ada.until(lambda p: p.lines == ["ada joined"])  # our own join line, from the room's stream
        said = ada.say("lobby", "kept for later")["ok"]["position"]
        with connect(history_client, "bob") as bob_ws:
            bob = Page(bob_ws)
            assert bob.subscribe("lobby")["ok"]["position"] is not None  # the room's latest when bob went live
            history = bob.ask({"op": "history", "room": "lobby"})["ok"]
            assert history["recovered"] is True
            shown = [m["data"].get("text") or m["data"]["event"] for m in history["messages"]]
            assert shown[:2] == ["join", "kept for later"]  # then, maybe already, bob's own join line
            assert history["messages"][1]["position"] == said


def test_a_page_that_comes_back_gets_exactly_what_it_missed(history_client: TestClient) -> None:
    with connect(history_client, "ada") as ada_ws:
        ada = Page(ada_ws)
        ada.subscribe("lobby")
        ada.until(lambda p: p.lines == ["ada joined"])
        with connect(history_client, "ada") as tab:  # ada's second tab, which will drop
            page = Page(tab)
            last = page.subscribe("lobby")["ok"]["position"]
        with connect(history_client, "bob") as bob_ws:
            bob = Page(bob_ws)
            bob.subscribe("lobby")
            for text in ("one", "two", "three"):
                bob.say("lobby", text)
        ada.until(lambda p: p.lines[-1:] == ["bob left"])
        with connect(history_client, "ada") as again:  # the tab again, from its last position
            page = Page(again)
            ok = page.subscribe("lobby", since=last)["ok"]
            assert (ok["recovered"], ok["missed"]) == (True, 5)
            page.until(lambda p: len(p.messages) == 3 and p.lines[-1:] == ["bob left"])
            assert [m["data"]["text"] for m in page.messages] == ["one", "two", "three"]
            assert page.lines == ["bob joined", "bob left"]


def test_a_page_whose_position_is_gone_must_resync(history_client: TestClient) -> None:
    with connect(history_client, "ada") as ws:
        ok = Page(ws).subscribe("lobby", since="0ld3poch.12")["ok"]
    assert (ok["recovered"], ok["missed"]) == (False, 0)
