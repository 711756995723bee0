"""Medians, spreads and within-round ratios of the raw samples a run collected."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

BASELINE_STACK = "raw"
DEFAULT_WS = "websockets-sansio"


@dataclass(frozen=True)
class Spread:
    """The median of some samples and their range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            raise ValueError("no samples")
        return cls(statistics.median(ordered), ordered[0], ordered[-1])


def baseline_key(key: str) -> str:
    """The raw ASGI app on the same server: ``sockjet@wsproto`` -> ``raw@wsproto``; picows -> sansio."""
    _, _, ws = key.partition("@")
    return f"{BASELINE_STACK}@{ws or DEFAULT_WS}"


def echo_samples(records: Sequence[dict[str, Any]], key: str, payload: int, field: str) -> list[float]:
    return [r[field] for r in records if r["kind"] == "echo" and r["key"] == key and r["payload"] == payload]


def echo_ratios(records: Sequence[dict[str, Any]], key: str, payload: int, field: str = "msg_per_s") -> list[float]:
    """``key`` against its baseline, one ratio per round in which both ran; higher is better.

    ``msg_per_s``: key's rate over the baseline's. ``cpu_us_per_msg``: the baseline's server CPU
    per message over key's, i.e. the rate each would reach with the server core to itself.
    """
    base = baseline_key(key)
    by_round: dict[int, dict[str, float]] = {}
    for r in records:
        if r["kind"] == "echo" and r["payload"] == payload and r["key"] in (key, base) and field in r:
            by_round.setdefault(r["round"], {})[r["key"]] = r[field]
    ratios = []
    for pair in by_round.values():
        if key in pair and base in pair and pair[base] and pair[key]:
            ratios.append(pair[base] / pair[key] if field == "cpu_us_per_msg" else pair[key] / pair[base])
    return ratios


def memory_samples(records: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [r["kib_per_connection"] for r in records if r["kind"] == "memory" and r["key"] == key]


def memory_deltas(records: Sequence[dict[str, Any]], key: str) -> list[float]:
    """KiB per connection above the baseline, one difference per round in which both ran."""
    base = baseline_key(key)
    by_round: dict[int, dict[str, float]] = {}
    for r in records:
        if r["kind"] == "memory" and r["key"] in (key, base):
            by_round.setdefault(r["round"], {})[r["key"]] = r["kib_per_connection"]
    return [pair[key] - pair[base] for pair in by_round.values() if key in pair and base in pair]


def echo_ratio(records: Sequence[dict[str, Any]], key: str, payload: int, field: str = "msg_per_s") -> Spread | None:
    """The headline ratio against the baseline, with the per-round ratios as its range.

    The headline is the ratio of the two medians over the same run's interleaved rounds: on a shared
    machine a round's pair can be hit by load independently, so one pair's ratio is noisier than
    the medians are.
    """
    ratios = echo_ratios(records, key, payload, field)
    mine = echo_samples(records, key, payload, field)
    base = echo_samples(records, baseline_key(key), payload, field)
    if not ratios or not mine or not base:
        return None
    mine_median, base_median = Spread.of(mine).median, Spread.of(base).median
    headline = base_median / mine_median if field == "cpu_us_per_msg" else mine_median / base_median
    return Spread(headline, min(ratios), max(ratios))
