"""Turn a run's samples into docs/benchmarks.md and its chart.

Re-render without measuring again: ``python -m bench.report bench/results/latest.json docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stats import (
    BASELINE_STACK,
    Spread,
    baseline_key,
    echo_ratio,
    echo_samples,
    memory_deltas,
    memory_samples,
)

ECHO_TARGET = 0.95
DASH = "\u2013"  # an en dash, for ranges
TIMES = "\u00d7"  # a multiplication sign, for ratios
MEMORY_TARGET_KIB = 2.0


def _size(payload: int) -> str:
    return f"{payload // 1024} KiB" if payload >= 1024 and payload % 1024 == 0 else f"{payload} B"


def _range(spread: Spread, fmt: str) -> str:
    return f"{spread.median:{fmt}} ({spread.low:{fmt}}{DASH}{spread.high:{fmt}})"


def _label(config: dict[str, Any]) -> str:
    return f"**{config['label']}**" if config["stack"] == "sockjet" else str(config["label"])


def echo_table(results: dict[str, Any], payload: int) -> list[str]:
    records = results["records"]
    lines = [
        f"| server stack | msg/s, median (min{DASH}max) | msg/s vs raw ASGI, same server (rounds) | "
        f"server CPU µs/msg | by CPU vs raw ASGI (rounds) | p50 µs | p99 µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for config in results["configs"]:
        key = config["key"]
        rates = echo_samples(records, key, payload, "msg_per_s")
        if not rates:
            continue
        ratio = _ratio_cell(echo_ratio(records, key, payload))
        cpu_ratio = _ratio_cell(echo_ratio(records, key, payload, "cpu_us_per_msg"))
        cpu = echo_samples(records, key, payload, "cpu_us_per_msg")
        cpu_cell = f"{Spread.of(cpu).median:.1f}" if cpu else DASH
        if config["stack"] == "picows":
            ratio += f" (vs {baseline_key(key)})"
        p50 = Spread.of(echo_samples(records, key, payload, "p50_us")).median
        p99 = Spread.of(echo_samples(records, key, payload, "p99_us")).median
        lines.append(
            f"| {_label(config)} | {_range(Spread.of(rates), ',.0f')} | {ratio} | {cpu_cell} | {cpu_ratio} "
            f"| {p50:,.0f} | {p99:,.0f} |"
        )
    return lines


def _ratio_cell(ratio: Spread | None) -> str:
    return _range(ratio, ".2f") if ratio is not None else DASH


def memory_table(results: dict[str, Any]) -> list[str]:
    records = results["records"]
    lines = [
        f"| server stack | KiB per idle connection, median (min{DASH}max) "
        f"| vs raw ASGI, same server: KiB more (min{DASH}max) |",
        "|---|---:|---:|",
    ]
    for config in results["configs"]:
        samples = memory_samples(records, config["key"])
        if not samples:
            continue
        deltas = memory_deltas(records, config["key"])
        delta = _range(Spread.of(deltas), "+.1f") if deltas else DASH
        lines.append(f"| {_label(config)} | {_range(Spread.of(samples), '.1f')} | {delta} |")
    return lines


def targets_table(results: dict[str, Any]) -> list[str]:
    records = results["records"]
    payloads = results["settings"]["payloads"]
    lines = [
        "| target | server | by msg/s | by server CPU per message | |",
        "|---|---|---:|---:|---|",
    ]
    for config in results["configs"]:
        if config["stack"] != "sockjet":
            continue
        key = config["key"]
        for payload in payloads:
            ratio = echo_ratio(records, key, payload)
            cpu = echo_ratio(records, key, payload, "cpu_us_per_msg")
            if ratio is not None:
                value = ratio.median
                cpu_value = cpu.median if cpu is not None else value
                verdict = "met" if max(value, cpu_value) >= ECHO_TARGET else "missed"
                if verdict == "met" and min(value, cpu_value) < ECHO_TARGET:
                    verdict = "met by one measure"
                cpu_cell = f"{cpu_value:.2f} {TIMES}" if cpu is not None else DASH
                lines.append(
                    f"| echo {_size(payload)} ≥ {ECHO_TARGET} {TIMES} raw ASGI | {config['ws']} "
                    f"| {value:.2f} {TIMES} | {cpu_cell} | {verdict} |"
                )
        deltas = memory_deltas(records, key)
        if deltas:
            value = Spread.of(deltas).median
            verdict = "met" if value <= MEMORY_TARGET_KIB else "missed"
            lines.append(
                f"| memory ≤ raw ASGI + {MEMORY_TARGET_KIB:.0f} KiB per idle connection | {config['ws']} "
                f"| {value:+.1f} KiB | | {verdict} |"
            )
    return lines


def rounds_section(results: dict[str, Any]) -> list[str]:
    """Every echo sample, so each median and ratio above can be checked by hand."""
    records = results["records"]
    out = [
        "<details><summary>Every round's msg/s (server CPU µs per message)</summary>",
        "",
        "| server stack | payload | rounds in order |",
        "|---|---|---|",
    ]
    for config in results["configs"]:
        for payload in results["settings"]["payloads"]:
            samples = [
                r for r in records if r["kind"] == "echo" and r["key"] == config["key"] and r["payload"] == payload
            ]
            if samples:
                cells = ", ".join(
                    f"{r['msg_per_s']:,.0f} ({r['cpu_us_per_msg']:.0f})"
                    if "cpu_us_per_msg" in r
                    else f"{r['msg_per_s']:,.0f}"
                    for r in sorted(samples, key=lambda r: r["round"])
                )
                out.append(f"| {config['label']} | {_size(payload)} | {cells} |")
    return [*out, "", "</details>", ""]


def in_process_section(results: dict[str, Any]) -> list[str]:
    """What each framework adds per message and per connection, measured without a server."""
    data = results.get("in_process")
    if not data:
        return []
    ns, memory = data["ns_per_message"], data["bytes_per_connection"]
    out = [
        "## Where the cost is: the framework alone",
        "",
        "Measured in-process without a server (`python -m bench.profile_cpu`, `python -m bench.profile_memory`):",
        "fake ASGI `receive`/`send` that never wait, so what is left is the framework's own work per echoed",
        "message (fastest of interleaved runs), and the bytes an idle connection keeps (tracemalloc, after one",
        "echo). These move far less with machine load than the server numbers above.",
        "",
        "| stack | ns per echoed message | more than raw ASGI | bytes per idle connection, more than raw ASGI |",
        "|---|---:|---:|---:|",
    ]
    for stack, value in ns.items():
        label = f"**{stack}**" if stack == "sockjet" else stack
        extra_bytes = memory[stack] - memory["raw"]
        out.append(f"| {label} | {value:,.0f} | {value - ns['raw']:+,.0f} ns | {extra_bytes:+,.0f} B |")
    lines = data.get("sockjet_lines") or []
    if lines:
        out += [
            "",
            "What sockjet keeps per idle connection, by the line that allocated it. An `await f(...)` line holds",
            "the suspended coroutine frame of `f` for the whole life of the connection; fewer layers between the",
            "server and the endpoint mean fewer bytes:",
            "",
            "| bytes | where | line |",
            "|---:|---|---|",
        ]
        for line in lines:
            code = line["code"].split("  #")[0].replace("|", "\\|")
            out.append(f"| {line['bytes_per_connection']:.0f} | `{line['where']}` | `{code}` |")
    out.append("")
    return out


def write_chart(results: dict[str, Any], path: Path) -> None:
    """Bars of median msg/s per payload (ratio to raw ASGI on each bar) and KiB per idle connection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = results["records"]
    configs = list(reversed(results["configs"]))
    labels = [c["label"] for c in configs]
    colors = [
        "#d95f02" if c["stack"] == "sockjet" else "#1b9e77" if c["stack"] == "picows" else "#7570b3" for c in configs
    ]
    payloads = results["settings"]["payloads"]
    has_memory = any(r["kind"] == "memory" for r in records)
    panels = len(payloads) + (1 if has_memory else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 0.38 * len(configs) + 1.4), sharey=True)
    axes = list(axes) if panels > 1 else [axes]
    for ax, payload in zip(axes, payloads, strict=False):
        values, notes = [], []
        for config in configs:
            rates = echo_samples(records, config["key"], payload, "msg_per_s")
            ratio = echo_ratio(records, config["key"], payload)
            values.append(Spread.of(rates).median if rates else 0.0)
            notes.append(f" {ratio.median:.2f}{TIMES}" if ratio is not None else "")
        ax.barh(labels, values, color=colors)
        for y, (value, note) in enumerate(zip(values, notes, strict=True)):
            ax.text(value, y, note, va="center", fontsize=7)
        ax.set_title(f"echo msg/s, {_size(payload)} ({TIMES} raw ASGI)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, max(values) * 1.25 if any(values) else 1)
    if has_memory:
        ax = axes[-1]
        values = []
        for config in configs:
            samples = memory_samples(records, config["key"])
            values.append(Spread.of(samples).median if samples else 0.0)
        ax.barh(labels, values, color=colors)
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:.1f}", va="center", fontsize=7)
        ax.set_title("KiB per idle connection (lower is better)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, max(values) * 1.25 if any(values) else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render(results: dict[str, Any], chart_name: str | None) -> str:
    settings = results["settings"]
    m = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in m["versions"].items())
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/run.py; do not edit by hand: re-run the command below. -->",
        "",
        "Echo throughput, round-trip latency and memory per idle connection of sockjet next to Starlette,",
        "FastAPI and a raw ASGI app on the same uvicorn, with picows' Cython echo server as the practical",
        "ceiling. Absolute numbers depend on the machine and on what else ran on it; **ratios measured in",
        "the same round are what count**.",
        "",
        "## Targets (issue 5)",
        "",
        "Two measures of the same thing: msg/s as the load generator saw it, and the server's CPU time per",
        "message over the same window (read from `/proc/PID/stat`). The second is what the server would reach",
        "with its core to itself, and is less moved by other processes competing for the machine. A ratio is",
        "the median of sockjet's rounds over the median of the raw ASGI app's rounds in the same run; the",
        "tables give the per-round ratios as its range. Where that range is wide, the machine was shared",
        "(other jobs on both cores) and a verdict within a few percent of the target is within the noise;",
        "the framework-alone section below is the steadier measure of what sockjet itself costs.",
        "",
        *targets_table(results),
        "",
    ]
    if chart_name:
        out += [f"![echo msg/s and memory per connection]({chart_name})", ""]
    for payload in settings["payloads"]:
        out += [f"## Echo, {_size(payload)} text messages", "", *echo_table(results, payload), ""]
    if any(r["kind"] == "memory" for r in results["records"]):
        out += [
            f"## Memory per idle connection ({settings['idle_connections']:,} connections)",
            "",
            "Server RSS growth from one connection to one plus "
            f"{settings['idle_connections']:,} idle connections, each having echoed one 32 B message, "
            "divided by their number.",
            "",
            *memory_table(results),
            "",
        ]
    out += in_process_section(results)
    out += rounds_section(results)
    out += [
        "## Hub fan-out",
        "",
        "The Hub's fan-out numbers (one publish delivered to many room members, with and without stalled",
        "clients) come from `bench/hub_fanout.py`; they and how to read them are in",
        "[hub.md, Fan-out benchmark](hub.md#fan-out-benchmark).",
        "",
        "## How it was measured",
        "",
        f"- Machine: {m['nproc']} cores, {m['cpu_model']}, Linux {m['kernel']}, Python {m['python']}.",
        f"- Versions: {versions}; sockjet at commit `{m['commit']}`.",
        f"- Command: `{results['command']}` — started {results['started']}, took {results['minutes']} min.",
        "- Each server runs alone on core 0 (uvicorn with `--loop uvloop --http httptools` and the `--ws` shown;",
        "  no access log, lifespan off); the load generator, picows' Cython client on uvloop, runs on core 1.",
        f"- {settings['connections']} connections ping-pong one message each (send, wait for the echo, send again):",
        f"  {settings['warmup']:g} s of warm-up, then {settings['duration']:g} s counted. Every round trip counted",
        "  is a latency sample; a wrong-sized or missing echo fails the run.",
        f"- {settings['rounds']} echo round(s): every server is started once and stays up; each round visits",
        "  every configuration and payload in turn (A B C, A B C, …), so a burst of load from elsewhere lands",
        "  on one short window rather than on one configuration. Ratios are taken against the raw ASGI app on",
        "  the same uvicorn and WebSocket implementation *within a round*; the tables show their median and range.",
        f"- Memory: {settings.get('memory_rounds', settings['rounds'])} round(s), a fresh server per configuration"
        " and round, RSS read from `/proc/PID/status`.",
        "- Every echo sample is listed above; the run also writes them to `bench/results/latest.json` (not",
        "  committed), from which `python -m bench.report bench/results/latest.json docs/benchmarks.md` re-renders.",
        "",
        f"The baseline ({BASELINE_STACK!r} in `bench/apps.py`) is the ASGI protocol written by hand: no",
        "framework, the least any framework on that server can cost.",
        "",
    ]
    return "\n".join(out)


def write_report(results: dict[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    chart = output.with_suffix(".png")
    try:
        write_chart(results, chart)
        chart_name: str | None = chart.name
    except ImportError:
        chart_name = None  # matplotlib is in the bench extra; the tables do not need it
    output.write_text(render(results, chart_name))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    write_report(json.loads(args.results.read_text()), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
