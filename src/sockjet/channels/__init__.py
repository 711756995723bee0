"""sockjet channels: many rooms over one WebSocket, with the documented protocol of docs/protocol.md.

    from sockjet.channels import Channels, Connection, Refuse, RoomOptions, channel_token

Server API: docs/channels.md. The rules of the protocol are pure (``sockjet.channels.protocol``);
``Connection`` is the loop that moves them; the ``Hub`` underneath keeps its guarantees.
"""

from sockjet.channels.app import Channels
from sockjet.channels.auth import SUBPROTOCOL, channel_token, token_subprotocol
from sockjet.channels.client_script import ClientScript
from sockjet.channels.connection import Connection
from sockjet.channels.protocol import PROTOCOL_VERSION, UNSUBSCRIBED_HISTORY_LOST, UNSUBSCRIBED_REVOKED, ErrorCode
from sockjet.channels.rooms import Refuse, Room, RoomOptions
from sockjet.channels.validation import Invalid

__all__ = [
    "PROTOCOL_VERSION",
    "SUBPROTOCOL",
    "UNSUBSCRIBED_HISTORY_LOST",
    "UNSUBSCRIBED_REVOKED",
    "Channels",
    "ClientScript",
    "Connection",
    "ErrorCode",
    "Invalid",
    "Refuse",
    "Room",
    "RoomOptions",
    "channel_token",
    "token_subprotocol",
]
