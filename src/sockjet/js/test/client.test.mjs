// The client's state machine against a fake WebSocket, with node's mock timers: no browser.
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { Client, SockjetError } from "../sockjet.js";
import { FakeWebSocket, settle } from "./fake-websocket.mjs";

const offered = (token) => ["sockjet.v1", `sockjet.token.${Buffer.from(token).toString("base64url")}`];

beforeEach(() => {
  FakeWebSocket.reset();
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
});
afterEach(() => mock.timers.reset());

function makeClient(options = {}) {
  const tokens = [];
  const client = new Client("ws://test/ws", {
    WebSocket: FakeWebSocket,
    getToken: async () => {
      tokens.push(`t${tokens.length + 1}`);
      return tokens.at(-1);
    },
    ...options,
  });
  const states = [];
  client.on("state", (state) => states.push(state));
  return { client, tokens, states };
}

async function connected(client) {
  client.connect();
  await settle();
  const ws = FakeWebSocket.instances.at(-1);
  ws.accept();
  return ws;
}

function collect(sub) {
  const seen = { messages: [], subscribed: [], resync: 0, errors: [], presence: [] };
  sub.on("message", (data, meta) => seen.messages.push([data, meta.position]));
  sub.on("subscribed", (info) => seen.subscribed.push(info));
  sub.on("resync", () => seen.resync++);
  sub.on("error", (error) => seen.errors.push(error));
  sub.on("presence", (members) => seen.presence.push(members));
  return seen;
}

test("connect awaits getToken, offers the token as a subprotocol, and reports its states", async () => {
  const { client, states } = makeClient();
  assert.equal(client.state, "closed");
  const ws = await connected(client);
  assert.equal(ws.url, "ws://test/ws");
  assert.deepEqual(ws.protocols, offered("t1"));
  assert.equal(client.state, "connected");
  assert.equal(client.connection, "c1");
  client.close();
  assert.deepEqual(states, ["connecting", "connected", "closed"]);
  assert.equal(ws.closedWith, 1000);
});

test("a subscription is live on connect, delivers once in order, and resumes from its position", async () => {
  const { client, tokens } = makeClient();
  const sub = client.subscribe("chat:1", { params: { a: 1 } });
  const seen = collect(sub);
  let ws = await connected(client);
  const first = ws.reply("subscribe", { room: "chat:1", position: "e.3", recovered: false, missed: 0 });
  assert.deepEqual(first, { id: first.id, op: "subscribe", room: "chat:1", params: { a: 1 } });
  assert.deepEqual(seen.subscribed, [{ position: "e.3", recovered: false, missed: 0, wasRecovering: false }]);
  for (const offset of [4, 5, 4, 3]) ws.push({ op: "message", room: "chat:1", position: `e.${offset}`, data: offset });
  assert.deepEqual(seen.messages, [[4, "e.4"], [5, "e.5"]]);

  ws.drop(1006);
  assert.equal(client.state, "reconnecting");
  mock.timers.tick(1000);
  await settle();
  assert.equal(tokens.length, 2, "getToken before every connect");
  ws = FakeWebSocket.instances.at(-1);
  assert.deepEqual(ws.protocols, offered("t2"));
  ws.accept();
  const again = ws.sent.at(-1);
  assert.equal(again.since, "e.5", "resubscribed from the last position");
  ws.reply("subscribe", { room: "chat:1", position: "e.8", recovered: true, missed: 3 });
  for (const offset of [5, 6, 7, 8, 8]) ws.push({ op: "message", room: "chat:1", position: `e.${offset}`, data: offset });
  assert.deepEqual(seen.messages.map(([data]) => data), [4, 5, 6, 7, 8]);
  assert.deepEqual(seen.subscribed[1], { position: "e.8", recovered: true, missed: 3, wasRecovering: true });
  assert.equal(seen.resync, 0);
  assert.equal(sub.position, "e.8");
  client.close();
});

test("a resubscription that could not recover says resync and resumes from the room's position", async () => {
  const { client } = makeClient();
  const seen = collect(client.subscribe("r"));
  let ws = await connected(client);
  ws.reply("subscribe", { room: "r", position: "e.2", recovered: false, missed: 0 });
  ws.drop(1012);
  mock.timers.tick(1000);
  await settle();
  ws = FakeWebSocket.instances.at(-1);
  ws.accept();
  ws.reply("subscribe", { room: "r", position: "f.9", recovered: false, missed: 0 });
  assert.equal(seen.resync, 1);
  assert.equal(seen.subscribed[1].wasRecovering, true);
  ws.push({ op: "message", room: "r", position: "f.9", data: "old" });
  ws.push({ op: "message", room: "r", position: "f.10", data: "new" });
  assert.deepEqual(seen.messages, [["new", "f.10"]]);
  client.close();
});

test("history lost for one room: unsubscribed push, resubscribed at once, then resync", async () => {
  const { client } = makeClient();
  const seen = collect(client.subscribe("r"));
  const ws = await connected(client);
  ws.reply("subscribe", { room: "r", position: "e.4", recovered: false, missed: 0 });
  ws.push({ op: "unsubscribed", room: "r", code: 3410, reason: "history lost" });
  assert.equal(ws.sent.at(-1).since, "e.4");
  ws.reply("subscribe", { room: "r", position: "g.1", recovered: false, missed: 0 });
  assert.equal(seen.resync, 1);
  ws.push({ op: "unsubscribed", room: "r", code: 4403, reason: "revoked" });
  assert.equal(seen.errors.length, 1);
  assert.equal(seen.errors[0].code, 4403);
  assert.equal(seen.errors[0].message, "revoked");
  client.close();
});

test("a refused subscribe is an error event carrying the code, and is not retried", async () => {
  const { client } = makeClient();
  const sub = client.subscribe("secret");
  const seen = collect(sub);
  const ws = await connected(client);
  const publish = sub.publish("x");
  ws.reply("subscribe", null, { code: 403, message: "not yours" });
  assert.equal(seen.errors[0].code, 403);
  assert.ok(seen.errors[0] instanceof SockjetError);
  await assert.rejects(publish, { code: 403, message: "not yours" });
  assert.equal(sub.state, "unsubscribed");
  ws.drop(1006);
  mock.timers.tick(1000);
  await settle();
  FakeWebSocket.instances.at(-1).accept();
  assert.ok(!FakeWebSocket.instances.at(-1).sent.some((f) => f.op === "subscribe"));
  client.close();
});

test("publish and call resolve with their reply; errors reject with the protocol's code", async () => {
  const { client } = makeClient();
  const sub = client.subscribe("r");
  const ws = await connected(client);
  ws.reply("subscribe", { room: "r", position: null, recovered: false, missed: 0 });
  const published = sub.publish({ text: "hi" });
  assert.deepEqual(ws.sent.at(-1).data, { text: "hi" });
  ws.reply("publish", { position: "e.1" });
  assert.equal(await published, "e.1");
  const called = client.call("add", { a: 1, b: 2 });
  ws.reply("call", { data: 3 });
  assert.equal(await called, 3);
  const refused = client.call("add", { a: "x" });
  ws.reply("call", null, { code: 422, message: "data failed validation", details: [{ loc: ["a"] }] });
  await assert.rejects(refused, (error) => error.code === 422 && error.details[0].loc[0] === "a");
  client.close();
});

test("publishes while disconnected wait in order, up to maxQueue, each with its timeout", async () => {
  const { client } = makeClient({ maxQueue: 3 });
  const sub = client.subscribe("r");
  let ws = await connected(client);
  ws.reply("subscribe", { room: "r", position: "e.0", recovered: false, missed: 0 });
  ws.drop(1006);
  const results = [];
  const queued = [1, 2, 3, 4].map((n) =>
    sub.publish(n, { timeout: n === 2 ? 500 : 10000 }).then(
      (position) => results.push([n, position]),
      (error) => results.push([n, error.code]),
    ),
  );
  await settle();
  assert.deepEqual(results, [[4, 429]], "past the bound: rejected at once, never dropped");
  mock.timers.tick(600);
  await settle();
  assert.deepEqual(results.at(-1), [2, 408], "past its own timeout while queued");
  mock.timers.tick(400);
  await settle();
  ws = FakeWebSocket.instances.at(-1);
  ws.accept();
  assert.ok(!ws.sent.some((f) => f.op === "publish"), "publishes wait for the room's subscription");
  ws.reply("subscribe", { room: "r", position: "e.0", recovered: true, missed: 0 });
  const publishes = ws.sent.filter((f) => f.op === "publish");
  assert.deepEqual(publishes.map((f) => f.data), [1, 3], "in order");
  for (const frame of publishes) ws.push({ id: frame.id, ok: { position: `e.${frame.data}` } });
  await Promise.all(queued);
  assert.deepEqual(results.slice(2), [[1, "e.1"], [3, "e.3"]]);
  client.close();
});

test("a command in flight when the link drops is rejected with 503, not resent", async () => {
  const { client } = makeClient();
  const ws = await connected(client);
  const call = client.call("slow", {});
  ws.drop(1006);
  await assert.rejects(call, { code: 503 });
  client.close();
});

test("close() rejects what is queued with 499; a closed client refuses new work", async () => {
  const { client } = makeClient();
  const sub = client.subscribe("r");
  client.connect();
  const queued = sub.publish("x");
  client.close();
  await assert.rejects(queued, { code: 499 });
  await assert.rejects(client.call("m"), { code: 499 });
});

test("an expired token (4001) asks getToken again: at once the first time, then with backoff", async () => {
  const { client, tokens } = makeClient();
  let ws = await connected(client);
  ws.drop(4001, "token expired");
  await settle();
  assert.equal(tokens.length, 2, "a fresh token at once, no backoff");
  ws = FakeWebSocket.instances.at(-1);
  assert.deepEqual(ws.protocols, offered("t2"));
  ws.drop(4001, "token expired");
  await settle();
  assert.equal(tokens.length, 2, "refused again: no loop, the next try waits");
  assert.equal(client.state, "reconnecting");
  mock.timers.tick(1000);
  await settle();
  assert.equal(tokens.length, 3);
  ws = FakeWebSocket.instances.at(-1);
  ws.accept();
  assert.equal(client.state, "connected");
  ws.drop(4001, "token expired");
  await settle();
  assert.equal(tokens.length, 4, "a later expiry is a first time again");
  client.close();
});

test("authentication refused (4003) stops and says why; 4001 without getToken stops too", async () => {
  const { client, tokens, states } = makeClient();
  const ws = await connected(client);
  ws.drop(4003, "authentication refused");
  mock.timers.tick(30000);
  await settle();
  assert.equal(client.state, "closed");
  assert.equal(client.closeCode, 4003);
  assert.equal(client.closeReason, "authentication refused");
  assert.equal(tokens.length, 1, "retrying the same credentials would loop");
  assert.equal(states.at(-1), "closed");

  const fixed = new Client("ws://test/ws", { WebSocket: FakeWebSocket, token: "static" });
  fixed.connect();
  await settle();
  assert.deepEqual(FakeWebSocket.instances.at(-1).protocols, offered("static"));
  FakeWebSocket.instances.at(-1).drop(4001, "token expired");
  assert.equal(fixed.state, "closed");
  assert.equal(fixed.closeCode, 4001);
});

test("terminal close codes stop reconnecting; others back off and retry", async () => {
  for (const [code, stops] of [[1000, true], [1008, true], [4002, true], [1001, false], [1012, false], [1013, false], [4500, false]]) {
    FakeWebSocket.reset();
    const { client } = makeClient();
    const ws = await connected(client);
    let detail;
    client.on("state", (state, info) => (detail = info));
    ws.drop(code, "why");
    mock.timers.tick(20000);
    await settle();
    assert.equal(client.state, stops ? "closed" : "reconnecting", String(code));
    assert.equal(FakeWebSocket.instances.length, stops ? 1 : 2, String(code));
    if (stops) assert.deepEqual(detail, { code, reason: "why" });
    client.close();
  }
});

test("backoff grows while attempts fail and resets after a connection that lived", async () => {
  const { client } = makeClient({ WebSocket: FakeWebSocket });
  const random = mock.method(Math, "random", () => 0.999);
  try {
    let ws = await connected(client);
    const delays = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      ws.drop(1006);
      const before = FakeWebSocket.instances.length;
      let waited = 0;
      while (FakeWebSocket.instances.length === before) {
        mock.timers.tick(100);
        waited += 100;
        await settle();
      }
      delays.push(waited);
      ws = FakeWebSocket.instances.at(-1);
    }
    assert.deepEqual(delays, [1000, 1500, 2500, 4500]);
    ws.accept();
    mock.timers.tick(6000);
    ws.drop(1006);
    mock.timers.tick(999);
    await settle();
    const count = FakeWebSocket.instances.length;
    mock.timers.tick(1);
    await settle();
    assert.equal(FakeWebSocket.instances.length, count + 1, "back to the first window");
  } finally {
    random.mock.restore();
    client.close();
  }
});

test("the server's ping is a deadline: silence past ping + grace replaces the socket", async () => {
  const { client } = makeClient({ pingGrace: 2000 });
  client.connect();
  await settle();
  const ws = FakeWebSocket.instances[0];
  ws.accept({ ping: 10 });
  mock.timers.tick(11000);
  ws.push({ op: "ping" });
  mock.timers.tick(11000);
  assert.equal(client.state, "connected", "a ping keeps it alive");
  mock.timers.tick(1100);
  assert.equal(client.state, "reconnecting");
  assert.equal(ws.readyState, 3, "the silent socket is closed");
  client.close();
});

test("online and a tab becoming visible reconnect at once; a hidden tab waits", async () => {
  const target = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = "visible";
  globalThis.addEventListener = target.addEventListener.bind(target);
  globalThis.removeEventListener = target.removeEventListener.bind(target);
  globalThis.document = doc;
  try {
    const { client } = makeClient({ minDelay: 5000 });
    let ws = await connected(client);
    target.dispatchEvent(new Event("offline"));
    assert.equal(client.state, "reconnecting", "offline: the socket is given up at once");
    assert.equal(ws.readyState, 3);
    target.dispatchEvent(new Event("online"));
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2, "online: at once");
    ws = FakeWebSocket.instances[1];
    ws.accept({ ping: 10 });
    doc.visibilityState = "hidden";
    // A throttled background tab: time passes, its timers do not fire, the socket went silent.
    mock.timers.setTime(Date.now() + 30000);
    doc.dispatchEvent(new Event("visibilitychange"));
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2, "hidden: nothing");
    doc.visibilityState = "visible";
    doc.dispatchEvent(new Event("visibilitychange"));
    await settle();
    assert.equal(FakeWebSocket.instances.length, 3, "visible with a dead socket: at once");
    assert.equal(ws.readyState, 3);
    FakeWebSocket.instances[2].accept({ ping: 10 });
    doc.dispatchEvent(new Event("visibilitychange"));
    await settle();
    assert.equal(FakeWebSocket.instances.length, 3, "visible with a live socket: kept");
    FakeWebSocket.instances[2].drop(1006);
    assert.equal(client.state, "reconnecting");
    doc.dispatchEvent(new Event("visibilitychange"));
    await settle();
    assert.equal(FakeWebSocket.instances.length, 4, "shown while waiting to reconnect: at once");
    client.close();
    target.dispatchEvent(new Event("online"));
    await settle();
    assert.equal(FakeWebSocket.instances.length, 4, "a closed client stops listening");
  } finally {
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
    delete globalThis.document;
  }
});

test("React StrictMode: create, connect, close, recreate, connect leaves exactly one socket", async () => {
  const first = makeClient().client;
  first.connect();
  first.close();
  const second = makeClient().client;
  second.connect();
  second.connect();
  await settle();
  assert.equal(FakeWebSocket.open.length, 1);
  assert.equal(FakeWebSocket.instances.length, 1, "the closed client never opened one");
  assert.equal(first.state, "closed");
  FakeWebSocket.instances[0].accept();
  assert.equal(second.state, "connected");
  second.close();
  assert.equal(FakeWebSocket.open.length, 0);
});

test("StrictMode with a socket already open: the first is closed, one stays", async () => {
  const first = makeClient().client;
  await connected(first);
  first.close();
  const second = makeClient().client;
  await connected(second);
  assert.equal(FakeWebSocket.open.length, 1);
  second.close();
});

test("presence pushes keep the room's members and report joins and leaves", async () => {
  const { client } = makeClient();
  const sub = client.subscribe("r", { presence: true });
  const changes = [];
  sub.on("presence", (members, diff) => changes.push([members, diff]));
  const ws = await connected(client);
  assert.equal(ws.sent.at(-1).presence_events, true);
  ws.reply("subscribe", { room: "r", position: null, recovered: false, missed: 0 });
  ws.push({ op: "presence", room: "r", state: [{ id: "a", info: { user: "ada" } }] });
  ws.push({ op: "presence", room: "r", joins: [{ id: "b", info: { user: "bob" } }], leaves: [] });
  ws.push({ op: "presence", room: "r", leaves: [{ id: "a", info: { user: "ada" } }] });
  assert.deepEqual(changes.map(([members]) => members), [
    { a: { user: "ada" } },
    { a: { user: "ada" }, b: { user: "bob" } },
    { b: { user: "bob" } },
  ]);
  assert.deepEqual(changes[2][1].leaves, [{ id: "a", info: { user: "ada" } }]);
  assert.deepEqual(sub.members, { b: { user: "bob" } });
  const asked = sub.presence();
  ws.reply("presence", { presence: { b: { user: "bob" } } });
  assert.deepEqual(await asked, { b: { user: "bob" } });
  client.close();
});

test("unsubscribe stops events and tells the server; a listener that throws breaks nothing", async () => {
  const { client } = makeClient();
  const sub = client.subscribe("r");
  const seen = [];
  sub.on("message", () => {
    throw new Error("app bug");
  });
  const off = sub.on("message", (data) => seen.push(data));
  const ws = await connected(client);
  ws.reply("subscribe", { room: "r", position: null, recovered: false, missed: 0 });
  const reported = [];
  globalThis.reportError = (error) => reported.push(error.message);
  ws.push({ op: "message", room: "r", position: null, data: 1 });
  delete globalThis.reportError;
  assert.deepEqual(reported, ["app bug"], "reported as browsers report uncaught errors");
  off();
  ws.push({ op: "message", room: "r", position: null, data: 2 });
  assert.deepEqual(seen, [1]);
  const done = sub.unsubscribe();
  assert.deepEqual(ws.sent.at(-1), { id: ws.sent.at(-1).id, op: "unsubscribe", room: "r" });
  ws.reply("unsubscribe", {});
  await done;
  await assert.rejects(sub.publish("late"), { code: 499 });
  const again = client.subscribe("r");
  assert.notEqual(again, sub, "a new subscription after unsubscribe");
  // Unsubscribed before its subscribe reply came: the server is told, the late reply ignored.
  const early = collect(again);
  again.unsubscribe();
  assert.deepEqual(ws.sent.slice(-2).map((f) => f.op), ["subscribe", "unsubscribe"]);
  ws.push({ id: ws.sent.at(-2).id, ok: { room: "r", position: null, recovered: true, missed: 0 } });
  assert.deepEqual(early.subscribed, []);
  client.close();
});

test("a server of another protocol version stops the client", async () => {
  const { client } = makeClient();
  client.connect();
  await settle();
  FakeWebSocket.instances[0].accept({ protocol: 2 });
  assert.equal(client.state, "closed");
  assert.match(client.closeReason, /protocol 2/);
});

test("ping: 0 means the server sends no pings, and the client checks no deadline", async () => {
  const { client } = makeClient();
  client.connect();
  await settle();
  FakeWebSocket.instances[0].accept({ ping: 0 });
  mock.timers.tick(10 * 60 * 1000);
  assert.equal(client.state, "connected");
  client.close();
});

test("bytes published by server code arrive as a Uint8Array; presence kinds pass through", async () => {
  const { client } = makeClient();
  const sub = client.subscribe("r", { presence: "users" });
  const seen = collect(sub);
  const ws = await connected(client);
  assert.equal(ws.sent.at(-1).presence_events, "users");
  ws.reply("subscribe", { room: "r", position: null, recovered: true, missed: 0 });
  ws.push({ op: "message", room: "r", position: null, bytes: Buffer.from([0, 1, 255]).toString("base64") });
  assert.deepEqual([...seen.messages[0][0]], [0, 1, 255]);
  ws.push({ op: "message", room: "elsewhere", position: null, data: "not ours" });
  ws.push({ op: "future-op", room: "r" });
  assert.equal(seen.messages.length, 1, "unknown rooms and pushes are ignored");
  client.close();
});

test("a getToken that throws is an error event and a retry with backoff", async () => {
  let calls = 0;
  const client = new Client("ws://test/ws", {
    WebSocket: FakeWebSocket,
    getToken: async () => {
      if (++calls === 1) throw new Error("auth server down");
      return "ok";
    },
  });
  const errors = [];
  client.on("error", (error) => errors.push([error.code, error.message]));
  client.connect();
  await settle();
  assert.deepEqual(errors, [[0, "getToken failed: auth server down"]]);
  assert.equal(client.state, "reconnecting");
  assert.equal(FakeWebSocket.instances.length, 0);
  mock.timers.tick(1000);
  await settle();
  assert.equal(calls, 2);
  FakeWebSocket.instances[0].accept();
  assert.equal(client.state, "connected");
  FakeWebSocket.instances[0].onmessage({ data: "not json" });
  assert.deepEqual(errors[1], [400, "a frame from the server is not JSON"]);
  assert.equal(client.state, "connected");
  client.close();
});

test("history asks the server; unsubscribing while disconnected rejects the room's queue", async () => {
  const { client } = makeClient();
  const sub = client.subscribe("r");
  const ws = await connected(client);
  ws.reply("subscribe", { room: "r", position: "e.2", recovered: true, missed: 0 });
  const asked = sub.history({ since: "e.0", limit: 2 });
  assert.deepEqual(ws.sent.at(-1), { id: ws.sent.at(-1).id, op: "history", room: "r", since: "e.0", limit: 2 });
  const page = { position: "e.2", recovered: true, messages: [{ position: "e.1", data: 1 }, { position: "e.2", data: 2 }] };
  ws.reply("history", page);
  assert.deepEqual(await asked, page);
  ws.drop(1006);
  const queued = sub.publish("later");
  const sent = ws.sent.length;
  await sub.unsubscribe();
  await assert.rejects(queued, { code: 499, message: "unsubscribed from 'r'" });
  assert.equal(ws.sent.length, sent, "nothing to tell a server we are not connected to");
  await sub.unsubscribe(); // twice: harmless
  client.close();
});
