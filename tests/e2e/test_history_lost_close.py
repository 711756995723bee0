"""examples/chat_history.py on a real uvicorn and redis-server: FLUSHALL while every member is
publishing closes each with 3410, and no endpoint ends in a traceback (issue 16, item 8: before,
some members' ``iter_text`` raised 'WebSocket is not connected. Need to call "accept" first.')."""

from __future__ import annotations

import asyncio
import sys

import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import MS
from tests.servers.redis_server import running_redis
from tests.servers.servers import free_port, start_process, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROOMS = 6
MEMBERS = 5
TIMEOUT = 20000 * MS  # 30 members against one redis-server on a loaded 2-core machine


async def _member(url: str, joined: asyncio.Semaphore, flushed: asyncio.Event) -> int:
    """Once joined (its first frame came), publish without pause until the hub closes the
    connection; the close code it got."""
    async with connect(url, open_timeout=TIMEOUT) as websocket:
        await asyncio.wait_for(websocket.recv(), TIMEOUT)  # the join frame: a member of the room now
        joined.release()
        reader = asyncio.ensure_future(_drain(websocket))
        sent = 0
        try:
            while not reader.done():
                await websocket.send(f"message {sent}")
                sent += 1
                await asyncio.sleep(2 * MS if flushed.is_set() else 10 * MS)
        except ConnectionClosed:
            pass
        return await asyncio.wait_for(reader, TIMEOUT)


async def _drain(websocket: ClientConnection) -> int:
    try:
        while True:
            await websocket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else 1006


@pytest.mark.timeout(180)
def test_flushall_closes_every_member_with_3410_and_logs_no_traceback() -> None:
    with running_redis() as store:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "examples.chat_history:app", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--log-level", "warning"]
        server = start_process(argv, port, env={"HUB_URL": store.url})
        try:

            async def scenario() -> list[int]:
                flushed = asyncio.Event()
                joined = asyncio.Semaphore(0)
                urls = [f"ws://127.0.0.1:{port}/ws/room{r}" for r in range(ROOMS) for _ in range(MEMBERS)]
                members = [asyncio.ensure_future(_member(url, joined, flushed)) for url in urls]
                try:
                    for _ in urls:  # a member that joined after the flush would never lose anything
                        await asyncio.wait_for(joined.acquire(), TIMEOUT)
                except BaseException:
                    for member in members:
                        member.cancel()
                    await asyncio.gather(*members, return_exceptions=True)
                    raise
                await asyncio.sleep(200 * MS)  # every member publishing
                with redis.Redis(port=store.port) as client:
                    client.flushall()
                flushed.set()
                _, pending = await asyncio.wait(members, timeout=TIMEOUT * 3)
                for member in pending:  # never leak a socket into the next test
                    member.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                assert not pending, f"{len(pending)} of {len(members)} members were never closed"
                return [member.result() for member in members]

            codes = asyncio.run(scenario())
        finally:
            stop_process(server.process)
        output = server.output()
        assert server.process.stdout is not None
        server.process.stdout.close()
    assert codes == [3410] * (ROOMS * MEMBERS), output
    assert "Traceback" not in output, output
    assert "ERROR" not in output, output
