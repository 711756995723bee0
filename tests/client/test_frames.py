"""Protocol v1 frames on the client's side: every push and reply parsed, every bad frame refused."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from sockjet.client import frames
from sockjet.client.errors import ChannelError, ProtocolViolation
from sockjet.client.events import History, Message, PresenceEvent
from sockjet.hub.position import Position


def test_subprotocols_carry_the_version_and_the_token_in_unpadded_base64url() -> None:
    assert frames.subprotocols(None) == ["sockjet.v1"]
    assert frames.subprotocols("alice-token") == ["sockjet.v1", "sockjet.token.YWxpY2UtdG9rZW4"]
    encoded = frames.subprotocols("é?>")[1].removeprefix("sockjet.token.")
    assert "=" not in encoded and re.fullmatch(r"[A-Za-z0-9_-]+", encoded)
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() == "é?>"


def test_a_command_is_compact_json_with_id_and_op_first() -> None:
    text = frames.command(3, "publish", {"room": "chat:42", "data": {"text": "hé"}})
    assert text == '{"id":3,"op":"publish","room":"chat:42","data":{"text":"hé"}}'


def parse(frame: Any) -> frames.ServerFrame | None:
    return frames.parse(json.dumps(frame))


def test_every_push_of_the_protocol() -> None:
    assert parse({"op": "connected", "connection": "c1", "ping": 25, "protocol": 1}) == frames.Connected("c1", 25.0, 1)
    assert parse({"op": "message", "room": "r", "position": "kR3v9Q.1", "data": {"a": 1}}) == frames.MessagePush(
        Message("r", {"a": 1}, Position("kR3v9Q", 1))
    )
    no_history = {"op": "message", "room": "r", "position": None, "data": 2}
    assert parse(no_history) == frames.MessagePush(Message("r", 2, None))
    raw = {"op": "message", "room": "r", "position": "e.1", "bytes": base64.b64encode(b"\x00\xff").decode()}
    assert parse(raw) == frames.MessagePush(Message("r", b"\x00\xff", Position("e", 1)))
    assert parse({"op": "presence", "room": "r", "state": [{"id": "c1", "info": {}}]}) == frames.PresencePush(
        PresenceEvent("r", state=({"id": "c1", "info": {}},))
    )
    assert parse({"op": "presence", "room": "r", "leaves": [{"id": "c1"}]}) == frames.PresencePush(
        PresenceEvent("r", leaves=({"id": "c1"},))
    )
    assert parse({"op": "unsubscribed", "room": "r", "code": 3410, "reason": "history lost"}) == (
        frames.UnsubscribedPush("r", 3410, "history lost")
    )
    assert parse({"op": "ping"}) == frames.Ping()
    assert parse({"op": "from-a-later-version", "x": 1}) is None  # servers may add pushes: ignored


def test_replies() -> None:
    assert parse({"id": 1, "ok": {}}) == frames.Reply(1, {}, None)
    reply = parse({"id": 2, "error": {"code": 422, "message": "data failed validation", "details": [{"loc": []}]}})
    assert isinstance(reply, frames.Reply) and reply.id == 2 and reply.ok is None
    assert isinstance(reply.error, ChannelError)
    error = reply.error
    assert (error.code, error.message, error.details) == (422, "data failed validation", [{"loc": []}])
    assert str(reply.error) == "422: data failed validation"
    answer = parse({"id": None, "error": {"code": 400, "message": "The frame is not valid JSON."}})
    assert isinstance(answer, frames.Reply) and answer.id is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{}", "The server sent a binary frame; protocol v1 has text frames only."),
        ('{"op": ', "The server sent a frame that is not JSON: '{\"op\": '"),
        ("[1]", "The server sent a frame that is not a JSON object: [1]"),
        ('{"x": 1}', "The server sent a push without an op: {'x': 1}"),
        ('{"op": "message", "position": null}', "The server sent a push without a room"),
        ('{"op": "message", "room": "r", "position": 7}', "The server sent a position that is not a token"),
        ('{"op": "message", "room": "r", "position": "nope"}', "The server sent a position that is not a token"),
        ('{"op": "message", "room": "r", "position": null, "bytes": "***"}', "'bytes' that are not base64"),
        ('{"op": "message", "room": "r", "position": null, "bytes": 5}', "'bytes' that are not base64"),
        ('{"op": "presence", "room": "r", "state": {}}', "a presence push whose lists are not lists"),
        ('{"op": "unsubscribed", "room": "r", "code": "3410"}', "an unsubscribed push without a code"),
        ('{"op": "connected", "connection": "c", "ping": true, "protocol": 1}', "a connected frame without"),
        ('{"op": "connected", "connection": "c", "ping": 1, "protocol": 2}', "for another protocol version"),
        ('{"id": 0, "ok": {}}', "a reply with a bad id"),
        ('{"id": true, "ok": {}}', "a reply with a bad id"),
        ('{"id": 1, "ok": []}', "a reply with neither ok nor error"),
        ('{"id": 1, "error": {"code": 400}}', "a reply with neither ok nor error"),
    ],
)
def test_frames_the_protocol_does_not_allow(text: str | bytes, message: str) -> None:
    with pytest.raises(ProtocolViolation, match=re.escape(message)):
        frames.parse(text)


def test_a_long_bad_frame_is_shown_cut() -> None:
    with pytest.raises(ProtocolViolation) as violation:
        frames.parse(json.dumps({"op": "message", "room": "r", "position": "x" * 500}))
    assert str(violation.value).endswith("...") and len(str(violation.value)) < 300


def test_ok_bodies() -> None:
    assert frames.subscribed({"room": "r", "position": "e.3", "recovered": False, "missed": 0}) == (
        Position("e", 3),
        False,
        0,
    )
    assert frames.published({"position": None}) is None
    assert frames.presence({"presence": {"c1": {"user": "a"}}}) == {"c1": {"user": "a"}}
    ok = {"position": "e.2", "recovered": True, "messages": [{"position": "e.2", "data": 1}]}
    assert frames.history("r", ok) == History("r", Position("e", 2), True, (Message("r", 1, Position("e", 2)),))


@pytest.mark.parametrize(
    ("parse_ok", "ok", "message"),
    [
        (frames.subscribed, {"position": None, "missed": 0}, "a subscribe reply without recovered and missed"),
        (frames.subscribed, {"recovered": True, "missed": "1"}, "a subscribe reply without recovered and missed"),
        (frames.presence, {"presence": []}, "a presence reply without presence"),
        (lambda ok: frames.history("r", ok), {"recovered": True}, "a history reply without recovered and messages"),
        (lambda ok: frames.history("r", ok), {"recovered": True, "messages": [1]}, "a message that is not an object"),
    ],
)
def test_ok_bodies_the_protocol_does_not_allow(parse_ok: Any, ok: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolViolation, match=re.escape(message)):
        parse_ok(ok)


def test_positions_are_read_as_position_parse_reads_them() -> None:
    for token in ("e.0", "kR3v9Q.42", "a-b_c.9223372036854775807"):
        push = frames.parse(json.dumps({"op": "message", "room": "r", "position": token, "data": 1}))
        assert isinstance(push, frames.MessagePush) and push.message.position == Position.parse(token)
    for token in ("e.01", "e.9223372036854775808", ".1", "e.", "e.1.2", "é.1", "x" * 65 + ".1"):
        with pytest.raises(ValueError):
            Position.parse(token)
        with pytest.raises(ProtocolViolation, match=re.escape("a position that is not a token")):
            frames.parse(json.dumps({"op": "message", "room": "r", "position": token, "data": 1}))
