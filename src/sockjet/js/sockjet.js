// sockjet.js: the browser client of sockjet's channel protocol, version 1 (docs/protocol.md).
// One dependency-free ES module: import it as it is, no build step.
//
// What it guarantees (docs/client-js.md says more): reconnects by itself with jittered
// exponential backoff; asks getToken() before every connect; resubscribes every room from its
// last position and delivers each message once, in order; treats the server's ping as a
// liveness deadline; queues publishes made while disconnected (bounded, each with a timeout,
// rejected, never dropped); stops on a terminal close code and says why.

export const PROTOCOL = 1;

// ---------------------------------------------------------------------------------------------
// The pure rules: no socket, no timer. Exported so that tests drive them directly.

/** Reconnect delay in ms before attempt `attempt` (0, 1, 2, ...): full jitter over an
 * exponential window above a floor, so a crowd of clients spreads over the window instead of
 * coming back together: uniform in [min, min + min(max, min * 2^attempt)], capped at max. */
export function backoff(attempt, min = 500, max = 20000, random = Math.random) {
  const window = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.min(max, min + random() * window);
}

/** A position token "<epoch>.<offset>" as [epoch, offset digits], or null for anything else. */
export function parsePosition(token) {
  const match = typeof token === "string" && /^([A-Za-z0-9_-]{1,64})\.(0|[1-9][0-9]*)$/.exec(token);
  return match ? [match[1], match[2]] : null;
}

/** Whether a message at `position` comes after `cursor` (the last one delivered) and is to be
 * delivered. Offsets are compared as digit strings, exact beyond 2^53. A message without a
 * position (a room without history), or a first message, is always new; one of another epoch
 * starts a new life of the room's stream. */
export function isNewer(position, cursor) {
  const next = parsePosition(position);
  const last = parsePosition(cursor);
  if (!next || !last || next[0] !== last[0]) return true;
  const [a, b] = [next[1], last[1]];
  return a.length !== b.length ? a.length > b.length : a > b;
}

/** The members after a presence push: `state` replaces them, then `leaves` are removed and
 * `joins` added, in that order (applying a push twice gives the same members). Members are
 * {connectionId: info}, as the presence reply gives them. */
export function applyPresence(members, push) {
  const next = push.state ? {} : { ...members };
  const joins = [];
  const leaves = [];
  for (const { id, info } of push.state || []) next[id] = info;
  for (const entry of push.leaves || []) {
    if (entry.id in next) leaves.push(entry);
    delete next[entry.id];
  }
  for (const entry of push.joins || []) {
    if (!(entry.id in next)) joins.push(entry);
    next[entry.id] = entry.info;
  }
  return { members: next, joins, leaves };
}

/** What a close code means to a client, as docs/protocol.md's table says: "reconnect" (after
 * backoff), "token" (4001, token expired: ask getToken for a new one and reconnect with it) or
 * "stop" (do not reconnect without new credentials or a fix: 1000, 1002, 1003, 1007, 1008,
 * 1009, 4000-4499). Any other code reconnects. */
export function closeAction(code) {
  if (code === 4001) return "token";
  if ([1000, 1002, 1003, 1007, 1008, 1009].includes(code) || (code >= 4000 && code < 4500)) return "stop";
  return "reconnect";
}

/** The subprotocols offered: the protocol's version, and the token if there is one, as
 * base64url of its UTF-8 bytes without padding. A header keeps the token out of URLs and
 * access logs. */
export function subprotocols(token) {
  if (!token) return ["sockjet.v1"];
  const bytes = new TextEncoder().encode(token);
  const b64 = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return ["sockjet.v1", `sockjet.token.${b64}`];
}

/** A bounded queue of commands waiting for a connection (or for their room's subscription).
 * `add` refuses past `max`; `take(ready)` removes and returns, in order, the entries `ready`
 * accepts, leaving the others in their order. */
export class Queue {
  constructor(max) {
    this.max = max;
    this.items = [];
  }
  add(item) {
    if (this.items.length >= this.max) return false;
    this.items.push(item);
    return true;
  }
  remove(item) {
    const index = this.items.indexOf(item);
    if (index >= 0) this.items.splice(index, 1);
    return index >= 0;
  }
  take(ready) {
    const taken = this.items.filter(ready);
    this.items = this.items.filter((item) => !taken.includes(item));
    return taken;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors and events.

/** Every rejection and "error" event: `code` is the protocol's error code (400, 403, 404, 409,
 * 413, 422, 429, 500), a close code (1000-4999), or one of the client's own: 408 no reply in
 * time, 429 the queue is full (maxQueue), 499 closed by the app, 503 the connection was lost
 * before the reply (the command may or may not have been applied). */
export class SockjetError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = "SockjetError";
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

class Emitter {
  constructor() {
    this._listeners = {};
  }
  /** Listen to `event`; returns a function that stops listening. */
  on(event, listener) {
    (this._listeners[event] ||= []).push(listener);
    return () => this.off(event, listener);
  }
  off(event, listener) {
    const list = this._listeners[event] || [];
    if (list.includes(listener)) list.splice(list.indexOf(listener), 1);
  }
  _emit(event, ...args) {
    for (const listener of [...(this._listeners[event] || [])]) {
      try {
        listener(...args);
      } catch (error) {
        // An app's listener that throws must not break the client: report it, carry on.
        (globalThis.reportError || console.error)(error);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The client: one state machine, "connecting" -> "connected" -> "reconnecting" -> ... "closed".

const DEFAULTS = {
  minDelay: 500,
  maxDelay: 20000,
  stableAfter: 5000,
  timeout: 10000,
  maxQueue: 100,
  pingGrace: 5000,
};

export class Client extends Emitter {
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = { ...DEFAULTS, ...options };
    this.state = "closed";
    this.connection = null;
    this.closeCode = null;
    this.closeReason = null;
    this._subs = new Map();
    this._pending = new Map();
    this._queue = new Queue(this.options.maxQueue);
    this._nextId = 1;
    this._gen = 0;
    this._attempt = 0;
    this._ws = null;
    this._timer = null;
    this._deadline = null;
    this._refused = false;
    this._onWake = () => this._wake();
    this._onOffline = () => this._ws && this._drop(1006, "the browser went offline");
  }

  /** Start connecting (and keep reconnecting) until close(). Does nothing if already started. */
  connect() {
    if (this.state !== "closed") return;
    this.closeCode = this.closeReason = null;
    this._refused = false;
    this._attempt = 0;
    listen(this, true);
    this._setState("connecting");
    this._open();
  }

  /** Close for good: no reconnect; queued and unanswered commands are rejected with 499. */
  close() {
    if (this.state === "closed") return;
    this._stop(1000, "closed by the app", 499);
  }

  /** The subscription to `room`, live whenever the client is connected; returns at once.
   * Subscribing to a room already subscribed returns the same subscription. */
  subscribe(room, { params, presence } = {}) {
    let sub = this._subs.get(room);
    if (!sub) {
      sub = new Subscription(this, room, params, presence);
      this._subs.set(room, sub);
      if (this.state === "connected") this._subscribe(sub);
    }
    return sub;
  }

  /** Call the server's RPC `method`; resolves with its reply's data. */
  call(method, data, { timeout } = {}) {
    return this._command({ op: "call", method, data }, null, timeout).then((ok) => ok.data);
  }

  // --- connecting ---

  async _open() {
    const gen = ++this._gen;
    this._waiting = false;
    this._clearTimers();
    this._abandon();
    let token;
    try {
      token = this.options.getToken ? await this.options.getToken() : this.options.token;
    } catch (error) {
      if (gen !== this._gen) return;
      this._emit("error", new SockjetError(0, `getToken failed: ${error && error.message}`, error));
      return this._retry();
    }
    // close() (or a newer attempt) while getToken ran: this attempt opens nothing.
    if (gen !== this._gen || this.state === "closed") return;
    const Socket = this.options.WebSocket || globalThis.WebSocket;
    const ws = (this._ws = new Socket(this.url, subprotocols(token)));
    ws.onmessage = (event) => gen === this._gen && this._receive(event.data);
    ws.onclose = (event) => gen === this._gen && this._lost(event.code, event.reason);
    this._deadline = setTimeout(() => this._drop(1006, "no 'connected' frame in time"), this.options.timeout);
  }

  _retry() {
    this._setState("reconnecting");
    const delay = backoff(this._attempt++, this.options.minDelay, this.options.maxDelay);
    this._waiting = true;
    this._timer = setTimeout(() => this._open(), delay);
  }

  /** The browser came back online or a hidden tab became visible: a client waiting to
   * reconnect tries at once, and a socket silent past its deadline is replaced at once. */
  _wake() {
    if (typeof document !== "undefined" && document.visibilityState === "hidden") return;
    if (this._waiting) this._open();
    else if (this.state === "connected" && this._silent()) this._drop(1006, "no frame from the server in time", true);
  }

  _silent() {
    return this._ping > 0 && Date.now() - this._lastFrame > this._ping + this.options.pingGrace;
  }

  _watch() {
    clearTimeout(this._deadline);
    if (!this._ping) return; // ping: 0, the server sends no pings: no liveness check
    // The check compares times instead of trusting one timer, so a throttled background tab
    // whose timers run late never kills a socket that did receive frames.
    const left = this._lastFrame + this._ping + this.options.pingGrace - Date.now();
    if (left < 0) return this._drop(1006, "no frame from the server in time");
    this._deadline = setTimeout(() => this._watch(), left + 1);
  }

  // --- frames in ---

  _receive(text) {
    this._lastFrame = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return this._emit("error", new SockjetError(400, "a frame from the server is not JSON"));
    }
    if (frame.id !== undefined) return this._reply(frame);
    const sub = this._subs.get(frame.room);
    if (frame.op === "connected") this._connected(frame);
    else if (frame.op === "message" && sub) sub._message(frame);
    else if (frame.op === "presence" && sub) sub._onPresence(frame);
    else if (frame.op === "unsubscribed" && sub) sub._ended(frame);
  }

  _connected(frame) {
    if (frame.protocol !== PROTOCOL) {
      return this._stop(4002, `the server speaks protocol ${frame.protocol}, this client ${PROTOCOL}`);
    }
    this.connection = frame.connection;
    this._ping = frame.ping > 0 ? frame.ping * 1000 : 0;
    this._connectedAt = Date.now();
    this._refused = false;
    this._watch();
    this._setState("connected", { connection: this.connection });
    for (const sub of this._subs.values()) this._subscribe(sub);
    this._flush();
  }

  _reply(frame) {
    const command = this._pending.get(frame.id);
    if (!command) return;
    this._pending.delete(frame.id);
    clearTimeout(command.timer);
    if (frame.error) command.reject(new SockjetError(frame.error.code, frame.error.message, frame.error.details));
    else command.resolve(frame.ok || {});
  }

  // --- frames out ---

  _send(frame) {
    this._ws.send(JSON.stringify(frame));
  }

  /** Send a command now if it can go, else queue it; resolves with the reply's `ok`. */
  _command(body, sub, timeout = this.options.timeout) {
    return new Promise((resolve, reject) => {
      const command = { body, sub, resolve, reject };
      if (this.state === "closed" && this.closeCode !== null) {
        return reject(new SockjetError(499, `the client is closed (${this.closeReason})`));
      }
      command.timer = setTimeout(() => {
        this._queue.remove(command);
        if (this._pending.get(command.id) === command) this._pending.delete(command.id);
        reject(new SockjetError(408, `no reply to '${body.op}' within ${timeout} ms`));
      }, timeout);
      if (this._ready(command)) return this._dispatch(command);
      if (!this._queue.add(command)) {
        clearTimeout(command.timer);
        reject(new SockjetError(429, `the queue is full (maxQueue=${this.options.maxQueue}): not sent`));
      }
    });
  }

  _ready(command) {
    return this.state === "connected" && (!command.sub || command.sub.state === "subscribed");
  }

  _dispatch(command) {
    command.id = this._nextId++;
    this._pending.set(command.id, command);
    this._send({ id: command.id, ...command.body });
  }

  _flush() {
    for (const command of this._queue.take((c) => this._ready(c))) this._dispatch(command);
  }

  _subscribe(sub) {
    const since = sub.position;
    sub.state = "subscribing";
    const body = { op: "subscribe", room: sub.room };
    if (since) body.since = since;
    if (sub.params) body.params = sub.params;
    if (sub.presenceEvents) body.presence_events = sub.presenceEvents;
    const command = {
      body,
      resolve: (ok) => sub._subscribed(ok, since),
      reject: (error) => sub._failed(error),
    };
    command.timer = setTimeout(() => this._drop(1006, `no reply to subscribe '${sub.room}' in time`), this.options.timeout);
    this._dispatch(command);
  }

  // --- losing the connection ---

  /** Give up on the current socket (dead link, no reply) and reconnect. */
  _drop(code, reason, now = false) {
    this._gen++;
    this._abandon();
    this._lost(code, reason, now);
  }

  /** Close the current socket, if any, and stop listening to it. */
  _abandon() {
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = null;
      ws.close(1000);
    }
  }

  _lost(code, reason, now = false) {
    this._ws = null;
    this._clearTimers();
    if (this._connectedAt && Date.now() - this._connectedAt >= this.options.stableAfter) this._attempt = 0;
    this._connectedAt = 0;
    this._failPending(503, `the connection was lost (code ${code}) before the reply`);
    for (const sub of this._subs.values()) sub.state = "subscribing";
    const action = closeAction(code);
    if (action === "stop" || (action === "token" && !this.options.getToken)) {
      return this._stop(code, reason || `closed with ${code}`);
    }
    this._emit("disconnected", { code, reason });
    // A token that expired: a new one at once the first time, then with backoff (no loop).
    const first = action === "token" && !this._refused;
    if (action === "token") this._refused = true;
    if (now || first) {
      this._setState("reconnecting");
      return this._open();
    }
    this._retry();
  }

  _stop(code, reason, rejectCode = code) {
    this._gen++;
    this._waiting = false;
    this._abandon();
    this._clearTimers();
    listen(this, false);
    this.closeCode = code;
    this.closeReason = reason;
    const error = new SockjetError(rejectCode, reason);
    this._failPending(rejectCode, reason);
    for (const command of this._queue.take(() => true)) {
      clearTimeout(command.timer);
      command.reject(error);
    }
    for (const sub of this._subs.values()) sub.state = "unsubscribed";
    this._setState("closed", { code, reason });
  }

  _failPending(code, message) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const command of pending) {
      clearTimeout(command.timer);
      if (command.body.op !== "subscribe") command.reject(new SockjetError(code, message));
    }
  }

  _clearTimers() {
    clearTimeout(this._timer);
    clearTimeout(this._deadline);
  }

  _setState(state, detail = {}) {
    if (this.state === state) return;
    this.state = state;
    this._emit("state", state, detail);
  }
}

/** Add or remove a client's browser listeners, where they exist: `online` and `visibilitychange`
 * wake it up; `offline` drops its socket at once (some browsers never report that socket's close,
 * and its frames would otherwise wait for the ping deadline). */
function listen(client, on) {
  const method = on ? "addEventListener" : "removeEventListener";
  if (typeof globalThis[method] === "function") {
    globalThis[method]("online", client._onWake);
    globalThis[method]("offline", client._onOffline);
  }
  if (typeof document !== "undefined") document[method]("visibilitychange", client._onWake);
}

// ---------------------------------------------------------------------------------------------
// A subscription: one room, resubscribed from its last position on every connect.

export class Subscription extends Emitter {
  constructor(client, room, params, presence) {
    super();
    this.client = client;
    this.room = room;
    this.params = params;
    this.presenceEvents = presence || false;
    this.state = "subscribing";
    this.position = null;
    this.members = {};
  }

  /** Publish to the room; resolves with the message's position (null without history).
   * While disconnected it waits in the client's queue. */
  publish(data, { timeout } = {}) {
    return this._command({ op: "publish", room: this.room, data }, timeout).then((ok) => ok.position ?? null);
  }

  /** The room's members now, {connectionId: info}, asked of the server. */
  presence({ timeout } = {}) {
    return this._command({ op: "presence", room: this.room }, timeout).then((ok) => ok.presence);
  }

  /** The room's history after `since` (default: from the start), at most `limit` messages. */
  history({ since, limit, timeout } = {}) {
    return this._command({ op: "history", room: this.room, since, limit }, timeout);
  }

  /** Leave the room: no more events; its queued publishes are rejected with 499. */
  unsubscribe() {
    const client = this.client;
    if (client._subs.get(this.room) !== this) return Promise.resolve();
    client._subs.delete(this.room);
    // Connected, the server has (or is about to have) this subscription: room commands take
    // effect in order, so this unsubscribe also ends one whose subscribe reply is still on its way.
    const live = client.state === "connected";
    this.state = "unsubscribed";
    for (const command of client._queue.take((c) => c.sub === this)) {
      clearTimeout(command.timer);
      command.reject(new SockjetError(499, `unsubscribed from '${this.room}'`));
    }
    if (!live) return Promise.resolve();
    return client._command({ op: "unsubscribe", room: this.room }, null).then(
      () => undefined,
      () => undefined,
    );
  }

  _command(body, timeout) {
    if (this.state === "unsubscribed" && this.client._subs.get(this.room) !== this) {
      return Promise.reject(new SockjetError(499, `unsubscribed from '${this.room}'`));
    }
    return this.client._command(body, this, timeout);
  }

  _subscribed(ok, since) {
    if (this.client._subs.get(this.room) !== this) return;
    const wasRecovering = !!since;
    this.state = "subscribed";
    // Recovered: the missed messages follow and move the position on; otherwise resume from
    // where the room is now.
    if (!(wasRecovering && ok.recovered)) this.position = ok.position ?? null;
    this._emit("subscribed", { position: ok.position ?? null, recovered: !!ok.recovered, missed: ok.missed || 0, wasRecovering });
    if (wasRecovering && !ok.recovered) this._emit("resync", { position: ok.position ?? null });
    this.client._flush();
  }

  _failed(error) {
    this.client._subs.delete(this.room);
    this.state = "unsubscribed";
    for (const command of this.client._queue.take((c) => c.sub === this)) {
      clearTimeout(command.timer);
      command.reject(error);
    }
    this._emit("error", error);
  }

  _message(frame) {
    if (this.state !== "subscribed" || !isNewer(frame.position, this.position)) return;
    if (frame.position) this.position = frame.position;
    // Server code may publish bytes: they come as standard base64 in `bytes`.
    const data = "bytes" in frame ? Uint8Array.from(atob(frame.bytes), (c) => c.charCodeAt(0)) : frame.data;
    this._emit("message", data, { position: frame.position ?? null, room: this.room });
  }

  _onPresence(frame) {
    const { members, joins, leaves } = applyPresence(this.members, frame);
    this.members = members;
    this._emit("presence", members, { joins, leaves });
  }

  _ended(frame) {
    if (frame.code >= 3000 && frame.code < 4000) {
      // 3410, history lost for this room: resubscribe from the last position; the server
      // answers recovered: false and the app hears "resync".
      if (this.client.state === "connected") this.client._subscribe(this);
      return;
    }
    this._failed(new SockjetError(frame.code, frame.reason || `unsubscribed from '${this.room}'`));
  }
}
