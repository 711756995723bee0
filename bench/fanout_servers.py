"""The servers of ``bench/hub_fanout.py --real``: one room, fanned out three ways.

    uvicorn bench.fanout_servers:hub_app      sockjet App + Hub (memory backend): await hub.publish(room, text)
    uvicorn bench.fanout_servers:naive_app    Starlette: for ws in room: await ws.send_text(text)
    python -m bench.fanout_servers --port N   websockets' own server (no ASGI): websockets.broadcast(room, text)

Members connect to ``/ws`` and never send (``/ws?stall=1`` also joins a second room, ``stall``,
that only ``flood`` publishes to, so its socket fills up before the measurement). One control
socket at ``/control`` takes ``count`` (answers the number of members), ``publish <seq>`` (stamps
the monotonic clock into the message just before the fan-out, answers ``ok <ns> <cpu ns>`` after it:
the wall-clock and CPU nanoseconds the fan-out call itself took in the server) and
``flood <n> <size>`` (publishes ``n`` incompressible messages of ``size`` bytes to ``stall``),
``rss`` (the server's resident memory in KiB), ``gc`` (the collector's pauses since the last
``gc``) and, on the hub, ``busy`` (members whose sends wait in their outbox).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from typing import Any

from sockjet import App, Hub, WebSocket
from sockjet.hub import MemberState

ROOM = "bench"
STALL_ROOM = "stall"
PAYLOAD = 64  # bytes per measured message


def stamped(seq: int) -> str:
    """The measured message: sequence number and send time (CLOCK_MONOTONIC is system-wide)."""
    return f"{seq:08d}{time.monotonic_ns():020d}".ljust(PAYLOAD, "x")


def flood_payloads(n: int, size: int) -> list[str]:
    """Incompressible text (random hex), so that nothing shrinks what a stalled socket must hold."""
    return [os.urandom(size // 2).hex() for _ in range(n)]


class _Pauses:
    """The cyclic collector's pauses in this server since the last ``take`` (by generation)."""

    def __init__(self) -> None:
        self.started = 0
        self.count = [0, 0, 0]
        self.longest_ns = [0, 0, 0]
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter_ns()
            return
        generation = info["generation"]
        self.count[generation] += 1
        self.longest_ns[generation] = max(self.longest_ns[generation], time.perf_counter_ns() - self.started)

    def take(self) -> str:
        pauses = zip(self.count, self.longest_ns, strict=True)
        text = " ".join(f"gen{g}:{n}x<={ns / 1e6:.1f}ms" for g, (n, ns) in enumerate(pauses))
        self.count, self.longest_ns = [0, 0, 0], [0, 0, 0]
        return text


pauses = _Pauses()


def answer(verb: str) -> str | None:
    """The answers every server gives alike."""
    if verb == "rss":
        return str(rss_kib())
    if verb == "gc":
        return pauses.take()
    return None


def took(started: int, cpu: int) -> str:
    """The answer to ``publish``: wall-clock and CPU nanoseconds the fan-out took in this server."""
    return f"ok {time.perf_counter_ns() - started} {time.process_time_ns() - cpu}"


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover - not Linux


# -- sockjet: App + Hub --------------------------------------------------------------------------------
hub = Hub(max_queue=1024)
hub_app = App(lifespan=hub.lifespan)


@hub_app.websocket("/ws")
async def hub_member(websocket: WebSocket, stall: int = 0) -> None:
    await websocket.accept()
    async with hub.join(ROOM, websocket):
        if stall:
            async with hub.join(STALL_ROOM, websocket):
                await websocket.receive()
        else:
            await websocket.receive()  # the client never sends: this returns at disconnect


@hub_app.websocket("/control")
async def hub_control(websocket: WebSocket) -> None:
    await websocket.accept()
    async for command in websocket.iter_text():
        verb, *args = command.split()
        if verb == "count":
            await websocket.send_text(str(hub.local_count(ROOM)))
        elif verb == "publish":
            started, cpu = time.perf_counter_ns(), time.process_time_ns()
            await hub.publish(ROOM, stamped(int(args[0])))
            await websocket.send_text(took(started, cpu))
        elif verb == "flood":
            for text in flood_payloads(int(args[0]), int(args[1])):
                await hub.publish(STALL_ROOM, text)
            await websocket.send_text("ok")
        elif verb == "busy":  # members whose socket is full: their deliveries wait in their outbox
            await websocket.send_text(str(sum(m.state is MemberState.BUSY for m in hub.members(ROOM))))
        else:
            await websocket.send_text(answer(verb) or "?")


# -- Starlette: the naive loop --------------------------------------------------------------------------
def _naive_app() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket as StarletteWebSocket

    room: list[StarletteWebSocket] = []
    stalled: list[StarletteWebSocket] = []

    async def member(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        room.append(websocket)
        if websocket.query_params.get("stall"):
            stalled.append(websocket)
        try:
            await websocket.receive()
        finally:
            room.remove(websocket)
            if websocket in stalled:
                stalled.remove(websocket)

    async def control(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        async for command in websocket.iter_text():
            verb, *args = command.split()
            if verb == "count":
                await websocket.send_text(str(len(room)))
            elif verb == "publish":
                started, cpu = time.perf_counter_ns(), time.process_time_ns()
                text = stamped(int(args[0]))
                for ws in list(room):
                    await ws.send_text(text)
                await websocket.send_text(took(started, cpu))
            else:
                await websocket.send_text(answer(verb) or "?")

    return Starlette(routes=[WebSocketRoute("/ws", member), WebSocketRoute("/control", control)])


naive_app = _naive_app()


# -- websockets: broadcast() ------------------------------------------------------------------------------
async def serve_websockets(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    room: set[ServerConnection] = set()

    async def handler(connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path == "/control":
            async for command in connection:
                verb, *args = str(command).split()
                if verb == "count":
                    await connection.send(str(len(room)))
                elif verb == "publish":
                    started, cpu = time.perf_counter_ns(), time.process_time_ns()
                    broadcast(room, stamped(int(args[0])))
                    await connection.send(took(started, cpu))
                else:
                    await connection.send(answer(verb) or "?")
            return
        room.add(connection)
        try:
            await connection.wait_closed()
        finally:
            room.discard(connection)

    async with serve(handler, "127.0.0.1", port, backlog=8192, compression=None) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="websockets.broadcast() fan-out server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve_websockets(args.port))


if __name__ == "__main__":
    main()
