// sockjet chat demo: one WebSocket to /ws, JSON frames (see sockjet/demo/protocol.py).
// The online list is the hub's presence of the room: a {type: "presence", state} frame when the
// page joins (or after the server's link to Redis came back), then {joins, leaves} frames, one
// entry per user (several pages with one nick are one user). Every page applies the same frames,
// so every page shows the same list, whatever worker serves it. The "joined"/"left" lines are
// published to the room once per change by the server, so they are in the room's history too.
// History: what a room publishes arrives as {room, position, data}. The page keeps the last
// position of each room and re-joins with it after a drop, so the server replays exactly what
// was missed; a frame at or below the last position is a duplicate and is ignored. When the
// server cannot replay ({type: "history", resync: true}) the page says so and reloads the room.
"use strict";

const DEFAULT_ROOMS = ["lobby", "random", "help"];
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 10000;

const state = {
  nick: null,
  room: "lobby",
  ws: null,
  myId: null,
  myUser: null,
  attempt: 0,
  retryTimer: null,
  online: new Map(), // user -> nick
  history: new Map(), // room -> [{kind, nick, text, mine, offset}]
  positions: new Map(), // room -> {epoch, offset}: the last publication shown
  rooms: [...DEFAULT_ROOMS],
  following: true, // the message list shows its newest line; false once the reader scrolls up
};

const $ = (id) => document.getElementById(id);

function setStatus(kind, text) {
  $("status").dataset.state = kind;
  $("status-text").textContent = text;
  // The Send button stays enabled: pressing Enter while offline must say why nothing was sent.
  $("send").classList.toggle("waiting", kind !== "online");
  // Not connected: the online list is the last one we heard of, greyed and labelled as such.
  $("presence").classList.toggle("stale", kind !== "online");
}

function isOffline() {
  return navigator.onLine === false;
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

// --- connection, with reconnection and exponential backoff ---

function joinFrame(room) {
  const frame = { type: "join", room, nick: state.nick };
  const last = state.positions.get(room);
  if (last) frame.since = `${last.epoch}.${last.offset}`;
  return frame;
}

function connect() {
  if (state.retryTimer) clearTimeout(state.retryTimer);
  state.retryTimer = null;
  if (isOffline()) {
    setOffline();
    return;
  }
  setStatus(state.attempt === 0 ? "connecting" : "reconnecting", state.attempt === 0 ? "Connecting…" : "Reconnecting…");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify(joinFrame(state.room)));
  ws.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(frame);
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    state.myId = null;
    if (event.code === 1008) {
      showError(`The server closed the connection: ${event.reason || "policy violation"}`);
    }
    if (isOffline()) setOffline();
    else scheduleReconnect();
  };
}

function setOffline() {
  setStatus("offline", "Offline — what you type is kept; reconnecting when the network is back");
}

// The browser knows before the socket does: drop it now, and come back as soon as we can.
window.addEventListener("offline", () => {
  if (!state.nick) return;
  const ws = state.ws;
  state.ws = null;
  state.myId = null;
  if (ws) ws.close();
  setOffline();
});
window.addEventListener("online", () => {
  if (!state.nick || state.ws) return;
  state.attempt = 0;
  connect();
});

function scheduleReconnect() {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
  const delay = Math.round(base * (0.75 + Math.random() * 0.5)); // jitter: not every page at once
  state.attempt += 1;
  setStatus("reconnecting", `Reconnecting in ${(delay / 1000).toFixed(1)} s… (attempt ${state.attempt})`);
  state.retryTimer = setTimeout(connect, delay);
}

// --- events from the server ---

function parsePosition(token) {
  const dot = token.lastIndexOf(".");
  return { epoch: token.slice(0, dot), offset: Number(token.slice(dot + 1)) };
}

// A publication of a room that keeps history: shown once, in position order.
function publication(frame) {
  const position = parsePosition(frame.position);
  const last = state.positions.get(frame.room);
  if (last && last.epoch === position.epoch && position.offset <= last.offset) return; // already shown
  state.positions.set(frame.room, position);
  event(frame.data, position.offset, true);
}

function history(frame) {
  // Replace what the room shows with its history, keeping lines that arrived after it.
  const top = frame.top ? parsePosition(frame.top) : null;
  const lines = [];
  for (const message of frame.messages) {
    const line = lineFor(message.data, parsePosition(message.position).offset);
    if (line) lines.push(line);
  }
  const shown = state.history.get(frame.room) || [];
  const last = state.positions.get(frame.room);
  const sameEpoch = top && last && last.epoch === top.epoch;
  for (const line of shown) {
    if (sameEpoch && line.offset !== undefined && line.offset > top.offset) lines.push(line);
  }
  state.history.set(frame.room, lines);
  if (top && !(sameEpoch && last.offset > top.offset)) state.positions.set(frame.room, top);
  if (!top) state.positions.delete(frame.room);
  if (frame.resync) {
    showNotice("Some messages could not be recovered after the connection dropped: the room was reloaded.");
  }
  if (frame.room === state.room) renderMessages();
}

function lineFor(data, offset) {
  if (data.type === "message") {
    return { kind: "message", nick: data.nick, text: data.text, mine: data.nick === state.nick, offset };
  }
  if (data.type === "presence" && data.event === "join") return { kind: "system", text: `${data.nick} joined`, offset };
  if (data.type === "presence" && data.event === "leave") return { kind: "system", text: `${data.nick} left`, offset };
  return null;
}

// The hub's presence frames (not publications: no position, no "event").
function presence(frame) {
  if (frame.room !== state.room) return;
  const key = (entry) => (entry.info.user !== undefined ? entry.info.user : `#${entry.id}`);
  if (frame.state) {
    state.online = new Map(frame.state.map((entry) => [key(entry), entry.info.nick]));
  } else {
    for (const entry of frame.leaves) state.online.delete(key(entry));
    for (const entry of frame.joins) state.online.set(key(entry), entry.info.nick);
  }
  renderOnline();
}

function handle(frame) {
  if (frame.type === "presence" && frame.event === undefined) {
    presence(frame);
    return;
  }
  if (frame.position !== undefined) {
    publication(frame);
    return;
  }
  if (frame.type === "history") {
    history(frame);
    return;
  }
  event(frame, undefined, false);
}

// One event: from a room with history (offset set, lines the same on every page) or without.
function event(frame, offset, streamed) {
  switch (frame.type) {
    case "welcome":
      state.attempt = 0;
      state.myId = frame.id;
      state.myUser = frame.user;
      state.room = frame.room;
      const hubNames = { redis: "Redis", nats: "NATS" };
      setStatus("online", hubNames[frame.hub] ? `Online · worker ${frame.worker} · ${hubNames[frame.hub]} hub` : "Online");
      hideError();
      renderAll();
      break;
    case "presence": // a line the server published: a user's first page joined, or its last one left
      addLine(frame.room, { kind: "system", text: `${frame.nick} ${frame.event === "join" ? "joined" : "left"}`, offset });
      break;
    case "message":
      addLine(frame.room, {
        kind: "message",
        nick: frame.nick,
        text: frame.text,
        mine: frame.id === state.myId || (streamed && frame.nick === state.nick),
        offset,
      });
      break;
    case "error":
      showError(frame.error);
      break;
  }
}

// --- rendering (textContent only: user input never becomes HTML) ---

function addLine(room, line) {
  if (!state.history.has(room)) state.history.set(room, []);
  const lines = state.history.get(room);
  lines.push(line);
  if (lines.length > 500) lines.shift();
  if (room === state.room) renderMessages();
}

function renderAll() {
  renderRooms();
  renderOnline();
  renderMessages();
  $("me").textContent = state.nick;
  $("room-title").textContent = `# ${state.room}`;
}

function renderRooms() {
  const list = $("rooms");
  list.replaceChildren();
  for (const room of state.rooms) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `# ${room}`;
    button.dataset.room = room;
    button.setAttribute("aria-current", String(room === state.room));
    button.addEventListener("click", () => switchRoom(room));
    item.append(button);
    list.append(item);
  }
}

function renderOnline() {
  const list = $("online");
  list.replaceChildren();
  const entries = [...state.online.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  for (const [user, nick] of entries) {
    const item = document.createElement("li");
    item.textContent = user === state.myUser ? `${nick} (you)` : nick;
    if (user === state.myUser) item.className = "self";
    list.append(item);
  }
  $("online-count").textContent = String(entries.length);
}

function renderMessages() {
  const list = $("messages");
  const follow = state.following || list.dataset.room !== state.room;
  const scrolled = list.scrollTop;
  list.dataset.room = state.room;
  list.replaceChildren();
  for (const line of state.history.get(state.room) || []) {
    const item = document.createElement("li");
    if (line.kind === "system") {
      item.className = "system";
      item.textContent = line.text;
    } else {
      item.className = line.mine ? "mine" : "";
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = line.nick;
      const bubble = document.createElement("span");
      bubble.className = "bubble";
      bubble.textContent = line.text;
      item.append(who, bubble);
    }
    list.append(item);
  }
  list.scrollTop = follow ? list.scrollHeight : scrolled; // never yank a reader who scrolled up
}

function showError(text) {
  $("chat-error").textContent = text;
  $("chat-error").hidden = false;
}

function hideError() {
  $("chat-error").hidden = true;
}

function showNotice(text) {
  $("chat-notice").textContent = text;
  $("chat-notice").hidden = false;
}

// --- user actions ---

function switchRoom(name) {
  const room = name.trim().toLowerCase();
  if (!/^[\p{L}\p{N}_-]{1,32}$/u.test(room)) {
    showError("A room name is 1 to 32 letters, digits, '_' or '-'.");
    return;
  }
  if (!state.rooms.includes(room)) state.rooms.push(room);
  state.room = room;
  state.online.clear();
  $("chat-notice").hidden = true;
  renderAll();
  state.positions.delete(room); // a fresh join: the server sends the room's history first
  send({ type: "join", room, nick: state.nick });
}

function start() {
  const list = $("messages");
  let lastTop = 0;
  list.addEventListener("scroll", () => {
    // Only the reader scrolling up stops the following: a pane that merely shrank keeps it.
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    state.following = atBottom || (state.following && list.scrollTop >= lastTop);
    lastTop = list.scrollTop;
  });
  // The pane shrinks (a phone's keyboard opens, the window is resized): keep the newest line in view.
  new ResizeObserver(() => {
    if (state.following) list.scrollTop = list.scrollHeight;
  }).observe(list);
  $("nick-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = $("nick").value.trim().replace(/\s+/g, " ");
    if (!nick || nick.length > 24) {
      $("nick-error").textContent = "A nickname is 1 to 24 characters.";
      $("nick-error").hidden = false;
      return;
    }
    state.nick = nick;
    $("nick-form").hidden = true;
    $("chat").hidden = false;
    renderAll();
    connect();
    $("text").focus();
  });
  $("room-form").addEventListener("submit", (event) => {
    event.preventDefault();
    switchRoom($("room-name").value);
    $("room-name").value = "";
  });
  $("say-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    if (send({ type: "say", text })) {
      $("text").value = "";
      state.following = true; // your own message brings you back to the newest line
      hideError();
    } else {
      showError(
        isOffline()
          ? "Not sent: you are offline. Your text is kept — press Enter again once you are back online."
          : "Not sent yet: reconnecting to the chat. Your text is kept — press Enter again in a moment.",
      );
    }
  });
}

start();
