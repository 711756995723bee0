// A WebSocket stand-in for node's test runner: records what the client sends and lets a test
// play the server (connected frame, replies, pushes, closes). No network.

export class FakeWebSocket {
  static instances = [];

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.onmessage = null;
    this.onclose = null;
    FakeWebSocket.instances.push(this);
  }

  send(text) {
    if (this.readyState !== 1) throw new Error(`send() on a socket in state ${this.readyState}`);
    this.sent.push(JSON.parse(text));
  }

  close(code) {
    this.readyState = 3;
    this.closedWith = code ?? 1005;
  }

  /** The server: accept and say "connected". */
  accept({ ping = 25, connection = "c1", protocol = 1 } = {}) {
    this.readyState = 1;
    this.push({ op: "connected", connection, ping, protocol });
  }

  /** The server: send one frame. */
  push(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The server: answer the last command with `op` (ok, or error when `error` is given). */
  reply(op, ok = {}, error = null) {
    const command = this.sent.findLast((frame) => frame.op === op);
    this.push(error ? { id: command.id, error } : { id: command.id, ok });
    return command;
  }

  /** The server (or the network) closes the socket. */
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  static get open() {
    return FakeWebSocket.instances.filter((ws) => ws.readyState !== 3);
  }

  static reset() {
    FakeWebSocket.instances = [];
  }
}

/** Let pending promise callbacks (getToken, replies) run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}
