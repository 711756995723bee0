"""Presence on NATS: a JetStream key-value bucket per hub, changed by compare-and-set.

Keys (``R``: the room as a key token, ``U``: a hash of the user key, ``PID``: a process id):

- ``u.R.U``            one per user in a room: ``{"u": user key, "c": {connection: [PID, info JSON]}}``.
  Every join and leave is a compare-and-set of this one key (retried on conflict), so whether
  it was the user's first connection or its last is decided atomically, and a connection is
  removed exactly once -- by its own process's leave, or by the one reaper that wins the CAS.
- ``i.PID.R.U.C``       the index of what process PID announced, written *before* the user key
  (a process that dies in between leaves an index entry that points at nothing, which the
  reaper drops), removed after it.
- ``p.PID``             ``{"room tokens": ..., "expires": ms}``: the process's heartbeat, rewritten
  every ``presence_ttl / 3``. A process whose heartbeat expired (by the reaper's clock: worker
  clocks must agree to well within ``presence_ttl``) is reaped by every survivor that notices:
  each of its connections is removed by CAS, so only one survivor emits each leave.

An event is published on the room's subject after the change it reports (same format as Redis:
``p`` + kind + flag + connection + ``\\n`` + user key + ``\\n`` + info), by the process that made
the change. Unlike Redis, the change and its event are two steps: two processes changing the
same user in the same room within the same few milliseconds may have their events arrive in the
other order. ``presence_stats`` reads every user of the room (one key per user): O(users).
The bucket lives in memory on the server; after a server restart the processes announce their
connections again at their next heartbeat.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from sockjet.exceptions import HubError
from sockjet.hub.backends.remote_presence import RemotePresenceStore
from sockjet.hub.presence import PresenceEvent, PresenceStats, own_user
from sockjet.hub.wire import presence_frame

if TYPE_CHECKING:
    from sockjet.hub.backends.nats import NatsBackend

try:
    import nats.errors
    import nats.js.api
    import nats.js.errors
except ImportError:  # pragma: no cover - depends on the installed extras
    nats = None  # type: ignore[assignment]

logger = logging.getLogger("sockjet.hub")

_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CAS_ATTEMPTS = 50
_PARALLEL_READS = 64


def key_token(room: str) -> str:
    """One key token for ``room`` (injective): plain names as they are, others ``=`` + base64url, long ones hashed.

    Not ``subjects.room_token``: a JetStream KV key allows only ``-/_=.A-Za-z0-9``, so that
    scheme's ``%XX`` escapes are no valid key; ``=`` is, and never starts a plain name.
    """
    if _PLAIN.fullmatch(room):
        return room
    token = "=" + base64.urlsafe_b64encode(room.encode()).decode().rstrip("=")
    if len(token) > 129:
        return "==" + hashlib.sha256(room.encode()).hexdigest()
    return token


class _Entry(NamedTuple):
    key: str
    value: bytes
    revision: int


def user_token(user_key: str) -> str:
    return hashlib.sha256(user_key.encode()).hexdigest()[:32]


class NatsPresenceStore(RemotePresenceStore):
    """Presence in a JetStream key-value bucket, for a ``NatsBackend``."""

    def __init__(self, backend: NatsBackend) -> None:
        super().__init__(
            broker="NATS",
            url=backend.url,
            timeout=backend.timeout,
            ttl=backend.presence_ttl,
            unanswered=(nats.errors.Error, OSError, asyncio.TimeoutError, TimeoutError),
            task_name="sockjet-hub-nats-presence-reaper",
            hint=" Presence on NATS needs JetStream (nats-server -js).",
        )
        self.backend = backend
        self.bucket = "sockjet-presence-" + hashlib.sha256(backend.base.encode()).hexdigest()[:16]
        self._kv: Any = None
        self._kv_lock = asyncio.Lock()
        self._leaves: set[tuple[str, str, str, str]] = set()
        """(room, connection, user key, info) whose leave NATS did not take yet: retried by the task."""
        self._used = False

    @property
    def pid(self) -> str:
        return self.backend.process_id

    async def stop(self) -> None:
        await self._end_upkeep()
        with contextlib.suppress(HubError):
            for room, conns in list(self._mine.items()):  # normally none: the hub left every room before
                for connection in list(conns):
                    await self.leave(room, connection)
        with contextlib.suppress(Exception):
            if self._kv is not None and not self._mine:
                await asyncio.wait_for(self._kv.delete(f"p.{self.pid}"), self.backend.timeout)
        self._leaves.clear()
        self._kv = None
        self._forget_all()

    async def _bucket(self) -> Any:
        """The key-value bucket, made on first use (memory storage, one revision per key)."""
        if self._kv is not None:
            return self._kv
        self._used = True
        async with self._kv_lock:
            if self._kv is not None:
                return self._kv
            client = self.backend.client
            if client is None:
                raise ConnectionError("the hub is not running")
            js = client.jetstream(timeout=self.backend.timeout)
            try:
                kv = await js.key_value(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                kv = await js.create_key_value(bucket=self.bucket, history=1, storage=nats.js.api.StorageType.MEMORY)
            self._kv = kv
        await self._beat(kv)
        return kv

    async def _beat(self, kv: Any) -> None:
        """Rewrite the heartbeat; if it was gone (reaped while away, or the server lost the bucket),
        announce every connection of this process again."""
        try:
            await kv.get(f"p.{self.pid}")
            lost = False
        except nats.js.errors.KeyNotFoundError:
            lost = True
        expires = int((time.time() + self.ttl) * 1000)
        await kv.put(f"p.{self.pid}", json.dumps({"expires": expires}).encode())
        if lost:
            for room, conns in list(self._mine.items()):
                for connection, (key, info_json) in list(conns.items()):
                    await self._join(room, connection, info_json, key)

    async def _change(
        self, room: str, user_key: str, connection: str, add: tuple[str, str] | None, owner: str | None = None
    ) -> bool | None:
        """Add (``add=(pid, info)``) or remove ``connection`` in the user's key by compare-and-set.

        A removal with ``owner`` only removes the connection if that process announced it.
        Returns whether the user changed (first join / last leave), or ``None`` when nothing
        changed (already there, or already gone: someone else removed it).
        """
        kv = await self._bucket()
        key = f"u.{key_token(room)}.{user_token(user_key)}"
        for _ in range(_CAS_ATTEMPTS):
            try:
                entry = await kv.get(key)
                revision, value = entry.revision, json.loads(entry.value)
            except nats.js.errors.KeyNotFoundError as exc:  # KeyDeletedError too
                deleted = getattr(exc, "entry", None)
                revision, value = (deleted.revision if deleted is not None else 0), {"u": user_key, "c": {}}
            conns: dict[str, list[str]] = value["c"]
            if add is not None:
                if connection in conns:
                    return None
                conns[connection] = [add[0], add[1]]
            elif connection not in conns or (owner is not None and conns[connection][0] != owner):
                return None
            else:
                del conns[connection]
            try:
                if conns:
                    await kv.update(key, json.dumps(value, separators=(",", ":")).encode(), last=revision)
                else:
                    await kv.delete(key, last=revision)
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError) as exc:
                if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError) or exc.err_code in (10071, 10164):
                    continue  # someone else changed this user meanwhile: read again
                raise
            return (len(conns) == 1) if add is not None else not conns
        raise TimeoutError(f"presence of a user in room {room!r} kept changing under {_CAS_ATTEMPTS} attempts")

    async def _announce(self, kind: str, room: str, connection: str, user_key: str, info_json: str, flag: bool) -> None:
        client = self.backend.client
        event_kind = {"join": "j", "leave": "l", "expired": "x"}[kind]
        if client is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await client.publish(
                    self.backend.subject(room), presence_frame(event_kind, flag, connection, user_key, info_json)
                )
        self._sink.observe(
            PresenceEvent(
                room, "join" if kind == "join" else "leave", connection, info_json, flag, expired=kind == "expired"
            )
        )

    # -- changes ------------------------------------------------------------------------------------
    async def join(self, room: str, connection: str, info_json: str, user_key: str) -> None:
        key = own_user(user_key, connection)
        try:
            await asyncio.wait_for(self._join(room, connection, info_json, key), self.backend.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError, TimeoutError) as exc:
            raise self._fail("announce presence in", room, exc) from exc
        self._remember(room, connection, key, info_json)

    async def _join(self, room: str, connection: str, info_json: str, key: str) -> None:
        kv = await self._bucket()
        index = f"i.{self.pid}.{key_token(room)}.{user_token(key)}.{connection}"
        await kv.put(index, json.dumps([room, key]).encode())
        first = await self._change(room, key, connection, (self.pid, info_json))
        if first is not None:
            await self._announce("join", room, connection, key, info_json, first)

    async def leave(self, room: str, connection: str) -> None:
        announced = self._forget(room, connection)
        if announced is None:
            return
        try:
            await asyncio.wait_for(self._leave(room, connection, *announced), self.backend.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError, TimeoutError) as exc:
            self._leave_not_recorded(room, connection, exc)
            self._leaves.add((room, connection, *announced))

    async def _leave(self, room: str, connection: str, key: str, info_json: str) -> None:
        last = await self._change(room, key, connection, None)
        if last is not None:
            await self._announce("leave", room, connection, key, info_json, last)
        kv = await self._bucket()
        await kv.delete(f"i.{self.pid}.{key_token(room)}.{user_token(key)}.{connection}")

    # -- questions ------------------------------------------------------------------------------------
    async def _users(self, room: str) -> list[dict[str, Any]]:
        try:
            found = await asyncio.wait_for(self._read_entries(f"u.{key_token(room)}.*"), 3 * self.backend.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
            raise self._fail("read the presence of", room, exc) from exc
        return [json.loads(entry.value) for entry in found]

    async def entries(self, room: str) -> dict[str, str]:
        return {c: pid_info[1] for user in await self._users(room) for c, pid_info in user["c"].items()}

    async def entries_json(self, room: str) -> str:
        entries = await self.entries(room)
        return "{" + ",".join(f"{json.dumps(c)}:{info}" for c, info in entries.items()) + "}"

    async def stats(self, room: str) -> PresenceStats:
        users = await self._users(room)
        return PresenceStats(sum(len(user["c"]) for user in users), len(users))

    # -- upkeep ------------------------------------------------------------------------------------
    def _upkeep_failed(self) -> None:
        self._kv = None  # the server may have lost the bucket: found or made again next time

    async def tick(self, *, refresh: bool) -> None:
        """Retry failed leaves, rewrite the heartbeat (when asked), reap every expired process.

        Idle until this process first uses presence (a hub that never does costs NATS nothing).
        """
        if (self._kv is None and not self._used) or self.backend.client is None or not self.backend.connected:
            return
        for room, connection, key, info in sorted(self._leaves):
            await self._leave(room, connection, key, info)
            self._leaves.discard((room, connection, key, info))
        kv = await self._bucket()
        if refresh:
            await self._beat(kv)
        now = time.time() * 1000
        for beat in await self._read_entries("p.*"):
            pid = beat.key.split(".", 1)[1]
            if pid == self.pid or json.loads(beat.value)["expires"] > now:
                continue
            await self._reap(kv, pid, beat.revision)

    async def _read_entries(self, pattern: str) -> list[_Entry]:
        """The current value of every key matching ``pattern``: the stream lists the keys, then each
        is read as it is now (in parallel). A key rewritten meanwhile is read old or new, never
        missed; a key made afterwards is the caller's to catch (presence listeners subscribe first).
        Not a consumer: a key rewritten while a consumer walks the stream loses its old message
        before the consumer gets to it, and its new one may come after the walk ended."""
        kv = await self._bucket()
        client = self.backend.client
        if client is None:
            raise ConnectionError("the hub is not running")
        js = client.jetstream(timeout=self.backend.timeout)
        prefix = f"$KV.{self.bucket}."
        info = await js.stream_info(f"KV_{self.bucket}", subjects_filter=prefix + pattern)
        keys = [subject[len(prefix) :] for subject in sorted(info.state.subjects or {})]

        async def read(key: str) -> _Entry | None:
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:  # deleted (a tombstone is still listed)
                return None
            return _Entry(key, entry.value, entry.revision) if entry.value else None

        found: list[_Entry] = []
        for first in range(0, len(keys), _PARALLEL_READS):
            batch = await asyncio.gather(*(read(key) for key in keys[first : first + _PARALLEL_READS]))
            found += [entry for entry in batch if entry is not None]
        return found

    async def _reap(self, kv: Any, pid: str, revision: int) -> None:
        """Remove every connection of dead process ``pid``; each leave is emitted by whoever removes it."""
        for index in await self._read_entries(f"i.{pid}.>"):
            room, key = json.loads(index.value)
            connection = index.key.rsplit(".", 1)[1]
            info = await self._info_of(room, key, connection)
            last = await self._change(room, key, connection, None, owner=pid)
            if last is not None and info is not None:
                await self._announce("expired", room, connection, key, info, last)
            with contextlib.suppress(nats.js.errors.Error):
                await kv.delete(index.key)
        with contextlib.suppress(nats.js.errors.Error):
            await kv.delete(f"p.{pid}", last=revision)

    async def _info_of(self, room: str, key: str, connection: str) -> str | None:
        kv = await self._bucket()
        try:
            entry = await kv.get(f"u.{key_token(room)}.{user_token(key)}")
        except nats.js.errors.KeyNotFoundError:
            return None
        found = json.loads(entry.value)["c"].get(connection)
        return None if found is None else str(found[1])


__all__ = ["NatsPresenceStore", "key_token", "user_token"]
