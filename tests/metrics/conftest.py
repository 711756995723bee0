"""The ``metrics`` fixture: metrics enabled for one test, read as increases since the test began."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import sockjet.metrics
from sockjet.metrics._prometheus import PrometheusRecorder


class Reading:
    """Values of sockjet's series, less what they were when the test started."""

    def __init__(self, recorder: PrometheusRecorder) -> None:
        self.recorder = recorder
        self._base = self._samples()

    def _samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        self.recorder.flush()
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in self.recorder.registry.collect():
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    def __call__(self, name: str, **labels: Any) -> float:
        key = (name, frozenset((k, str(v)) for k, v in labels.items()))
        return self._samples().get(key, 0.0) - self._base.get(key, 0.0)


@pytest.fixture
def metrics() -> Iterator[Reading]:
    recorder = sockjet.metrics.enable()
    try:
        yield Reading(recorder)
    finally:
        sockjet.metrics.disable()
