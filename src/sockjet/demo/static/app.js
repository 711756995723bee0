// sockjet chat demo, on sockjet.js: one WebSocket to /ws speaking the channels protocol
// (docs/protocol.md), with the nickname as its token. sockjet.js reconnects with backoff,
// resubscribes the room from the last position it showed and delivers what was missed once, in
// order; this page only renders. The online list is the room's presence by user (several pages
// with one nick are one user), the same on every page whatever worker serves it. The "joined" /
// "left" lines are published to the room by the server once per change, so they are in the
// room's history too. A page entering a room loads its history; when a gap cannot be filled
// (`resync`, e.g. the server restarted with an in-memory hub) it reloads the room and says so.
import { Client, parsePosition } from "/_sockjet/sockjet.js";

const DEFAULT_ROOMS = ["lobby", "random", "help"];
const HUB_NAMES = { redis: "Redis", nats: "NATS" };

const state = {
  nick: null,
  room: "lobby",
  client: null,
  sub: null,
  myUser: null,
  online: new Map(), // user -> nick
  lines: new Map(), // room -> [{kind, nick, text, mine, position}]
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

function setOffline() {
  setStatus("offline", "Offline — what you type is kept; reconnecting when the network is back");
}

// --- the connection: sockjet.js does the work, the page shows where it is ---

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const client = new Client(`${scheme}://${location.host}/ws`, { getToken: () => state.nick });
  state.client = client;
  client.on("state", (now, { code, reason }) => {
    if (now === "connected") return hello(client);
    if (now === "closed") {
      setStatus("offline", "Disconnected");
      return showError(`The server closed the connection: ${reason || code}`);
    }
    if (isOffline()) setOffline();
    else setStatus(now, now === "connecting" ? "Connecting…" : "Reconnecting…");
  });
  client.connect();
  enter(state.room);
}

async function hello(client) {
  setStatus("online", "Online");
  try {
    const { hub, worker, user } = await client.call("hello");
    state.myUser = user;
    setStatus("online", HUB_NAMES[hub] ? `Online · worker ${worker} · ${HUB_NAMES[hub]} hub` : "Online");
    hideError();
    renderOnline();
  } catch {
    // The link dropped again: its state event says so.
  }
}

window.addEventListener("offline", () => state.client && setOffline());

// --- a room: subscribed through sockjet.js ---

function enter(room) {
  if (state.sub) state.sub.unsubscribe();
  const sub = state.client.subscribe(room, { presence: "users" });
  state.sub = sub;
  sub.on("subscribed", ({ wasRecovering }) => {
    if (!wasRecovering) loadHistory(sub, false); // a fresh subscribe: show what the room remembers
  });
  sub.on("resync", () => loadHistory(sub, true));
  sub.on("message", (data, { position }) => {
    const line = lineFor(data, position);
    if (line) addLine(room, line);
  });
  sub.on("presence", (members) => {
    if (state.sub !== sub) return;
    state.online = new Map(Object.values(members).map((info) => [info.user, info.nick]));
    renderOnline();
  });
  sub.on("error", (error) => showError(error.message));
}

/** Whether `position` is after `top` in the same life of the room's stream. */
function after(position, top) {
  const [a, b] = [parsePosition(position), parsePosition(top)];
  if (!a || !b || a[0] !== b[0]) return !b && !!a;
  return a[1].length !== b[1].length ? a[1].length > b[1].length : a[1] > b[1];
}

// Replace what the room shows with its history, keeping live lines that came after it.
async function loadHistory(sub, resync) {
  let page;
  try {
    page = await sub.history();
  } catch (error) {
    return showError(`Could not load the room's history: ${error.message}`);
  }
  if (state.sub !== sub) return;
  const lines = page.messages.map((m) => lineFor(m.data, m.position)).filter(Boolean);
  for (const line of state.lines.get(sub.room) || []) {
    if (after(line.position, page.position)) lines.push(line);
  }
  state.lines.set(sub.room, lines);
  if (resync) showNotice("Some messages could not be recovered after the connection dropped: the room was reloaded.");
  if (sub.room === state.room) renderMessages();
}

function lineFor(data, position) {
  if (data.type === "message") {
    const mine = data.id === state.client.connection || data.nick === state.nick;
    return { kind: "message", nick: data.nick, text: data.text, mine, position };
  }
  if (data.type === "presence") {
    return { kind: "system", text: `${data.nick} ${data.event === "join" ? "joined" : "left"}`, position };
  }
  return null;
}

// --- rendering (textContent only: user input never becomes HTML) ---

function addLine(room, line) {
  if (!state.lines.has(room)) state.lines.set(room, []);
  const lines = state.lines.get(room);
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
  for (const line of state.lines.get(state.room) || []) {
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
  state.lines.delete(room); // a fresh subscribe: the room's history is loaded again
  $("chat-notice").hidden = true;
  renderAll();
  enter(room);
}

async function say(text) {
  $("text").value = "";
  state.following = true; // your own message brings you back to the newest line
  hideError();
  try {
    await state.sub.publish({ text });
  } catch (error) {
    if (!$("text").value) $("text").value = text;
    showError(`Not sent: ${error.message}. Your text is kept.`);
  }
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
    if (state.client.state === "connected" && state.sub.state === "subscribed") {
      say(text);
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
