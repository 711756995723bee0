"""Rooms and broadcast: ``Hub``, its ``Member`` s, and what bounds them.

    hub = Hub()                        # or Hub("redis://127.0.0.1:6379/0") to span processes
    app = App(lifespan=hub.lifespan)
    async with hub.join(room, websocket) as member: ...
    await hub.publish(room, data)
    await hub.publish(room, data, idempotency_key=message_id)   # a retry after PublishOutcomeUnknown is safe
    hub = Hub(history_size=100, frame=json_frame)   # rooms that remember: positions and recovery
    async with hub.join(room, websocket, since=last_position) as member: ...   # member.recovered
    await hub.history(room, since=position)
    async with hub.join(room, websocket, presence={"user": "u42"}, presence_events=True): ...
    await hub.presence(room); await hub.presence_stats(room)
    hub = Hub(backend=MyBackend())     # an engine of your own: subclass Backend (sockjet.testing checks it)

Guarantees (delivery, ordering, limits, overflow, outages) are in docs/hub.md.
"""

from sockjet.exceptions import HubError, PublishError, PublishOutcomeUnknown
from sockjet.hub.backends.base import Backend, LocalRooms, Retention
from sockjet.hub.backends.presence import PresenceSink, PresenceStore
from sockjet.hub.envelope import Envelope
from sockjet.hub.history import HISTORY_LOST_CLOSE_CODE, json_frame
from sockjet.hub.hub import SHUTDOWN_CLOSE_CODE, Hub
from sockjet.hub.hub_websocket import HubWebSocket
from sockjet.hub.member import OVERFLOW_CLOSE_CODE, Member
from sockjet.hub.member_state import MemberState
from sockjet.hub.options import HubOptions
from sockjet.hub.outbox import OverflowPolicy
from sockjet.hub.position import History, IncomparablePositions, Position, Publication, StreamSlice
from sockjet.hub.presence import PresenceEvent, PresenceStats
from sockjet.hub.room_names import MAX_ROOM_NAME_BYTES

__all__ = [
    "HISTORY_LOST_CLOSE_CODE",
    "MAX_ROOM_NAME_BYTES",
    "OVERFLOW_CLOSE_CODE",
    "SHUTDOWN_CLOSE_CODE",
    "Backend",
    "Envelope",
    "History",
    "Hub",
    "HubError",
    "HubOptions",
    "HubWebSocket",
    "IncomparablePositions",
    "LocalRooms",
    "Member",
    "MemberState",
    "OverflowPolicy",
    "Position",
    "PresenceEvent",
    "PresenceSink",
    "PresenceStats",
    "PresenceStore",
    "Publication",
    "PublishError",
    "PublishOutcomeUnknown",
    "Retention",
    "StreamSlice",
    "json_frame",
]
