// The page: a chat panel reading POST /v1/chat/stream beside a map executing its map_action
// commands. The session id is kept in localStorage (the conversation is redrawn from the
// server on load), the map commands of the session beside it, the token in sessionStorage.
import { ApiError, history, stopReply, store, streamChat } from "./api.js";
import { GeoMap } from "./map.js";
import { Conversation } from "./view.js";

const $ = (id) => document.getElementById(id);
const TILES_KEY = "geo-agent.tiles";
const MAP_KEY = "geo-agent.map.";
const MAX_KEPT_ACTIONS = 200;
const STOP_GRACE_MS = 2000;

const status = $("map-status");
const geoMap = new GeoMap($("map"), localStorage.getItem(TILES_KEY) || "amap", (t) => { status.textContent = t; });
const conversation = new Conversation($("messages"));
const form = $("ask-form");
const question = $("question");
const send = $("send");
const stop = $("stop");
const tokenForm = $("token-form");
const tokenInput = $("token");
const tiles = $("tiles");
window.geoMap = geoMap; // for tests and the console: geoMap.state(), geoMap.apply({...})

let running = null; // {controller, messageId, done}
let pending = null; // a question waiting for a token

function keptActions(sid) {
  try {
    return JSON.parse(localStorage.getItem(MAP_KEY + sid) || "[]");
  } catch {
    return [];
  }
}

function keep(sid, action) {
  const actions = [...keptActions(sid), action].slice(-MAX_KEPT_ACTIONS);
  try {
    localStorage.setItem(MAP_KEY + sid, JSON.stringify(actions));
  } catch { /* storage full: the map just won't come back on reload */ }
}

function setRunning(on) {
  send.disabled = on;
  $("new-chat").disabled = on;
  stop.disabled = !on;
  stop.hidden = !on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

function askForToken(message) {
  tokenForm.hidden = false;
  $("token-hint").textContent = message;
  tokenInput.focus();
}

async function ask(text) {
  const controller = new AbortController();
  const reply = conversation.assistant();
  const run = { controller, messageId: null, done: null };
  let finish;
  run.done = new Promise((resolve) => { finish = resolve; });
  running = run;
  setRunning(true);
  reply.busy(true);
  try {
    for await (const event of streamChat(text, store.session, controller.signal)) {
      switch (event.type) {
        case "stream_start":
          run.messageId = event.message_id;
          if (event.session_id !== store.session) store.session = event.session_id;
          break;
        case "stream_chunk": reply.append(event.chunk); break;
        case "tool_start": reply.toolStart(event.tool); break;
        case "tool_end": reply.toolEnd(event.tool, event.result); break;
        case "map_action":
          geoMap.apply(event.action);
          keep(event.session_id, event.action);
          break;
        case "error": reply.error(event.error); break;
        default: break;
      }
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      reply.item.remove();
      conversation.list.lastElementChild?.remove(); // the question is asked again after the token
      pending = text;
      askForToken(err.message);
    } else if (err instanceof ApiError && err.status === 404 && store.session) {
      store.session = null; // a session this token cannot see: start a new one
      reply.error(err.message);
    } else if (err.name === "AbortError") {
      reply.error("已停止。");
    } else {
      reply.error(err.message || String(err));
    }
  } finally {
    reply.busy(false);
    running = null;
    setRunning(false);
    finish();
  }
}

function submit() {
  const text = question.value.trim();
  if (!text || running) return;
  question.value = "";
  conversation.user(text);
  ask(text);
}

form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
question.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    submit();
  }
});

stop.addEventListener("click", async () => {
  const run = running;
  if (!run) return;
  stop.disabled = true;
  if (run.messageId) {
    try {
      await stopReply(run.messageId); // the reply then ends with its own "cancelled" error event
    } catch { /* already over, or not ours: abort below */ }
    const timer = setTimeout(() => run.controller.abort(), STOP_GRACE_MS);
    await run.done;
    clearTimeout(timer);
  } else {
    run.controller.abort();
  }
});

tokenForm.addEventListener("submit", (e) => {
  e.preventDefault();
  store.token = tokenInput.value.trim();
  tokenInput.value = "";
  tokenForm.hidden = true;
  if (pending) {
    const text = pending;
    pending = null;
    conversation.user(text);
    ask(text);
  } else {
    load();
  }
});

tiles.value = geoMap.tiles;
tiles.addEventListener("change", () => {
  geoMap.useTiles(tiles.value);
  localStorage.setItem(TILES_KEY, geoMap.tiles);
});

$("new-chat").addEventListener("click", () => {
  if (running) return;
  if (store.session) localStorage.removeItem(MAP_KEY + store.session);
  store.session = null;
  conversation.clear();
  geoMap.clear("all");
  question.focus();
});

async function load() {
  const sid = store.session;
  if (!sid) return;
  try {
    conversation.replay(await history(sid));
    for (const action of keptActions(sid)) geoMap.apply(action);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) askForToken(err.message);
    else if (err instanceof ApiError && err.status === 404) store.session = null;
    else conversation.assistant().error(err.message || String(err));
  }
}

setRunning(false);
document.body.dataset.ready = "true";
load().finally(() => { document.body.dataset.loaded = "true"; });
