"""Presence on a NATS hub: this process's connections only, and it says so.

Member counts (``hub.count``) span processes on NATS; announced presence (``hub.presence``,
``presence_stats``, presence events) does not yet: it is kept as on ``memory://``. The first
announced join logs one warning, so nobody mistakes a per-process list for the whole room's.
"""

from __future__ import annotations

import logging

from sockjet.hub.backends._urls import redacted
from sockjet.hub.backends.presence import MemoryPresenceStore

logger = logging.getLogger("sockjet.hub")


class ProcessPresenceStore(MemoryPresenceStore):
    """``MemoryPresenceStore`` that warns once that it does not see other processes."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._warned = False

    async def join(self, room: str, connection: str, info_json: str, user_key: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "Presence on the NATS hub at %s lists this process's connections only (counts span every "
                "process); use Redis for presence across processes.",
                redacted(self.url),
            )
        await super().join(room, connection, info_json, user_key)


__all__ = ["ProcessPresenceStore"]
