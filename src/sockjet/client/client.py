"""The channels client: one WebSocket, many rooms, reconnecting and recovering by itself.

The rules live in pure modules (``state``, ``backoff``, ``closes``, ``cursor``, ``pending``,
``frames``); this one only moves frames between them and the socket:

- one *runner* task per client opens a connection, resubscribes every room from its last
  position, reads frames until the link ends, then asks ``closes.after_close`` what the code
  means: back off and reconnect, ask ``get_token`` for a new token, or stop for good;
- a timer per connection closes a link that sent nothing for ``ping + ping_grace`` seconds;
- commands wait (up to ``command_timeout``) for a connection, then for their reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from sockjet import status
from sockjet.client import frames
from sockjet.client.backoff import Backoff
from sockjet.client.closes import CloseAction, after_close, resubscribes
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
from sockjet.client.events import History, Resync
from sockjet.client.pending import Fate, PendingCommands, fate_on_drop
from sockjet.client.state import ClientEvent, ClientState, next_state
from sockjet.client.subscription import Subscription
from sockjet.exceptions import ConfigurationError
from sockjet.hub.position import Position

logger = logging.getLogger("sockjet.client")

RESUBSCRIBE_RETRY = 1.0
"""Seconds (x 0.5 to 1.5) before a resubscription answered 429 (the server's command rate) is sent again."""

_ABNORMAL = status.WS_1006_ABNORMAL_CLOSURE
"""The code of a link that ended without a close frame, as of every failed attempt before ``connected``."""

TokenProvider = Callable[[], Awaitable[str]]


class _Retry(Exception):
    """A read command whose connection ended: send it again on the next one."""


@dataclass(slots=True)
class _Command:
    op: str
    future: asyncio.Future[dict[str, Any]] | None
    subscription: Subscription | None = None
    since: Position | None = None


class _Attempt(Exception):
    """A connection attempt that did not reach ``connected``: the close code it ended with, and why."""

    def __init__(self, code: int, reason: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.reason = reason


class Client:
    """A sockjet channels client. ``async with Client(url) as client:`` connects (or raises).

    ``token`` is sent with every connection; ``get_token``, when given, is awaited before every
    connection instead (and again after a 4001 token-expired close). Options (keyword-only):
    ``backoff_min``/``backoff_max`` (0.5 s / 20 s) bound the full-jitter reconnect delays,
    ``backoff_reset_after`` (5 s) is how long a connection must live for the delays to start
    again from the shortest, ``ping_grace`` (5 s) is added to the server's ``ping`` before a
    silent link counts as dead, ``command_timeout`` (10 s) bounds every command (waiting for a
    connection included), ``open_timeout`` (10 s) bounds one connection attempt and
    ``max_size`` (1 MiB) the size of a frame from the server.

    Raises ``ConnectError`` (one line: the URL and why) when the first connection fails, and
    ``ClientClosed`` when the server refuses it for good (e.g. 4003 authentication refused).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        get_token: TokenProvider | None = None,
        backoff_min: float = 0.5,
        backoff_max: float = 20.0,
        backoff_reset_after: float = 5.0,
        ping_grace: float = 5.0,
        command_timeout: float = 10.0,
        open_timeout: float = 10.0,
        max_size: int = 2**20,
    ) -> None:
        if token is not None and get_token is not None:
            raise ConfigurationError("Give Client either token= or get_token=, not both.")
        for name, value in (("ping_grace", ping_grace), ("command_timeout", command_timeout)):
            if not value > 0:
                raise ConfigurationError(f"{name} must be > 0 seconds, got {value!r}.")
        if not open_timeout > 0:
            raise ConfigurationError(f"open_timeout must be > 0 seconds, got {open_timeout!r}.")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            # 0 would refuse every frame, the connected one included: a reconnect loop that never says why.
            raise ConfigurationError(f"max_size must be an int >= 1 (bytes), got {max_size!r}.")
        self.url = url
        self.connection_id: str | None = None
        self._token = token
        self._get_token = get_token
        self._backoff = Backoff(backoff_min, backoff_max, reset_after=backoff_reset_after)
        self._ping_grace = ping_grace
        self._command_timeout = command_timeout
        self._open_timeout = open_timeout
        self._max_size = max_size
        self._state = ClientState.CONNECTING
        self._closed: ClientClosed | None = None
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        """Set while commands may be sent (CONNECTED, resubscriptions sent) and once CLOSED."""
        self._pending: PendingCommands[_Command] = PendingCommands()
        self._subscriptions: dict[str, Subscription] = {}
        self._runner: asyncio.Task[None] | None = None
        self._last_frame = 0.0
        self._started = False

    def __repr__(self) -> str:
        return f"<Client {self.url} {self._state.name}>"

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """The rooms this client holds (a copy): resubscribed after every reconnect."""
        return dict(self._subscriptions)

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the first connection; then the client keeps itself connected until ``close()``."""
        if self._started:
            raise RuntimeError("Client.connect() was already called; a client connects once.")
        self._started = True
        try:
            try:
                ws = await self._open()
            except _Attempt as attempt:
                if attempt.code != status.WS_4001_TOKEN_EXPIRED or self._get_token is None:
                    raise
                ws = await self._open()  # the provider's token had expired: once more with a new one
        except _Attempt as attempt:
            self._finish(ClientClosed(attempt.code, attempt.reason), ClientEvent.FAILED)
            if after_close(attempt.code, can_refresh=False) is CloseAction.STOP:
                raise ClientClosed(attempt.code, attempt.reason) from None
            raise ConnectError(str(attempt)) from None
        except BaseException:
            self._finish(ClientClosed(status.WS_1006_ABNORMAL_CLOSURE, "get_token failed"), ClientEvent.FAILED)
            raise
        self._runner = asyncio.create_task(self._run(ws), name=f"sockjet client {self.url}")

    async def close(self) -> None:
        """Close the connection (1000) and end every subscription; idempotent."""
        if self._state is ClientState.CLOSED:
            return
        self._finish(ClientClosed(status.WS_1000_NORMAL_CLOSURE, "closed by the client"), ClientEvent.CLOSE)
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.wait([runner])
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def subscribe(
        self, room: str, *, params: dict[str, Any] | None = None, presence_events: bool | str = False
    ) -> Subscription:
        """Subscribe to ``room`` and wait for the server's answer.

        ``ChannelError`` 403 when the room's handler refused, 404 when no room pattern matches,
        409 when this client is already subscribed to it, 429 too many subscriptions.
        ``presence_events``: True (or ``"connections"``/``"users"``) to get ``PresenceEvent`` s.
        """
        self._check_open()
        if room in self._subscriptions:
            raise ChannelError(status.HTTP_409_CONFLICT, f"Already subscribed to {room!r}.")
        subscription = Subscription(self, room, params=params, presence_events=presence_events)
        self._subscriptions[room] = subscription
        if self._ready.is_set():
            await self._send_subscribe(subscription)
        try:
            await asyncio.wait_for(asyncio.shield(subscription._ready), self._command_timeout)
        except asyncio.TimeoutError:
            self._forget(
                subscription, CommandTimeout(f"No reply to subscribe {room!r} within {self._command_timeout} s.")
            )
            raise CommandTimeout(f"No reply to subscribe {room!r} within {self._command_timeout} s.") from None
        return subscription

    async def call(self, method: str, data: Any = None) -> Any:
        """Call the server's RPC ``method`` with ``data``; its result. ``ChannelError`` 404/422/500."""
        ok = await self._request("call", {"method": method, "data": data})
        return ok.get("data")

    # Commands.

    def _check_open(self) -> None:
        if self._closed is not None:
            raise ClientClosed(self._closed.code, self._closed.reason)

    async def _request(self, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._command_timeout
        while True:
            self._check_open()
            try:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise CommandTimeout(f"No connection for {op} within {self._command_timeout} s.") from None
            self._check_open()
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            command_id = self._pending.add(_Command(op, future))
            await self._send(frames.command(command_id, op, fields))
            try:
                return await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
            except _Retry:
                continue
            except asyncio.TimeoutError:
                self._pending.pop(command_id)
                raise CommandTimeout(f"No reply to {op} within {self._command_timeout} s.") from None

    async def _send(self, text: str) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):  # the runner sees the close, settles what is pending
                await ws.send(text)

    async def _send_subscribe(self, subscription: Subscription) -> None:
        fields: dict[str, Any] = {"room": subscription.room}
        since = subscription.position if subscription._live else None
        if since is not None:
            fields["since"] = str(since)
        if subscription.params is not None:
            fields["params"] = subscription.params
        if subscription.presence_events:
            fields["presence_events"] = subscription.presence_events
        command_id = self._pending.add(_Command("subscribe", None, subscription, since))
        await self._send(frames.command(command_id, "subscribe", fields))

    async def _unsubscribe(self, subscription: Subscription) -> None:
        if self._subscriptions.get(subscription.room) is not subscription:
            return
        del self._subscriptions[subscription.room]
        if self._closed is None and self._ready.is_set():
            loop = asyncio.get_running_loop()
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            command_id = self._pending.add(_Command("unsubscribe", future))
            await self._send(frames.command(command_id, "unsubscribe", {"room": subscription.room}))
            try:
                await asyncio.wait_for(future, self._command_timeout)
            except asyncio.TimeoutError:
                self._pending.pop(command_id)
                raise CommandTimeout(f"No reply to unsubscribe within {self._command_timeout} s.") from None

    def _forget(self, subscription: Subscription, error: BaseException) -> None:
        if self._subscriptions.get(subscription.room) is subscription:
            del self._subscriptions[subscription.room]
        subscription._end(error)

    # Frames from the server.

    def _on_frame(self, frame: frames.ServerFrame | None) -> None:
        if isinstance(frame, frames.MessagePush):
            subscription = self._subscriptions.get(frame.message.room)
            if subscription is not None:
                subscription._offer(frame.message)
        elif isinstance(frame, frames.Reply):
            command = self._pending.pop(frame.id) if frame.id is not None else None
            if command is None:
                if frame.error is not None:
                    logger.warning("sockjet client: the server answered an unknown command: %s", frame.error)
            elif command.subscription is not None:
                self._on_subscribed(command, frame)
            elif command.future is not None and not command.future.done():
                if frame.error is not None:
                    command.future.set_exception(frame.error)
                else:
                    command.future.set_result(frame.ok or {})
        elif isinstance(frame, frames.PresencePush):
            subscription = self._subscriptions.get(frame.event.room)
            if subscription is not None:
                subscription._presence(frame.event)
        elif isinstance(frame, frames.UnsubscribedPush):
            self._on_unsubscribed(frame)
        elif isinstance(frame, frames.Connected):
            raise ProtocolViolation("The server sent a second connected frame.")

    def _on_subscribed(self, command: _Command, reply: frames.Reply) -> None:
        subscription = command.subscription
        assert subscription is not None
        if self._subscriptions.get(subscription.room) is not subscription:
            return  # unsubscribed meanwhile
        if reply.error is not None:
            if reply.error.code == status.HTTP_429_TOO_MANY_REQUESTS and subscription._live:
                self._retry_subscribe(subscription)  # a resubscription storm over the command rate: later
            else:
                self._forget(subscription, reply.error)
            return
        position, recovered, missed = frames.subscribed(reply.ok or {})
        if command.since is None and subscription._live and subscription.position is None and position is not None:
            # Nothing seen yet and the room has a stream now: what came meanwhile may all be retained.
            subscription._fill_top = position
            if subscription._held is None:
                subscription._held = []
                asyncio.ensure_future(self._fill(subscription)).add_done_callback(_ignore)
        elif subscription._cursor.subscribed(command.since, position, recovered, again=subscription._live):
            subscription._put(Resync(subscription.room, subscription.position))
        subscription.recovered, subscription.missed = recovered, missed
        subscription._live = True
        if not subscription._ready.done():
            subscription._ready.set_result(None)

    async def _fill(self, subscription: Subscription) -> None:
        """Recover a subscription that had no position from the room's history: complete from offset 1, or Resync.

        The protocol gives no position for a room never published to, so a client that drops
        before the first message has no ``since``; when the room's history still holds every
        message from the first, they are what it missed. Live messages are held meanwhile.
        """
        try:
            history: History | None = await subscription.history()
        except ClientError:
            history = None
        top, held = subscription._fill_top, subscription._held or []
        subscription._held = None
        if subscription._ended is not None or top is None:
            return
        messages = history.messages if history is not None and history.recovered else ()
        first, last = (messages[0].position, messages[-1].position) if messages else (None, None)
        if first == Position._of(top.epoch, 1) and last is not None and last.epoch == top.epoch and last >= top:
            for message in messages:
                subscription._offer(message)
            subscription.recovered, subscription.missed = True, top.offset
        else:
            subscription._cursor.subscribed(None, top, False, again=True)
            subscription.recovered, subscription.missed = False, 0
            subscription._put(Resync(subscription.room, top))
        for message in held:
            subscription._offer(message)

    def _retry_subscribe(self, subscription: Subscription) -> None:
        """Resubscribe after a short random delay, on this connection (a new one resubscribes anyway)."""
        ws = self._ws

        def again() -> None:
            if self._ws is ws and self._subscriptions.get(subscription.room) is subscription:
                asyncio.ensure_future(self._send_subscribe(subscription)).add_done_callback(_ignore)

        asyncio.get_running_loop().call_later(RESUBSCRIBE_RETRY * (0.5 + random.random()), again)

    def _on_unsubscribed(self, push: frames.UnsubscribedPush) -> None:
        subscription = self._subscriptions.get(push.room)
        if subscription is None:
            return
        if resubscribes(push.code):
            logger.info("sockjet client: %r ended (%s %s): resubscribing", push.room, push.code, push.reason)
            task = asyncio.ensure_future(self._send_subscribe(subscription))
            task.add_done_callback(_ignore)
        else:
            self._forget(subscription, SubscriptionEnded(push.room, push.code, push.reason))

    # Connections.

    async def _open(self) -> ClientConnection:
        """One connection attempt, up to its ``connected`` frame; ``_Attempt`` with the close code if it fails."""
        token = self._token
        if self._get_token is not None:
            token = await self._get_token()
        try:
            ws = await connect(
                self.url,
                subprotocols=[Subprotocol(p) for p in frames.subprotocols(token)],
                open_timeout=self._open_timeout,
                ping_interval=None,  # liveness is the protocol's ping push (docs/protocol.md, Liveness)
                compression=None,  # small JSON frames: deflate would cost memory on both sides for little
                max_size=self._max_size,
                close_timeout=2.0,
            )
        except InvalidURI:
            raise _Attempt(_ABNORMAL, "", f"Cannot connect to {self.url!r}: not a ws:// or wss:// URL.") from None
        except InvalidStatus as error:
            code = error.response.status_code
            raise _Attempt(_ABNORMAL, "", f"Cannot connect to {self.url}: the server answered HTTP {code}.") from None
        except InvalidMessage as error:  # e.g. a plain HTTP/1.0 server: say so, with websockets' reason
            text = f"Cannot connect to {self.url}: no WebSocket handshake in its answer ({error.__cause__ or error})."
            raise _Attempt(_ABNORMAL, "", text) from None
        except (InvalidHandshake, ValueError) as error:
            raise _Attempt(_ABNORMAL, "", f"Cannot connect to {self.url}: {error}") from None
        except asyncio.TimeoutError:
            text = f"Cannot connect to {self.url}: no answer within {self._open_timeout} s."
            raise _Attempt(_ABNORMAL, "", text) from None
        except OSError as error:
            raise _Attempt(_ABNORMAL, "", f"Cannot connect to {self.url}: {error.strerror or error}.") from None
        try:
            raw = await asyncio.wait_for(ws.recv(), self._open_timeout)
            first_frame = frames.parse(raw)
            if not isinstance(first_frame, frames.Connected):
                raise ProtocolViolation(f"The server's first frame is not connected: {raw!r:.200}")
        except ConnectionClosed as closed:
            code, reason = _close_of(closed)
            said = f"{code} {reason}" if reason else str(code)
            raise _Attempt(
                code, reason, f"Cannot connect to {self.url}: the server closed the connection ({said})."
            ) from None
        except asyncio.TimeoutError:
            await ws.close()
            # A channels server always selects sockjet.v1 (docs/protocol.md): say what the silence most likely means.
            hint = " (it selected no sockjet.v1 subprotocol: is it a sockjet channels server?)"
            hint = "" if ws.subprotocol else hint
            raise _Attempt(
                status.WS_1006_ABNORMAL_CLOSURE,
                "",
                f"Cannot connect to {self.url}: no connected frame within {self._open_timeout} s{hint}.",
            ) from None
        except ProtocolViolation as error:
            await ws.close(status.WS_1002_PROTOCOL_ERROR, "protocol violation")
            # Our close, not the server's verdict: not a sockjet server, or a bug; try again later.
            raise _Attempt(_ABNORMAL, "", f"Cannot connect to {self.url}: {error}") from None
        self.connection_id = first_frame.connection
        self._ws = ws
        self._opened(first_frame.ping)
        return ws

    def _opened(self, ping: float) -> None:
        self._transition(ClientEvent.OPENED)
        loop = asyncio.get_running_loop()
        self._last_frame = loop.time()
        if ping > 0:
            self._watch(ping + self._ping_grace)

    def _watch(self, limit: float) -> None:
        """Close the link when nothing arrived for ``limit`` seconds (a half-open TCP connection)."""
        loop = asyncio.get_running_loop()
        ws = self._ws

        def check() -> None:
            if self._ws is not ws or ws is None:
                return
            idle = loop.time() - self._last_frame
            if idle >= limit:
                logger.info("sockjet client: nothing from %s for %.1f s: the link is dead", self.url, idle)
                ws.transport.abort()
            else:
                loop.call_later(limit - idle, check)

        loop.call_later(limit, check)

    async def _run(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        previous = 0  # the code that ended the attempt before: 4001 twice in a row backs off
        while True:
            opened = loop.time()
            code, reason = await self._serve(ws)
            self._dropped()
            lived = loop.time() - opened
            self._backoff.connected(lived)
            if lived >= self._backoff.reset_after:
                previous = 0
            while True:
                action = after_close(code, can_refresh=self._get_token is not None)
                if action is CloseAction.STOP:
                    logger.info("sockjet client: %s closed (%s %s): not reconnecting", self.url, code, reason)
                    self._finish(ClientClosed(code, reason), ClientEvent.FAILED)
                    return
                at_once = action is CloseAction.REFRESH and previous != status.WS_4001_TOKEN_EXPIRED
                delay = 0.0 if at_once else self._backoff.next_delay()
                previous = code
                logger.info("sockjet client: %s closed (%s %s): reconnecting in %.2f s", self.url, code, reason, delay)
                await asyncio.sleep(delay)
                try:
                    ws = await self._open()
                    break
                except _Attempt as attempt:
                    code, reason = attempt.code, attempt.reason
                except Exception as error:  # get_token raised: the provider's problem, retried with backoff
                    logger.warning("sockjet client: get_token failed (%s): retrying", error)
                    code, reason = status.WS_1006_ABNORMAL_CLOSURE, ""
                self._transition(ClientEvent.DROPPED)

    async def _serve(self, ws: ClientConnection) -> tuple[int, str]:
        """Resubscribe, then read frames until the link ends: its close code and reason."""
        loop = asyncio.get_running_loop()
        try:
            sent: set[int] = set()
            while todo := [s for s in self._subscriptions.values() if id(s) not in sent]:
                for subscription in todo:
                    sent.add(id(subscription))
                    await self._send_subscribe(subscription)
            self._ready.set()  # no await since the last check: a later subscribe() sends its own
            async for raw in ws:
                self._last_frame = loop.time()
                self._on_frame(frames.parse(raw))
        except ConnectionClosed:
            pass
        except ProtocolViolation as error:
            logger.warning("sockjet client: %s", error)
            await ws.close(status.WS_1002_PROTOCOL_ERROR, "protocol violation")
            return status.WS_1006_ABNORMAL_CLOSURE, "protocol violation"
        return _close_of_connection(ws)

    def _dropped(self) -> None:
        """The link ended: settle every pending command by its fate (docs in pending.py)."""
        self._ready.clear()
        self._ws = None
        self._transition(ClientEvent.DROPPED)
        for command in self._pending.drain():
            future = command.future
            if future is None or future.done():
                continue
            fate = fate_on_drop(command.op)
            if fate is Fate.RESEND:
                future.set_exception(_Retry())
            elif fate is Fate.FAIL:
                future.set_exception(ConnectionLost(f"The connection dropped before the server answered {command.op}."))
            else:
                future.set_result({})  # unsubscribe: the connection that held the subscription is gone

    def _transition(self, event: ClientEvent) -> None:
        if self._state is ClientState.CLOSED:
            return
        self._state = next_state(self._state, event)

    def _finish(self, closed: ClientClosed, event: ClientEvent) -> None:
        """CLOSED for good: every waiter and subscription learns why."""
        if self._state is ClientState.CLOSED:
            return
        self._state = next_state(self._state, event)
        self._closed = closed
        self._ready.set()
        for command in self._pending.drain():
            if command.future is not None and not command.future.done():
                command.future.set_exception(ClientClosed(closed.code, closed.reason))
        ending: BaseException = StopAsyncIteration() if event is ClientEvent.CLOSE else closed
        for subscription in list(self._subscriptions.values()):
            subscription._end(ending)
        self._subscriptions.clear()


def _close_of(closed: ConnectionClosed) -> tuple[int, str]:
    if closed.rcvd is not None:
        return closed.rcvd.code, closed.rcvd.reason
    return status.WS_1006_ABNORMAL_CLOSURE, ""


def _close_of_connection(ws: ClientConnection) -> tuple[int, str]:
    code = ws.close_code
    return (code if code is not None else status.WS_1006_ABNORMAL_CLOSURE), ws.close_reason or ""


def _ignore(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


__all__ = ["Client", "TokenProvider"]
