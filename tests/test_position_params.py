"""A hub ``Position`` as an endpoint parameter: read with ``Position.parse``, a bad token is the usual 1008 refusal."""

from __future__ import annotations

import re
from typing import Annotated

import pytest

from sockjet import App, Cookie, Header, Path, Position, Query, WebSocket, WebSocketDisconnect
from sockjet.conversions import ConversionError, field_type
from sockjet.testclient import TestClient

REASON = "Input should be a sockjet position ('<epoch>.<offset>')"


def test_the_conversion_is_position_parse() -> None:
    ftype = field_type(Position | None)
    assert ftype is not None and ftype.optional
    assert ftype.convert("f3a9c2e1.42") == Position("f3a9c2e1", 42)
    with pytest.raises(ConversionError, match=re.escape(REASON)) as info:
        ftype.convert("garbage")
    assert info.value.kind == "position_parsing"
    listed = field_type(list[Position])
    assert listed is not None and listed.many is list


def _app() -> App:
    app = App()

    @app.websocket("/ws/{at}")
    async def positions(
        websocket: WebSocket,
        at: Annotated[Position, Path()],
        since: Position | None = Query(None),
        last: Annotated[Position | None, Header()] = None,
        kept: Annotated[Position | None, Cookie()] = None,
        seen: Annotated[list[Position] | None, Query()] = None,
    ) -> None:
        await websocket.accept()
        await websocket.send_json([str(p) if isinstance(p, Position) else p for p in (at, since, last, kept)])
        await websocket.send_json(None if seen is None else [str(p) for p in seen])
        await websocket.close()

    return app


def test_every_source_reads_a_position() -> None:
    with TestClient(_app()) as client:
        client.cookies.set("kept", "c.3")
        with client.websocket_connect("/ws/p.1?since=q.2&seen=a.5&seen=b.6", headers={"last": "h.4"}) as ws:
            assert ws.receive_json() == ["p.1", "q.2", "h.4", "c.3"]
            assert ws.receive_json() == ["a.5", "b.6"]


def test_missing_optional_positions_are_none() -> None:
    with TestClient(_app()) as client, client.websocket_connect("/ws/p.1") as ws:
        assert ws.receive_json() == ["p.1", None, None, None]
        assert ws.receive_json() is None


@pytest.mark.parametrize(
    ("url", "headers", "where"),
    [
        ("/ws/p.1?since=garbage", {}, "query parameter 'since'"),
        ("/ws/p.1", {"last": "e.-1"}, "header 'last'"),
        ("/ws/nope", {}, "path parameter 'at'"),
        ("/ws/p.1?seen=a.1&seen=b", {}, "query parameter 'seen'"),
    ],
)
def test_a_bad_position_is_a_1008_refusal_naming_the_parameter(
    url: str, headers: dict[str, str], where: str, caplog: pytest.LogCaptureFixture
) -> None:
    expected = f"Invalid {where}: {'item 1: ' if 'seen' in where else ''}{REASON}"
    with (
        TestClient(_app()) as client,
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect(url, headers=headers),
    ):
        pass  # pragma: no cover - refused
    assert (info.value.code, info.value.reason) == (1008, expected)
    assert any(expected in record.getMessage() for record in caplog.records if record.levelname == "WARNING")


def test_a_bad_cookie_position_is_refused_too() -> None:
    with TestClient(_app()) as client:
        client.cookies.set("kept", "1.2.3")
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws/p.1"):
            pass  # pragma: no cover - refused
    assert info.value.reason == f"Invalid cookie 'kept': {REASON}"


def test_a_position_default_is_kept_as_is() -> None:
    app = App()
    start = Position("e", 7)

    @app.websocket("/ws")
    async def from_default(websocket: WebSocket, since: Position = Query(start)) -> None:
        await websocket.accept()
        await websocket.send_text(str(since))
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "e.7"
