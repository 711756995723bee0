"""Where published envelopes travel: in this process (``memory``) or through Redis (``redis``)."""

from sockjet.hub.backends.base import Backend, LocalRooms
from sockjet.hub.backends.memory import MemoryBackend

__all__ = ["Backend", "LocalRooms", "MemoryBackend"]
