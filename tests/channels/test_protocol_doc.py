"""docs/protocol.md cannot drift: every JSON example is replayed, in order, against the real server.

A session is ``<!-- replay: name [token=...] [ping=...] -->`` ... ``<!-- end replay -->``; its
``client`` blocks are sent, its ``server`` blocks are the frames that must come next, a ``close``
block the close the connection ends with. Connection ids and position epochs of the page are
names, bound to the real values the first time they are met.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sockjet.channels import token_subprotocol
from tests.channels.helpers import close_pipe
from tests.conftest import MS
from tests.servers.servers import Server, free_port, start_process, stop_process

pytestmark = pytest.mark.e2e

PAGE = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
SESSION = re.compile(r"<!-- replay: (?P<head>[^>]*?) -->(?P<body>.*?)<!-- end replay -->", re.S)
BLOCK = re.compile(r"^```(?P<lang>json|text) (?P<role>client|server|close)\n(?P<text>.*?)\n```$", re.S | re.M)
ANY_JSON_BLOCK = re.compile(r"^```json\b", re.M)
TOKEN = re.compile(r"^([A-Za-z0-9_-]{1,64})\.(0|[1-9][0-9]*)$")
CONNECTION_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Session:
    name: str
    options: dict[str, str]
    steps: list[tuple[str, str, str]] = field(default_factory=list)


def sessions() -> list[Session]:
    text = PAGE.read_text()
    found = []
    for match in SESSION.finditer(text):
        name, *options = match["head"].split()
        session = Session(name, dict(option.split("=", 1) for option in options))
        session.steps = [(m["lang"], m["role"], m["text"]) for m in BLOCK.finditer(match["body"])]
        found.append(session)
    return found


def test_every_json_example_is_inside_a_replayed_session() -> None:
    text = PAGE.read_text()
    inside = sum(len([s for s in session.steps if s[0] == "json"]) for session in sessions())
    assert inside == len(ANY_JSON_BLOCK.findall(text)) > 20


class Names:
    """The page's example ids and epochs, bound to real ones as they are met (both ways one-to-one)."""

    def __init__(self) -> None:
        self.real: dict[str, str] = {}

    def bind(self, name: str, real: str) -> bool:
        if name in self.real:
            return self.real[name] == real
        if real in self.real.values():
            return False
        self.real[name] = real
        return True

    def outgoing(self, text: str) -> str:
        for name, real in self.real.items():
            text = text.replace(f'"{name}.', f'"{real}.').replace(f'"{name}"', f'"{real}"')
        return text

    def match(self, expected: Any, actual: Any, where: str = "$") -> None:
        if isinstance(expected, dict):
            assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
            keys = {self._key(k, actual): k for k in expected}
            assert set(keys) == set(actual), f"{where}: keys {sorted(actual)} != {sorted(keys)}"
            for real_key, key in keys.items():
                self.match(expected[key], actual[real_key], f"{where}.{key}")
        elif isinstance(expected, list):
            assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
            for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
                self.match(e, a, f"{where}[{index}]")
        elif isinstance(expected, str) and isinstance(actual, str) and TOKEN.match(expected) and TOKEN.match(actual):
            (name, offset), (real, real_offset) = expected.split("."), actual.split(".")
            assert offset == real_offset and self.bind(name, real), f"{where}: {actual!r} is not {expected!r}"
        elif isinstance(expected, str) and isinstance(actual, str) and CONNECTION_ID.match(expected):
            assert CONNECTION_ID.match(actual) and self.bind(expected, actual), f"{where}: {actual!r} != {expected!r}"
        else:
            assert actual == expected and type(actual) is type(expected), f"{where}: {actual!r} != {expected!r}"

    def _key(self, key: str, actual: dict[str, Any]) -> str:
        if not CONNECTION_ID.match(key):
            return key
        if key not in self.real:
            unbound = [k for k in actual if CONNECTION_ID.match(k) and k not in self.real.values()]
            assert len(unbound) == 1, f"cannot bind {key!r} among {sorted(actual)}"
            self.bind(key, unbound[0])
        return self.real[key]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    """The example server twice: with the default ping interval, and with ``ping=1``."""
    started: dict[str, Server] = {}
    try:
        for ping in ("25", "1"):
            port = free_port()
            argv = [sys.executable, "-m", "uvicorn", "examples.channels_protocol:app", "--port", str(port)]
            started[ping] = start_process([*argv, "--log-level", "warning"], port, env={"PING_INTERVAL": ping})
        yield started
    finally:
        for server in started.values():
            stop_process(server.process)
            close_pipe(server)


@pytest.mark.parametrize("session", sessions(), ids=lambda s: s.name)
async def test_the_session_replays(session: Session, servers: dict[str, Server]) -> None:
    server = servers[session.options.get("ping", "25")]
    subprotocols = ["sockjet.v1"]
    if "token" in session.options:
        subprotocols.append(token_subprotocol(session.options["token"]))
    names = Names()
    async with connect(f"{server.url}/ws", subprotocols=subprotocols, open_timeout=5000 * MS) as websocket:  # type: ignore[arg-type]
        assert websocket.subprotocol == "sockjet.v1"
        for lang, role, text in session.steps:
            if role == "client":
                await websocket.send(names.outgoing(text) if lang == "json" else text)
            elif role == "server":
                frame = await websocket.recv()
                assert isinstance(frame, str)
                names.match(json.loads(text), json.loads(frame))
            else:
                with pytest.raises(ConnectionClosed) as closed:
                    await websocket.recv()
                expected = json.loads(text)
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (expected["code"], expected["reason"])
