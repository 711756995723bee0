"""What the hub needs of a channels connection (``sockjet.channels``): a hook, not a dependency.

A member attached with a ``ChannelLink`` gets its room's publications framed by the link's
``ChannelCodec`` -- once per publication and codec, the same message shared by every such
member, never once per subscriber -- instead of the hub's own frame. Its link may divert a
room's frames for a while (the channel's subscribe reply must be sent before them), and is told
when a room's history is lost instead of the member being closed: one subscription ends, not the
socket. A member without a link is untouched by all of this.
"""

from __future__ import annotations

from typing import Protocol

from sockjet.hub.envelope import Envelope
from sockjet.hub.position import Publication
from sockjet.types import Message


class ChannelCodec(Protocol):
    """Turns what the hub delivers into a channel's frames (pure; called once per delivery)."""

    def frame(self, source: Envelope | Publication) -> tuple[Message, int]:
        """The push for one publication (with history) or envelope (without), and its size."""

    def presence(self, message: Message, size: int) -> tuple[str, Message, int]:
        """A hub presence frame as the channel's push: ``(room, message, size)``."""

    @property
    def diverting(self) -> int:
        """How many of its links are diverting now: with none, a room whose members all share this
        codec gets one framed message for all of them, with no per-member work at all."""


class ChannelLink(Protocol):
    """One channels connection as its hub member sees it."""

    @property
    def codec(self) -> ChannelCodec:
        """Shared by every connection of one ``Channels``: it is what makes the encoding once per room."""

    @property
    def diverting(self) -> bool:
        """True while some room's frames must not go straight to the socket (cheap to read)."""

    def divert(self, room: str, message: Message, size: int) -> bool:
        """Take ``message`` of ``room`` aside (or drop it); False: deliver it as usual. Never awaits."""

    def lost(self, room: str) -> None:
        """``room`` missed messages its history cannot give back: end that subscription. Never awaits."""


__all__ = ["ChannelCodec", "ChannelLink"]
