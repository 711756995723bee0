"""A flood of bad JSON from many clients on a real uvicorn: each client gets 1007, the log a few lines.

Before sockjet closed invalid JSON with 1007 and rate-limited refusal lines, each bad frame cost
1011 and an ERROR with a ~20-line traceback; now the route writes at most one line a second.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import MS
from tests.servers.servers import uvicorn_server

pytestmark = pytest.mark.e2e

CLIENTS = 20
FRAMES_PER_CLIENT = 100  # one connection per bad frame: the escaped error ends the endpoint
TIMEOUT = 10000 * MS


async def _bad_frames(url: str, count: int) -> list[int]:
    codes = []
    for _ in range(count):
        async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
            await ws.send("[")
            try:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                codes.append(closed.rcvd.code)
    return codes


@pytest.mark.timeout(120)
def test_a_flood_of_invalid_json_costs_a_bounded_number_of_log_lines() -> None:
    with uvicorn_server("tests.e2e.bad_json_app:app") as server:
        started = time.monotonic()

        async def flood() -> list[list[int]]:
            url = f"{server.url}/json"
            codes = await asyncio.gather(*(_bad_frames(url, FRAMES_PER_CLIENT) for _ in range(CLIENTS)))
            # One more after a quiet second: its line counts what the flood's last second held back.
            await asyncio.sleep(1.1)
            return [*codes, await _bad_frames(url, 1)]

        per_client = asyncio.run(flood())
        elapsed = time.monotonic() - started
    output = server.output()
    assert server.process.stdout is not None
    server.process.stdout.close()
    total = CLIENTS * FRAMES_PER_CLIENT + 1
    codes = [code for codes in per_client for code in codes]
    assert codes == [1007] * total
    lines = [line for line in output.splitlines() if line.strip()]
    refusals = [line for line in lines if "closed with 1007: the client sent invalid JSON" in line]
    assert "Traceback" not in output
    assert 1 <= len(refusals) <= elapsed + 2, (len(refusals), elapsed)
    assert len(lines) == len(refusals), output  # nothing else was logged
    suppressed = sum(int(line.rsplit("(", 1)[1].split()[0]) for line in refusals if line.endswith("suppressed)"))
    assert suppressed + len(refusals) == total  # each bad frame written or counted
