"""Process placement and limits shared by the server and the load generator."""

from __future__ import annotations

import os
import resource


def pin_to_cpu(cpu: int | None) -> None:
    """Run this process on one core only (when the machine has it), so server and client never share."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    available = os.sched_getaffinity(0)
    if cpu in available and len(available) > 1:
        os.sched_setaffinity(0, {cpu})


def raise_open_files(wanted: int = 65536) -> int:
    """Raise the soft limit on open files towards ``wanted`` (capped by the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
