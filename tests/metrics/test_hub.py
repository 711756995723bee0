"""Hub series on the in-process backend: publishes, deliveries, outboxes, history, recovery, presence."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sockjet import Hub
from sockjet.exceptions import PublishError, PublishOutcomeUnknown
from sockjet.hub import HISTORY_LOST_CLOSE_CODE
from sockjet.metrics import recorder
from sockjet.metrics._prometheus import publish_outcome
from tests.hub_fakes import connected
from tests.metrics.conftest import Reading


async def test_publishes_by_outcome_and_their_latency(metrics: Reading, monkeypatch: pytest.MonkeyPatch) -> None:
    async with Hub() as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket):
            for i in range(3):
                await hub.publish("r", str(i))
            await sock.wait_data(3)

            async def failing(envelope: Any, **options: Any) -> None:
                raise PublishError("backend down")

            monkeypatch.setattr(hub._backend, "publish", failing)
            with pytest.raises(PublishError, match="backend down"):
                await hub.publish("r", "lost")

            async def unanswered(envelope: Any, **options: Any) -> None:
                raise PublishOutcomeUnknown("no answer: the message may have been delivered")

            monkeypatch.setattr(hub._backend, "publish", unanswered)
            with pytest.raises(PublishOutcomeUnknown, match="may have been delivered"):
                await hub.publish("r", "maybe")
    assert metrics("sockjet_hub_publishes_total", backend="memory", outcome="ok") == 3
    assert metrics("sockjet_hub_publishes_total", backend="memory", outcome="error") == 1
    assert metrics("sockjet_hub_publishes_total", backend="memory", outcome="outcome_unknown") == 1
    assert metrics("sockjet_hub_publish_duration_seconds_count", backend="memory") == 5
    assert metrics("sockjet_hub_publish_duration_seconds_sum", backend="memory") > 0
    assert metrics("sockjet_hub_deliveries_total") == 3


def test_publish_outcomes_tell_an_unknown_outcome_from_an_error() -> None:
    assert publish_outcome(None) == "ok"
    assert publish_outcome(PublishError("x")) == "error"
    assert publish_outcome(PublishOutcomeUnknown("x")) == "outcome_unknown"
    assert publish_outcome(TypeError("not JSON")) == "error"


def test_deduplicated_publishes_and_channel_series(metrics: Reading) -> None:
    current = recorder.current
    current.publish_deduplicated("redis")
    current.subscription_opened()
    current.subscription_opened()
    current.subscription_closed()
    current.channel_command("subscribe", 0)
    current.channel_command("publish", 103)
    current.channel_pushed(5)
    assert metrics("sockjet_hub_publishes_total", backend="redis", outcome="deduplicated") == 1
    assert metrics("sockjet_channels_subscriptions_open") == 1
    assert metrics("sockjet_channels_commands_total", op="subscribe", code=0) == 1
    assert metrics("sockjet_channels_commands_total", op="publish", code=103) == 1
    assert metrics("sockjet_channels_pushes_total") == 5


def test_backend_labels_are_bounded() -> None:
    urls = (None, "memory://", "redis://h", "rediss://h", "nats://h", "tls://h")
    assert [recorder.backend_label(url) for url in urls] == [
        "memory",
        "memory",
        "redis",
        "redis",
        "nats",
        "nats",
    ]


async def test_outbox_depth_and_overflow_closes_and_drops(metrics: Reading) -> None:
    async with Hub(max_queue=2) as hub:
        stalled = await connected(stalled=True)
        dropping = await connected(stalled=True)
        async with hub.join("r", stalled.websocket), hub.join("d", dropping.websocket, overflow="drop_oldest"):
            for i in range(4):  # the first send stalls; 1 and 2 leave 1 and 2 queued; 3 overflows (or drops 1)
                await hub.publish("r", str(i))
                await hub.publish("d", str(i))
            assert (await stalled.wait_closed())["code"] == 1013
    assert metrics("sockjet_hub_overflow_closes_total") == 1
    assert metrics("sockjet_hub_overflow_drops_total") == 1
    assert metrics("sockjet_hub_outbox_depth_messages_count") == 6
    assert metrics("sockjet_hub_outbox_depth_messages_bucket", le="0.0") == 0
    assert metrics("sockjet_hub_outbox_depth_messages_bucket", le="1.0") == 2
    assert metrics("sockjet_hub_outbox_depth_messages_bucket", le="3.0") == 6  # cumulative
    assert metrics("sockjet_hub_outbox_depth_messages_sum") == (1 + 2 + 2) * 2


async def test_recoveries_missed_counts_and_history_lost(metrics: Reading) -> None:
    async with Hub(history_size=3) as hub:
        first = await hub.publish("r", "a")
        for text in ("b", "c"):
            await hub.publish("r", text)
        sock = await connected()
        async with hub.join("r", sock.websocket, since=first) as member:
            assert member.recovered
            assert await sock.wait_data(2) == ["b", "c"]
        for text in ("d", "e", "f"):
            await hub.publish("r", text)
        late = await connected()
        async with hub.join("r", late.websocket, since=first) as member:  # "b" was trimmed
            assert not member.recovered
    assert metrics("sockjet_hub_recoveries_total", result="recovered") == 1
    assert metrics("sockjet_hub_recoveries_total", result="not_recovered") == 1
    assert metrics("sockjet_hub_recovery_missed_messages_sum") == 2


async def test_gap_fills_and_members_closed_for_history_lost(metrics: Reading) -> None:
    async with Hub(history_size=2) as hub:
        filled = await connected()
        async with hub.join("r", filled.websocket):
            history = hub._history
            assert history is not None
            await hub.publish("r", "1")
            await filled.wait_data(1)
            real = history.deliver
            history.deliver = lambda publication: (  # type: ignore[method-assign]
                None if publication.offset == 2 else real(publication)
            )
            await hub.publish("r", "2")
            await hub.publish("r", "3")
            assert await filled.wait_data(3) == ["1", "2", "3"]
            history.deliver = lambda publication: (  # type: ignore[method-assign]
                None if 4 <= publication.offset <= 6 else real(publication)
            )
            for i in range(4, 8):
                await hub.publish("r", str(i))
            assert (await filled.wait_closed())["code"] == HISTORY_LOST_CLOSE_CODE
    assert metrics("sockjet_hub_gap_fills_total") == 2
    assert metrics("sockjet_hub_history_lost_closes_total") == 1


async def test_presence_changes(metrics: Reading) -> None:
    async with Hub() as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket, presence={"user": "u1"}):
            await asyncio.sleep(0)
        async with hub.join("r", sock.websocket):  # no presence: not counted
            pass
    assert metrics("sockjet_hub_presence_changes_total", change="join") == 1
    assert metrics("sockjet_hub_presence_changes_total", change="leave") == 1
