"""Expiry benchmark: what forgetting quiet rooms costs on the memory backend, and whether it frees them.

    python bench/hub_expiry.py                       # prints the tables
    python bench/hub_expiry.py --write docs/hub.md   # also replaces the results section there

Always run under ``flock /tmp/sockjet-heavy.lock`` on a shared machine. One process, one event
loop, the memory backend only (Redis and NATS expire keys and messages in the broker). Three
measurements:

1. **Publishing to new rooms while old ones expire**: a hub with ``history_meta_ttl=--meta-ttl``
   publishes ``--rate`` times a second, each publish to a room never used before, for
   ``--meta-ttl`` plus ``--during`` seconds. Before ``meta_ttl`` nothing is due; after it, one room
   falls due for every room made. Per phase: each ``await hub.publish`` timed (p50, p99, max),
   and the publishes per second reached.
2. **One append beside 100,000 rooms** (``--rooms``), on ``MemoryStreams`` with its clock passed in:
   when none is due, and when all are due at once (the worst case for a publish); then the
   sweep's turns (256 rooms each), the longest of which is how long it holds the event loop.
3. **Memory freed with no further call**: a hub fills ``--rooms`` rooms (``history_size=10``, 100 B
   payloads) and then does nothing for ``meta_ttl`` plus 2 s; rooms kept and resident memory
   (``/proc/self/statm``) before filling, filled, and after the wait.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sockjet import Hub
from sockjet.hub.backends.base import Retention
from sockjet.hub.backends.memory_history import MemoryStreams

START = "<!-- bench/hub_expiry.py results: start -->"
END = "<!-- bench/hub_expiry.py results: end -->"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def streams_of(hub: Hub) -> Any:
    return hub._backend._streams  # type: ignore[attr-defined]  # the memory backend's rooms


# -- 1. publishing while rooms expire ------------------------------------------------------------------------
async def publish_through_expiry(rate: int, meta_ttl: float, during: float) -> dict[str, dict[str, float]]:
    """Per phase ("before", "during"): publish duration p50/p99/max (µs) and publishes/s."""
    phases: dict[str, list[float]] = {"before": [], "during": []}
    async with Hub(history_size=10, history_meta_ttl=meta_ttl) as hub:
        gc.collect()
        started = time.perf_counter()
        end = started + meta_ttl + during
        i = 0
        while True:
            target = started + i / rate
            now = time.perf_counter()
            if target > now:
                await asyncio.sleep(target - now)
            begin = time.perf_counter()
            if begin >= end:
                break
            await hub.publish(f"room {i}", "x" * 64)
            took = time.perf_counter() - begin
            elapsed = begin - started
            warm = min(1.0, meta_ttl / 4)
            if warm <= elapsed < meta_ttl:
                phase = phases["before"]
            elif elapsed >= meta_ttl + warm:
                phase = phases["during"]
            else:
                phase = None
            if phase is not None:
                phase.append(took * 1e6)
            i += 1
        kept = len(streams_of(hub))
    out: dict[str, dict[str, float]] = {}
    for name, took in phases.items():
        span = (meta_ttl - min(1.0, meta_ttl / 4)) if name == "before" else during - min(1.0, meta_ttl / 4)
        out[name] = {
            "p50": statistics.median(took),
            "p99": percentile(took, 0.99),
            "max": max(took),
            "rate": len(took) / span,
        }
    out["kept"] = {"rooms": float(kept), "expected": rate * meta_ttl}
    return out


# -- 2. one append beside many rooms ------------------------------------------------------------------------
def single_append(rooms: int, appends: int = 100) -> dict[str, float]:
    """Milliseconds per ``append`` beside ``rooms`` rooms: none due, then all due at once (the first
    append after they fell due, and the median of the next ones), then a sweep of what is left."""
    keep = Retention(size=10, meta_ttl=10.0)
    streams = MemoryStreams()
    for i in range(rooms):
        streams.append(f"room {i}", "x" * 64, "t", keep, now=0.0)
    gc.collect()

    def timed(room: str, now: float) -> float:
        begin = time.perf_counter()
        streams.append(room, "x", "t", keep, now=now)
        return (time.perf_counter() - begin) * 1000

    none_due = [timed(f"fresh {i}", 5.0) for i in range(appends)]
    first_due = timed("late 0", 11.0)
    all_due = [timed(f"late {i}", 11.0) for i in range(1, appends)]
    left = len(streams)
    sweep = turn = turn_p50 = float("nan")
    if "limit" in inspect.signature(streams.expire).parameters:  # (absent before the bounded expiry)
        turns: list[float] = []
        while True:
            begin = time.perf_counter()
            done = streams.expire(11.0, 256)
            turns.append((time.perf_counter() - begin) * 1000)
            if done < 256:
                break
        sweep, turn, turn_p50 = sum(turns), max(turns), statistics.median(turns)
    return {
        "none_due": statistics.median(none_due),
        "none_due_max": max(none_due),
        "first_due": first_due,
        "all_due": statistics.median(all_due),
        "left": float(left),
        "sweep": sweep,
        "turn": turn,
        "turn_p50": turn_p50,
    }


# -- 3. memory freed without a call -------------------------------------------------------------------------
async def memory_freed(rooms: int, meta_ttl: float, messages: int = 10) -> dict[str, float]:
    """Resident MiB empty, filled, and after ``meta_ttl`` + 2 s without any call; rooms kept; fill seconds."""
    gc.collect()
    empty = rss_mib()
    async with Hub(history_size=messages, history_meta_ttl=meta_ttl) as hub:
        began = time.monotonic()
        for i in range(rooms):
            for _ in range(messages):
                await hub.publish(f"room {i}", "y" * 100)
        filled_at = time.monotonic()
        gc.collect()
        filled, kept = rss_mib(), len(streams_of(hub))
        await asyncio.sleep(meta_ttl + 2.0)  # no call of any kind: only the sweep timer may run
        gc.collect()
        after, left = rss_mib(), len(streams_of(hub))
    return {
        "empty": empty,
        "filled": filled,
        "after": after,
        "kept": float(kept),
        "left": float(left),
        "fill": filled_at - began,
    }


# -- the run ------------------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> str:
    started = time.monotonic()
    phases = await publish_through_expiry(args.rate, args.meta_ttl, args.during)
    print("publish through expiry:", phases)
    append = single_append(args.rooms)
    print("single append:", append)
    memory = await memory_freed(args.rooms, args.memory_meta_ttl)
    print("memory:", memory)
    elapsed = time.monotonic() - started
    before, during = phases["before"], phases["during"]
    lines = [
        f"Measured with `python bench/hub_expiry.py --rate {args.rate} --meta-ttl {args.meta_ttl:g} "
        f"--during {args.during:g} --rooms {args.rooms}` (Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; {elapsed:.0f} s in all).",
        "",
        f"Publishing {args.rate:,}/s, each to a new room, `history_meta_ttl={args.meta_ttl:g}`: before any room "
        "is due, and once one falls due per room made (µs):",
        "",
        "| phase | publish p50 | publish p99 | publish max | publishes/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in (("before expiry", before), ("during expiry", during)):
        lines.append(f"| {name} | {row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.0f} | {row['rate']:,.0f} |")
    lines += [
        "",
        f"p99 during / before: **{during['p99'] / before['p99']:.2f} x**; rooms kept at the end: "
        f"{phases['kept']['rooms']:,.0f} (about {phases['kept']['expected']:,.0f} made within `meta_ttl`).",
        "",
        f"One `append` beside {args.rooms:,} rooms, ms: {append['none_due']:.4f} (median; max "
        f"{append['none_due_max']:.3f}) when none is due; when all are due, {append['first_due']:.3f} for the "
        f"first append, {append['all_due']:.4f} (median) for the next ones ({append['left']:,.0f} rooms left "
        f"after 100 appends). The sweep frees the rest 256 per turn of the event loop: {append['turn_p50']:.2f} ms "
        f"per turn (median; longest {append['turn']:.1f}), {append['sweep']:.0f} ms in all.",
        "",
        f"{args.rooms:,} rooms of 10 messages of 100 B (filled in {memory['fill']:.0f} s), then no call for "
        f"`meta_ttl` ({args.memory_meta_ttl:g} s) + 2 s: resident memory {memory['empty']:.0f} MiB empty, "
        f"{memory['filled']:.0f} MiB filled ({memory['kept']:,.0f} rooms), {memory['after']:.0f} MiB after "
        f"({memory['left']:,.0f} rooms kept).",
    ]
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    document = path.read_text()
    if START not in document:
        raise SystemExit(f"{path} has no {START!r} marker")
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--meta-ttl", type=float, default=10.0)
    parser.add_argument("--during", type=float, default=10.0)
    parser.add_argument("--rooms", type=int, default=100_000)
    parser.add_argument("--memory-meta-ttl", type=float, default=30.0, help="longer than filling --rooms takes")
    parser.add_argument("--write", type=Path, help="replace the results section of this Markdown file")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    text = runner(run(args))
    print(text)
    if args.write:
        write(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
