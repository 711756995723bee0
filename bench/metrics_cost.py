"""What sockjet.metrics costs: the same servers with metrics off and on, interleaved in one run.

    flock /tmp/sockjet-heavy.lock python -m bench.metrics_cost            # 5 rounds, about 4 minutes
    flock /tmp/sockjet-heavy.lock python -m bench.metrics_cost --quick    # 1 short round: a smoke run

- **Echo**: the sockjet echo App of ``bench.apps`` on uvicorn (websockets-sansio), with metrics off
  and with ``sockjet.metrics.enable()`` and a ``/metrics`` route; picows' load generator, 50
  connections, 32 B messages (bench/harness.py). Reported: msg/s on / off, and server CPU µs per
  message on / off, per round.
- **Hub fan-out**: bench/fanout_servers.py's App + Hub on uvicorn, with and without metrics; N raw
  clients in this process; the server's CPU time of each ``hub.publish`` (bench/hub_fanout.py's
  ``--real`` visit). Reported: median publish CPU on / off, per round.

Each round visits off and on (the order alternates between rounds), so the machine's other load
falls on both alike; ratios are taken within a round, reported as the median and range over rounds.

- **The framework alone** (first, in this process; far less moved by the machine's other load):
  the same echo App over fake ASGI ``receive``/``send`` that never wait, and a Hub fan-out to 1,000
  members connected through an App route, each ``send`` costing what uvicorn's websockets-sansio
  send costs (websockets' frame serialisation into a buffer). Metrics are switched on and off
  between runs (``enable()``/``disable()``), alternating, and CPU time (``process_time``) is
  compared: per echoed message, and per publish.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from websockets.frames import Frame, Opcode

from bench import harness, hub_fanout

ECHO_APPS = {"off": "bench.apps:sockjet", "on": "bench.metrics_cost:echo_with_metrics"}
FANOUT_APPS = {"off": "bench.fanout_servers:hub_app", "on": "bench.metrics_cost:hub_with_metrics"}


def __getattr__(name: str) -> Any:
    """The ``on`` apps, built on import by the server process (so this process never enables metrics)."""
    if name in ("echo_with_metrics", "hub_with_metrics"):
        import sockjet.metrics

        if name == "echo_with_metrics":
            from bench.apps import sockjet as app
        else:
            from bench.fanout_servers import hub_app as app
        app.add_route("/metrics", sockjet.metrics.metrics_app())
        return app
    raise AttributeError(name)


@contextlib.contextmanager
def _echo_server(app: str) -> Iterator[harness.Server]:
    port = harness.free_port()
    argv = ["taskset", "-c", str(harness.SERVER_CPU), sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    argv += ["--host", "127.0.0.1", "--ws", "websockets-sansio", "--loop", "uvloop", "--http", "httptools"]
    argv += ["--lifespan", "off", "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(
        argv, cwd=harness.ROOT, env=harness._env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        harness._wait_listening(port, process)
        yield harness.Server(harness.Config("sockjet", "websockets-sansio"), process, port)
    finally:
        harness._stop(process)
        if process.stdout is not None:
            process.stdout.close()


def _fanout_argv(original: Any) -> Any:
    def argv(config: str, port: int) -> list[str]:
        mode = config.removeprefix("metrics-")
        return [FANOUT_APPS[mode] if part == FANOUT_APPS["off"] else part for part in original("hub", port)]

    return argv


def _echo_alone(messages: int) -> float:
    """CPU seconds per echoed message of the sockjet echo App over fake receive/send."""
    from bench.apps import sockjet as app

    async def run() -> float:
        incoming = iter(
            [{"type": "websocket.connect"}]
            + [{"type": "websocket.receive", "text": "x" * 32}] * messages
            + [{"type": "websocket.disconnect", "code": 1000}]
        )

        async def receive() -> Any:
            return next(incoming)

        async def send(message: Any) -> None:
            pass

        scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b"", "app": app}
        started = time.process_time()
        await app(scope, receive, send)
        return (time.process_time() - started) / messages

    return asyncio.run(run())


async def _fanout_alone(clients: int, publishes: int) -> dict[str, list[float]]:
    """CPU seconds per publish to ``clients`` routed members, metrics off and on, publish by publish."""
    import sockjet.metrics
    from sockjet import App, Hub, WebSocket

    hub = Hub(max_queue=1024)
    app = App()
    never = asyncio.Event()

    @app.websocket("/ws/{room}")
    async def member(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async with hub.join(room, websocket):
            await never.wait()

    def connection(room: str) -> Any:
        buffer = bytearray()
        incoming = iter([{"type": "websocket.connect"}])

        async def receive() -> Any:
            return next(incoming)

        async def send(message: Any) -> None:
            if message["type"] == "websocket.send":  # uvicorn's websockets-sansio send, writable socket
                buffer.extend(Frame(Opcode.TEXT, message["text"].encode()).serialize(mask=False, extensions=[]))
                if len(buffer) > 65536:
                    buffer.clear()

        scope = {"type": "websocket", "path": f"/ws/{room}", "headers": [], "query_string": b"", "app": app}
        return app(scope, receive, send)

    tasks = []
    for mode in ("off", "on"):
        sockjet.metrics.enable() if mode == "on" else sockjet.metrics.disable()
        tasks += [asyncio.ensure_future(connection(mode)) for _ in range(clients)]
        while hub.local_count(mode) < clients:
            await asyncio.sleep(0.01)
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    text = "x" * 64
    for i in range(publishes):
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            sockjet.metrics.enable() if mode == "on" else sockjet.metrics.disable()
            started = time.process_time()
            await hub.publish(mode, text)
            cpu[mode].append(time.process_time() - started)
    sockjet.metrics.disable()
    never.set()
    await asyncio.gather(*tasks)
    await hub.aclose()
    return cpu


def _alone(rounds: int, messages: int, clients: int, publishes: int) -> None:
    import sockjet.metrics

    echo: dict[str, list[float]] = {"off": [], "on": []}
    for round_ in range(rounds):
        for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
            sockjet.metrics.enable() if mode == "on" else sockjet.metrics.disable()
            echo[mode].append(_echo_alone(messages))
    sockjet.metrics.disable()
    off, on = statistics.median(echo["off"]), statistics.median(echo["on"])
    print(f"alone: echo CPU per message off={off * 1e6:.3f}us on={on * 1e6:.3f}us (+{(on - off) * 1e6:.3f}us)")
    cpu = asyncio.run(_fanout_alone(clients, publishes))
    off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    print(
        f"alone: fan-out N={clients} publish CPU off={off * 1e3:.3f}ms on={on * 1e3:.3f}ms "
        f"(x{on / off:.3f}; per member +{(on - off) / clients * 1e9:.0f}ns)",
        flush=True,
    )


def _spread(values: list[float], fmt: str = "{:.3f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))} to {fmt.format(max(values))})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="counted seconds per echo run")
    parser.add_argument("--clients", type=int, default=1000, help="fan-out room size")
    parser.add_argument("--repeat", type=int, default=30, help="measured publishes per fan-out visit")
    parser.add_argument("--quick", action="store_true", help="1 round, 1 s echo, 200 clients, 10 publishes")
    parser.add_argument("--alone-only", action="store_true", help="only the in-process part")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.clients, args.repeat = 1, 1.0, 200, 10
    _alone(rounds=max(args.rounds, 5) * 2, messages=50_000, clients=args.clients, publishes=max(args.repeat, 30) * 10)
    if args.alone_only:
        return 0
    hub_fanout._server_argv = _fanout_argv(hub_fanout._server_argv)  # type: ignore[assignment]
    echo_ratio: list[float] = []
    cpu_ratio: list[float] = []
    fanout_ratio: list[float] = []
    for round_ in range(args.rounds):
        order = ("off", "on") if round_ % 2 == 0 else ("on", "off")
        echo: dict[str, harness.EchoMeasurement] = {}
        for mode in order:
            with _echo_server(ECHO_APPS[mode]) as server:
                echo[mode] = harness.measure_echo(server, payload=32, duration=args.duration)
        fanout: dict[str, float] = {}
        for mode in order:
            visit = asyncio.run(
                hub_fanout.visit_real(f"metrics-{mode}", args.clients, repeat=args.repeat, warmup=5, timeout=10.0)
            )
            fanout[mode] = visit.cpu(0.5)
        echo_ratio.append(echo["on"].echo.msg_per_s / echo["off"].echo.msg_per_s)
        cpu_ratio.append(echo["on"].cpu_us_per_msg / echo["off"].cpu_us_per_msg)
        fanout_ratio.append(fanout["on"] / fanout["off"])
        print(
            f"round {round_ + 1}: echo msg/s off={echo['off'].echo.msg_per_s:,.0f} on={echo['on'].echo.msg_per_s:,.0f} "
            f"(x{echo_ratio[-1]:.3f}); CPU us/msg off={echo['off'].cpu_us_per_msg:.2f} "
            f"on={echo['on'].cpu_us_per_msg:.2f} (x{cpu_ratio[-1]:.3f}); fan-out N={args.clients} publish CPU "
            f"off={fanout['off'] * 1e3:.3f}ms on={fanout['on'] * 1e3:.3f}ms (x{fanout_ratio[-1]:.3f})",
            flush=True,
        )
    print(f"echo msg/s, on / off:             {_spread(echo_ratio)}  (goal >= 0.97)")
    print(f"echo server CPU per msg, on / off: {_spread(cpu_ratio)}")
    print(f"fan-out publish CPU, on / off:     {_spread(fanout_ratio)}  (goal <= 1.03)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
