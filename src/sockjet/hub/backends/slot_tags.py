"""Hash tags that keep each room's keys and channel in one Redis Cluster slot. Pure.

Redis Cluster hashes only the part of a key inside its first ``{...}``, so every key of a room
(its stream, meta, idempotency keys, member counts, presence) and its shard channel carry the
same tag, ``{r<bucket>}``: one script can touch them all, atomically, on one node.

The tag is the room's bucket, not the room: ``BUCKETS`` of them, each in one slot. Presence
keeps one due-set per bucket (what to reap, and when), so a process reaps every room of the
cluster with ``BUCKETS`` small scripts -- instead of one key that every room's change would
have to reach across slots. Rooms spread over the masters by bucket: 64 buckets over 3 masters
put 19 to 24 on each when the
slots are split evenly, as ``redis-cli --cluster create`` does (the CRC is fixed: every process agrees).
"""

from __future__ import annotations

import zlib

BUCKETS = 64


def bucket(room: str) -> int:
    """``room``'s bucket (``0 <= bucket < BUCKETS``), the same in every process."""
    return zlib.crc32(room.encode("utf-8", "surrogatepass")) % BUCKETS


def tag(index: int) -> str:
    """The hash tag of bucket ``index``."""
    return f"{{r{index}}}"


def tagged(room: str) -> str:
    """``room`` as a cluster's keys and channels name it: its bucket's tag first."""
    return tag(bucket(room)) + room


def untagged(name: str) -> str:
    """The room of a ``tagged`` name."""
    return name[name.index("}") + 1 :]


__all__ = ["BUCKETS", "bucket", "tag", "tagged", "untagged"]
