// Types of sockjet.js, the browser client of sockjet's channel protocol (version 1).

export declare const PROTOCOL: 1;

/** The client's state; "state" events report every change. */
export type State = "connecting" | "connected" | "reconnecting" | "closed";

export interface ClientOptions {
  /** Awaited before every connect and reconnect; its token is offered in Sec-WebSocket-Protocol. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** A fixed token, when there is no getToken. */
  token?: string | null;
  /** Smallest reconnect delay, ms (default 500). */
  minDelay?: number;
  /** Largest reconnect delay, ms (default 20000). */
  maxDelay?: number;
  /** A connection that stayed up this long (ms, default 5000) resets the backoff. */
  stableAfter?: number;
  /** Default time for a command's reply, queued time included, ms (default 10000). */
  timeout?: number;
  /** Commands waiting for a connection, at most (default 100); past it they are rejected with 429. */
  maxQueue?: number;
  /** How long past the server's ping interval silence means a dead link, ms (default 5000). */
  pingGrace?: number;
  /** A WebSocket constructor other than the global one (tests, other runtimes). */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocket;
}

export interface StateDetail {
  /** The connection's id, when connected. */
  connection?: string;
  /** Why the client closed, when closed: the close code and its reason. */
  code?: number;
  reason?: string;
}

export interface Disconnected {
  code: number;
  reason: string;
}

/** Every rejection and "error" event. `code`: the protocol's error code (400, 403, 404, 409, 413,
 * 422, 429, 500), an unsubscribed or close code (3000-4999), or the client's own: 408 no reply
 * in time, 429 queue full, 499 closed or unsubscribed by the app, 503 connection lost before
 * the reply, 0 getToken failed. */
export declare class SockjetError extends Error {
  readonly name: "SockjetError";
  readonly code: number;
  readonly details?: unknown;
  constructor(code: number, message: string, details?: unknown);
}

export interface CallOptions {
  /** ms; default: the client's `timeout`. */
  timeout?: number;
}

export interface SubscribeOptions {
  /** Sent to the room's handler on every (re)subscribe. */
  params?: Record<string, unknown>;
  /** Ask for the room's presence: "presence" events with its members (true or "connections":
   * every connection; "users": one entry per user). */
  presence?: boolean | "users" | "connections";
}

export declare class Client {
  constructor(url: string, options?: ClientOptions);
  readonly url: string;
  readonly state: State;
  /** The server's id of this connection, once connected. */
  readonly connection: string | null;
  /** After a terminal close: its code and why. */
  readonly closeCode: number | null;
  readonly closeReason: string | null;
  connect(): void;
  close(): void;
  subscribe<T = unknown, I = unknown>(room: string, options?: SubscribeOptions): Subscription<T, I>;
  call<R = unknown>(method: string, data?: unknown, options?: CallOptions): Promise<R>;
  on(event: "state", listener: (state: State, detail: StateDetail) => void): () => void;
  on(event: "disconnected", listener: (detail: Disconnected) => void): () => void;
  on(event: "error", listener: (error: SockjetError) => void): () => void;
  off(event: string, listener: (...args: any[]) => void): void;
}

export interface MessageMeta {
  /** The message's position in its room ("<epoch>.<offset>"), null without history. */
  position: string | null;
  room: string;
}

export interface Subscribed {
  /** The room's latest position when the subscription went live. */
  position: string | null;
  /** Whether everything after the last position was replayed (it follows as "message" events). */
  recovered: boolean;
  /** How many were replayed. */
  missed: number;
  /** Whether this subscribe resumed from a position (a resubscription). */
  wasRecovering: boolean;
}

export interface PresenceEntry<I = unknown> {
  id: string;
  info: I;
}

/** The room's members: connection id -> presence info. */
export type Members<I = unknown> = Record<string, I>;

export interface PresenceDiff<I = unknown> {
  joins: PresenceEntry<I>[];
  leaves: PresenceEntry<I>[];
}

export interface HistoryOptions extends CallOptions {
  since?: string;
  limit?: number;
}

export interface History<T = unknown> {
  position: string | null;
  recovered: boolean;
  messages: { position: string | null; data: T }[];
}

export declare class Subscription<T = unknown, I = unknown> {
  readonly client: Client;
  readonly room: string;
  readonly state: "subscribing" | "subscribed" | "unsubscribed";
  /** The last position delivered (or the room's, after a subscribe that did not recover). */
  readonly position: string | null;
  /** The room's members as the presence events left them. */
  readonly members: Members<I>;
  publish(data: T, options?: CallOptions): Promise<string | null>;
  presence(options?: CallOptions): Promise<Members<I>>;
  history(options?: HistoryOptions): Promise<History<T>>;
  unsubscribe(): Promise<void>;
  on(event: "message", listener: (data: T, meta: MessageMeta) => void): () => void;
  on(event: "subscribed", listener: (info: Subscribed) => void): () => void;
  on(event: "resync", listener: (info: { position: string | null }) => void): () => void;
  on(event: "presence", listener: (members: Members<I>, diff: PresenceDiff<I>) => void): () => void;
  on(event: "error", listener: (error: SockjetError) => void): () => void;
  off(event: string, listener: (...args: any[]) => void): void;
}

// The pure rules, exported for tests and for other clients to reuse.
export declare function backoff(attempt: number, min?: number, max?: number, random?: () => number): number;
export declare function parsePosition(token: unknown): [epoch: string, offset: string] | null;
export declare function isNewer(position: string | null | undefined, cursor: string | null | undefined): boolean;
export declare function applyPresence<I>(
  members: Members<I>,
  push: { state?: PresenceEntry<I>[]; joins?: PresenceEntry<I>[]; leaves?: PresenceEntry<I>[] },
): { members: Members<I> } & PresenceDiff<I>;
export declare function closeAction(code: number): "reconnect" | "token" | "stop";
export declare function subprotocols(token?: string | null): string[];
export declare class Queue<T = unknown> {
  constructor(max: number);
  readonly max: number;
  items: T[];
  add(item: T): boolean;
  remove(item: T): boolean;
  take(ready: (item: T) => boolean): T[];
}
