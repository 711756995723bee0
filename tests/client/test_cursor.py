"""De-duplication by position across epochs, and what a subscribe reply does to the resume point."""

from __future__ import annotations

from sockjet.client.cursor import StreamCursor
from sockjet.hub.position import Position


def p(token: str) -> Position:
    return Position.parse(token)


def test_a_message_is_let_through_once_and_in_order() -> None:
    cursor = StreamCursor(p("e1.3"))
    offered = ["e1.2", "e1.3", "e1.4", "e1.4", "e1.6", "e1.5", "e1.7"]
    assert [t for t in offered if cursor.offer(p(t))] == ["e1.4", "e1.6", "e1.7"]
    assert cursor.position == p("e1.7")


def test_without_a_resume_point_the_first_message_sets_it() -> None:
    cursor = StreamCursor()
    assert cursor.offer(p("e1.9")) and not cursor.offer(p("e1.9"))
    assert cursor.position == p("e1.9")


def test_messages_without_position_always_pass_and_keep_the_resume_point() -> None:
    cursor = StreamCursor(p("e1.2"))
    assert cursor.offer(None) and cursor.offer(None)
    assert cursor.position == p("e1.2")


def test_a_new_epoch_passes_and_the_old_one_is_left_behind() -> None:
    cursor = StreamCursor(p("old.40"))
    assert cursor.offer(p("new.1"))
    assert not cursor.offer(p("old.41"))  # a late message of the lost stream: never after the new one
    assert cursor.offer(p("new.2")) and not cursor.offer(p("new.1"))
    assert cursor.position == p("new.2")


def test_a_new_subscription_is_live_from_the_replys_position() -> None:
    cursor = StreamCursor()
    assert cursor.subscribed(None, p("e1.10"), True, again=False) is False
    assert cursor.position == p("e1.10")
    assert not cursor.offer(p("e1.10")) and cursor.offer(p("e1.11"))


def test_a_recovered_resubscription_keeps_since_so_the_replay_passes() -> None:
    cursor = StreamCursor(p("e1.5"))
    assert cursor.subscribed(p("e1.5"), p("e1.8"), True, again=True) is False
    assert [t for t in ("e1.5", "e1.6", "e1.7", "e1.8", "e1.7", "e1.9") if cursor.offer(p(t))] == [
        "e1.6",
        "e1.7",
        "e1.8",
        "e1.9",
    ]


def test_a_refused_recovery_resyncs_from_the_new_position_in_another_epoch() -> None:
    cursor = StreamCursor(p("old.5"))
    assert cursor.subscribed(p("old.5"), p("new.3"), False, again=True) is True
    assert cursor.position == p("new.3")
    assert [t for t in ("old.6", "new.3", "new.4") if cursor.offer(p(t))] == ["new.4"]


def test_a_refused_recovery_in_the_same_epoch_skips_to_the_new_position() -> None:
    cursor = StreamCursor(p("e1.5"))
    assert cursor.subscribed(p("e1.5"), p("e1.500"), False, again=True) is True
    assert [t for t in ("e1.6", "e1.500", "e1.501") if cursor.offer(p(t))] == ["e1.501"]


def test_a_refused_recovery_of_a_room_that_lost_its_stream() -> None:
    cursor = StreamCursor(p("old.5"))
    assert cursor.subscribed(p("old.5"), None, False, again=True) is True
    assert cursor.position is None
    assert not cursor.offer(p("old.6")) and cursor.offer(p("new.1"))


def test_a_resubscription_with_nothing_to_resume_from() -> None:
    quiet = StreamCursor()
    assert quiet.subscribed(None, None, True, again=True) is False  # still no stream: nothing was missed
    assert quiet.subscribed(None, p("e1.2"), True, again=True) is True  # messages came and went meanwhile
    assert quiet.position == p("e1.2")


def test_an_epoch_left_behind_long_ago_is_forgotten_but_a_returning_one_is_current() -> None:
    cursor = StreamCursor(p("e0.1"))
    for n in range(1, 20):
        assert cursor.offer(p(f"e{n}.1"))
    assert cursor.offer(p("e0.2"))  # 19 epochs later e0 is no longer remembered
    cursor.subscribed(p("e0.2"), p("e5.1"), False, again=True)
    assert not cursor.offer(p("e0.3"))
    cursor.subscribed(p("e5.1"), p("e0.9"), False, again=True)  # e0 is current again
    assert cursor.offer(p("e0.10"))
