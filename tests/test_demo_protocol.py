"""The chat demo's rules for client input, without a socket: every refusal names what is wrong."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sockjet.demo import protocol
from sockjet.demo.protocol import InvalidFrame, Join, Say, parse_frame


def frame(**data: Any) -> str:
    return json.dumps(data)


def test_valid_frames() -> None:
    assert parse_frame(frame(type="join", room="  Lobby ", nick="  Ada   Lovelace ")) == Join("lobby", "Ada Lovelace")
    assert parse_frame(frame(type="join", room="café_2-b", nick="zoë")) == Join("café_2-b", "zoë")
    assert parse_frame(frame(type="say", text=" two\nlines\tand a tab ")) == Say("two\nlines\tand a tab")
    assert parse_frame(frame(type="say", text="hi", extra="ignored")) == Say("hi")


def test_limits_are_inclusive() -> None:
    long = frame(type="join", room="r" * protocol.MAX_ROOM, nick="n" * protocol.MAX_NICK)
    assert parse_frame(long) == Join("r" * protocol.MAX_ROOM, "n" * protocol.MAX_NICK)
    assert parse_frame(frame(type="say", text="t" * protocol.MAX_TEXT)) == Say("t" * protocol.MAX_TEXT)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"type":"say"}', "send JSON in text frames, not binary frames"),
        (None, "send JSON in text frames, not binary frames"),
        ("{not json", "frame is not valid JSON"),
        ("[1, 2]", 'frame must be a JSON object with a "type"'),
        (frame(kind="join"), '"type" must be one of "join", "say"'),
        (frame(type="here"), '"type" must be one of "join", "say"'),
        (frame(type="join", room="lobby"), "nick must be a string"),
        (frame(type="join", room="lobby", nick=7), "nick must be a string"),
        (frame(type="join", room="lobby", nick="   "), "nick must not be empty"),
        (frame(type="join", room="lobby", nick="n" * 25), "nick must be at most 24 characters"),
        (frame(type="join", room="lobby", nick="a\u0000b"), "nick must not contain control characters"),
        (frame(type="join", room="lobby", nick="a\u200eb"), "nick must not contain control characters"),
        (frame(type="join", nick="ada"), "room must be a string"),
        (frame(type="join", room=" ", nick="ada"), "room must not be empty"),
        (frame(type="join", room="r" * 33, nick="ada"), "room must be at most 32 characters"),
        (frame(type="join", room="a room", nick="ada"), "room may only contain letters, digits, '_' and '-'"),
        (frame(type="join", room="../etc", nick="ada"), "room may only contain letters, digits, '_' and '-'"),
        (frame(type="say"), "text must be a string"),
        (frame(type="say", text=" \n "), "text must not be empty"),
        (frame(type="say", text="t" * 501), "text must be at most 500 characters"),
        (frame(type="say", text="bell\u0007"), "text must not contain control characters"),
    ],
)
def test_invalid_frames_get_an_error_and_keep_the_connection(raw: str | bytes | None, message: str) -> None:
    with pytest.raises(InvalidFrame, match=re.escape(message)) as exc_info:
        parse_frame(raw)
    assert str(exc_info.value) == message
    assert exc_info.value.close is False


def test_oversized_frame_closes_the_connection() -> None:
    with pytest.raises(InvalidFrame, match=re.escape("frame larger than 4096 characters")) as exc_info:
        parse_frame(frame(type="say", text="x" * protocol.MAX_FRAME))
    assert exc_info.value.close is True


def test_server_events() -> None:
    assert protocol.welcome(connection="c1", room="lobby", nick="ada", hub="memory", worker=42) == {
        "type": "welcome",
        "id": "c1",
        "room": "lobby",
        "nick": "ada",
        "hub": "memory",
        "worker": 42,
        "user": "ada",
        "recovered": True,
    }
    assert protocol.presence_line("leave", room="lobby", nick="Ada") == {
        "type": "presence",
        "event": "leave",
        "room": "lobby",
        "nick": "Ada",
    }
    assert protocol.announced("Zoë Ü") == {"user": "zoë ü", "nick": "Zoë Ü"}  # one user whatever the case
    message = protocol.chat_message(connection="c1", room="lobby", nick="ada", text="hi")
    assert message.pop("ts") == pytest.approx(protocol.now_ms(), abs=60_000)
    assert message == {"type": "message", "id": "c1", "room": "lobby", "nick": "ada", "text": "hi"}
    assert protocol.error("no") == {"type": "error", "error": "no"}


def test_a_join_may_carry_the_last_position_seen() -> None:
    from sockjet import Position

    assert parse_frame(frame(type="join", room="lobby", nick="ada", since="e1.7")) == protocol.Join(
        "lobby", "ada", Position("e1", 7)
    )
    with pytest.raises(InvalidFrame, match="since is not a position the server sent"):
        parse_frame(frame(type="join", room="lobby", nick="ada", since="nope"))
    with pytest.raises(InvalidFrame, match="since must be a position string"):
        parse_frame(frame(type="join", room="lobby", nick="ada", since=7))
