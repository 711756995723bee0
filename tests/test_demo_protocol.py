"""The chat demo's rules for a nick, a room and a message, without a socket: every refusal names what is wrong."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sockjet.demo import protocol
from sockjet.demo.protocol import InvalidInput, clean_nick, clean_room, clean_text


def test_valid_input() -> None:
    assert clean_nick("  Ada   Lovelace ") == "Ada Lovelace"
    assert clean_nick("zoë") == "zoë"
    assert clean_room("café_2-b") == "café_2-b"
    assert clean_text(" two\nlines\tand a tab ") == "two\nlines\tand a tab"


def test_limits_are_inclusive() -> None:
    assert clean_nick("n" * protocol.MAX_NICK) == "n" * protocol.MAX_NICK
    assert clean_room("r" * protocol.MAX_ROOM) == "r" * protocol.MAX_ROOM
    assert clean_text("t" * protocol.MAX_TEXT) == "t" * protocol.MAX_TEXT


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        (clean_nick, None, "nick must be a string"),
        (clean_nick, 7, "nick must be a string"),
        (clean_nick, "   ", "nick must not be empty"),
        (clean_nick, "n" * 25, "nick must be at most 24 characters"),
        (clean_nick, "a\u0000b", "nick must not contain control characters"),
        (clean_nick, "a\u200eb", "nick must not contain control characters"),
        (clean_room, None, "room must be a string"),
        (clean_room, "", "room must not be empty"),
        (clean_room, "r" * 33, "room must be at most 32 characters"),
        (clean_room, "a room", "room may only contain letters, digits, '_' and '-'"),
        (clean_room, "../etc", "room may only contain letters, digits, '_' and '-'"),
        (clean_room, "Lobby", "room names are lowercase"),
        (clean_text, None, "text must be a string"),
        (clean_text, " \n ", "text must not be empty"),
        (clean_text, "t" * 501, "text must be at most 500 characters"),
        (clean_text, "bell\u0007", "text must not contain control characters"),
    ],
)
def test_invalid_input_says_what_is_wrong(rule: Any, value: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)) as exc_info:
        rule(value)
    assert str(exc_info.value) == message
    assert isinstance(exc_info.value, ValueError)


def test_what_is_published_and_announced() -> None:
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
