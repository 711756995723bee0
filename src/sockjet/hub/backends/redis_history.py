"""Rooms' streams in Redis: one Lua script per publish, one per read (the Redis backend's history).

Keys of a room (``{prefix}`` is the hub's prefix):

- ``{prefix}meta:{room}``: a hash, ``e`` = the epoch, ``o`` = the top offset. Expires ``meta_ttl``
  seconds after the room's last publish.
- ``{prefix}stream:{room}``: a stream whose entry IDs are ``<offset>-0``, so a replay is one
  ``XRANGE`` from the offset asked; field ``d`` = kind byte + payload, ``t`` = Redis time in ms
  (only with a ``ttl``). Trimmed on every publish with ``MAXLEN ~ size`` (Redis drops whole
  nodes, so a few more may stay; a read never returns more than the last ``size``); expires
  ``ttl`` (or ``meta_ttl``) after the last publish. Entries older than ``ttl`` are trimmed when read.

The publish script is the one atomic step that makes a message a publication: next offset,
append, trim, refresh expiries, and ``PUBLISH`` of ``h<epoch> <offset> <kind+payload>`` on the
room's channel. Redis runs scripts one at a time, so the channel carries a room's publications
in offset order, and a stream read never sees an offset that was not also published.

A member joining a room without a stream runs ``OPEN_SCRIPT``: it starts the epoch at offset 0
(the meta hash alone, expiring ``meta_ttl`` later), so the member has a position to resume from;
the next publish takes offset 1 in that epoch.
Idempotency (``hub.publish(..., idempotency_key=k)``): ``{prefix}seen:{len(room)}:{room}{k}`` holds
the first publish's ``<epoch> <offset>`` for ``idempotency_ttl``. The publish script checks it
first and, if it is there, returns it and does nothing else; otherwise it sets it in the same
atomic step that stores and publishes. Without history, ``PUBLISH_ONCE_SCRIPT`` does the same
with ``SET NX`` then ``PUBLISH``.

If the meta hash is gone (Redis restarted without persistence, the room expired, the key was
evicted) the script starts a new epoch -- the candidate the caller passes -- and deletes any
stream left from the old one, so positions of the old epoch can never be mistaken for new ones.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sockjet.hub.backends.base import Retention
from sockjet.hub.position import Position, Publication, StreamSlice
from sockjet.hub.wire import Tag

PUBLISH_SCRIPT = """
local meta, stream, seen = KEYS[1], KEYS[2], KEYS[3]
local size, ttl_ms, meta_ttl = __SIZE__, __TTL_MS__, __META_TTL__
if seen then
  local first = redis.call('GET', seen)
  if first then
    return first .. ' seen'
  end
end
local epoch = redis.call('HGET', meta, 'e')
--LINEAGE
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch)
  --LINEAGE-MARK
end
local offset = redis.call('HINCRBY', meta, 'o', 1)
local id = offset .. '-0'
if ttl_ms > 0 then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('XADD', stream, 'MAXLEN', '~', size, id, 'd', ARGV[1], 't', ms)
  redis.call('PEXPIRE', stream, ttl_ms)
else
  redis.call('XADD', stream, 'MAXLEN', '~', size, id, 'd', ARGV[1])
  redis.call('EXPIRE', stream, meta_ttl)
end
redis.call('EXPIRE', meta, meta_ttl)
local head = epoch .. ' ' .. offset
redis.call('PUBLISH', ARGV[2], 'h' .. head .. ' ' .. ARGV[1])
if seen then
  redis.call('SET', seen, head, 'PX', ARGV[4])
end
return head
"""

PUBLISH_ONCE_SCRIPT = """
if redis.call('SET', KEYS[1], '', 'NX', 'PX', ARGV[3]) then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
  return 1
end
return 0
"""
"""A history-less publish with an idempotency key: ``KEYS = [seen]``, ``ARGV = [channel, wire, ttl_ms]``;
replies 0 when the key was already used (nothing published)."""

READ_SCRIPT = """
local meta, stream = KEYS[1], KEYS[2]
local after, limit, ttl_ms, size = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', meta, 'e', 'o')
--LINEAGE-READ
if not state[1] then
  return {false, 0, {}}
end
local top = tonumber(state[2])
if after < top - size then
  after = top - size  -- only the last `size` are retained, whatever approximate trimming left
end
if ttl_ms > 0 then
  local now = redis.call('TIME')
  local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - ttl_ms
  while true do
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 16)
    if #oldest == 0 then break end
    local keep = nil
    for _, entry in ipairs(oldest) do
      local fields = entry[2]
      local t = nil
      for i = 1, #fields, 2 do
        if fields[i] == 't' then t = tonumber(fields[i + 1]) end
      end
      if t == nil or t > cutoff then keep = entry[1] break end
    end
    if keep then
      redis.call('XTRIM', stream, 'MINID', keep)
      break
    end
    redis.call('XTRIM', stream, 'MINID', (tonumber(string.match(oldest[#oldest][1], '^(%d+)')) + 1) .. '-0')
  end
end
if after >= top or limit == 0 then
  return {state[1], top, 0}
end
local entries
if limit > 0 then
  entries = redis.call('XRANGE', stream, (after + 1) .. '-0', '+', 'COUNT', limit)
else
  entries = redis.call('XRANGE', stream, (after + 1) .. '-0', '+')
end
if #entries == 0 then
  return {state[1], top, 0}
end
-- Offsets in a stream are contiguous (each appended once, in order; trimmed from the front only):
-- the first offset and the payloads say it all, in a reply a fifth the size.
local reply = {state[1], top, tonumber(string.match(entries[1][1], '^(%d+)'))}
for i, entry in ipairs(entries) do
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 'd' then reply[i + 3] = fields[j + 1] end
  end
end
return reply
"""

OPEN_SCRIPT = """
local meta, stream = KEYS[1], KEYS[2]
local state = redis.call('HMGET', meta, 'e', 'o')
--LINEAGE-READ
if state[1] then
  return state[1] .. ' ' .. (state[2] or '0')
end
redis.call('DEL', stream)
redis.call('HSET', meta, 'e', ARGV[1], 'o', 0)
--LINEAGE-MARK
redis.call('EXPIRE', meta, tonumber(ARGV[2]))
return ARGV[1] .. ' 0'
"""
"""``KEYS = [meta, stream]``, ``ARGV = [epoch candidate, meta_ttl seconds]``; replies like the publish script."""


_LINEAGE = """
local replication = redis.call('INFO', 'replication')
local lineage = string.match(replication, 'master_replid:(%w+)')
local promoted_from = string.match(replication, 'master_replid2:(%w+)')
local function untrusted(r)
  -- Strict (Sentinel): any other lineage. On a cluster, only the lineage this master was a replica
  -- of before its promotion; a room whose keys came from an unrelated master moved here whole
  -- (resharding migrates keys atomically): it keeps its epoch, now on this lineage.
  if r == lineage then return false end
  if __STRICT__ or r == promoted_from then return true end
  redis.call('HSET', KEYS[1], 'r', lineage)
  return false
end
"""
_LINEAGE_CHECK = (
    _LINEAGE
    + """
if epoch and untrusted(redis.call('HGET', meta, 'r')) then
  redis.call('DEL', meta)  -- written before a failover: the new master may lack its last messages
  epoch = nil
end
"""
)
_LINEAGE_READ = (
    _LINEAGE
    + """
if state[1] and untrusted(redis.call('HGET', meta, 'r')) then
  redis.call('DEL', meta)
  state = {false, false}
end
"""
)
_LINEAGE_MARK = "redis.call('HSET', meta, 'r', lineage)"


def with_lineage(script: str, *, strict: bool = True) -> str:
    """``script`` for a master that can change (Sentinel, a cluster's masters): a room's epoch is
    also bound to the master's replication history (``master_replid``, new at every promotion), so
    after a failover the room starts a new epoch instead of handing out positions the lost writes
    already had. ``strict=False`` (a cluster): keys that a resharding moved from another master keep
    their epoch; only a promotion (the old lineage is the new master's ``master_replid2``) ends it."""
    return (
        script.replace("--LINEAGE-READ", _LINEAGE_READ.strip())
        .replace("--LINEAGE-MARK", _LINEAGE_MARK)
        .replace("--LINEAGE", _LINEAGE_CHECK.strip())
        .replace("__STRICT__", "true" if strict else "false")
    )


LIVE_KIND = Tag.POSITIONED.value
"""The first byte of a publication on a room's channel (``t``/``b``: a plain envelope; ``p``: presence)."""


def sha1(script: str) -> str:
    """The SHA1 Redis names a script by (``EVALSHA``)."""
    return hashlib.sha1(script.encode()).hexdigest()


def meta_key(prefix: str, room: str) -> str:
    return f"{prefix}meta:{room}"


def stream_key(prefix: str, room: str) -> str:
    return f"{prefix}stream:{room}"


def seen_key(prefix: str, room: str, key: str) -> str:
    """Where an idempotency key of ``room`` is remembered (the length keeps room and key apart)."""
    return f"{prefix}seen:{len(room)}:{room}{key}"


def ttl_ms(seconds: float) -> int:
    """Seconds as whole milliseconds for ``PX`` (at least 1)."""
    return max(1, int(seconds * 1000))


def publish_script(retention: Retention) -> str:
    """The publish script with ``retention`` written in: three arguments fewer to send per publish.

    Its arguments: ``KEYS = [meta, stream]`` or ``[meta, stream, seen]`` (with an idempotency key),
    ``ARGV = [kind + payload, channel, epoch candidate]`` (and the key's ttl in ms, with ``seen``).
    """
    ttl_ms = 0 if retention.ttl is None else max(1, int(retention.ttl * 1000))
    return (
        PUBLISH_SCRIPT.replace("__SIZE__", str(retention.size))
        .replace("__TTL_MS__", str(ttl_ms))
        .replace("__META_TTL__", str(max(1, int(retention.meta_ttl))))
    )


def read_args(after: int, limit: int | None, retention: Retention) -> list[int]:
    ttl_ms = 0 if retention.ttl is None else max(1, int(retention.ttl * 1000))
    return [after, -1 if limit is None else limit, ttl_ms, retention.size]


def parse_position(reply: bytes) -> Position:
    """The publish script's reply, ``b"<epoch> <offset>"`` (``b"<epoch> <offset> seen"``: a retried key's first)."""
    epoch, _, rest = reply.partition(b" ")
    return Position._of(epoch.decode(), int(rest.partition(b" ")[0]))


def key_was_seen(reply: bytes) -> bool:
    """The publish script found its idempotency key already used (it stored and sent nothing)."""
    return reply.endswith(b" seen")


def parse_slice(room: str, reply: list[Any]) -> StreamSlice:
    """The read script's reply, ``[epoch, top, first offset, payload...]``, as a ``StreamSlice``.

    ``ValueError`` for payloads no hub wrote.
    """
    raw_epoch, top, first = reply[0], reply[1], reply[2]
    if not raw_epoch:
        return StreamSlice(None, 0, ())
    epoch = raw_epoch.decode() if isinstance(raw_epoch, bytes) else str(raw_epoch)
    start = int(first)
    publications = tuple(
        Publication.from_wire(room, Position._of(epoch, start + index), data) for index, data in enumerate(reply[3:])
    )
    return StreamSlice(epoch, int(top), publications)


def parse_live(room: str, raw: bytes) -> Publication:
    """``h<epoch> <offset> <kind+payload>`` as published by the script; ``ValueError`` otherwise."""
    head, _, rest = raw.partition(b" ")
    offset, _, wire = rest.partition(b" ")
    if not head.startswith(LIVE_KIND) or not offset.isdigit():
        raise ValueError(f"Not a hub publication on room {room!r}")
    return Publication.from_wire(room, Position._of(head[1:].decode(), int(offset)), wire)


__all__ = [
    "LIVE_KIND",
    "OPEN_SCRIPT",
    "PUBLISH_ONCE_SCRIPT",
    "PUBLISH_SCRIPT",
    "READ_SCRIPT",
    "meta_key",
    "parse_live",
    "parse_position",
    "parse_slice",
    "publish_script",
    "read_args",
    "seen_key",
    "sha1",
    "stream_key",
    "ttl_ms",
    "with_lineage",
]
