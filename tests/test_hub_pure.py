"""The hub's pure parts, without sockets or an event loop: outbox policy, room bookkeeping, envelopes."""

from __future__ import annotations

import re

import pytest

from sockjet.exceptions import ConfigurationError, PayloadTooLarge
from sockjet.hub.envelope import Envelope, encode_payload, payload_size
from sockjet.hub.outbox import Offer, Outbox, check_limits
from sockjet.hub.rooms import Rooms


class TestOutbox:
    def test_fifo_within_limits(self) -> None:
        box: Outbox[str] = Outbox(max_messages=3, max_bytes=100, overflow="close")
        assert [box.offer(x, 1) for x in "abc"] == [Offer.QUEUED] * 3
        assert (len(box), box.queued_bytes) == (3, 3)
        assert [box.pop(), box.pop(), box.pop()] == ["a", "b", "c"]
        assert (len(box), box.queued_bytes) == (0, 0)
        with pytest.raises(IndexError):
            box.pop()

    def test_close_policy_refuses_and_keeps_what_is_queued(self) -> None:
        box: Outbox[str] = Outbox(max_messages=2, max_bytes=100, overflow="close")
        box.offer("a", 1)
        box.offer("b", 1)
        assert box.offer("c", 1) is Offer.REFUSED
        assert [box.pop(), box.pop()] == ["a", "b"]
        assert box.dropped == 0

    def test_close_policy_counts_bytes(self) -> None:
        box: Outbox[str] = Outbox(max_messages=10, max_bytes=10, overflow="close")
        assert box.offer("a", 6) is Offer.QUEUED
        assert box.offer("b", 5) is Offer.REFUSED
        assert box.offer("c", 4) is Offer.QUEUED

    def test_drop_oldest_evicts_until_the_new_item_fits(self) -> None:
        box: Outbox[str] = Outbox(max_messages=3, max_bytes=10, overflow="drop_oldest")
        for item in "abc":
            box.offer(item, 3)
        assert box.offer("d", 3) is Offer.QUEUED_AFTER_DROP  # count limit: drops "a"
        assert box.offer("e", 7) is Offer.QUEUED_AFTER_DROP  # byte limit: drops "b", "c"
        assert box.dropped == 3
        assert (len(box), box.queued_bytes) == (2, 10)
        assert [box.pop(), box.pop()] == ["d", "e"]

    def test_drop_oldest_accepts_one_item_larger_than_the_byte_bound(self) -> None:
        box: Outbox[str] = Outbox(max_messages=3, max_bytes=10, overflow="drop_oldest")
        box.offer("a", 5)
        assert box.offer("huge", 50) is Offer.QUEUED_AFTER_DROP
        assert (len(box), box.dropped) == (1, 1)

    def test_clear(self) -> None:
        box: Outbox[str] = Outbox(max_messages=3, max_bytes=10, overflow="close")
        box.offer("a", 5)
        assert box.clear() == 1
        assert (len(box), box.queued_bytes) == (0, 0)

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"max_messages": 0}, "max_queue must be an int >= 1, got 0."),
            ({"max_messages": True}, "max_queue must be an int >= 1, got True."),
            ({"max_bytes": 0.5}, "max_queue_bytes must be an int >= 1, got 0.5."),
            ({"overflow": "block"}, "overflow must be one of 'close', 'drop_oldest', got 'block'."),
        ],
    )
    def test_bad_limits(self, options: dict[str, object], message: str) -> None:
        merged: dict[str, object] = {"max_messages": 1, "max_bytes": 1, "overflow": "close", **options}
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            check_limits(**merged)  # type: ignore[arg-type]


class TestRooms:
    def test_first_and_last_member_are_reported(self) -> None:
        rooms: Rooms[str] = Rooms()
        assert rooms.add("r", "a") is True
        assert rooms.add("r", "b") is False
        assert rooms.members("r") == ("a", "b")
        assert rooms.count("r") == 2
        assert rooms.discard("r", "a") is False
        assert rooms.discard("r", "a") is False  # not there any more
        assert rooms.discard("nowhere", "a") is False
        assert rooms.discard("r", "b") is True
        assert (rooms.members("r"), rooms.count("r"), rooms.rooms()) == ((), 0, [])

    def test_a_member_in_several_rooms(self) -> None:
        rooms: Rooms[str] = Rooms()
        rooms.add("x", "a")
        rooms.add("y", "a")
        rooms.add("y", "b")
        assert rooms.rooms_of("a") == {"x", "y"}
        assert rooms.remove_member("a") == ["x"]
        assert rooms.rooms() == ["y"]
        assert rooms.rooms_of("a") == frozenset()
        rooms.clear()
        assert rooms.rooms() == []


class TestEnvelope:
    def test_payloads_are_encoded_once_as_text_bytes_or_json(self) -> None:
        assert encode_payload("é") == "é"
        assert encode_payload(b"\x00") == b"\x00"
        assert encode_payload(bytearray(b"ab")) == b"ab"
        assert encode_payload(memoryview(b"cd")) == b"cd"
        assert encode_payload({"msg": "héllo", "n": [1, 2]}) == '{"msg":"héllo","n":[1,2]}'

    def test_unencodable_payload(self) -> None:
        with pytest.raises(
            TypeError, match=re.escape("Cannot publish 'object': pass str, bytes or a JSON-serializable")
        ):
            encode_payload(object())

    def test_sizes_are_utf8_bytes(self) -> None:
        assert payload_size("abc") == 3
        assert payload_size("é") == 2
        assert payload_size(b"abcd") == 4
        assert Envelope("r", "é").size == 2

    def test_messages(self) -> None:
        assert Envelope("r", "hi").message() == {"type": "websocket.send", "text": "hi"}
        assert Envelope("r", b"hi").message() == {"type": "websocket.send", "bytes": b"hi"}

    def test_wire_round_trip(self) -> None:
        for payload in ("héllo", b"\x00\xff", ""):
            envelope = Envelope("room", payload)
            assert Envelope.from_wire("room", envelope.to_wire()) == envelope

    def test_foreign_wire_bytes(self) -> None:
        with pytest.raises(ValueError, match=re.escape("Not a hub message (kind byte b'x') on room 'r'")):
            Envelope.from_wire("r", b"xhello")

    def test_max_payload(self) -> None:
        assert Envelope.build("r", "abc", max_payload=3) == Envelope("r", "abc")
        message = (
            "Cannot publish 4 bytes to room 'r': the hub's max_payload is 3 bytes. "
            "Send less, or raise Hub(max_payload=...)."
        )
        with pytest.raises(PayloadTooLarge, match=re.escape(message)):
            Envelope.build("r", "abcd", max_payload=3)

    def test_envelopes_are_frozen(self) -> None:
        envelope = Envelope("r", "x")
        with pytest.raises(AttributeError):
            envelope.room = "s"  # type: ignore[misc]
