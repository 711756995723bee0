"""Metrics across ``sockjet run --workers N``: prometheus_client's multi-process directory.

``prepare(workers)`` runs in the parent before the workers start (they inherit the environment):
with more than one worker and prometheus_client installed, it points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory removed at exit -- unless the user set one (then theirs is used as is).
Each worker then writes its values to its own files there; a scrape in any worker adds them up.
A dead worker's counter files stay, so the sums never decrease when uvicorn replaces a worker;
its ``livesum`` gauge files are removed at the next scrape (``reap_dead_gauges``).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import shutil
import tempfile

_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def prepare(workers: int | None) -> str | None:
    """Set up the multi-process directory for ``workers`` (None or 1: nothing to do); returns it."""
    if workers is None or workers < 2:
        return None
    existing = os.environ.get(_ENV)
    if existing:
        return existing
    if importlib.util.find_spec("prometheus_client") is None:
        return None
    directory = tempfile.mkdtemp(prefix="sockjet-metrics-")
    os.environ[_ENV] = directory
    atexit.register(shutil.rmtree, directory, True)
    return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a pid reused by another user's process
        return True
    return True


def reap_dead_gauges(directory: str) -> None:
    """Forget the live gauges of processes that are gone (prometheus_client's ``mark_process_dead``)."""
    from prometheus_client import multiprocess

    dead = set()
    for name in os.listdir(directory):
        match = _LIVE_GAUGE.match(name)
        if match is not None and not _alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


__all__ = ["prepare", "reap_dead_gauges"]
