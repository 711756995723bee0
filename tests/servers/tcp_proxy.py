"""A TCP proxy of the tests' own, in-process: cuts every connection through it at once, and
balances over several servers (round robin, skipping one that refuses), as a load balancer would.

    async with tcp_proxy(server_port) as proxy:      # or tcp_proxy(port_a, port_b)
        client = Client(f"ws://127.0.0.1:{proxy.port}/ws")
        proxy.cut()          # both sides see the TCP connection die (no close frame)
        proxy.refuse = True  # new connections are reset at once, until set back to False
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class TcpProxy:
    def __init__(self, *target_ports: int) -> None:
        self.target_ports = list(target_ports)
        self._next = 0
        self.refuse = False
        self.accepted = 0
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Abort every proxied connection, both ways."""
        for client, upstream in list(self._pairs):
            for writer in (client, upstream):
                writer.transport.abort()
        self._pairs.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        self.accepted += 1
        for _ in self.target_ports:
            port = self.target_ports[self._next % len(self.target_ports)]
            self._next += 1
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@contextlib.asynccontextmanager
async def tcp_proxy(*target_ports: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(*target_ports)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
