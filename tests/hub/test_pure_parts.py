"""The hub's pure parts, without sockets or an event loop: outbox policy, membership rules, member states, envelopes."""

from __future__ import annotations

import re

import pytest

from sockjet.exceptions import ConfigurationError, PayloadTooLarge
from sockjet.hub.envelope import Envelope, encode_payload, payload_size
from sockjet.hub.member_state import OPEN, MemberEvent, MemberState, next_state
from sockjet.hub.membership import Action, Membership, needs_backend
from sockjet.hub.outbox import Offer, Outbox, check_limits


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


class TestMembership:
    def test_first_member_subscribes_later_ones_change_the_count(self) -> None:
        rooms: Membership[str] = Membership()
        assert rooms.join("r", "a") == (Action.SUBSCRIBE,)
        assert rooms.join("r", "b") == (Action.COUNT_CHANGED,)
        assert rooms.members("r") == ("a", "b")
        assert (rooms.count("r"), rooms.count("nowhere"), rooms.members("nowhere")) == (2, 0, ())

    def test_last_member_unsubscribes_and_each_member_leaving_its_last_room_stops(self) -> None:
        rooms: Membership[str] = Membership()
        rooms.join("r", "a")
        rooms.join("r", "b")
        assert rooms.leave("r", "a") == (Action.COUNT_CHANGED, Action.STOP_MEMBER)
        assert rooms.leave("r", "a") == ()  # not there any more
        assert rooms.leave("nowhere", "b") == ()
        assert rooms.leave("r", "b") == (Action.UNSUBSCRIBE, Action.STOP_MEMBER)
        assert (rooms.members("r"), rooms.count("r"), rooms.rooms(), "a" in rooms) == ((), 0, [], False)

    def test_nested_joins_of_one_room_count_once_and_leave_with_the_outermost(self) -> None:
        rooms: Membership[str] = Membership()
        assert rooms.join("r", "a") == (Action.SUBSCRIBE,)
        assert rooms.join("r", "a") == ()
        assert rooms.join("r", "a") == ()
        assert (rooms.count("r"), rooms.depth("r", "a")) == (1, 3)
        assert rooms.leave("r", "a") == ()
        assert rooms.leave("r", "a") == ()
        assert rooms.depth("r", "a") == 1
        assert rooms.leave("r", "a") == (Action.UNSUBSCRIBE, Action.STOP_MEMBER)
        assert rooms.depth("r", "a") == 0

    def test_leaving_one_of_several_rooms_keeps_the_member(self) -> None:
        rooms: Membership[str] = Membership()
        rooms.join("x", "a")
        rooms.join("y", "a")
        assert rooms.leave("x", "a") == (Action.UNSUBSCRIBE,)
        assert rooms.rooms_of("a") == {"y"}

    def test_removing_a_gone_member_empties_its_rooms_at_once(self) -> None:
        rooms: Membership[str] = Membership()
        rooms.join("y", "a")
        rooms.join("x", "a")
        rooms.join("x", "a")
        rooms.join("y", "b")
        assert rooms.rooms_of("a") == {"x", "y"}
        assert rooms.remove("a") == {"x": (Action.UNSUBSCRIBE,), "y": (Action.COUNT_CHANGED,)}
        assert rooms.remove("a") == {}
        assert rooms.rooms() == ["y"]
        assert rooms.rooms_of("a") == frozenset()
        assert rooms.leave("x", "a") == ()  # the join block that ends later changes nothing
        rooms.clear()
        assert rooms.rooms() == []

    def test_which_actions_need_the_backend(self) -> None:
        assert needs_backend((Action.SUBSCRIBE,)) and needs_backend((Action.UNSUBSCRIBE, Action.STOP_MEMBER))
        assert needs_backend((Action.COUNT_CHANGED,))
        assert not needs_backend(()) and not needs_backend((Action.STOP_MEMBER,))


class TestMemberState:
    def test_an_idle_member_becomes_busy_when_a_send_suspends_and_idle_again_when_emptied(self) -> None:
        state = next_state(MemberState.IDLE, MemberEvent.SEND_SUSPENDED)
        assert state is MemberState.BUSY
        assert next_state(state, MemberEvent.OUTBOX_EMPTIED) is MemberState.IDLE

    @pytest.mark.parametrize("start", [MemberState.IDLE, MemberState.BUSY])
    def test_closing_paths(self, start: MemberState) -> None:
        assert next_state(start, MemberEvent.CLOSE) is MemberState.CLOSING
        assert next_state(start, MemberEvent.STOP) is MemberState.CLOSING
        draining = next_state(start, MemberEvent.DRAIN)
        assert draining is MemberState.DRAINING
        assert next_state(draining, MemberEvent.CLOSE) is MemberState.CLOSING
        assert next_state(MemberState.CLOSING, MemberEvent.DONE) is MemberState.CLOSED
        assert next_state(start, MemberEvent.GONE) is MemberState.CLOSED
        assert next_state(draining, MemberEvent.GONE) is MemberState.CLOSED
        assert start in OPEN and draining not in OPEN

    @pytest.mark.parametrize(
        ("state", "event"),
        [
            (MemberState.BUSY, MemberEvent.SEND_SUSPENDED),
            (MemberState.IDLE, MemberEvent.OUTBOX_EMPTIED),
            (MemberState.DRAINING, MemberEvent.STOP),
            (MemberState.CLOSING, MemberEvent.CLOSE),
            (MemberState.CLOSED, MemberEvent.GONE),
        ],
    )
    def test_impossible_events_are_a_bug_with_a_clear_message(self, state: MemberState, event: MemberEvent) -> None:
        message = f"A hub member cannot take {event.name} in state {state.name}."
        with pytest.raises(RuntimeError, match=re.escape(message)):
            next_state(state, event)


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
