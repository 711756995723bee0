"""One channels connection: the loop that moves frames between the socket, the rules and the hub.

What a frame becomes is decided by ``sockjet.channels.protocol`` (pure); this module awaits:
it reads frames, runs room commands one at a time in the order sent (``call`` s run as tasks of
their own, so a slow method holds nothing back), and sends every frame -- replies, pushes,
pings -- through the connection's one hub member, so they share its one bounded outbox and
stay in order with the rooms' messages.

While a subscribe is going live, the room's pushes are held back (``divert``): the reply must
go first, then what was missed, then live messages. When a room's history is lost (``lost``),
that subscription alone ends with an ``unsubscribed`` push.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sockjet import status
from sockjet.channels.auth import Handshake
from sockjet.channels.codec import Codec
from sockjet.channels.protocol import (
    PING_FRAME,
    UNKNOWN_OP,
    UNSUBSCRIBED_HISTORY_LOST,
    UNSUBSCRIBED_HISTORY_LOST_REASON,
    UNSUBSCRIBED_REVOKED,
    Call,
    Close,
    ErrorCode,
    Failure,
    HistoryQuery,
    PresenceQuery,
    Publish,
    Rules,
    Subscribe,
    Unsubscribe,
    connected_frame,
    no_room,
    not_subscribed,
    ok_frame,
    subscribe_ok,
    text_size,
    token,
    unsubscribed_frame,
)
from sockjet.channels.rooms import Refuse, Room, RoomOptions
from sockjet.channels.validation import Invalid, encode
from sockjet.exceptions import HubError, PayloadTooLarge
from sockjet.hub.hub_websocket import HubWebSocket
from sockjet.hub.member import Member
from sockjet.metrics import recorder as _metrics
from sockjet.types import Message

if TYPE_CHECKING:
    from sockjet.channels.app import Channels

logger = logging.getLogger("sockjet.channels")

UNSUPPORTED_VERSION_REASON = "protocol version unsupported"
_QUIET_TICKS = 3
"""Pings go out after this many ticks (of ``ping / 4``) without a frame: between 0.75 and 1 ``ping`` of silence."""


class ChannelWebSocket(HubWebSocket, Protocol):
    """What a channels connection needs of a WebSocket: the hub's part, plus accept and receive."""

    async def accept(self, subprotocol: str | None = ..., headers: Any = ...) -> None: ...

    async def receive(self) -> Message: ...


class _Subscription(NamedTuple):
    """One room this connection is in: its hub join (to leave), its pattern, what its handler allowed."""

    join: Any
    room: Room
    options: RoomOptions


class Connection:
    """One client's connection, as room, publish and method handlers see it (``conn``).

    ``id`` is its id in presence (the ``connection`` of the ``connected`` frame); ``user`` and
    ``info`` are what the endpoint gave ``channels.serve``; ``state`` is a dict for the app.
    """

    __slots__ = (
        "_calls",
        "_channels",
        "_diverted",
        "_joins",
        "_leaving",
        "_lost_during",
        "_member",
        "_quiet",
        "_rules",
        "_sent",
        "_state",
        "diverting",
        "id",
        "info",
        "user",
        "websocket",
    )

    def __init__(self, channels: Channels, websocket: ChannelWebSocket, user: Any, info: dict[str, Any] | None):
        self.id = secrets.token_hex(8)
        self.user = user
        self.info = info
        self.websocket = websocket
        self._state: dict[str, Any] | None = None
        self._channels = channels
        self._rules = Rules(channels.limits)
        self._member: Member | None = None
        self._joins: dict[str, _Subscription] = {}
        self._diverted: dict[str, list[tuple[Message, int]] | None] = {}
        """Rooms whose pushes do not go to the socket now: held back (a list) or dropped (None)."""
        self.diverting = False
        # Made when first needed: an idle connection holds as little as it can.
        self._leaving: dict[str, asyncio.Task[None]] | None = None
        self._lost_during: set[str] | None = None
        self._calls: set[asyncio.Task[None]] | None = None
        self._sent = False
        self._quiet = 0

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user!r} rooms={sorted(self._joins)!r}>"

    @property
    def state(self) -> dict[str, Any]:
        """A dict for the application, per connection."""
        if self._state is None:
            self._state = {}
        return self._state

    @property
    def rooms(self) -> frozenset[str]:
        """The rooms this connection is subscribed to."""
        return frozenset(self._joins)

    # -- what handlers may do ----------------------------------------------------------------------------
    async def unsubscribe(self, room: str, *, reason: str = "revoked", code: int = UNSUBSCRIBED_REVOKED) -> None:
        """End this connection's subscription to ``room``: it gets ``unsubscribed`` with ``code`` and ``reason``.

        With the default code (4403) a client does not resubscribe. A room it is not subscribed to: nothing.
        """
        subscription = self._take(room)
        if subscription is not None:
            await self._end(room, subscription, code, reason)

    def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection with ``code`` after what is queued (up to the hub's ``drain_timeout``)."""
        if self._member is not None:
            self._member.close(code, reason, drain=self._channels.hub.drain_timeout)

    # -- the hub's side (ChannelLink) ---------------------------------------------------------------------
    @property
    def codec(self) -> Codec:
        return self._channels.codec

    def divert(self, room: str, message: Message, size: int) -> bool:
        if room not in self._diverted:
            return False
        held = self._diverted[room]
        if held is not None:
            held.append((message, size))
        return True

    def lost(self, room: str) -> None:
        if isinstance(self._diverted.get(room), list):
            if self._lost_during is None:
                self._lost_during = set()
            self._lost_during.add(room)  # it is being subscribed: end it once the reply is out
            return
        subscription = self._take(room)
        if subscription is not None:
            self._spawn_end(room, subscription, UNSUBSCRIBED_HISTORY_LOST, UNSUBSCRIBED_HISTORY_LOST_REASON)

    # -- sending -------------------------------------------------------------------------------------------
    def _push(self, text: str) -> None:
        self._sent = True
        member = self._member
        if member is not None:
            member.deliver({"type": "websocket.send", "text": text}, text_size(text))

    def _ok(self, command_id: int, body: dict[str, Any]) -> None:
        self._reply(command_id, ok_frame(command_id, body))

    def _reply(self, command_id: int, frame: str) -> None:
        """Send a command's ok reply (counted with result code 0)."""
        _metrics.current.channel_command(self._rules.replied(command_id) or UNKNOWN_OP, 0)
        self._push(frame)

    def _fail(self, failure: Failure) -> None:
        op = failure.op
        if failure.id is not None:
            op = self._rules.replied(failure.id) or op
        _metrics.current.channel_command(op, int(failure.code))
        self._push(failure.encode())

    def _error(self, command_id: int, code: ErrorCode, message: str, details: Any = None) -> None:
        self._fail(Failure(command_id, code, message, None if details is None else tuple(details)))

    def _handler_failed(self, command_id: int, exc: Exception, handler: str, log: str, *args: object) -> None:
        """Answer an application handler's exception: ``Invalid`` and ``Refuse`` as the handler meant
        them; anything else ``failed``, its traceback logged here and its text never sent."""
        if isinstance(exc, Invalid):
            return self._error(command_id, ErrorCode.INVALID, str(exc), exc.details)
        if isinstance(exc, Refuse):
            return self._error(command_id, ErrorCode.REFUSED, exc.reason)
        logger.error(log, *args, exc_info=exc)
        return self._error(command_id, ErrorCode.FAILED, f"The {handler} failed; the error is logged on the server.")

    def tick(self, active: set[str]) -> None:
        """The ping ticker's look (every ``ping / 4``): a ping after three looks that saw nothing sent."""
        if self._sent or (active and not active.isdisjoint(self._joins)):
            self._sent, self._quiet = False, 0
            return
        self._quiet += 1
        if self._quiet >= _QUIET_TICKS:
            _metrics.current.channel_pushed()
            self._push(PING_FRAME)
            self._sent, self._quiet = False, 0

    # -- the loop ------------------------------------------------------------------------------------------
    async def run(self, handshake: Handshake) -> None:
        websocket = self.websocket
        if getattr(websocket.application_state, "name", None) == "CONNECTING":
            await websocket.accept(subprotocol=handshake.subprotocol)
        if not handshake.supported:
            await websocket.close(status.WS_4002_UNSUPPORTED_PROTOCOL_VERSION, UNSUPPORTED_VERSION_REASON)
            return
        channels = self._channels
        member = self._member = await channels.hub.attach_channel(websocket, self, connection_id=self.id)
        channels._opened(self)
        rules, loop = self._rules, asyncio.get_running_loop()
        try:
            self._push(connected_frame(self.id, channels.ping_interval))
            while True:  # the receive loop, inline: one coroutine frame less per idle connection
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                verdict = rules.receive(message.get("text"), loop.time())
                if isinstance(verdict, Failure):
                    self._fail(verdict)
                elif isinstance(verdict, Close):
                    member.close(verdict.code, verdict.reason)
                    return
                elif isinstance(verdict, Call):
                    task = loop.create_task(self._call(verdict), name="sockjet-channels-call")
                    if self._calls is None:
                        self._calls = set()
                    self._calls.add(task)
                    task.add_done_callback(self._calls.discard)
                else:
                    await self._room_command(verdict)
        except asyncio.CancelledError:
            if not member.interrupted:  # the hub's interrupt (a close nobody took) ends us quietly
                raise
        finally:
            channels._closed(self)
            await self._shut(member)

    async def _shut(self, member: Member) -> None:
        calls = list(self._calls or ())
        for task in calls:
            task.cancel()
        if calls:
            await asyncio.wait(calls)
        for task in list((self._leaving or {}).values()):
            await asyncio.wait((task,))
        joins, self._joins = self._joins, {}
        for _ in joins:
            _metrics.current.subscription_closed()
        for subscription in joins.values():
            with contextlib.suppress(Exception):
                await subscription.join.__aexit__(None, None, None)
        await self._channels.hub.detach_channel(member)

    async def _room_command(self, command: Subscribe | Unsubscribe | Publish | PresenceQuery | HistoryQuery) -> None:
        if isinstance(command, Subscribe):
            await self._subscribe(command)
        elif isinstance(command, Unsubscribe):
            await self._unsubscribe(command)
        elif isinstance(command, Publish):
            await self._publish(command)
        elif isinstance(command, PresenceQuery):
            await self._presence(command)
        else:
            await self._history(command)

    # -- subscribe and leave ---------------------------------------------------------------------------------
    def _set_diverted(self, room: str, held: list[tuple[Message, int]] | None) -> None:
        self._diverted[room] = held
        if not self.diverting:
            self.diverting = True
            self._channels.codec.diverting += 1

    def _undivert(self, room: str) -> list[tuple[Message, int]] | None:
        held = self._diverted.pop(room, None)
        if self.diverting and not self._diverted:
            self.diverting = False
            self._channels.codec.diverting -= 1
        return held

    async def _subscribe(self, command: Subscribe) -> None:
        room_name = command.room
        leaving = self._leaving.get(room_name) if self._leaving else None
        if leaving is not None:
            await asyncio.wait((leaving,))
        failure = self._rules.subscribing(command)
        if failure is not None:
            return self._fail(failure)
        try:
            await self._go_live(command)
        except BaseException:
            self._rules.unsubscribed(room_name)
            raise

    async def _go_live(self, command: Subscribe) -> None:
        channels, room_name = self._channels, command.room
        hub = channels.hub
        found = channels.registry.match(room_name)
        if found is None:
            self._rules.unsubscribed(room_name)
            return self._fail(no_room(command.id, room_name))
        room, params = found
        try:
            options = await room.authorize(self, params, dict(command.params))
        except Refuse as refused:
            self._rules.unsubscribed(room_name)
            return self._error(command.id, ErrorCode.REFUSED, refused.reason)
        except Exception:
            logger.exception("The handler of room pattern %r failed for room %r", room.pattern, room_name)
            self._rules.unsubscribed(room_name)
            return self._error(
                command.id,
                ErrorCode.FAILED,
                f"The handler of room {room_name!r} failed; the error is logged on the server.",
            )
        if command.presence_events and not options.presence_events:
            self._rules.unsubscribed(room_name)
            return self._error(command.id, ErrorCode.REFUSED, f"Presence events are not allowed in {room_name!r}.")
        keeps = hub._keeps_history(room_name)
        since = command.since if keeps else None
        info = options.presence if options.presence is not None else self.info
        self._set_diverted(room_name, [])
        try:
            join = hub.join(
                room_name, self.websocket, presence=info, presence_events=command.presence_events, since=since
            )
            member = await join.__aenter__()
        except Exception as exc:
            self._undivert(room_name)
            self._rules.unsubscribed(room_name)
            logger.exception("Could not subscribe %r to room %r", self, room_name)
            reason = str(exc) if isinstance(exc, HubError) else "the error is logged on the server"
            return self._error(command.id, ErrorCode.FAILED, f"Could not subscribe to {room_name!r}: {reason}")
        except BaseException:
            self._undivert(room_name)
            raise
        recovered = member.recovered if since is not None else command.since is None
        held = self._undivert(room_name) or []
        body = subscribe_ok(
            room_name,
            since=since,
            recovered=recovered,
            held=[getattr(message, "position", None) for message, _ in held],
            live=member.position,
        )
        subscription = self._joins[room_name] = _Subscription(join, room, options)
        _metrics.current.subscription_opened()
        self._ok(command.id, body)
        if held:
            _metrics.current.channel_pushed(len(held))
        for message, size in held:
            member.deliver(message, size)
        if self._lost_during and room_name in self._lost_during:
            self._lost_during.discard(room_name)
            self._take(room_name)
            self._spawn_end(room_name, subscription, UNSUBSCRIBED_HISTORY_LOST, UNSUBSCRIBED_HISTORY_LOST_REASON)
        return None

    def _take(self, room: str) -> _Subscription | None:
        """End the subscription to ``room`` as the client sees it (None: there was none)."""
        subscription = self._joins.pop(room, None)
        if subscription is not None:
            _metrics.current.subscription_closed()
        return subscription

    async def _unsubscribe(self, command: Unsubscribe) -> None:
        subscription = self._take(command.room)
        if subscription is not None:
            try:
                await subscription.join.__aexit__(None, None, None)
            finally:
                self._rules.unsubscribed(command.room)
        leaving = self._leaving.get(command.room) if self._leaving else None
        if leaving is not None:
            await asyncio.wait((leaving,))
        self._ok(command.id, {})

    def _spawn_end(self, room: str, subscription: _Subscription, code: int, reason: str) -> None:
        self._set_diverted(room, None)  # nothing more of this room reaches the client
        _metrics.current.channel_pushed()
        self._push(unsubscribed_frame(room, code, reason))
        task = asyncio.get_running_loop().create_task(self._leave(room, subscription), name="sockjet-channels-leave")
        if self._leaving is None:
            self._leaving = {}
        self._leaving[room] = task

    async def _end(self, room: str, subscription: _Subscription, code: int, reason: str) -> None:
        self._spawn_end(room, subscription, code, reason)
        assert self._leaving is not None
        await asyncio.wait((self._leaving[room],))

    async def _leave(self, room: str, subscription: _Subscription) -> None:
        try:
            await subscription.join.__aexit__(None, None, None)
        except Exception:
            logger.debug("Leaving room %r for %r failed", room, self, exc_info=True)
        finally:
            self._undivert(room)
            if self._leaving is not None:
                self._leaving.pop(room, None)
            self._rules.unsubscribed(room)

    # -- publish, presence, history ---------------------------------------------------------------------------
    def _subscription(self, command_id: int, room: str) -> _Subscription | None:
        subscription = self._joins.get(room)
        if subscription is None:
            if self._channels.registry.match(room) is None:
                self._fail(no_room(command_id, room))
            else:
                self._fail(not_subscribed(command_id, room))
        return subscription

    async def _publish(self, command: Publish) -> None:
        subscription = self._subscription(command.id, command.room)
        if subscription is None:
            return
        room = subscription.room
        if not room.may_publish(subscription.options):
            return self._error(command.id, ErrorCode.REFUSED, f"Clients may not publish to {command.room!r}.")
        data = command.data
        handler = room.publish_handler
        if handler is not None:
            try:
                value = room.publish_adapter.validate(data)
                params = room.match(command.room) or {}
                data = encode(await handler(self, **room.publish_params(params), data=value))
            except Exception as exc:
                handler_name = f"publish handler of room {command.room!r}"
                log = "The on_publish handler of room pattern %r failed"
                return self._handler_failed(command.id, exc, handler_name, log, room.pattern)
        hub = self._channels.hub
        try:
            position = await hub.publish(command.room, data)
        except PayloadTooLarge:
            return self._error(
                command.id,
                ErrorCode.TOO_LARGE,
                f"The data is too large: this server takes at most {hub.max_payload} bytes per message.",
            )
        except (HubError, TypeError) as exc:
            logger.warning("Could not publish to room %r: %s", command.room, exc)
            return self._error(command.id, ErrorCode.FAILED, f"Could not publish to {command.room!r}: {exc}")
        self._ok(command.id, {"position": token(position)})
        return None

    async def _presence(self, command: PresenceQuery) -> None:
        subscription = self._subscription(command.id, command.room)
        if subscription is None:
            return
        if not subscription.options.presence_events:
            return self._error(command.id, ErrorCode.REFUSED, f"Presence is not visible in {command.room!r}.")
        try:
            presence = await self._channels.hub.presence(command.room)
        except HubError as exc:
            return self._error(command.id, ErrorCode.FAILED, f"Could not read the presence of {command.room!r}: {exc}")
        self._ok(command.id, {"presence": presence})
        return None

    async def _history(self, command: HistoryQuery) -> None:
        if self._subscription(command.id, command.room) is None:
            return
        hub = self._channels.hub
        if not hub._keeps_history(command.room):
            self._ok(command.id, {"position": None, "recovered": command.since is None, "messages": []})
            return
        try:
            history = await hub.history(command.room, since=command.since, limit=command.limit)
        except HubError as exc:
            return self._error(command.id, ErrorCode.FAILED, f"Could not read the history of {command.room!r}: {exc}")
        messages = []
        for publication in history.messages:
            payload = publication.payload
            if isinstance(payload, bytes):
                messages.append({"position": str(publication.position), "bytes": base64.b64encode(payload).decode()})
            else:
                messages.append({"position": str(publication.position), "data": publication.data})
        self._ok(command.id, {"position": token(history.top), "recovered": history.recovered, "messages": messages})
        return None

    # -- calls ----------------------------------------------------------------------------------------------
    async def _call(self, command: Call) -> None:
        method = self._channels.registry.methods.get(command.method)
        if method is None:
            return self._error(command.id, ErrorCode.NOT_FOUND, f"No method named {command.method!r}.")
        try:
            result = await method.call(self, command.data)
            frame = ok_frame(command.id, {"data": encode(result)})
        except Exception as exc:
            log = "The method %r failed"
            return self._handler_failed(command.id, exc, f"method {command.method!r}", log, command.method)
        self._reply(command.id, frame)
        return None


__all__ = ["ChannelWebSocket", "Connection"]
