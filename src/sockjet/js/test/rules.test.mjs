// The client's pure rules, without a socket or a timer.
import assert from "node:assert/strict";
import { test } from "node:test";

import { applyPresence, backoff, closeAction, isNewer, parsePosition, Queue, subprotocols } from "../sockjet.js";

test("backoff stays within [0.5 s, 20 s] and its window doubles per attempt", () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const low = backoff(attempt, 500, 20000, () => 0);
    const high = backoff(attempt, 500, 20000, () => 0.999999);
    assert.equal(low, 500);
    assert.ok(high <= 20000, `attempt ${attempt}: ${high}`);
    assert.ok(high >= Math.min(20000, 500 + 500 * 2 ** attempt) - 1, `attempt ${attempt}: ${high}`);
  }
  assert.equal(backoff(0, 500, 20000, () => 1), 1000);
  assert.equal(backoff(3, 500, 20000, () => 1), 4500);
  assert.equal(backoff(10, 500, 20000, () => 1), 20000);
});

test("backoff with Math.random spreads a crowd over the window, none before the floor", () => {
  const delays = Array.from({ length: 2000 }, () => backoff(0));
  assert.ok(delays.every((d) => d >= 500 && d <= 1000));
  // Ten buckets of 50 ms across [500, 1000): each holds roughly a tenth, no burst.
  const buckets = new Array(10).fill(0);
  for (const d of delays) buckets[Math.min(9, Math.floor((d - 500) / 50))]++;
  for (const count of buckets) assert.ok(count > 100 && count < 300, `buckets ${buckets}`);
  const late = Array.from({ length: 2000 }, () => backoff(8));
  assert.ok(Math.max(...late) - Math.min(...late) > 15000, "the 8th attempt spreads over seconds");
});

test("positions parse as epoch and offset digits; anything else is null", () => {
  assert.deepEqual(parsePosition("f3a9.42"), ["f3a9", "42"]);
  assert.deepEqual(parsePosition("e_-1.0"), ["e_-1", "0"]);
  for (const bad of [null, undefined, 42, "", "f3a9", "f3a9.", ".4", "f3a9.042", "f.3.4", "é.1"]) {
    assert.equal(parsePosition(bad), null, String(bad));
  }
});

test("isNewer delivers each offset once, in order, exactly beyond 2^53", () => {
  assert.ok(isNewer("e.1", null), "a first message");
  assert.ok(isNewer(null, "e.5"), "a room without history has no positions");
  assert.ok(isNewer("e.6", "e.5"));
  assert.ok(!isNewer("e.5", "e.5"), "a duplicate");
  assert.ok(!isNewer("e.4", "e.5"), "an old one");
  assert.ok(isNewer("e.10", "e.9"), "compared as numbers, not text");
  assert.ok(!isNewer("e.9", "e.10"));
  assert.ok(isNewer("e.9007199254740993", "e.9007199254740992"), "beyond Number precision");
  assert.ok(isNewer("new.1", "old.77"), "another epoch: a new life of the stream");
});

test("isNewer applied to a replay overlapping live frames keeps each message once", () => {
  let cursor = "e.3";
  const seen = [];
  for (const position of ["e.4", "e.5", "e.4", "e.6", "e.5", "e.7", "e.2"]) {
    if (isNewer(position, cursor)) {
      seen.push(position);
      cursor = position;
    }
  }
  assert.deepEqual(seen, ["e.4", "e.5", "e.6", "e.7"]);
});

test("presence: state replaces, then leaves are removed and joins added, idempotently", () => {
  const ada = { id: "a", info: { user: "ada" } };
  const bob = { id: "b", info: { user: "bob" } };
  const eve = { id: "e", info: { user: "eve" } };
  let result = applyPresence({ stale: {} }, { state: [ada, bob] });
  assert.deepEqual(result.members, { a: { user: "ada" }, b: { user: "bob" } });
  assert.deepEqual(result.joins, []);
  result = applyPresence(result.members, { joins: [eve], leaves: [ada] });
  assert.deepEqual(result.members, { b: { user: "bob" }, e: { user: "eve" } });
  assert.deepEqual(result.joins, [eve]);
  assert.deepEqual(result.leaves, [ada]);
  const again = applyPresence(result.members, { joins: [eve], leaves: [ada] });
  assert.deepEqual(again.members, result.members, "applying a push twice changes nothing");
  assert.deepEqual([again.joins, again.leaves], [[], []], "and reports no change");
  const before = { b: { user: "bob" } };
  applyPresence(before, { joins: [ada] });
  assert.deepEqual(before, { b: { user: "bob" } }, "the old members are not mutated");
});

test("close codes follow docs/protocol.md: reconnect, new token, or stop", () => {
  for (const code of [1001, 1005, 1006, 1010, 1011, 1012, 1013, 1014, 1015, 3000, 3410, 3999, 4500, 4999]) {
    assert.equal(closeAction(code), "reconnect", String(code));
  }
  assert.equal(closeAction(4001), "token");
  for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 4000, 4002, 4003, 4403, 4499]) {
    assert.equal(closeAction(code), "stop", String(code));
  }
});

test("the token travels as a base64url subprotocol, never in the URL", () => {
  assert.deepEqual(subprotocols(null), ["sockjet.v1"]);
  assert.deepEqual(subprotocols(""), ["sockjet.v1"]);
  assert.deepEqual(subprotocols("alice-token"), ["sockjet.v1", "sockjet.token.YWxpY2UtdG9rZW4"], "protocol.md's example");
  const token = "héllo wörld/+?=";
  const offered = subprotocols(token)[1].slice("sockjet.token.".length);
  assert.match(offered, /^[A-Za-z0-9_-]+$/, "no padding, no + or /");
  assert.equal(Buffer.from(offered, "base64url").toString("utf8"), token);
});

test("the queue refuses past its bound and takes ready entries in order", () => {
  const queue = new Queue(3);
  assert.ok(queue.add(1) && queue.add(2) && queue.add(3));
  assert.equal(queue.add(4), false);
  assert.deepEqual(queue.items, [1, 2, 3]);
  assert.ok(queue.remove(2));
  assert.equal(queue.remove(2), false);
  assert.ok(queue.add(6));
  assert.equal(queue.add(7), false, "full again");
  assert.deepEqual(queue.take((n) => n % 2 === 1), [1, 3]);
  assert.deepEqual(queue.items, [6]);
});

test("sockjet.d.ts declares every export of sockjet.js, and nothing else", async () => {
  const { readFile } = await import("node:fs/promises");
  const module = await import("../sockjet.js");
  const types = await readFile(new URL("../sockjet.d.ts", import.meta.url), "utf8");
  const declared = [...types.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual([...new Set(declared)].sort(), Object.keys(module).sort());
});
