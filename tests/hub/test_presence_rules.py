"""Presence rules without an event loop: info encoding, user keys, the coalescer, the frames, the wire."""

from __future__ import annotations

import json
import re

import pytest

from sockjet.exceptions import ConfigurationError, PresenceInfoTooLarge
from sockjet.hub.presence import (
    Coalescer,
    Diff,
    Entry,
    PresenceEvent,
    PresenceMode,
    diff_frame,
    encode_info,
    events_mode,
    own_user,
    state_frame,
    user_key,
    users_of,
)
from sockjet.hub.wire import decode_presence as decode_event


def test_events_mode() -> None:
    assert [events_mode(v) for v in (False, None, True, "connections", "users")] == [
        None,
        None,
        PresenceMode.CONNECTIONS,
        PresenceMode.CONNECTIONS,
        PresenceMode.USERS,
    ]
    with pytest.raises(ConfigurationError, match=re.escape("got 1.")):
        events_mode(1)


def test_info_is_compact_json_bounded_in_utf8_bytes() -> None:
    assert encode_info({"user": "u42", "name": "Adá"}, max_bytes=100) == ('{"user":"u42","name":"Adá"}', '"u42"')
    assert encode_info({"name": "é" * 6}, max_bytes=23) == ('{"name":"éééééé"}', "")  # 23 bytes exactly
    with pytest.raises(PresenceInfoTooLarge, match=re.escape("presence info is 23 bytes of JSON; the hub's max")):
        encode_info({"name": "é" * 6}, max_bytes=22)
    with pytest.raises(TypeError, match="presence must be JSON-serializable: Out of range float"):
        encode_info({"x": float("nan")}, max_bytes=100)


def test_user_keys() -> None:
    assert [user_key({"user": u}) for u in ("42", 42, None, {"b": 1, "a": 2})] == [
        '"42"',
        "42",
        "null",
        '{"a":2,"b":1}',
    ]
    assert user_key({"name": "x"}) == ""
    assert (own_user("", "c1"), own_user('"u"', "c1")) == ("#c1", '"u"')


def test_event_values() -> None:
    event = PresenceEvent("r", "join", "c1", '{"user":"ada","n":1}', user_changed=True)
    assert (event.info, event.user, event.user_key(), event.expired) == ({"user": "ada", "n": 1}, "ada", '"ada"', False)
    anonymous = PresenceEvent("r", "leave", "c2", "{}", user_changed=True, expired=True)
    assert (anonymous.user, anonymous.user_key()) == (None, "#c2")


A, B, C = Entry("a", '{"user":1}'), Entry("b", '{"user":2}'), Entry("c", "{}")


def test_the_first_change_goes_out_at_once_then_one_frame_per_interval() -> None:
    coalescer = Coalescer(1.0)
    assert (coalescer.pending, coalescer.deadline) == (False, None)
    assert coalescer.add("join", "a", A, now=10.0) == Diff((), (A,))
    assert coalescer.add("join", "b", B, now=10.2) is None  # within the interval: held
    assert coalescer.add("leave", "a", A, now=10.3) is None
    assert (coalescer.pending, coalescer.deadline) == (True, 11.0)
    assert coalescer.flush(10.9) is None  # not yet
    assert coalescer.flush(11.0) == Diff((A,), (B,))
    assert coalescer.flush(11.5) is None  # nothing held
    assert coalescer.add("join", "c", C, now=12.5) == Diff((), (C,))  # quiet for an interval: at once again


def test_changes_that_cancel_out_within_a_wait_vanish() -> None:
    coalescer = Coalescer(1.0)
    coalescer.add("join", "x", C, now=0.0)
    assert coalescer.add("join", "a", A, now=0.1) is None
    assert coalescer.add("leave", "a", A, now=0.2) is None  # came and went: in neither list
    assert coalescer.add("leave", "b", B, now=0.3) is None
    assert coalescer.add("join", "b", B, now=0.4) is None  # went and came back, unchanged: nothing
    assert (coalescer.pending, coalescer.flush(2.0)) == (False, None)


def test_a_key_that_comes_back_changed_is_a_leave_then_a_join() -> None:
    coalescer = Coalescer(1.0)
    coalescer.add("join", "x", C, now=0.0)
    changed = Entry("b", '{"user":2,"away":true}')
    assert coalescer.add("leave", "b", B, now=0.1) is None
    assert coalescer.add("join", "b", changed, now=0.2) is None
    assert coalescer.flush(1.0) == Diff((B,), (changed,))
    coalescer.add("join", "y", C, now=1.1)
    assert coalescer.add("leave", "b", changed, now=1.2) is None
    assert coalescer.add("join", "b", B, now=1.3) is None
    assert coalescer.add("leave", "b", B, now=1.4) is None  # and left again: only the first leave counts
    assert coalescer.flush(2.5) == Diff((changed,), (C,))


def test_no_interval_sends_everything_at_once() -> None:
    coalescer = Coalescer(0.0)
    assert [coalescer.add("join", k, e, now=1.0) for k, e in (("a", A), ("b", B))] == [Diff((), (A,)), Diff((), (B,))]


def test_frames() -> None:
    frame = json.loads(diff_frame("lobby é", Diff((A,), (B, C))))
    assert frame == {
        "type": "presence",
        "room": "lobby é",
        "joins": [{"id": "b", "info": {"user": 2}}, {"id": "c", "info": {}}],
        "leaves": [{"id": "a", "info": {"user": 1}}],
    }
    assert json.loads(state_frame("r", [A])) == {
        "type": "presence",
        "room": "r",
        "state": [{"id": "a", "info": {"user": 1}}],
    }
    entries = {"a": '{"user":1}', "a2": '{"user":1,"tab":2}', "c": "{}", "d": "{}"}
    assert users_of(entries) == [A, C, Entry("d", "{}")]


def test_wire_events() -> None:
    assert decode_event("r", b'pj1c1\n"ada"\n{"user":"ada"}') == PresenceEvent(
        "r", "join", "c1", '{"user":"ada"}', user_changed=True
    )
    assert decode_event("r", b"l0c2\n#c2\n{}") == PresenceEvent("r", "leave", "c2", "{}", user_changed=False)
    assert decode_event("r", b"x1c3\n#c3\n{}").expired


def test_the_default_presence_ttl_bounds_a_crashed_process_to_10_s_or_less() -> None:
    from sockjet import Hub
    from sockjet.hub.backends.nats import NatsBackend
    from sockjet.hub.backends.presence import PRESENCE_TTL, crash_bound, reap_interval, refresh_interval
    from sockjet.hub.backends.redis import RedisBackend

    assert Hub().presence_ttl == PRESENCE_TTL == 8.0
    assert RedisBackend("redis://127.0.0.1:1/0").presence_ttl == NatsBackend("nats://127.0.0.1:1").presence_ttl == 8.0
    assert crash_bound(PRESENCE_TTL) == 9.0 <= 10.0  # refreshed at most 8 s before, reaped within 1 s
    assert (refresh_interval(9.0), reap_interval(9.0)) == (3.0, 1.0)
    assert (refresh_interval(1.5), reap_interval(1.5), crash_bound(1.5)) == (0.5, 0.5, 2.0)
