"""Framework cost per message, without a server: ``python -m bench.profile_cpu [--messages N] [--profile]``.

Feeds each echo app ``--messages`` text messages through fake ASGI ``receive``/``send`` that
never suspend, so the time per message is the app's own work (the framework's layers, checks
and coroutine hops) and nothing else. ``--profile`` prints cProfile's top functions for sockjet.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections.abc import Sequence
from typing import Any

from bench import apps
from bench.profile_memory import _scope
from sockjet.types import Message


async def _drive(app: Any, messages: int) -> float:
    incoming: Message = {"type": "websocket.receive", "text": "x" * 32}
    left = messages

    async def receive() -> Message:
        nonlocal left
        if left == messages:
            left -= 1
            return {"type": "websocket.connect"}
        if left <= 0:
            return {"type": "websocket.disconnect", "code": 1000}
        left -= 1
        return incoming

    async def send(message: Message) -> None:
        pass

    started = time.perf_counter()
    await app(_scope(), receive, send)
    return (time.perf_counter() - started) / messages


def per_message_ns(stacks: Sequence[str], messages: int, repeat: int = 7) -> dict[str, float]:
    """The fastest of ``repeat`` interleaved runs per stack (the least disturbed by the rest of the machine)."""
    loaded = {stack: getattr(apps, stack) for stack in stacks}
    for app in loaded.values():
        asyncio.run(_drive(app, 1000))  # imports and first-use caches
    best = dict.fromkeys(stacks, float("inf"))
    for _ in range(repeat):
        for stack, app in loaded.items():
            best[stack] = min(best[stack], asyncio.run(_drive(app, messages)) * 1e9)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", nargs="*", default=["raw", "sockjet", "starlette", "fastapi"])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    results = per_message_ns(args.stack, args.messages)
    base = results[args.stack[0]]
    for stack, ns in results.items():
        print(f"{stack:10} {ns:7.0f} ns per message ({ns - base:+.0f} ns vs {args.stack[0]})")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(_drive(apps.sockjet, args.messages))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
