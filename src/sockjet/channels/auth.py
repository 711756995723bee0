"""The opening handshake of a channels connection: protocol version and credentials, both carried
as WebSocket subprotocols (docs/protocol.md#opening-handshake-protocol-version-and-credentials).

The client offers ``sockjet.v1`` and ``sockjet.token.<base64url(token) without padding>``; the
server selects ``sockjet.v1``. The token rides in the ``Sec-WebSocket-Protocol`` header, not in
the URL, so it stays out of access logs. ``channel_token`` reads it for an endpoint's ``Depends``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from sockjet.requests import HTTPConnection

SUBPROTOCOL = "sockjet.v1"
VERSION_PREFIX = "sockjet.v"
TOKEN_PREFIX = "sockjet.token."


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a client offered: the subprotocol to select, its token, and whether it speaks version 1.

    ``subprotocol`` is ``None`` when the client offered none of sockjet's (served as version 1, the
    server selects nothing); a client offering only other versions gets the first of them
    selected (a browser would fail a handshake that selects none) and ``supported`` False.
    """

    subprotocol: str | None
    token: str | None
    supported: bool


def token_subprotocol(token: str) -> str:
    """The subprotocol that carries ``token``: ``sockjet.token.`` + base64url of its UTF-8, unpadded."""
    encoded = base64.urlsafe_b64encode(token.encode("utf-8")).rstrip(b"=").decode("ascii")
    return TOKEN_PREFIX + encoded


def decode_token(encoded: str) -> str | None:
    """The inverse of ``token_subprotocol``'s encoding; ``None`` for text that is not base64url of UTF-8."""
    if not encoded or any(c not in _ALPHABET for c in encoded):
        return None
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def negotiate(offered: Sequence[str]) -> Handshake:
    """Read the client's subprotocols (the scope's ``subprotocols``)."""
    token: str | None = None
    versions: list[str] = []
    for protocol in offered:
        if protocol.startswith(TOKEN_PREFIX):
            token = decode_token(protocol[len(TOKEN_PREFIX) :])
        elif protocol.startswith(VERSION_PREFIX):
            versions.append(protocol)
    if SUBPROTOCOL in versions:
        return Handshake(SUBPROTOCOL, token, True)
    if versions:
        return Handshake(versions[0], token, False)
    return Handshake(None, token, True)


def channel_token(websocket: HTTPConnection) -> str | None:
    """The token a channels client offered (``sockjet.token.<...>``), or ``None``; for ``Depends``.

    ``token: str | None = Depends(channel_token)`` in a WebSocket endpoint, then check it and either
    ``await channels.serve(websocket, user=...)`` or ``await channels.reject(websocket, code)`` with
    ``status.WS_4003_AUTHENTICATION_REFUSED`` or ``status.WS_4001_TOKEN_EXPIRED``. A token that is
    not valid base64url of UTF-8 reads as ``None``.
    """
    return negotiate(websocket.scope.get("subprotocols") or ()).token


__all__ = [
    "SUBPROTOCOL",
    "TOKEN_PREFIX",
    "Handshake",
    "channel_token",
    "decode_token",
    "negotiate",
    "token_subprotocol",
]
