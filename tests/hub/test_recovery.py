"""The pure rules of gap-free delivery (``RoomFeed``) and the in-process streams (``MemoryStreams``).

No event loop: every step is a plain call, the clock is a number.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockjet.hub.backends.base import Retention
from sockjet.hub.backends.memory_history import EXPIRE_PER_CALL, SWEEP_SLACK, MemoryStreams
from sockjet.hub.position import Position, Publication, StreamSlice, new_epoch
from sockjet.hub.recovery import FeedState, RoomFeed, Step


def pub(offset: int, epoch: str = "e") -> Publication:
    return Publication("r", Position(epoch, offset), f"m{offset}")


def pubs(*offsets: int, epoch: str = "e") -> tuple[Publication, ...]:
    return tuple(pub(o, epoch) for o in offsets)


def offsets(step_or_pubs: Step | tuple[Publication, ...]) -> list[int]:
    items = step_or_pubs.deliver if isinstance(step_or_pubs, Step) else step_or_pubs
    return [p.offset for p in items]


def live_feed(at: int = 3) -> RoomFeed[str]:
    feed: RoomFeed[str] = RoomFeed()
    feed.seed(StreamSlice("e", at, ()))
    return feed


# -- the live stream ------------------------------------------------------------------------------------
def test_a_new_feed_starts_at_the_first_publication() -> None:
    feed: RoomFeed[str] = RoomFeed()
    assert feed.state is FeedState.NEW and feed.idle
    assert offsets(feed.live(pub(7))) == [7]
    assert (feed.state, feed.epoch, feed.offset) == (FeedState.LIVE, "e", 7)
    assert offsets(feed.live(pub(8))) == [8]
    assert "LIVE e.8" in repr(feed)


def test_duplicates_are_dropped() -> None:
    feed = live_feed(3)
    assert feed.live(pub(2)) == Step()
    assert feed.live(pub(3)) == Step()
    assert offsets(feed.live(pub(4))) == [4]


def test_a_gap_asks_for_a_fill_and_holds_live_publications_meanwhile() -> None:
    feed = live_feed(3)
    step = feed.live(pub(6))
    assert step == Step(fill_after=3)
    assert feed.state is FeedState.FILLING and not feed.idle
    assert feed.live(pub(7)) == Step()
    step = feed.filled(StreamSlice("e", 6, pubs(4, 5, 6)))
    assert offsets(step) == [4, 5, 6, 7] and not step.lost and step.fill_after is None
    assert (feed.state, feed.offset) == (FeedState.LIVE, 7)


def test_a_fill_that_cannot_continue_the_stream_is_a_loss() -> None:
    for read in (
        StreamSlice("e", 9, pubs(6, 7, 8, 9)),  # 4 and 5 trimmed
        StreamSlice("other", 2, pubs(1, 2, epoch="other")),  # the stream was lost and restarted
        StreamSlice(None, 0, ()),  # the stream is gone
        None,  # the read failed
    ):
        feed = live_feed(3)
        feed.live(pub(6))
        step = feed.filled(read)
        assert step == Step(lost=True)
        assert feed.state is FeedState.NEW and feed.pending == []
        # the next publication starts the feed again
        assert offsets(feed.live(pub(10, "z"))) == [10]


def test_a_fill_with_a_second_gap_in_the_pending_publications_fills_again() -> None:
    feed = live_feed(3)
    feed.live(pub(5))
    feed.live(pub(8))  # pending, with 6 and 7 missing too
    step = feed.filled(StreamSlice("e", 5, pubs(4, 5)))
    assert offsets(step) == [4, 5] and step.fill_after == 5
    step = feed.filled(StreamSlice("e", 8, pubs(6, 7, 8)))
    assert offsets(step) == [6, 7, 8] and feed.offset == 8


def test_an_epoch_change_on_the_live_stream_is_a_loss() -> None:
    feed = live_feed(3)
    assert offsets(feed.live(pub(4))) == [4]
    step = feed.live(pub(1, "new"))
    assert step.lost and feed.state is FeedState.NEW


def test_an_interruption_fills_from_the_last_delivered_offset() -> None:
    feed = live_feed(3)
    assert feed.interrupted() == Step(fill_after=3)
    assert feed.interrupted() == Step()  # a fill is already under way...
    step = feed.filled(StreamSlice("e", 5, pubs(4, 5)))
    assert offsets(step) == [4, 5] and step.fill_after == 5  # ...but it may predate the second drop
    assert offsets(feed.filled(StreamSlice("e", 5, ()))) == []
    assert feed.state is FeedState.LIVE


def test_an_interruption_of_a_new_feed_needs_nothing() -> None:
    feed: RoomFeed[str] = RoomFeed()
    assert feed.interrupted() == Step()
    assert feed.filled(StreamSlice("e", 1, pubs(1))) == Step()  # not filling: ignored


def test_seed_only_starts_a_new_feed() -> None:
    feed: RoomFeed[str] = RoomFeed()
    feed.seed(StreamSlice(None, 0, ()))
    assert feed.state is FeedState.NEW
    feed.seed(StreamSlice("e", 4, ()))
    assert feed.offset == 4
    feed.seed(StreamSlice("e", 9, ()))
    assert feed.offset == 4


# -- catching up ------------------------------------------------------------------------------------------
def test_catch_up_replays_then_the_buffered_live_publications_without_duplicates() -> None:
    feed = live_feed(5)
    members = ("a", "b")
    feed.begin("b")
    assert feed.catching_up("b") and not feed.catching_up("a")
    for offset in (6, 7):
        step = feed.live(pub(offset))
        assert feed.route(step.deliver[0], members) == ("a",)
    # the read was made after 6 was published: 3..6, then 7 from the buffer
    recovered, out = feed.finish("b", Position("e", 2), StreamSlice("e", 6, pubs(3, 4, 5, 6)))
    assert recovered and offsets(out) == [3, 4, 5, 6, 7]
    assert feed.route(feed.live(pub(8)).deliver[0], members) == members


def test_catch_up_from_the_top_replays_nothing_and_keeps_live() -> None:
    feed = live_feed(5)
    feed.begin("b")
    feed.route(feed.live(pub(6)).deliver[0], ("b",))
    recovered, out = feed.finish("b", Position("e", 5), StreamSlice("e", 5, ()))
    assert recovered and offsets(out) == [6]


def test_a_failed_catch_up_replays_nothing_but_keeps_what_came_live_after_the_read() -> None:
    feed = live_feed(5)
    feed.begin("b")
    for offset in (6, 7):
        feed.route(feed.live(pub(offset)).deliver[0], ("b",))
    for since in (Position("e", 1), Position("x", 3), Position("e", 99)):
        feed.begin("b")
        feed.route(feed.live(pub(feed.offset + 1)).deliver[0], ("b",))
        top = feed.offset - 1
        recovered, out = feed.finish("b", since, StreamSlice("e", top, pubs(*range(top - 2, top + 1))))
        assert not recovered
        assert offsets(out) == [top + 1]  # only what came after the read: nothing replayed


def test_live_publications_still_in_flight_after_a_catch_up_are_not_sent_twice() -> None:
    # The feed has delivered up to 5, but the read saw 5..8 (6..8 still on their way live).
    feed = live_feed(5)
    feed.begin("b")
    recovered, out = feed.finish("b", Position("e", 4), StreamSlice("e", 8, pubs(5, 6, 7, 8)))
    assert recovered and offsets(out) == [5, 6, 7, 8]
    members = ("a", "b")
    for offset in (6, 7, 8):
        assert feed.route(feed.live(pub(offset)).deliver[0], members) == ("a",)
    assert feed.route(feed.live(pub(9)).deliver[0], members) == members
    assert feed._floors == {}


def test_a_members_position_is_the_feeds_offset_or_its_catch_ups_last() -> None:
    feed: RoomFeed[str] = RoomFeed()
    assert feed.position_for("a") is None  # no epoch known yet
    feed = live_feed(5)
    assert feed.position_for("a") == Position("e", 5)
    feed.begin("b")
    feed.finish("b", Position("e", 4), StreamSlice("e", 8, pubs(5, 6, 7, 8)))  # 6..8 still in flight live
    assert feed.position_for("b") == Position("e", 8) and feed.position_for("a") == Position("e", 5)


def test_forget_drops_a_members_catch_up_and_floor() -> None:
    feed = live_feed(5)
    feed.begin("b")
    feed.forget("b")
    assert feed.idle and not feed.catching_up("b")
    recovered, out = feed.finish("b", Position("e", 5), StreamSlice("e", 5, ()))
    assert recovered and out == ()


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=30),
    since=st.integers(min_value=0, max_value=30),
    read_at=st.integers(min_value=0, max_value=30),
    fed_at=st.integers(min_value=0, max_value=30),
    size=st.integers(min_value=1, max_value=30),
)
def test_seam_property_every_message_after_since_exactly_once_in_order(
    total: int, since: int, read_at: int, fed_at: int, size: int
) -> None:
    """Publications 1..total; the feed had delivered ``fed_at`` when the member began; the read saw ``read_at``."""
    fed_at = min(fed_at, total)
    read_at = min(max(read_at, fed_at), total)
    since = min(since, total)
    feed: RoomFeed[str] = RoomFeed()
    for offset in range(1, fed_at + 1):
        feed.live(pub(offset))
    feed.begin("m")
    got: list[int] = []
    for offset in range(fed_at + 1, read_at + 1):  # arrive live before the read returns
        for p in feed.live(pub(offset)).deliver:
            got += [p.offset for _ in feed.route(p, ("m",))]
    retained = range(max(1, read_at - size + 1), read_at + 1)
    read = StreamSlice("e", read_at, pubs(*[o for o in retained if o > since])) if read_at else StreamSlice(None, 0, ())
    feed.seed(read)
    recovered, out = feed.finish("m", Position("e", since), read)
    got += [p.offset for p in out]
    position = feed.position_for("m")  # the member is live now
    before = len(got)
    for offset in range(read_at + 1, total + 1):  # arrive after (some may be in flight from before)
        for p in feed.live(pub(offset)).deliver:
            got += [p.offset for _ in feed.route(p, ("m",))]
    if position is not None:  # everything above the position came after it, nothing at or below it did
        assert all(o <= position.offset for o in got[:before])
        assert got[before:] == list(range(position.offset + 1, total + 1))
    else:
        assert read_at == 0 and fed_at == 0
    if recovered:
        assert got == list(range(since + 1, total + 1))
    else:
        assert got == list(range(read_at + 1, total + 1))
        assert since > read_at or since < read_at - size or read_at == 0


# -- the in-process streams ------------------------------------------------------------------------------
def test_streams_number_publications_and_keep_the_last_size() -> None:
    streams = MemoryStreams()
    keep = Retention(size=3)
    published = [streams.append("r", f"m{i}", "t", keep, now=float(i)) for i in range(1, 6)]
    assert [p.offset for p in published] == [1, 2, 3, 4, 5]
    assert len({p.position.epoch for p in published}) == 1
    read = streams.read("r", 0, None, keep, now=6.0)
    assert (read.epoch, read.top, offsets(read.publications)) == (published[0].position.epoch, 5, [3, 4, 5])
    assert offsets(streams.read("r", 3, None, keep, now=6.0).publications) == [4, 5]
    assert offsets(streams.read("r", 1, 1, keep, now=6.0).publications) == [3]
    assert streams.read("r", 5, None, keep, now=6.0).publications == ()
    assert streams.read("other", 0, None, keep, now=6.0) == StreamSlice(None, 0, ())
    assert streams.append("other", "x", "t", keep, now=7.0).position.epoch != published[0].position.epoch


def test_streams_drop_messages_older_than_ttl() -> None:
    streams = MemoryStreams()
    keep = Retention(size=10, ttl=5.0)
    for t in (0.0, 1.0, 2.0, 4.0):
        streams.append("r", f"at {t}", "t", keep, now=t)
    assert offsets(streams.read("r", 0, None, keep, now=6.5).publications) == [3, 4]
    assert streams.read("r", 0, None, keep, now=20.0).publications == ()
    assert streams.read("r", 0, None, keep, now=20.0).top == 4


def test_quiet_rooms_without_members_are_forgotten() -> None:
    in_use = {"busy"}
    streams = MemoryStreams(lambda room: room in in_use)
    keep = Retention(size=10, meta_ttl=60.0)
    first = streams.append("quiet", "x", "t", keep, now=0.0)
    streams.append("busy", "x", "t", keep, now=0.0)
    streams.append("recent", "x", "t", keep, now=30.0)
    assert len(streams) == 3
    assert streams.expire(61.0) == 2  # two were due: "quiet" is gone, "busy" has a member
    assert len(streams) == 2  # "busy" and "recent" (not due yet)
    again = streams.append("quiet", "y", "t", keep, now=62.0)
    assert again.offset == 1 and again.position.epoch != first.position.epoch
    in_use.clear()
    assert streams.expire(100.0) == 1 and len(streams) == 2  # only "recent" was due; "busy" is due at 121
    assert streams.expire(121.0) == 1 and len(streams) == 1  # "busy", a meta_ttl after it was found in use
    assert streams.expire(200.0) == 1 and len(streams) == 0


def test_each_operation_forgets_a_bounded_number_of_rooms() -> None:
    streams = MemoryStreams()
    keep = Retention(size=10, meta_ttl=10.0)
    for i in range(100):
        streams.append(f"old {i}", "x", "t", keep, now=0.0)
    streams.append("new", "x", "t", keep, now=11.0)  # 100 rooms are due; one publish forgets only a few
    assert len(streams) == 101 - EXPIRE_PER_CALL
    streams.read("new", 0, None, keep, now=11.0)
    streams.open("other", keep, now=11.0)
    assert len(streams) == 102 - 3 * EXPIRE_PER_CALL
    assert streams.expire(11.0, limit=10) == 10 and len(streams) == 92 - 3 * EXPIRE_PER_CALL
    assert streams.expire(11.0, limit=None) == 100 - 10 - 3 * EXPIRE_PER_CALL  # the rest that are due
    assert len(streams) == 2 and streams.expire(11.0, limit=None) == 0  # "new" and "other" are not due


def test_a_touched_room_moves_back_and_the_sweep_is_due_with_the_front_room() -> None:
    streams = MemoryStreams()
    assert streams.sweep_at() is None
    keep = Retention(size=10, meta_ttl=100.0)
    streams.append("a", "x", "t", keep, now=0.0)
    streams.append("b", "x", "t", keep, now=5.0)
    assert streams.sweep_at() == 100.0 + SWEEP_SLACK  # a's deadline plus the slack (capped at SWEEP_SLACK)
    streams.append("a", "y", "t", keep, now=50.0)  # a publish renews a's deadline: b is first now
    assert streams.sweep_at() == 105.0 + SWEEP_SLACK
    streams.open("a", keep, now=60.0)  # opening a room that has a stream is not a publish: nothing renewed
    assert streams.expire(106.0) == 1 and streams.read("b", 0, None, keep, now=106.0).epoch is None
    assert streams.read("a", 0, None, keep, now=106.0).top == 2
    short = Retention(size=10, meta_ttl=0.5)
    streams.append("c", "x", "t", short, now=200.0)  # the publish itself forgets a (due at 150)
    assert len(streams) == 1 and streams.expire(200.0) == 0
    assert streams.sweep_at() == 200.5 + 0.05  # a tenth of meta_ttl when that is below SWEEP_SLACK


def test_streams_open_an_idle_rooms_epoch_at_offset_zero() -> None:
    streams = MemoryStreams()
    keep = Retention(size=3, meta_ttl=60.0)
    opened = streams.open("r", keep, now=0.0)
    assert opened.offset == 0 and streams.open("r", keep, now=1.0) == opened
    assert streams.read("r", 0, None, keep, now=1.0) == StreamSlice(opened.epoch, 0, ())
    assert streams.append("r", "x", "t", keep, now=2.0).position == Position(opened.epoch, 1)
    assert streams.open("r", keep, now=3.0) == Position(opened.epoch, 1)
    streams.open("idle", keep, now=10.0)
    streams.expire(71.0)  # an opened room nobody publishes to is forgotten like any quiet one
    assert streams.read("idle", 0, None, keep, now=71.0).epoch is None


def test_new_epochs_are_url_safe_and_differ() -> None:
    epochs = {new_epoch() for _ in range(100)}
    assert len(epochs) == 100
    assert all(Position(e, 0) for e in epochs)


@pytest.mark.parametrize("limit", [None, 0, 1, 2, 10])
def test_streams_read_honours_limit(limit: int | None) -> None:
    streams = MemoryStreams()
    keep = Retention(size=10)
    for i in range(5):
        streams.append("r", str(i), "t", keep, now=0.0)
    got = offsets(streams.read("r", 1, limit, keep, now=0.0).publications)
    assert got == [2, 3, 4, 5][: 4 if limit is None else limit]


def test_a_forked_process_names_its_epochs_apart_from_its_parent() -> None:
    import os

    read, write = os.pipe()
    parent = new_epoch()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe and exits at once
        os.write(write, new_epoch().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child and child[:8] != parent[:8]  # a new seed in the child: no name both can make
    assert new_epoch()[:8] == parent[:8]
