"""Presence on Redis: per-room keys changed only by Lua scripts, so each change is atomic and
its event is published on the room's channel in the same step (in order with the room's messages).

Keys, for room ``r`` and prefix ``p`` (type first, room last, so no two rooms' keys collide):

- ``p presence-info:r``       hash  connection -> ``user key \\n info JSON``
- ``p presence-users:r``      hash  user key -> number of its connections in the room
- ``p presence-procs:r``      zset  process id -> expiry (ms, Redis's own clock)
- ``p presence-conns:PID:r``  set   the connections process PID announced in the room
- ``p presence-due``          zset  room -> earliest expiry of its processes (on a cluster one
                                    per bucket of rooms, ``p presence-due:{rN}``: see ``slot_tags``)

Crash safety: each process refreshes its expiry in every room it has announced connections in
every ``presence_ttl / 3`` (one script per ``REFRESH_BATCH`` rooms). The reap removes the
connections of every process whose expiry has passed and publishes their leave events; it
runs inside a script, so of all the processes that try, exactly one removes each connection
and emits its leave. Every process reaps due rooms
every ``reap_interval`` (``min(presence_ttl / 3, 1 s)``), and ``presence``/``presence_stats``
reap their room first: a dead process's connections are gone from answers ``presence_ttl``
after its last refresh, and their leave events are out at most ``reap_interval`` later.

An event on a room channel is ``p`` + kind (``j`` join, ``l`` leave, ``x`` expired) + ``1`` if
the user's first/last connection else ``0`` + connection + ``\\n`` + user key + ``\\n`` + info.
Every script is given the due-set of its rooms as ``KEYS[1]`` (on a cluster that routes it to the
node of the rooms' slot). On a cluster a room's keys carry its bucket's hash tag (``r`` is the
tagged name), the events go out with ``SPUBLISH``, and a refresh or a reap covers one bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from sockjet.exceptions import HubError
from sockjet.hub.backends.redis_errors import UNANSWERED
from sockjet.hub.backends.remote_presence import RemotePresenceStore
from sockjet.hub.backends.slot_tags import BUCKETS, bucket, tag, untagged
from sockjet.hub.presence import PresenceStats, own_user
from sockjet.hub.wire import decode_presence

if TYPE_CHECKING:
    from sockjet.hub.backends.redis import RedisBackend


REFRESH_BATCH = 100
"""Rooms one refresh script renews: one round trip per 100 rooms, each script short (about 1 ms)."""

_LUA_COMMON = """
local p, chanp = ARGV[1], ARGV[2]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keys_of(r)
  return p .. 'presence-info:' .. r, p .. 'presence-users:' .. r, p .. 'presence-procs:' .. r
end
local function sync_due(r, procs)
  local first = redis.call('ZRANGE', procs, 0, 0, 'WITHSCORES')
  if first[1] then
    redis.call('ZADD', KEYS[1], first[2], r)
  else
    redis.call('ZREM', KEYS[1], r)
  end
end
local function remove(r, conn, kind)
  local info, users = keys_of(r)
  local v = redis.call('HGET', info, conn)
  if not v then return false end
  redis.call('HDEL', info, conn)
  local ukey = string.sub(v, 1, string.find(v, '\\n', 1, true) - 1)
  local n = redis.call('HINCRBY', users, ukey, -1)
  local flag = '0'
  if n <= 0 then
    redis.call('HDEL', users, ukey)
    flag = '1'
  end
  local event = kind .. flag .. conn .. '\\n' .. v
  redis.call('PUBLISH', chanp .. r, 'p' .. event)
  return event
end
local function reap(r, now, out)
  local _, _, procs = keys_of(r)
  local dead = redis.call('ZRANGEBYSCORE', procs, '-inf', now)
  for _, pid in ipairs(dead) do
    local ck = p .. 'presence-conns:' .. pid .. ':' .. r
    for _, conn in ipairs(redis.call('SMEMBERS', ck)) do
      local event = remove(r, conn, 'x')
      if event then out[#out + 1] = r; out[#out + 1] = event end
    end
    redis.call('DEL', ck)
    redis.call('ZREM', procs, pid)
  end
  return #dead
end
local function touch(r, pid, ttl, now)
  local info, users, procs = keys_of(r)
  local ck = p .. 'presence-conns:' .. pid .. ':' .. r
  redis.call('ZADD', procs, now + ttl, pid)
  sync_due(r, procs)
  for _, key in ipairs({info, users, procs, ck}) do redis.call('PEXPIRE', key, ttl * 3) end
end
"""

# ARGV: prefix, channel prefix, room, pid, ttl ms, connection, user key, info JSON
_JOIN = (
    _LUA_COMMON
    + """
local r, pid, ttl, conn, ukey, infojson = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local info, users, procs = keys_of(r)
local now = now_ms()
local out = {}
if reap(r, now, out) > 0 then sync_due(r, procs) end
if redis.call('HEXISTS', info, conn) == 0 then
  redis.call('HSET', info, conn, ukey .. '\\n' .. infojson)
  local flag = '0'
  if redis.call('HINCRBY', users, ukey, 1) == 1 then flag = '1' end
  local event = 'j' .. flag .. conn .. '\\n' .. ukey .. '\\n' .. infojson
  redis.call('PUBLISH', chanp .. r, 'p' .. event)
  out[#out + 1] = r; out[#out + 1] = event
end
redis.call('SADD', p .. 'presence-conns:' .. pid .. ':' .. r, conn)
touch(r, pid, ttl, now)
return out
"""
)

# ARGV: prefix, channel prefix, room, pid, connection
_LEAVE = (
    _LUA_COMMON
    + """
local r, pid, conn = ARGV[3], ARGV[4], ARGV[5]
local _, _, procs = keys_of(r)
local ck = p .. 'presence-conns:' .. pid .. ':' .. r
local out = {}
local event = remove(r, conn, 'l')
if event then out[1] = r; out[2] = event end
redis.call('SREM', ck, conn)
if redis.call('SCARD', ck) == 0 then
  redis.call('ZREM', procs, pid)
  sync_due(r, procs)
end
return out
"""
)

# ARGV: prefix, channel prefix, pid, ttl ms, then (room, expected connections) pairs -> rooms to reconcile
_REFRESH = (
    _LUA_COMMON
    + """
local pid, ttl = ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local stale = {}
for i = 5, #ARGV, 2 do
  local r, expected = ARGV[i], tonumber(ARGV[i + 1])
  local _, _, procs = keys_of(r)
  local ck = p .. 'presence-conns:' .. pid .. ':' .. r
  if redis.call('ZSCORE', procs, pid) and redis.call('SCARD', ck) == expected then
    touch(r, pid, ttl, now)
  else
    stale[#stale + 1] = r
  end
end
return stale
"""
)

# ARGV: prefix, channel prefix, room, pid, ttl ms, connection... -> {events of extras removed}, missing connections
_RECONCILE = (
    _LUA_COMMON
    + """
local r, pid, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local info = keys_of(r)
local ck = p .. 'presence-conns:' .. pid .. ':' .. r
local wanted = {}
for i = 6, #ARGV do wanted[ARGV[i]] = true end
local out, missing = {}, {}
for _, conn in ipairs(redis.call('SMEMBERS', ck)) do
  if not wanted[conn] then
    local event = remove(r, conn, 'l')
    if event then out[#out + 1] = r; out[#out + 1] = event end
    redis.call('SREM', ck, conn)
  end
end
for conn in pairs(wanted) do
  if redis.call('HEXISTS', info, conn) == 0 then missing[#missing + 1] = conn end
end
return {out, missing}
"""
)

# ARGV: prefix, channel prefix, limit -> {rooms looked at, {room, event, room, event, ...}}
_REAP_DUE = (
    _LUA_COMMON
    + """
local now = now_ms()
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, r in ipairs(due) do
  local _, _, procs = keys_of(r)
  reap(r, now, out)
  sync_due(r, procs)
end
return {#due, out}
"""
)

# ARGV: prefix, channel prefix, room, what ("stats" | "entries" | "json") -> {reaped events, answer...}
# "json" builds {"connection": info, ...} in Redis: one string to parse instead of 2 per connection.
_READ = (
    _LUA_COMMON
    + """
local r = ARGV[3]
local info, users, procs = keys_of(r)
local out = {}
if reap(r, now_ms(), out) > 0 then sync_due(r, procs) end
if ARGV[4] == 'stats' then
  return {out, redis.call('HLEN', info), redis.call('HLEN', users)}
end
local flat = redis.call('HGETALL', info)
if ARGV[4] == 'entries' then return {out, flat} end
local parts = {}
for i = 1, #flat, 2 do
  local v = flat[i + 1]
  parts[#parts + 1] = cjson.encode(flat[i]) .. ':' .. string.sub(v, string.find(v, '\\n', 1, true) + 1)
end
return {out, '{' .. table.concat(parts, ',') .. '}'}
"""
)


class RedisPresenceStore(RemotePresenceStore):
    """Presence in Redis for a ``RedisBackend``, refreshed and reaped by one task per process."""

    MAX_IN_FLIGHT = 32
    """Scripts in flight at once: a burst of joins queues here instead of exhausting the client's
    connection pool (redis-py's holds 100 and refuses the 101st), which publish uses too."""

    def __init__(self, backend: RedisBackend, *, reap_limit: int = 100) -> None:
        super().__init__(
            broker="Redis",
            url=backend.url,
            timeout=backend.timeout,
            ttl=backend.presence_ttl,
            unanswered=UNANSWERED,
            task_name="sockjet-hub-redis-presence-reaper",
        )
        self.backend = backend
        self.reap_limit = reap_limit
        self._leaves: set[tuple[str, str]] = set()
        """(room, connection) whose leave Redis did not take yet: retried by the task."""
        self._scripts: dict[str, Any] = {}
        self._slots = asyncio.Semaphore(self.MAX_IN_FLIGHT)

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _args(self, *args: Any) -> list[Any]:
        return [self.backend.prefix, self.backend.channel_prefix, *args]

    async def _prepare(self) -> None:
        client = self.backend.client
        for name, source in (
            ("join", _JOIN),
            ("leave", _LEAVE),
            ("refresh", _REFRESH),
            ("reap_due", _REAP_DUE),
            ("read", _READ),
            ("reconcile", _RECONCILE),
        ):
            self._scripts[name] = client.register_script(self.backend.script(source))

    async def stop(self) -> None:
        await self._end_upkeep()
        mine = [(room, conn) for room, conns in self._mine.items() for conn in conns]
        with contextlib.suppress(*UNANSWERED, HubError):
            for room, connection in mine:  # normally none: the hub left every room before
                await self._in_room("leave", room, self.backend.process_id, connection)
        self._leaves.clear()
        self._forget_all()

    def _due(self, room: str | None = None, index: int = 0) -> str:
        """The due-set of ``room`` (or of bucket ``index``): one for all rooms on a single Redis."""
        prefix = self.backend.prefix
        if self.backend.cluster is None:
            return f"{prefix}presence-due"
        return f"{prefix}presence-due:{tag(bucket(room) if room is not None else index)}"

    def _due_sets(self) -> list[str]:
        return [self._due()] if self.backend.cluster is None else [self._due(index=i) for i in range(BUCKETS)]

    def _room(self, name: bytes) -> str:
        """The room a script named (tagged on a cluster)."""
        room = name.decode("utf-8")
        return room if self.backend.cluster is None else untagged(room)

    def _in_room(self, name: str, room: str, *args: Any) -> Awaitable[Any]:
        """Script ``name`` about ``room``: its due-set as the key, its tagged name as ``r``."""
        return self._call(name, self._due(room), self.backend.tagged(room), *args)

    async def _call(self, name: str, due: str, *args: Any) -> Any:
        async with self._slots:
            coro: Awaitable[Any] = self._scripts[name](keys=[due], args=self._args(*args))
            answer = await asyncio.wait_for(coro, self.backend.timeout)
        if name == "reap_due":  # {rooms looked at, events}
            self._observe(answer[1])
            return answer[0]
        if name in ("read", "reconcile"):  # {events, answer...}
            self._observe(answer[0])
            return answer[1:] if name == "read" else answer[1]
        if name != "refresh":  # events (a refresh answers the rooms to reconcile)
            self._observe(answer)
        return answer

    def _observe(self, flat: list[bytes]) -> None:
        for i in range(0, len(flat), 2):
            self._sink.observe(decode_presence(self._room(flat[i]), flat[i + 1]))

    # -- changes ------------------------------------------------------------------------------------
    async def join(self, room: str, connection: str, info_json: str, user_key: str) -> None:
        key = own_user(user_key, connection)
        try:
            await self._in_room("join", room, self.backend.process_id, self._ttl_ms, connection, key, info_json)
        except UNANSWERED as exc:
            raise self._fail("announce presence in", room, exc) from exc
        self._remember(room, connection, key, info_json)

    async def leave(self, room: str, connection: str) -> None:
        self._forget(room, connection)
        try:
            await self._in_room("leave", room, self.backend.process_id, connection)
        except UNANSWERED as exc:
            self._leave_not_recorded(room, connection, exc)
            self._leaves.add((room, connection))

    # -- questions ------------------------------------------------------------------------------------
    async def _read(self, room: str, what: str) -> list[Any]:
        try:
            answer: list[Any] = await self._in_room("read", room, what)
        except UNANSWERED as exc:
            raise self._fail("read the presence of", room, exc) from exc
        return answer

    async def entries(self, room: str) -> dict[str, str]:
        flat = (await self._read(room, "entries"))[0]
        entries: dict[str, str] = {}
        for i in range(0, len(flat), 2):
            entries[flat[i].decode("utf-8")] = flat[i + 1].decode("utf-8").partition("\n")[2]
        return entries

    async def entries_json(self, room: str) -> str:
        raw: bytes = (await self._read(room, "json"))[0]
        return raw.decode("utf-8")

    async def stats(self, room: str) -> PresenceStats:
        connections, users = await self._read(room, "stats")
        return PresenceStats(int(connections), int(users))

    # -- upkeep ------------------------------------------------------------------------------------
    async def tick(self, *, refresh: bool) -> None:
        """Retry failed leaves, refresh this process's expiry (when asked), reap every due room."""
        pid = self.backend.process_id
        for room, connection in sorted(self._leaves):
            await self._in_room("leave", room, pid, connection)
            self._leaves.discard((room, connection))
        if refresh:
            by_due: dict[str, list[tuple[str, dict[str, tuple[str, str]]]]] = {}
            for room, announced in self._mine.items():
                by_due.setdefault(self._due(room), []).append((room, dict(announced)))
            for due, mine in by_due.items():
                for first in range(0, len(mine), REFRESH_BATCH):
                    batch = dict(mine[first : first + REFRESH_BATCH])
                    tagged = self.backend.tagged
                    pairs = [item for room, conns in batch.items() for item in (tagged(room), len(conns))]
                    for raw_room in await self._call("refresh", due, pid, self._ttl_ms, *pairs):
                        room = self._room(raw_room)
                        await self._reconcile(room, batch[room])
        await asyncio.gather(*(self._reap(due) for due in self._due_sets()))

    async def _reap(self, due: str) -> None:
        while await self._call("reap_due", due, self.reap_limit) == self.reap_limit:
            pass  # more rooms are due than one script takes: keep going

    async def _reconcile(self, room: str, conns: dict[str, tuple[str, str]]) -> None:
        """Reaped while we were away, Redis lost its keys, or a leave went missing: put Redis right."""
        pid = self.backend.process_id
        missing = await self._in_room("reconcile", room, pid, self._ttl_ms, *conns)
        for raw in missing:
            connection = raw.decode("utf-8")
            key, info_json = conns[connection]
            await self._in_room("join", room, pid, self._ttl_ms, connection, key, info_json)


__all__ = ["RedisPresenceStore"]
