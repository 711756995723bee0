# ruff: noqa: E501  (tables of exact error messages read best one per line)
"""The pure parts around the protocol: handshake and tokens, the codec, validation, room patterns."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any, Literal, TypedDict

import pytest
from pydantic import BaseModel

from sockjet.channels import Refuse, RoomOptions, channel_token, token_subprotocol
from sockjet.channels.auth import Handshake, decode_token, negotiate
from sockjet.channels.codec import Codec, Push, message_frame
from sockjet.channels.rooms import Method, Registry, Room
from sockjet.channels.validation import Adapter, Invalid, encode
from sockjet.exceptions import ConfigurationError
from sockjet.hub.envelope import Envelope
from sockjet.hub.position import KIND_JSON, KIND_TEXT, Position, Publication
from sockjet.hub.presence import Diff, Entry, diff_frame, state_frame
from sockjet.websockets import WebSocket
from tests.asgi import websocket_scope


# -- handshake ---------------------------------------------------------------------------------------
def test_a_token_travels_as_unpadded_base64url_and_back() -> None:
    for token in ("alice-token", "é/+?", "a", "ab"):
        protocol = token_subprotocol(token)
        assert protocol.startswith("sockjet.token.") and "=" not in protocol
        assert decode_token(protocol.removeprefix("sockjet.token.")) == token
    assert token_subprotocol("alice-token") == "sockjet.token.YWxpY2UtdG9rZW4"


@pytest.mark.parametrize("encoded", ["", "a", "ab+c", "/w", "gA"])  # empty, bad length, not base64url, not UTF-8
def test_a_garbled_token_reads_as_none(encoded: str) -> None:
    assert decode_token(encoded) is None


def test_negotiation_selects_v1_and_reads_the_token() -> None:
    assert negotiate(["sockjet.v1", token_subprotocol("t")]) == Handshake("sockjet.v1", "t", True)
    assert negotiate(["sockjet.v2", "sockjet.v1"]) == Handshake("sockjet.v1", None, True)
    assert negotiate([]) == Handshake(None, None, True)
    assert negotiate(["chat"]) == Handshake(None, None, True)
    assert negotiate(["sockjet.v2", "sockjet.v3"]) == Handshake("sockjet.v2", None, False)


async def _receive() -> Any:
    raise AssertionError


async def _send(message: Any) -> None:
    raise AssertionError


def test_channel_token_reads_the_scope_for_depends() -> None:
    websocket = WebSocket(websocket_scope(subprotocols=["sockjet.v1", token_subprotocol("s3cret")]), _receive, _send)
    assert channel_token(websocket) == "s3cret"
    assert channel_token(WebSocket(websocket_scope(), _receive, _send)) is None


# -- codec -----------------------------------------------------------------------------------------------
def test_pushes_carry_the_published_value_as_it_was() -> None:
    at = Position("e", 7)
    assert json.loads(message_frame("r", at, '{"a":1}', KIND_JSON)) == {
        "op": "message",
        "room": "r",
        "position": "e.7",
        "data": {"a": 1},
    }
    assert json.loads(message_frame("r", None, '{"a":1}', KIND_TEXT))["data"] == '{"a":1}'
    assert json.loads(message_frame("é", None, b"\x00\xff", KIND_TEXT)) == {
        "op": "message",
        "room": "é",
        "position": None,
        "bytes": "AP8=",
    }


def test_the_codec_frames_publications_and_envelopes_and_notes_active_rooms() -> None:
    codec = Codec()
    message, size = codec.frame(Publication("r", Position("e", 1), "[1]", KIND_JSON))
    assert isinstance(message, Push) and message.position == Position("e", 1)
    assert json.loads(message["text"])["data"] == [1] and size == len(message["text"])
    message, _ = codec.frame(Envelope.build("s", {"b": "é"}, max_payload=100))
    assert json.loads(message["text"]) == {"op": "message", "room": "s", "position": None, "data": {"b": "é"}}
    assert codec.active == {"r", "s"}


def test_hub_presence_frames_become_presence_pushes_once_per_frame() -> None:
    codec = Codec()
    text = diff_frame("chat:1", Diff(joins=(Entry("c1", '{"user":"u"}'),), leaves=()))
    hub_frame = {"type": "websocket.send", "text": text}
    room, message, size = codec.presence(hub_frame, len(text))
    assert room == "chat:1" and size == len(message["text"])
    assert json.loads(message["text"]) == {
        "op": "presence",
        "room": "chat:1",
        "joins": [{"id": "c1", "info": {"user": "u"}}],
        "leaves": [],
    }
    assert codec.presence(hub_frame, len(text))[1] is message  # the same frame: encoded once
    state = state_frame("x", [])
    assert json.loads(codec.presence({"type": "websocket.send", "text": state}, 0)[1]["text"]) == {
        "op": "presence",
        "room": "x",
        "state": [],
    }


# -- validation -------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0
    tags: list[str] = dataclasses.field(default_factory=list)


class Note(TypedDict, total=False):
    text: str
    kind: Literal["a", "b"]
    at: Point | None
    meta: dict[str, int]
    pair: tuple[int, str]


class Model(BaseModel):
    name: str


def errors(annotation: Any, value: Any) -> list[dict[str, Any]]:
    with pytest.raises(Invalid, match=re.escape("data failed validation")) as caught:
        Adapter(annotation).validate(value)
    return caught.value.details


def test_dataclasses_are_validated_and_built() -> None:
    assert Adapter(Point).validate({"x": 1, "y": 2, "tags": ["a"], "extra": 0}) == Point(1, 2.0, ["a"])
    assert errors(Point, {"y": "no", "tags": [1]}) == [
        {"loc": ["x"], "msg": "Field required", "type": "missing"},
        {"loc": ["y"], "msg": "Input should be a valid number", "type": "float_type"},
        {"loc": ["tags", 0], "msg": "Input should be a valid string", "type": "string_type"},
    ]
    assert errors(Point, [1]) == [{"loc": [], "msg": "Input should be a valid dictionary", "type": "dict_type"}]
    assert errors(Point, {"x": True}) == [{"loc": ["x"], "msg": "Input should be a valid integer", "type": "int_type"}]


def test_typeddicts_are_validated_field_by_field() -> None:
    value = {"text": "hi", "kind": "a", "at": {"x": 1}, "meta": {"n": 1}, "pair": [1, "s"]}
    assert Adapter(Note).validate(value) == {**value, "at": Point(1), "pair": (1, "s")}
    assert Adapter(Note).validate({"at": None}) == {"at": None}
    assert errors(Note, {"text": 1, "kind": "c", "at": 5, "meta": [], "pair": [1]}) == [
        {"loc": ["text"], "msg": "Input should be a valid string", "type": "string_type"},
        {"loc": ["kind"], "msg": "Input should be 'a' or 'b'", "type": "literal_error"},
        {"loc": ["at"], "msg": "Input does not match any of the allowed types", "type": "union_type"},
        {"loc": ["meta"], "msg": "Input should be a valid dictionary", "type": "dict_type"},
        {"loc": ["pair"], "msg": "Tuple should have 2 items", "type": "too_short"},
    ]


def test_other_annotations() -> None:
    assert Adapter().validate(object) is object
    assert Adapter(bool).validate(True) is True
    assert errors(None, 1) == [{"loc": [], "msg": "Input should be None", "type": "none_required"}]
    assert errors(bool, 1) == [{"loc": [], "msg": "Input should be a valid boolean", "type": "bool_type"}]
    assert errors(list[int], {}) == [{"loc": [], "msg": "Input should be a valid list", "type": "list_type"}]
    assert Adapter(set[int]).validate([1, 1]) == {1}
    assert Adapter(tuple[int, ...]).validate([1, 2]) == (1, 2)
    assert Adapter(dict).validate({"a": object}) == {"a": object}
    assert errors(Codec, "e.1") == [
        {"loc": [], "msg": "Input should be an instance of Codec", "type": "is_instance_of"}
    ]
    with pytest.raises(ConfigurationError, match=re.escape("sockjet.channels cannot validate data against")):
        Adapter(Callable[[int], int]).validate(2)


def test_pydantic_models_are_validated_by_pydantic() -> None:
    assert Adapter(Model).validate({"name": "n"}) == Model(name="n")
    assert errors(Model, {"name": 1}) == [
        {"loc": ["name"], "msg": "Input should be a valid string", "type": "string_type"}
    ]
    assert errors(list[Model], [{}]) == [{"loc": [0, "name"], "msg": "Field required", "type": "missing"}]


def test_results_are_encoded_as_json_values() -> None:
    assert encode(Model(name="n")) == {"name": "n"}
    assert encode({"p": [Point(1)], "t": (1,)}) == {"p": [{"x": 1, "y": 0.0, "tags": []}], "t": [1]}
    assert encode(5) == 5


def test_an_annotation_that_cannot_be_read_is_a_configuration_error() -> None:
    async def handler(conn: Any, data: Missing) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(ConfigurationError, match=re.escape("Cannot read the annotations of")):
        Adapter.of(handler)


# -- rooms -------------------------------------------------------------------------------------------------
async def chat(conn: Any, room_id: int, params: dict[str, Any]) -> RoomOptions | None:
    return None


def test_room_patterns_match_and_convert_like_routes() -> None:
    room = Room("chat:{room_id:int}", chat)
    assert room.match("chat:42") == {"room_id": 42}
    assert room.match("chat:x") is None and room.match("chat:4/2") is None
    tail = Room("files:{path:path}:v", _any)
    assert tail.match("files:a/b:v") == {"path": "a/b"}
    assert repr(room) == "<Room 'chat:{room_id:int}'>"


async def _any(conn: Any, **params: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("pattern", "handler", "message"),
    [
        ("", chat, "A room pattern is a non-empty str, got ''."),
        ("chat:{id:nope}", chat, "Bad room pattern 'chat:{id:nope}': Unknown path convertor 'nope'"),
        ("chat:{other}", chat, "The handler of room pattern 'chat:{other}' must take the pattern's parameter(s) other."),
        ("chat:{room_id}", lambda conn, room_id: None, "The handler of room pattern 'chat:{room_id}' must be an 'async def' function"),
    ],
)  # fmt: skip
def test_bad_room_declarations_fail_when_declared(pattern: str, handler: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Room(pattern, handler)


async def test_a_room_handler_must_return_options_or_none() -> None:
    async def bad(conn: Any) -> Any:
        return {"publish": True}

    with pytest.raises(TypeError, match=re.escape("returned {'publish': True}; return RoomOptions or None.")):
        await Room("r", bad).authorize(None, {}, {})  # type: ignore[arg-type]
    assert await Room("r", _any).authorize(None, {}, {}) == RoomOptions()  # type: ignore[arg-type]
    assert await Room("r", _any)(None) is None


def test_publish_permission_follows_the_options_then_the_hook() -> None:
    room = Room("r", _any)
    assert not room.may_publish(RoomOptions()) and room.may_publish(RoomOptions(publish=True))

    async def hook(conn: Any, data: Any) -> Any:
        return data

    assert room.on_publish(hook) is hook
    assert room.may_publish(RoomOptions()) and not room.may_publish(RoomOptions(publish=False))
    assert room.publish_params({"a": 1}) == {}

    async def no_data(conn: Any) -> None:
        return None

    with pytest.raises(
        ConfigurationError, match=re.escape("The on_publish handler of room pattern 'r' must take 'data'.")
    ):
        room.on_publish(no_data)


def test_registry_refuses_duplicates() -> None:
    registry = Registry()
    registry.add_room(Room("r", _any))
    with pytest.raises(ConfigurationError, match=re.escape("Room pattern 'r' is declared twice.")):
        registry.add_room(Room("r", _any))
    registry.add_method(Method("m", _any))
    with pytest.raises(ConfigurationError, match=re.escape("Method 'm' is declared twice.")):
        registry.add_method(Method("m", _any))
    with pytest.raises(ConfigurationError, match=re.escape("A method name is a non-empty str, got ''.")):
        Method("", _any)
    assert registry.match("r") is not None and registry.match("s") is None


def test_refuse_carries_its_reason() -> None:
    assert Refuse("members only").reason == "members only" == str(Refuse("members only"))
    assert Refuse().reason == "refused"
