"""The publish outcome ``deduplicated``: hub.publish with the same idempotency key twice, on every backend."""

from __future__ import annotations

import uuid

import pytest

from sockjet import Hub
from sockjet.metrics import recorder
from tests.conftest import BACKENDS, server_url
from tests.metrics.conftest import Reading


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    label = "redis" if request.param in ("sentinel", "cluster") else request.param  # the series name the engine
    return label, server_url(request, request.param)


@pytest.mark.parametrize("history_size", [0, 10], ids=["history-off", "history-on"])
async def test_a_retried_idempotency_key_is_counted_deduplicated_not_ok(
    metrics: Reading, backend: tuple[str, str | None], history_size: int
) -> None:
    label, url = backend
    async with Hub(url, prefix=f"test-{uuid.uuid4().hex[:8]}:", history_size=history_size) as hub:
        first = await hub.publish("r", "once", idempotency_key="k1")
        again = await hub.publish("r", "a retry", idempotency_key="k1")
        await hub.publish("r", "another key", idempotency_key="k2")
        assert again == first
    # Core NATS (no history) cannot tell a publisher: its receivers drop the retry (see docs/metrics.md).
    told = not (label == "nats" and history_size == 0)
    assert metrics("sockjet_hub_publishes_total", backend=label, outcome="deduplicated") == (1 if told else 0)
    assert metrics("sockjet_hub_publishes_total", backend=label, outcome="ok") == (2 if told else 3)
    assert metrics("sockjet_hub_publish_duration_seconds_count", backend=label) == 3


async def test_a_duplicate_outside_a_timed_publish_or_with_metrics_off_counts_nothing(metrics: Reading) -> None:
    recorder.deduplicated()  # no publish in progress: the next one starts unmarked
    async with Hub() as hub:
        await hub.publish("r", "x", idempotency_key="k")
        assert metrics("sockjet_hub_publishes_total", backend="memory", outcome="ok") == 1
        recorder.current = recorder.NOOP
        try:
            await hub.publish("r", "x", idempotency_key="k")  # metrics off: the backend's mark is a no-op
        finally:
            recorder.current = metrics.recorder
        await hub.publish("r", "x", idempotency_key="k")
    assert metrics("sockjet_hub_publishes_total", backend="memory", outcome="deduplicated") == 1
    assert metrics("sockjet_hub_publishes_total", backend="memory", outcome="ok") == 1


@pytest.mark.parametrize("history_size", [0, 10], ids=["history-off", "history-on"])
async def test_a_publish_nobody_receives_is_ok_not_deduplicated(
    metrics: Reading, backend: tuple[str, str | None], history_size: int
) -> None:
    # Redis' PUBLISH answers 0 when no process subscribes to the room: that is no duplicate.
    label, url = backend
    async with Hub(url, prefix=f"test-{uuid.uuid4().hex[:8]}:", history_size=history_size) as hub:
        for i in range(3):
            await hub.publish("nobody-here", i)
    assert metrics("sockjet_hub_publishes_total", backend=label, outcome="ok") == 3
    assert metrics("sockjet_hub_publishes_total", backend=label, outcome="deduplicated") == 0
