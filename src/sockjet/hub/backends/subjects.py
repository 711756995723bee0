"""NATS names for a hub's rooms: pure, so that no room can reach into another.

A NATS subject is dot-separated tokens, and ``*`` / ``>`` tokens are wildcards. A room name is
free text, so each room becomes exactly one token that holds no dot, wildcard or space:

- ``A-Z a-z 0-9 _ -`` stay as they are; every other character becomes ``%XX`` per UTF-8 byte
  (``"a.b"`` -> ``"a%2Eb"``, ``"*"`` -> ``"%2A"``), which is injective;
- a token longer than ``MAX_TOKEN`` becomes ``%%`` + the SHA-256 of the room (escaping never
  writes ``%%``, so a hashed token cannot equal an escaped one).

(Presence keys in a JetStream KV bucket use ``nats_presence.key_token`` instead: KV keys refuse ``%``.)

Every subject of a hub sits under its base, derived from the hub's ``prefix``:
``{base}.r.{token}`` carries a room's messages, ``{base}.p`` the processes' member counts.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from sockjet.exceptions import ConfigurationError
from sockjet.hub.backends._urls import redacted

MAX_TOKEN = 128
"""Longest escaped room token kept readable; longer ones are hashed."""

SCHEMES = ("nats://", "tls://")

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_BAD_BASE_TOKEN = re.compile(r"[\s*>]")


def room_token(room: str) -> str:
    """One subject token for ``room``; different rooms always get different tokens (up to SHA-256)."""
    if all(char in _PLAIN for char in room) and len(room) <= MAX_TOKEN:
        return room
    token = "".join(char if char in _PLAIN else "".join(f"%{b:02X}" for b in char.encode()) for char in room)
    if len(token) > MAX_TOKEN:
        return "%%" + hashlib.sha256(room.encode()).hexdigest()
    return token


def subject_base(prefix: str) -> str:
    """The subject every name of a hub starts with: ``prefix`` without trailing ``:`` or ``.``.

    ``ConfigurationError`` if that is not a literal subject (empty, a space, a wildcard, ``a..b``).
    """
    base = prefix.rstrip(":.")
    if not base or _BAD_BASE_TOKEN.search(base) or "" in base.split("."):
        raise ConfigurationError(
            f"The hub prefix {prefix!r} cannot start NATS subjects: use letters, digits, '-', '_', ':' "
            "and dots between non-empty parts (no spaces, '*' or '>'), e.g. prefix='myapp:hub:'."
        )
    return base


def room_subject(base: str, room: str) -> str:
    return f"{base}.r.{room_token(room)}"


def counts_subject(base: str) -> str:
    return f"{base}.p"


def server_urls(url: str) -> list[str]:
    """The servers of a hub URL: one, or several separated by commas (a cluster).

    Each must be ``nats://`` or ``tls://`` with a host; ``ConfigurationError`` says which is not.
    """
    servers = [part.strip() for part in url.split(",")]
    for server in servers:
        try:
            host = urlsplit(server).hostname
        except ValueError:
            host = None
        if not server.startswith(SCHEMES) or not host:
            raise ConfigurationError(
                f"Bad NATS server {redacted(server)!r} in hub URL: each server is nats://[user:pass@]host[:port] "
                "or tls://..., several separated by commas (nats://a:4222,nats://b:4222)."
            )
    return servers


__all__ = ["MAX_TOKEN", "SCHEMES", "counts_subject", "room_subject", "room_token", "server_urls", "subject_base"]
