"""Run the whole comparison and write docs/benchmarks.md: ``python -m bench.run`` (``--quick`` to smoke it).

Configurations are interleaved (A B C, A B C, ...) so that noise from the rest of the machine
falls on all of them alike; every ratio is taken within one round, then summarised.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from bench._system import pin_to_cpu, raise_open_files
from bench.harness import CLIENT_CPU, ROOT, Config, measure_echo, measure_memory, server
from bench.serve import UVICORN_STACKS, WS_IMPLS

FULL_CONFIGS = [Config(stack, ws) for ws in WS_IMPLS for stack in UVICORN_STACKS] + [Config("picows")]
QUICK_CONFIGS = [Config("raw", "websockets-sansio"), Config("sockjet", "websockets-sansio")]
PAYLOADS = (32, 65536)
PACKAGES = ("sockjet", "uvicorn", "uvloop", "httptools", "websockets", "wsproto", "starlette", "fastapi", "picows")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "versions": versions,
    }


def run(
    configs: Sequence[Config],
    *,
    rounds: int,
    memory_rounds: int,
    payloads: Sequence[int],
    connections: int,
    duration: float,
    warmup: float,
    idle_connections: int,
    log: Any = print,
) -> list[dict[str, Any]]:
    """Every measurement, as flat records.

    Echo: every server starts once and stays up; each round visits every configuration and payload
    in turn, so a burst of load from elsewhere hits one short window, not one configuration.
    Memory: a fresh server per configuration and round, so the baseline is the same for all.
    """
    records: list[dict[str, Any]] = []
    with contextlib.ExitStack() as running:
        targets = [running.enter_context(server(config)) for config in configs]
        for round_no in range(rounds):
            for target in targets:
                for payload in payloads:
                    result = measure_echo(
                        target, payload=payload, connections=connections, duration=duration, warmup=warmup
                    )
                    record = {"kind": "echo", "round": round_no, "key": target.config.key, "payload": payload}
                    record.update(asdict(result.echo))
                    record.update(server_cpu_s=result.server_cpu_s, cpu_us_per_msg=result.cpu_us_per_msg)
                    records.append(record)
                    log(
                        f"round {round_no + 1}/{rounds} {target.config.key:28} {payload:>6} B "
                        f"{result.echo.msg_per_s:>9,.0f} msg/s {result.cpu_us_per_msg:7.1f} server CPU µs/msg"
                    )
    for round_no in range(memory_rounds if idle_connections else 0):
        for config in configs:
            with server(config) as target:
                memory = measure_memory(target, connections=idle_connections)
            records.append({"kind": "memory", "round": round_no, "key": config.key, **asdict(memory)})
            records[-1]["kib_per_connection"] = memory.kib_per_connection
            log(
                f"memory {round_no + 1}/{memory_rounds} {config.key:28} {memory.kib_per_connection:6.1f} KiB/connection"
            )
    return records


def measure_in_process(stacks: Sequence[str], *, quick: bool) -> dict[str, Any]:
    """The framework's own cost without a server: ns per echoed message and bytes per idle connection.

    Deterministic enough to explain the ratios above: what each framework adds to the raw ASGI app.
    """
    from bench import profile_cpu, profile_memory

    ordered = list(dict.fromkeys(["raw", *stacks]))
    ns = profile_cpu.per_message_ns(ordered, 20_000 if quick else 100_000, repeat=3 if quick else 7)
    memory: dict[str, float] = {}
    sockjet_lines: list[dict[str, Any]] = []
    for stack in ordered:
        total, lines = profile_memory.measure(stack, 200 if quick else 2000)
        memory[stack] = total
        if stack == "sockjet":
            sockjet_lines = [
                asdict(line) for line in lines if line.where.startswith("sockjet/") and line.bytes_per_connection >= 16
            ]
    return {"ns_per_message": ns, "bytes_per_connection": memory, "sockjet_lines": sockjet_lines}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: raw and sockjet, 1 round of 1 s")
    parser.add_argument("--rounds", type=int, default=None, help="echo rounds (default 7; --quick 1)")
    parser.add_argument("--memory-rounds", type=int, default=None, help="memory rounds (default 3; --quick 1)")
    parser.add_argument("--duration", type=float, default=None, help="counted seconds per run")
    parser.add_argument("--warmup", type=float, default=None, help="uncounted seconds before each run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--idle-connections", type=int, default=None, help="for memory; 0 skips it")
    parser.add_argument("--only", nargs="*", default=None, help="config keys to run, e.g. raw@wsproto picows")
    parser.add_argument("--output", type=Path, default=None, help="the Markdown report (default docs/benchmarks.md)")
    args = parser.parse_args(argv)

    quick = args.quick
    configs = QUICK_CONFIGS if quick else FULL_CONFIGS
    if args.only:
        known = {config.key: config for config in FULL_CONFIGS}
        unknown = [key for key in args.only if key not in known]
        if unknown:
            parser.error(f"unknown config {', '.join(unknown)}; choose from {', '.join(known)}")
        configs = [known[key] for key in args.only]
    rounds = args.rounds or (1 if quick else 7)
    memory_rounds = args.memory_rounds or (1 if quick else 3)
    duration = args.duration or (1.0 if quick else 3.0)
    warmup = args.warmup if args.warmup is not None else (0.3 if quick else 1.0)
    idle = args.idle_connections if args.idle_connections is not None else (200 if quick else 2000)
    output = args.output or (
        Path(tempfile.mkdtemp(prefix="sockjet-bench-")) / "benchmarks.md" if quick else ROOT / "docs/benchmarks.md"
    )

    pin_to_cpu(CLIENT_CPU)
    raise_open_files()
    command = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.time()
    records = run(
        configs,
        rounds=rounds,
        memory_rounds=memory_rounds,
        payloads=PAYLOADS,
        connections=args.connections,
        duration=duration,
        warmup=warmup,
        idle_connections=idle,
    )
    inprocess = measure_in_process([c.stack for c in configs if c.stack != "picows"], quick=quick)
    results = {
        "command": command.strip(),
        "in_process": inprocess,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
        "machine": machine(),
        "settings": {
            "rounds": rounds,
            "memory_rounds": memory_rounds,
            "duration": duration,
            "warmup": warmup,
            "connections": args.connections,
            "idle_connections": idle,
            "payloads": list(PAYLOADS),
        },
        "configs": [{"key": c.key, "label": c.label, "stack": c.stack, "ws": c.ws} for c in configs],
        "records": records,
    }
    from bench.report import write_report

    default_output = ROOT / "docs/benchmarks.md"
    raw_json = ROOT / "bench/results/latest.json" if output == default_output else output.with_suffix(".json")
    raw_json.parent.mkdir(parents=True, exist_ok=True)
    raw_json.write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, output)
    print(f"wrote {output} (raw samples: {raw_json})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
