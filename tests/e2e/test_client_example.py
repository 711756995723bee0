"""examples/channels_hello.py, the README's channels example, served on a real uvicorn and run as its client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from examples import channels_hello
from tests.conftest import MS
from tests.servers.servers import ROOT, uvicorn_server

pytestmark = [pytest.mark.e2e]

EXPECTED = "Message(room='chat:42', data={'room': '42', 'text': 'hello'}, position=Position(epoch="


def test_the_example_is_under_30_lines() -> None:
    assert len(Path(channels_hello.__file__).read_text().splitlines()) < 30


async def test_the_example_client_gets_back_what_it_published(capsys: pytest.CaptureFixture[str]) -> None:
    with uvicorn_server("examples.channels_hello:app") as server:
        await channels_hello.main(f"{server.url}/")
        printed = capsys.readouterr().out
        assert printed.startswith(EXPECTED) and printed.rstrip().endswith("offset=1))")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        script = f"import asyncio; from examples import channels_hello as h; asyncio.run(h.main('{server.url}/'))"
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20000 * MS
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(EXPECTED) and done.stdout.rstrip().endswith("offset=2))")
    assert server.process.stdout is not None
    server.process.stdout.close()
