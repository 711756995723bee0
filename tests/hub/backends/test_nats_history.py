"""History on NATS JetStream across what only a real server does: a restart with its store intact
(positions keep recovering), a wiped store (a new epoch, and members are told), a connection that
drops while others publish (gaps filled from the stream), a server without JetStream."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from sockjet import Hub, Position
from sockjet.exceptions import HubError, PublishError
from sockjet.hub import HISTORY_LOST_CLOSE_CODE
from sockjet.hub.backends.base import Retention
from sockjet.hub.backends.nats import NatsBackend
from sockjet.hub.backends.nats_history import (
    EPOCH_HEADER,
    RoomTips,
    Stored,
    Tip,
    epoch_marker,
    max_age,
    next_publication,
    position_of,
    sequence_of,
    slice_of,
    stream_name,
)
from sockjet.hub.position import Publication
from tests.conftest import MS
from tests.hub_fakes import FakeSocket, connected
from tests.servers.nats_server import NatsServer, running_nats

pytestmark = pytest.mark.nats


def make_hub(url: str, prefix: str | None = None, **options: Any) -> Hub:
    options.setdefault("history_size", 100)
    return Hub(url, prefix=prefix or f"test-{uuid.uuid4().hex[:8]}:", **options)


async def join(hub: Hub, room: str, since: Position | None = None) -> tuple[FakeSocket, Any]:
    sock = await connected()
    member = await hub.join(room, sock.websocket, since=since).__aenter__()
    return sock, member


async def publish_when_back(hub: Hub, room: str, data: str) -> Position:
    """Publish, retrying while the hub reconnects (bounded)."""
    deadline = time.monotonic() + 10000 * MS
    while True:
        try:
            position = await hub.publish(room, data)
            assert position is not None
            return position
        except PublishError:
            assert time.monotonic() < deadline, "NATS did not come back"
            await asyncio.sleep(20 * MS)


async def test_a_restart_with_the_store_intact_keeps_every_position(nats_server: NatsServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with make_hub(nats_server.url, prefix, timeout=300 * MS) as here, make_hub(nats_server.url, prefix) as there:
        sock, member = await join(here, "r")
        before: list[Position] = []
        for i in range(3):
            position = await there.publish("r", f"before {i}")
            assert position is not None
            before.append(position)
        await sock.wait_data(3)
        nats_server.restart()
        after = [await publish_when_back(there, "r", f"after {i}") for i in range(3)]
        assert [p.offset for p in after] == [4, 5, 6] and {p.epoch for p in before + after} == {before[0].epoch}
        got = await sock.wait_data(6, 5000 * MS)
        assert got == [f"before {i}" for i in range(3)] + [f"after {i}" for i in range(3)]
        assert not member.closed
        late, rejoined = await join(here, "r", since=before[1])
        assert rejoined.recovered
        assert await late.wait_data(4) == ["before 2", "after 0", "after 1", "after 2"]
        history = await there.history("r", since=before[0])
        assert history.recovered and [m.data for m in history.messages] == ["before 1", "before 2", *got[3:]]


async def test_a_wiped_store_is_a_new_epoch_and_members_are_told(nats_server: NatsServer) -> None:
    async with make_hub(nats_server.url, timeout=300 * MS) as hub:
        sock, _ = await join(hub, "r")
        before = await hub.publish("r", "before")
        await sock.wait_data(1)
        nats_server.wipe()
        nats_server.start()
        close = await sock.wait_closed(5000 * MS)
        assert close["code"] == HISTORY_LOST_CLOSE_CODE
        after = await publish_when_back(hub, "r", "after")
        assert before is not None and after.epoch != before.epoch and after.offset == 1
        _, member = await join(hub, "r", since=before)
        assert member.recovered is False
        assert (await hub.history("r", since=before)).recovered is False


async def test_a_dropped_connection_fills_its_members_gaps_from_the_stream(shared_nats: NatsServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with make_hub(shared_nats.url, prefix) as here, make_hub(shared_nats.url, prefix) as there:
        sock, member = await join(here, "r")
        await there.publish("r", "before")
        await sock.wait_data(1)
        backend = here._backend
        assert isinstance(backend, NatsBackend)
        await backend._nc.force_reconnect()  # `here` waits reconnect_wait before it reconnects
        for i in range(5):
            await there.publish("r", f"during {i}")  # not on `here`'s live subscription
        await there.publish("r", "after")
        got = await sock.wait_data(7, 5000 * MS)
        assert got == ["before", *[f"during {i}" for i in range(5)], "after"]
        assert not member.closed and backend.disconnects >= 1


BURST = """
import asyncio, sys
from sockjet import Hub

async def main(url, prefix, history):
    async with Hub(url, prefix=prefix, history_size=history) as hub:
        await hub.publish("warm-up", "x")
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(60):
            await hub.publish("r", f"m{i}")
        print("done", flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def burst(url: str, prefix: str, history: int) -> None:
    """60 publishes from another process while this event loop is blocked: they pile up unread."""
    argv = [sys.executable, "-c", BURST, url, prefix, str(history)]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdin is not None and child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "done"
            time.sleep(200 * MS)  # the messages reach this process's socket while nothing reads it
        finally:
            child.kill()


async def test_a_room_too_slow_for_the_feed_is_filled_from_the_stream(
    shared_nats: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with make_hub(shared_nats.url, prefix) as here:
        backend = here._backend
        assert isinstance(backend, NatsBackend)
        backend.pending_limit = 2  # nats-py drops what does not fit: a slow consumer
        sock, member = await join(here, "r")
        burst(shared_nats.url, prefix, 100)  # blocks this event loop on purpose
        got = await sock.wait_data(60, 5000 * MS)
        assert got == [f"m{i}" for i in range(60)] and not member.closed
        assert "fell behind the NATS feed; filling from their streams" in caplog.text


async def test_without_history_a_slow_room_says_it_dropped(
    shared_nats: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with Hub(shared_nats.url, prefix=prefix) as hub:
        backend = hub._backend
        assert isinstance(backend, NatsBackend)
        backend.pending_limit = 2
        sock, _ = await join(hub, "r")
        burst(shared_nats.url, prefix, 0)
        await hub.publish("r", "last")
        await sock.wait_until(lambda s: "last" in s.data)
        assert len(sock.data) < 61
        assert "messages were dropped (no history)" in caplog.text


async def test_history_needs_jetstream_one_line_at_start() -> None:
    with running_nats(jetstream=False) as server:
        with pytest.raises(HubError) as caught:
            await make_hub(server.url).start()
        assert str(caught.value) == (
            f"NATS at {server.url} has no JetStream, which Hub(history_size=...) needs: start nats-server with -js "
            "(or set jetstream in its config), or use history_size=0."
        )
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        async with Hub(server.url) as plain:  # without history JetStream is not needed
            assert await plain.publish("r", "x") is None


async def test_changed_limits_are_applied_to_the_stream(shared_nats: NatsServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with make_hub(shared_nats.url, prefix, history_size=5) as hub:
        for i in range(5):
            await hub.publish("r", i)
    async with make_hub(shared_nats.url, prefix, history_size=2) as hub:  # a redeploy with fewer messages kept
        await hub.publish("r", 5)
        assert [m.data for m in (await hub.history("r")).messages] == [4, 5]
        backend = hub._backend
        assert isinstance(backend, NatsBackend) and backend.streams is not None
        info = await backend.streams.js.stream_info(backend.streams.name)
        assert info.config.max_msgs_per_subject == 2


async def test_an_idle_rooms_epoch_marker_loses_races_gracefully_and_survives_a_wiped_store(
    shared_nats: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nats.js.errors import APIError

    async with make_hub(shared_nats.url) as hub:
        backend = hub._backend
        assert isinstance(backend, NatsBackend)
        keep = Retention(size=100)
        streams = await backend._streams_for(keep)
        published = await hub.publish("r", "x")
        real_last = streams.last
        calls = 0

        async def stale_last(room: str) -> Tip | None:
            nonlocal calls
            calls += 1
            return None if calls == 1 else await real_last(room)  # a publish landed after this read

        monkeypatch.setattr(streams, "last", stale_last)
        assert await backend.open_stream("r", retention=keep) == published  # the marker was refused
        monkeypatch.setattr(streams, "last", real_last)
        await streams.js.delete_stream(streams.name)  # a wiped store: the first marker finds no stream
        opened = await backend.open_stream("fresh", retention=keep)
        assert opened.offset == 0 and (await hub.history("fresh")).top == opened
        assert await hub.publish("fresh", "y") == Position(opened.epoch, 1)

        async def refused(*args: Any, **kwargs: Any) -> None:
            raise APIError(code=503, description="unavailable", err_code=10008)

        monkeypatch.setattr(streams.js, "publish", refused)
        with pytest.raises(HubError, match=re.escape("Cannot read the history of room 'other': NATS at")):
            await backend.open_stream("other", retention=keep)


async def test_read_and_publish_while_nats_is_down_fail_clearly(nats_server: NatsServer) -> None:
    async with make_hub(nats_server.url, timeout=300 * MS) as hub:
        nats_server.stop()
        with pytest.raises(PublishError, match=re.escape("Could not publish to room 'r': NATS at")):
            await hub.publish("r", "x")
        with pytest.raises(HubError, match=re.escape("Cannot read the history of room 'r': NATS at")):
            await hub.history("r")
        with pytest.raises(HubError, match=re.escape("Cannot read the history of room 'r': NATS at")):
            await hub._backend.open_stream("r", retention=Retention(size=100))


async def test_a_nats_backend_that_is_not_started_keeps_no_history() -> None:
    backend = NatsBackend("nats://127.0.0.1:1")
    keep = Retention(size=10)
    with pytest.raises(PublishError, match=re.escape("Cannot publish: the hub is not running")):
        from sockjet.hub.envelope import Envelope

        await backend.publish_history(Envelope("r", "x"), "t", keep)
    with pytest.raises(HubError, match=re.escape("Cannot read history: the hub is not running")):
        await backend.read_stream("r", after=0, limit=None, retention=keep)
    with pytest.raises(HubError, match=re.escape("Cannot read history: the hub is not running")):
        await backend.open_stream("r", retention=keep)


# -- the pure parts ------------------------------------------------------------------------------------------
def test_an_epoch_marker_is_offset_zero_of_a_new_epoch_on_an_empty_subject() -> None:
    position, headers = epoch_marker()
    assert position.offset == 0 and position_of(headers) == position
    assert headers["Nats-Expected-Last-Subject-Sequence"] == "0"
    assert epoch_marker()[0].epoch != position.epoch


def test_positions_travel_in_headers_and_each_publish_checks_the_last_sequence() -> None:
    first, headers = next_publication(None)
    assert first.offset == 1 and headers["Nats-Expected-Last-Subject-Sequence"] == "0"
    assert position_of(headers) == first
    second, headers = next_publication(Tip(41, first))
    assert second == Position(first.epoch, 2) and headers["Nats-Expected-Last-Subject-Sequence"] == "41"
    assert position_of(None) is None and position_of({"Other": "x"}) is None
    with pytest.raises(ValueError, match="Not a hub publication"):
        position_of({EPOCH_HEADER: "e"})
    with pytest.raises(ValueError):
        position_of({EPOCH_HEADER: "e", "Sockjet-Offset": "x"})
    assert sequence_of({"Nats-Sequence": "7"}) == 7 and sequence_of({"Nats-Sequence": "?"}) is None
    assert sequence_of(None) is None


def test_stream_names_are_valid_and_distinct() -> None:
    assert re.fullmatch(r"SOCKJET_sockjet_hub_[0-9a-f]{8}", stream_name("sockjet:hub"))
    assert stream_name("a.b") != stream_name("a_b")
    assert max_age(Retention(size=1, ttl=5, meta_ttl=60)) == 60


def test_tips_keep_the_latest_and_a_bounded_number_of_rooms() -> None:
    tips = RoomTips(max_rooms=2)
    tips.heard("a", Tip(5, Position("e", 2)))
    tips.heard("a", Tip(4, Position("e", 1)))  # older: ignored
    assert tips.get("a") == Tip(5, Position("e", 2))
    tips.heard("b", Tip(6, Position("f", 1)))
    tips.heard("c", Tip(7, Position("g", 1)))
    assert not tips.known("a") and tips.known("b") and tips.known("c")
    tips.forget("b")
    assert not tips.known("b")
    tips.forget()
    assert not tips.known("c")


def test_a_slice_keeps_the_tips_epoch_after_the_offset_within_the_limit_and_ttl() -> None:
    def stored(sequence: int, epoch: str, offset: int, at: float) -> Stored:
        return Stored(sequence, {EPOCH_HEADER: epoch, "Sockjet-Offset": str(offset)}, b"t" + str(offset).encode(), at)

    tip = Tip(9, Position("e", 4))
    messages = [stored(1, "old", 9, 0), stored(3, "e", 1, 1), stored(5, "e", 2, 2), stored(7, "e", 3, 3)]
    messages += [stored(9, "e", 4, 4), stored(11, "e", 5, 5)]  # published after the tip was read
    read = slice_of("r", tip, messages, after=1, limit=None)
    assert (read.epoch, read.top, [p.offset for p in read.publications]) == ("e", 4, [2, 3, 4])
    assert read.publications[0] == Publication("r", Position("e", 2), "2")
    assert [p.offset for p in slice_of("r", tip, messages, after=0, limit=2).publications] == [1, 2]
    assert [p.offset for p in slice_of("r", tip, messages, after=0, limit=None, not_before=2.5).publications] == [3, 4]
    assert slice_of("r", None, messages, after=0, limit=None).epoch is None
    with pytest.raises(ValueError, match=re.escape("Not a hub publication in room 'r' (stream sequence 2)")):
        slice_of("r", tip, [Stored(2, None, b"x", 0)], after=0, limit=None)


# -- publishes at once, idempotency keys ------------------------------------------------------------
async def test_waiting_for_the_rooms_lock_does_not_count_against_the_timeout(shared_nats: NatsServer) -> None:
    """3,000 publishes to one room take longer than the timeout in all; none of them fails."""
    async with make_hub(shared_nats.url, history_size=10, timeout=300 * MS) as hub:
        started = time.monotonic()
        positions = await asyncio.gather(*(hub.publish("r", i) for i in range(3000)))
        assert sorted(p.offset for p in positions if p is not None) == list(range(1, 3001))
        print(f"3,000 publishes to one room in {time.monotonic() - started:.2f}s")


async def test_the_stream_keeps_message_ids_for_idempotency_ttl(shared_nats: NatsServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with make_hub(shared_nats.url, prefix, idempotency_ttl=42) as hub:
        await hub.publish("r", 1)
        backend = hub._backend
        assert isinstance(backend, NatsBackend) and backend.streams is not None
        info = await backend.streams.js.stream_info(backend.streams.name)
        assert info.config.duplicate_window == 42
    async with make_hub(shared_nats.url, prefix, idempotency_ttl=7200) as hub:  # no longer than max_age
        await hub.publish("r", 2)
        backend = hub._backend
        assert isinstance(backend, NatsBackend) and backend.streams is not None
        info = await backend.streams.js.stream_info(backend.streams.name)
        assert info.config.duplicate_window == 3600 == info.config.max_age


async def test_a_retry_whose_first_publish_was_trimmed_returns_none_and_stores_nothing(
    shared_nats: NatsServer,
) -> None:
    async with make_hub(shared_nats.url, history_size=2) as hub:
        sock, _ = await join(hub, "r")
        await hub.publish("r", "first", idempotency_key="k")
        for i in range(3):
            await hub.publish("r", i)
        assert await hub.publish("r", "first", idempotency_key="k") is None  # stored once; its position is gone
        await hub.publish("r", "end")
        assert await sock.wait_data(5) == ["first", "0", "1", "2", "end"]
        assert [m.data for m in (await hub.history("r")).messages] == [2, "end"]


async def test_a_retry_from_another_process_is_stored_once(shared_nats: NatsServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with make_hub(shared_nats.url, prefix) as one, make_hub(shared_nats.url, prefix) as two:
        sock, _ = await join(two, "r")
        first = await one.publish("r", "once", idempotency_key="k")
        assert await two.publish("r", "once", idempotency_key="k") == first
        await two.publish("r", "end")
        assert await sock.wait_data(2) == ["once", "end"]


async def test_without_history_every_receiving_process_drops_a_retry(shared_nats: NatsServer) -> None:
    """Core NATS keeps nothing: each process that delivers a keyed message remembers its key."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with Hub(shared_nats.url, prefix=prefix) as one, Hub(shared_nats.url, prefix=prefix) as two:
        here, _ = await join(one, "r")
        there, _ = await join(two, "r")
        assert await one.publish("r", "once", idempotency_key="k") is None
        assert await two.publish("r", "once", idempotency_key="k") is None
        await one.publish("r", "once", idempotency_key="k")
        await one.publish("r", "other key", idempotency_key="k2")
        await two.publish("r", "end")
        for sock in (here, there):
            assert await sock.wait_data(3) == ["once", "other key", "end"]
