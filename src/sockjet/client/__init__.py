"""sockjet's Python client for sockjet channels (docs/protocol.md): many rooms over one WebSocket.

    async with Client("ws://127.0.0.1:8000/ws", token="...") as client:
        sub = await client.subscribe("chat:42")
        await sub.publish({"text": "hello"})
        async for event in sub:
            ...

It reconnects by itself (full-jitter backoff), resubscribes every room from its last position,
delivers what was missed once and in order, and says ``Resync`` when it could not. Needs the
``websockets`` package: ``pip install 'sockjet[client]'``. Details: docs/client-python.md.
"""

from sockjet.client.client import Client, TokenProvider
from sockjet.client.errors import (
    ChannelError,
    ClientClosed,
    ClientError,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    ProtocolViolation,
    SubscriptionEnded,
)
from sockjet.client.events import Event, History, Message, PresenceEvent, Resync
from sockjet.client.state import ClientState
from sockjet.client.subscription import Subscription
from sockjet.hub.position import Position

__all__ = [
    "ChannelError",
    "Client",
    "ClientClosed",
    "ClientError",
    "ClientState",
    "CommandTimeout",
    "ConnectError",
    "ConnectionLost",
    "Event",
    "History",
    "Message",
    "Position",
    "PresenceEvent",
    "ProtocolViolation",
    "Resync",
    "Subscription",
    "SubscriptionEnded",
    "TokenProvider",
]
