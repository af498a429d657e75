// The built-in DM page: log in, the DM list, one conversation at a time.
// It speaks only the server's public endpoints: the Client-Server API, the DM
// endpoints and the two WebSockets, authenticated by the session cookie.

const V3 = "/_matrix/client/v3";
const UNSTABLE = "/_matrix/client/unstable";
const TYPING_IDLE_MS = 4000;
const ENCRYPTED = "m.room.encrypted";
const ENCRYPTED_NOTICE = "Encrypted message — open it in an app with your keys";
const SHOWN_TYPES = new Set(["m.room.message", ENCRYPTED]);
const $ = (id) => document.getElementById(id);

const state = { me: null, csrf: null, dms: new Map(), peer: null, room: null,
                dmSocket: null, stream: null, older: null, typing: false, typingTimer: null };

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const resp = await fetch(path, { method, headers, credentials: "same-origin",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw Object.assign(new Error(data.error || resp.statusText), data);
  return data;
}

function banner(text) { $("banner").textContent = text || ""; $("banner").hidden = !text; }

// --- login ------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const register = event.submitter && event.submitter.value === "register";
  try {
    const me = await call("POST", `${UNSTABLE}/web/session`, {
      username: form.get("username"), password: form.get("password"), register });
    start(me);
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

$("logout").addEventListener("click", async () => {
  await call("DELETE", `${UNSTABLE}/web/session`).catch(() => {});
  location.reload();
});

async function boot() {
  try {
    start(await call("GET", `${UNSTABLE}/web/session`));
  } catch {
    $("login").hidden = false;
  }
}

function start(me) {
  state.me = me.user_id;
  state.csrf = me.csrf_token;
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").textContent = me.user_id;
  loadList().then(openStream);
}

// --- the DM list --------------------------------------------------------------

async function loadList() {
  const { dms } = await call("GET", `${UNSTABLE}/dm`);
  for (const dm of dms) {
    const known = state.dms.get(dm.user_id) || { presence: "offline" };
    state.dms.set(dm.user_id, { ...known, ...dm });
  }
  renderList();
}

function renderList() {
  const list = $("dm-list");
  list.replaceChildren();
  const sorted = [...state.dms.values()].sort((a, b) => b.updated_ts - a.updated_ts);
  for (const dm of sorted) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.className = "thread";
    button.dataset.user = dm.user_id;
    button.setAttribute("aria-current", String(dm.user_id === state.peer));
    const dot = Object.assign(document.createElement("span"),
                              { className: `dot ${dm.presence}`, title: dm.presence });
    dot.setAttribute("aria-label", dm.presence);
    const name = Object.assign(document.createElement("span"),
                               { className: "name", textContent: dm.display_name || dm.user_id });
    const badge = Object.assign(document.createElement("span"),
                                { className: "badge", textContent: dm.unread_count || "" });
    badge.setAttribute("aria-label", `${dm.unread_count || 0} unread`);
    const last = Object.assign(document.createElement("span"), {
      className: "last", textContent: dm.latest_event ? displayText(dm.latest_event) : "" });
    button.append(dot, name, badge, last);
    button.addEventListener("click", () => openConversation(dm.user_id));
    item.append(button);
    list.append(item);
  }
}

function dmOfRoom(roomId) {
  return [...state.dms.values()].find((dm) => dm.room_id === roomId);
}

// The general stream: sync-shaped frames keep the list live and resume from the token.
function openStream(since) {
  const url = `${location.origin.replace("http", "ws")}${UNSTABLE}/ws${since ? `?since=${since}` : ""}`;
  const socket = new WebSocket(url);
  let token = since;
  state.stream = socket;
  socket.onmessage = (msg) => {
    const frame = JSON.parse(msg.data);
    if (frame.type !== "sync") return;
    token = frame.next_batch;
    applySync(frame);
  };
  socket.onclose = () => {
    if (state.stream !== socket) return;
    banner("Offline: reconnecting…");
    setTimeout(() => openStream(token), 1000);
  };
  socket.onopen = () => banner("");
}

function applySync(frame) {
  let changed = false;
  for (const [roomId, room] of Object.entries(frame.rooms.join || {})) {
    const dm = dmOfRoom(roomId);
    if (!dm) { changed = true; loadList(); continue; }
    const messages = room.timeline.events.filter((e) => SHOWN_TYPES.has(e.type));
    if (messages.length) {
      dm.latest_event = messages[messages.length - 1];
      dm.updated_ts = dm.latest_event.origin_server_ts;
    }
    dm.unread_count = room.unread_notifications.notification_count;
    changed = true;
  }
  if (Object.keys(frame.rooms.invite || {}).length) loadList();
  for (const event of frame.presence.events) {
    const dm = state.dms.get(event.sender);
    if (dm) { dm.presence = event.content.presence; changed = true; }
    if (event.sender === state.peer) showPeerPresence(event.content.presence);
  }
  if (changed) renderList();
}

$("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = $("start-user").value.trim();
  try {
    await call("POST", `${UNSTABLE}/dm/${encodeURIComponent(user)}`);
    $("start-user").value = "";
    await loadList();
    openConversation(user);
  } catch (error) {
    banner(error.message);
  }
});

// --- one conversation -----------------------------------------------------------

async function openConversation(peer) {
  closeDmSocket();
  state.peer = peer;
  state.room = state.dms.get(peer) ? state.dms.get(peer).room_id : null;
  state.older = null;
  delete $("conversation").dataset.room;
  $("app").classList.add("in-conversation");
  $("conversation").hidden = false;
  $("peer-name").textContent = peer;
  $("messages").replaceChildren();
  $("typing").textContent = "";
  renderList();
  connectDm(peer, 1000);
  $("compose").focus();
}

function closeDmSocket() {
  if (state.dmSocket) { const socket = state.dmSocket; state.dmSocket = null; socket.close(); }
}

function connectDm(peer, retryMs) {
  const socket = new WebSocket(`${location.origin.replace("http", "ws")}/ws/dm/${encodeURIComponent(peer)}`);
  state.dmSocket = socket;
  socket.onmessage = (msg) => onDmFrame(JSON.parse(msg.data));
  socket.onclose = () => {
    if (state.dmSocket !== socket) return;  // closed on purpose
    banner("Offline: reconnecting…");
    setTimeout(() => state.peer === peer && connectDm(peer, Math.min(retryMs * 2, 10000)), retryMs);
  };
}

async function onDmFrame(frame) {
  if (frame.type === "ready") {
    banner("");
    state.room = frame.room_id;
    $("conversation").dataset.room = frame.room_id;
    showPeerPresence(frame.presence);
    state.typing = false;
    if ($("compose").value) setTyping(true);  // keystrokes made while connecting
    await loadHistory(true);  // also fills whatever was missed while offline
  } else if (frame.type === "message") {
    showMessage(frame.event);
    markRead(frame.event);
  } else if (frame.type === "ack") {
    const pending = document.querySelector(`[data-txn="${frame.txn_id}"]`);
    if (pending) { pending.classList.remove("pending"); pending.dataset.id = frame.event_id; }
  } else if (frame.type === "typing" && frame.user_id === state.peer) {
    $("typing").textContent = frame.typing ? `${frame.user_id} is typing…` : "";
  } else if (frame.type === "presence" && frame.user_id === state.peer) {
    showPeerPresence(frame.presence);
  } else if (frame.type === "error") {
    banner(frame.error);
  }
}

function showPeerPresence(presence) {
  $("peer-dot").className = `dot ${presence}`;
  $("peer-dot").title = presence;
  const dm = state.dms.get(state.peer);
  if (dm) dm.presence = presence;
}

async function loadHistory(latest) {
  if (!state.room) return;
  const from = latest || !state.older ? "" : `&from=${encodeURIComponent(state.older)}`;
  const page = await call("GET", `${V3}/rooms/${encodeURIComponent(state.room)}/messages?dir=b&limit=30${from}`);
  if (!latest || !state.older) state.older = page.end;
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  for (const event of page.chunk) {
    if (SHOWN_TYPES.has(event.type)) showMessage(event, !latest);
  }
  if (latest && page.chunk.length) markRead(page.chunk[0]);
  if (latest || atBottom) list.scrollTop = list.scrollHeight;
}

function showMessage(event, older = false) {
  const list = $("messages");
  if (list.querySelector(`[data-id="${CSS.escape(event.event_id)}"]`)) return;
  const txn = event.unsigned && event.unsigned.transaction_id;
  const pending = (txn && list.querySelector(`[data-txn="${CSS.escape(txn)}"]`)) ||
    (event.sender === state.me && [...list.querySelectorAll(".mine:not([data-id])")]
      .find((li) => li.textContent === event.content.body));
  if (pending) { pending.classList.remove("pending"); pending.dataset.id = event.event_id; return; }
  const item = bubble(displayText(event), event.sender === state.me);
  if (event.type === ENCRYPTED) item.classList.add("encrypted");
  item.dataset.id = event.event_id;
  item.dataset.ts = event.origin_server_ts;
  const later = [...list.children].find((li) => Number(li.dataset.ts) > event.origin_server_ts);
  if (older || later) list.insertBefore(item, later || list.firstChild); else list.append(item);
  if (!older) list.scrollTop = list.scrollHeight;
}

// This page holds no keys: an encrypted message is named as such, never shown blank.
function displayText(event) {
  if (event.type === ENCRYPTED) return ENCRYPTED_NOTICE;
  const body = event.content && event.content.body;
  return typeof body === "string" ? body : "";
}

function bubble(text, mine) {
  const item = document.createElement("li");
  item.textContent = text;
  if (mine) item.classList.add("mine");
  return item;
}

function markRead(event) {
  if (document.hidden || !state.room) return;
  call("POST", `${V3}/rooms/${encodeURIComponent(state.room)}/receipt/m.read/${encodeURIComponent(event.event_id)}`, {})
    .catch(() => {});
}

$("messages").addEventListener("scroll", () => {
  if ($("messages").scrollTop === 0 && state.older) loadHistory(false);
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = $("compose").value;
  if (!body.trim() || !state.dmSocket || state.dmSocket.readyState !== WebSocket.OPEN) return;
  const txn = `web${Date.now()}${Math.random().toString(36).slice(2, 8)}`;
  const item = bubble(body, true);
  item.classList.add("pending");
  item.dataset.txn = txn;
  item.dataset.ts = Date.now();
  $("messages").append(item);
  $("messages").scrollTop = $("messages").scrollHeight;
  state.dmSocket.send(JSON.stringify({ type: "message", body, txn_id: txn }));
  $("compose").value = "";
  setTyping(false);
});

function setTyping(on) {
  clearTimeout(state.typingTimer);
  if (on) state.typingTimer = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
  if (on === state.typing || !state.dmSocket || state.dmSocket.readyState !== WebSocket.OPEN) return;
  state.typing = on;
  state.dmSocket.send(JSON.stringify({ type: "typing", status: on ? "start" : "stop" }));
}

$("compose").addEventListener("input", () => setTyping($("compose").value.length > 0));
$("compose").addEventListener("blur", () => setTyping(false));
$("back").addEventListener("click", () => {
  closeDmSocket();
  state.peer = null;
  $("app").classList.remove("in-conversation");
  renderList();
});
document.addEventListener("visibilitychange", () => {
  const last = [...$("messages").children].pop();
  if (!document.hidden && last && last.dataset.id) markRead({ event_id: last.dataset.id });
});

boot();
