# ruff: noqa: E501  (tables of exact error messages read best one per line)
"""The protocol's rules, pure: every frame's fate and every error code, no socket, no event loop."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sockjet.channels.protocol import (
    MAX_ID,
    PING_FRAME,
    Call,
    Close,
    ErrorCode,
    Failure,
    HistoryQuery,
    Limits,
    PresenceQuery,
    Publish,
    Rules,
    Subscribe,
    TokenBucket,
    Unsubscribe,
    connected_frame,
    ok_frame,
    parse,
    subscribe_ok,
    unsubscribed_frame,
)
from sockjet.exceptions import ConfigurationError
from sockjet.hub.position import Position

SIZE = 1024


def failure(frame: Any) -> Failure:
    result = parse(frame if isinstance(frame, str) or frame is None else json.dumps(frame), max_frame_size=SIZE)
    assert isinstance(result, Failure), result
    return result


def test_each_op_parses_to_its_command() -> None:
    def parsed(frame: dict[str, Any]) -> Any:
        return parse(json.dumps(frame), max_frame_size=SIZE)

    assert parsed({"id": 1, "op": "subscribe", "room": "r"}) == Subscribe(1, "r")
    assert parsed(
        {"id": 2, "op": "subscribe", "room": "r", "since": "e.4", "params": {"a": 1}, "presence_events": "users"}
    ) == Subscribe(2, "r", Position("e", 4), {"a": 1}, "users")
    assert parsed({"id": 3, "op": "subscribe", "room": "r", "params": None, "presence_events": None}) == Subscribe(
        3, "r"
    )
    assert parsed({"id": 4, "op": "unsubscribe", "room": "r"}) == Unsubscribe(4, "r")
    assert parsed({"id": 5, "op": "publish", "room": "r", "data": None}) == Publish(5, "r", None)
    assert parsed({"id": 6, "op": "call", "method": "m"}) == Call(6, "m", None)
    assert parsed({"id": 7, "op": "call", "method": "m", "data": [1]}) == Call(7, "m", [1])
    assert parsed({"id": 8, "op": "presence", "room": "r"}) == PresenceQuery(8, "r")
    assert parsed({"id": 9, "op": "history", "room": "r", "since": "e.0", "limit": 0}) == HistoryQuery(
        9, "r", Position("e", 0), 0
    )
    assert parsed({"id": MAX_ID, "op": "history", "room": "r", "extra": "ignored"}) == HistoryQuery(MAX_ID, "r")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (None, "Binary frames are not part of the protocol: send each command as JSON in a text frame."),
        ('{"id": 1', "The frame is not valid JSON."),
        ("[1, 2]", "A command is a JSON object, got [1,2]."),
        ({"op": "subscribe"}, "A command needs 'id', a positive integer up to 2**53-1, got null."),
        ({"id": 0, "op": "x"}, "A command needs 'id', a positive integer up to 2**53-1, got 0."),
        ({"id": True}, "A command needs 'id', a positive integer up to 2**53-1, got true."),
        ({"id": 1.0}, "A command needs 'id', a positive integer up to 2**53-1, got 1.0."),
        ({"id": MAX_ID + 1}, f"A command needs 'id', a positive integer up to 2**53-1, got {MAX_ID + 1}."),
        ({"id": "x" * 100}, "A command needs 'id', a positive integer up to 2**53-1, got '" + "x" * 76 + "...."),
    ],
)
def test_frames_without_a_usable_id_get_400_with_id_null(frame: Any, message: str) -> None:
    assert failure(frame) == Failure(None, ErrorCode.MALFORMED, message)
    assert json.loads(failure(frame).encode()) == {"id": None, "error": {"code": 400, "message": message}}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"id": 1}, "A command needs 'op', one of subscribe, unsubscribe, publish, call, presence, history."),
        ({"id": 1, "op": "dance"}, "Unknown op 'dance': expected one of subscribe, unsubscribe, publish, call, presence, history."),
        ({"id": 1, "op": 7}, "Unknown op 7: expected one of subscribe, unsubscribe, publish, call, presence, history."),
        ({"id": 1, "op": "subscribe"}, "A subscribe command needs 'room', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "subscribe", "room": ""}, "A subscribe command needs 'room', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "publish", "room": "r" * 257, "data": 1}, "A publish command needs 'room', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "unsubscribe", "room": 5}, "A unsubscribe command needs 'room', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "presence"}, "A presence command needs 'room', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "history"}, "A history command needs 'room', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "subscribe", "room": "r", "since": "yesterday"}, "'since' is not a position token: 'yesterday'. Send back a position the server gave, e.g. 'f3a9c2e1.42'."),
        ({"id": 1, "op": "subscribe", "room": "r", "since": 42}, "'since' is not a position token: 42. Send back a position the server gave, e.g. 'f3a9c2e1.42'."),
        ({"id": 1, "op": "history", "room": "r", "since": "e.01"}, "'since' is not a position token: 'e.01'. Send back a position the server gave, e.g. 'f3a9c2e1.42'."),
        ({"id": 1, "op": "subscribe", "room": "r", "params": [1]}, "'params' must be a JSON object, got [1]."),
        ({"id": 1, "op": "subscribe", "room": "r", "presence_events": "all"}, "'presence_events' must be true, false, \"users\" or \"connections\", got 'all'."),
        ({"id": 1, "op": "publish", "room": "r"}, "A publish command needs 'data', any JSON value."),
        ({"id": 1, "op": "call"}, "A call command needs 'method', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "call", "method": ""}, "A call command needs 'method', a non-empty string of at most 256 characters."),
        ({"id": 1, "op": "history", "room": "r", "limit": -1}, "'limit' must be an integer >= 0, got -1."),
        ({"id": 1, "op": "history", "room": "r", "limit": True}, "'limit' must be an integer >= 0, got true."),
    ],
)  # fmt: skip
def test_malformed_commands_get_400_with_their_id(frame: dict[str, Any], message: str) -> None:
    assert failure(frame) == Failure(1, ErrorCode.MALFORMED, message)


def test_a_frame_over_max_frame_size_gets_413_with_its_id() -> None:
    text = json.dumps({"id": 3, "op": "publish", "room": "r", "data": "é" * 600}, ensure_ascii=False)
    result = parse(text, max_frame_size=SIZE)
    assert result == Failure(
        3, ErrorCode.TOO_LARGE, f"The frame is {len(text) + 600} bytes; this server takes at most 1024 bytes per frame."
    )


def test_error_details_are_encoded_in_the_error() -> None:
    details = ({"loc": ["a"], "msg": "Field required", "type": "missing"},)
    assert json.loads(Failure(4, ErrorCode.INVALID, "data failed validation", details).encode()) == {
        "id": 4,
        "error": {"code": 422, "message": "data failed validation", "details": list(details)},
    }


def test_frames_the_server_writes() -> None:
    assert json.loads(ok_frame(5, {"position": None})) == {"id": 5, "ok": {"position": None}}
    assert json.loads(connected_frame("c1", 25.0)) == {"op": "connected", "connection": "c1", "ping": 25, "protocol": 1}
    assert json.loads(connected_frame("c1", 2.5))["ping"] == 2.5
    assert json.loads(PING_FRAME) == {"op": "ping"}
    assert json.loads(unsubscribed_frame("r", 3410, "history lost")) == {
        "op": "unsubscribed",
        "room": "r",
        "code": 3410,
        "reason": "history lost",
    }


# -- the subscribe reply ------------------------------------------------------------------------------
def P(offset: int, epoch: str = "e") -> Position:
    return Position(epoch, offset)


def test_a_recovered_subscribe_counts_the_held_messages_as_missed_and_ends_at_the_last() -> None:
    body = subscribe_ok("r", since=P(3), recovered=True, held=[P(4), None, P(5)], live=P(5))
    assert body == {"room": "r", "position": "e.5", "recovered": True, "missed": 2}


def test_a_recovered_subscribe_with_nothing_missed_is_at_since() -> None:
    assert subscribe_ok("r", since=P(3), recovered=True, held=[], live=P(3))["position"] == "e.3"


def test_without_since_held_messages_are_live_and_the_position_is_just_before_them() -> None:
    body = subscribe_ok("r", since=None, recovered=True, held=[None, P(8), P(9)], live=P(9))
    assert body == {"room": "r", "position": "e.7", "recovered": True, "missed": 0}
    assert subscribe_ok("r", since=None, recovered=True, held=[P(0)], live=None)["position"] == "e.0"


def test_without_held_messages_the_position_is_the_rooms_latest() -> None:
    assert subscribe_ok("r", since=None, recovered=True, held=[], live=P(6))["position"] == "e.6"
    assert subscribe_ok("r", since=None, recovered=True, held=[], live=None)["position"] is None
    body = subscribe_ok("r", since=P(2, "old"), recovered=False, held=[], live=P(6))
    assert body == {"room": "r", "position": "e.6", "recovered": False, "missed": 0}


# -- rules of one connection ----------------------------------------------------------------------------
def rules(**limits: Any) -> Rules:
    return Rules(Limits(**limits))


def test_a_pending_id_cannot_be_reused_until_replied() -> None:
    state = rules()
    frame = json.dumps({"id": 1, "op": "call", "method": "m"})
    assert state.receive(frame, 0.0) == Call(1, "m")
    again = state.receive(frame, 0.0)
    assert again == Failure(
        None,
        ErrorCode.MALFORMED,
        "Command id 1 is already pending: use an id unique among commands awaiting a reply.",
    )
    state.replied(1)
    assert state.receive(frame, 0.0) == Call(1, "m")


def test_a_bad_frame_reusing_a_pending_id_is_answered_with_id_null() -> None:
    state = rules()
    assert state.receive(json.dumps({"id": 1, "op": "call", "method": "m"}), 0.0) == Call(1, "m")
    failure = state.receive(json.dumps({"id": 1, "op": "subscribe"}), 0.0)
    assert isinstance(failure, Failure) and failure.id is None and failure.code == 400
    assert state.pending == {1: "call"}


def test_the_malformed_budget_closes_with_1008_once_spent() -> None:
    state = rules(malformed_budget=2)
    assert isinstance(state.receive("nope", 0.0), Failure)
    assert isinstance(state.receive(None, 0.0), Failure)
    assert state.receive('{"id": 1}', 0.0) == Close(1008, "too many malformed frames")


def test_a_reused_pending_id_counts_towards_the_budget() -> None:
    state = rules(malformed_budget=0)
    frame = json.dumps({"id": 1, "op": "call", "method": "m"})
    state.receive(frame, 0.0)
    assert state.receive(frame, 0.0) == Close(1008, "too many malformed frames")


def test_other_errors_do_not_count_towards_the_budget() -> None:
    state = rules(malformed_budget=0, max_frame_size=30)
    assert isinstance(
        state.receive(json.dumps({"id": 1, "op": "publish", "room": "r", "data": "x" * 40}), 0.0), Failure
    )


def test_the_command_rate_answers_429_and_refills() -> None:
    state = rules(command_rate=(2, 1.0))
    frames = [json.dumps({"id": n, "op": "unsubscribe", "room": "r"}) for n in range(1, 5)]
    assert isinstance(state.receive(frames[0], 0.0), Unsubscribe)
    assert isinstance(state.receive(frames[1], 0.0), Unsubscribe)
    assert state.receive(frames[2], 0.1) == Failure(3, ErrorCode.TOO_MANY, "Too many commands: at most 2 per 1 s.")
    assert isinstance(state.receive(frames[3], 0.7), Unsubscribe)


def test_token_bucket_never_holds_more_than_its_capacity() -> None:
    bucket = TokenBucket(1, 1.0)
    assert bucket.take(0.0) and not bucket.take(0.5)
    assert bucket.take(100.0) and not bucket.take(100.0)


def test_subscriptions_are_counted_and_limited() -> None:
    state = rules(max_subscriptions=1)
    assert state.subscribing(Subscribe(1, "a")) is None
    assert state.subscribing(Subscribe(2, "a")) == Failure(2, ErrorCode.CONFLICT, "Already subscribed to 'a'.")
    assert state.subscribing(Subscribe(3, "b")) == Failure(
        3, ErrorCode.TOO_MANY, "Too many subscriptions: at most 1 per connection."
    )
    state.unsubscribed("a")
    assert state.subscribing(Subscribe(4, "b")) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_frame_size": 0}, "max_frame_size must be an int >= 1, got 0."),
        ({"max_subscriptions": True}, "max_subscriptions must be an int >= 1, got True."),
        ({"malformed_budget": -1}, "malformed_budget must be an int >= 0, got -1."),
        ({"command_rate": 5}, "command_rate must be (commands, seconds) with commands an int >= 1 and seconds > 0, got 5."),
        ({"command_rate": (0, 1.0)}, "command_rate must be (commands, seconds) with commands an int >= 1 and seconds > 0, got (0, 1.0)."),
        ({"command_rate": (1, 0)}, "command_rate must be (commands, seconds) with commands an int >= 1 and seconds > 0, got (1, 0)."),
    ],
)  # fmt: skip
def test_limits_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Limits(**options)


def test_an_oversized_frame_is_refused_before_it_is_parsed() -> None:
    # Not JSON at all past its head, and far too large: refused by size, never decoded.
    text = '{"id": 12, "op": "publish", "room": "r", "data": "' + "x" * 5000
    assert parse(text, max_frame_size=SIZE) == Failure(
        12, ErrorCode.TOO_LARGE, f"The frame is {len(text)} bytes; this server takes at most 1024 bytes per frame."
    )


@pytest.mark.parametrize(
    "head",
    [
        '{"op": "publish", "id": 5, "data": "',  # the id is not the first key: it cannot be told cheaply
        '{"data": {"id": 5}, "id": 6, "x": "',  # a nested "id" is never taken for the command's
        '{"id": 0, "x": "',
        '{"id": 9007199254740992, "x": "',  # over 2**53-1
        '["id", 5, "',
    ],
)
def test_an_oversized_frame_whose_id_does_not_come_first_is_answered_without_one(head: str) -> None:
    result = parse(head + "x" * 2000, max_frame_size=SIZE)
    assert isinstance(result, Failure) and result.code is ErrorCode.TOO_LARGE and result.id is None
