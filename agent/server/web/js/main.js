// The page: a chat panel reading POST /v1/chat/stream beside a map executing its map_action
// commands. The session id is kept in localStorage (the conversation is redrawn from the
// server on load), the map commands of the session beside it, the token in sessionStorage.
// A reply in progress is kept there too, so that a reload resumes it (GET /v1/chat/{id}/events).
// A connection that breaks mid-reply is resumed the same way (after its last SSE id, from any
// instance behind the proxy); a reply a server restart cut (its `error` carries `retry:`) is
// sent again once, same message and session, its cut text replaced; a 503 from a restarting
// server is retried after its Retry-After.
import { ApiError, history, resumeChat, stopReply, store, streamChat } from "./api.js";
import { say } from "./config.js";
import { GeoMap } from "./map.js";
import { Conversation, showLinks, showSources } from "./view.js";

const $ = (id) => document.getElementById(id);
const TILES_KEY = "geo-agent.tiles";
const MAP_KEY = "geo-agent.map.";
const REPLY_KEY = "geo-agent.reply.";
const LINKS_KEY = "geo-agent.links.";
const SAVE_EVERY_MS = 250;
const MAX_KEPT_ACTIONS = 200;
const MAX_KEPT_LINKS = 50; // links events (and turns' sources) kept per session (the history does not hold them)
const MAX_KEPT_SOURCES = 20; // web sources kept per turn
const STOP_GRACE_MS = 2000;
const RESTART_RETRIES = 1; // a reply cut by a restart is sent again this many times
const RESUMES = 5; // a broken connection is resumed this many times in a row
const BUSY_RETRIES = 3; // a 503 with Retry-After (the server restarting) is retried this often
const UNREACHABLE_TRIES = 12; // a retry after a restart waits this many times for a server

const status = $("map-status");
const notice = $("map-notice");
const geoMap = new GeoMap($("map"), localStorage.getItem(TILES_KEY) || "amap",
  (t) => { status.textContent = t; },
  (ok) => { // tiles that cannot load: say so, rather than a grey map
    notice.textContent = ok ? "" : say("tiles_failed");
    notice.hidden = ok;
  });
const conversation = new Conversation($("messages"));
const form = $("ask-form");
const question = $("question");
const send = $("send");
const stop = $("stop");
const tokenForm = $("token-form");
const tokenInput = $("token");
const tiles = $("tiles");
window.geoMap = geoMap; // for tests and the console: geoMap.state(), geoMap.apply({...})

let running = null; // a Run: the reply being shown
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

// A tool's links, and a turn's web sources, kept with the turn they answered so that a reload
// shows them again.
function keptLinks(sid) {
  try {
    const kept = JSON.parse(localStorage.getItem(LINKS_KEY + sid) || "[]");
    return Array.isArray(kept) ? kept : [];
  } catch {
    return [];
  }
}

function keepLinks(sid, entry) {
  const kept = [...keptLinks(sid), entry].slice(-MAX_KEPT_LINKS);
  try {
    localStorage.setItem(LINKS_KEY + sid, JSON.stringify(kept));
  } catch { /* storage full: the links just won't come back on reload */ }
}

function keepSource(sid, turn, source) { // one entry a turn: {turn, sources: [{url, title}]}
  const kept = keptLinks(sid);
  const entry = kept.find((e) => e.turn === turn && Array.isArray(e.sources));
  if (entry) {
    if (entry.sources.length >= MAX_KEPT_SOURCES || entry.sources.some((s) => s.url === source.url)) return;
    entry.sources.push(source);
    try {
      localStorage.setItem(LINKS_KEY + sid, JSON.stringify(kept));
    } catch { /* as keepLinks */ }
  } else {
    keepLinks(sid, { turn, sources: [source] });
  }
}

function dropLinks(sid, turn) { // a reply sent again: its first try's links are gone
  const kept = keptLinks(sid).filter((entry) => entry.turn !== turn);
  try {
    localStorage.setItem(LINKS_KEY + sid, JSON.stringify(kept));
  } catch { /* as kept */ }
}

function restoreLinks(sid) {
  for (const { turn, tool, links, sources } of keptLinks(sid)) {
    const item = Number.isInteger(turn) ? conversation.assistantAfter(turn) : null;
    if (item && Array.isArray(sources)) showSources(item, sources);
    else if (item) showLinks(item, tool, links);
  }
}

function setRunning(on) {
  // Send stays usable: a message sent now stops the answer running (multitask_strategy).
  $("new-chat").disabled = on;
  stop.disabled = !on;
  stop.hidden = !on;
  const hint = $("ask-hint");
  hint.textContent = on ? say("send_interrupts") : "";
  hint.hidden = !on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

function askForToken(message) {
  tokenForm.hidden = false;
  $("token-hint").textContent = message;
  tokenInput.focus();
}

// The reply on screen and what a reload needs to resume it: its message id, the last SSE id
// seen and what its bubble shows up to that id (saved together, so they always agree).
class Run {
  constructor(saved = {}) {
    this.controller = new AbortController();
    this.messageId = saved.messageId || null;
    this.sid = saved.sid || null;
    this.lastId = saved.lastId || "0";
    this.question = saved.question || "";
    this.turn = saved.turn || 0; // how many user messages came before this one
    this.text = saved.text || "";
    this.tools = saved.tools || []; // [{name, done, result}]
    this.over = false; // its last event arrived, or it was stopped
    this.retries = 0; // times sent again after a restart cut it
    this.timer = null;
    this.done = new Promise((resolve) => { this.finish = resolve; });
  }

  save() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.messageId || this.over) return;
    const { messageId, sid, lastId, question, turn, text, tools } = this;
    try {
      localStorage.setItem(REPLY_KEY + sid,
        JSON.stringify({ messageId, sid, lastId, question, turn, text, tools }));
    } catch { /* storage full: a reload just won't resume */ }
  }

  saveSoon() { // text arrives in many small chunks: at most one write per SAVE_EVERY_MS
    if (!this.timer) this.timer = setTimeout(() => this.save(), SAVE_EVERY_MS);
  }

  /** Start over: the same question sent again (its cut reply is replaced). */
  restart() {
    this.messageId = null;
    this.lastId = "0";
    this.text = "";
    this.tools = [];
    this.retries += 1;
  }

  forget() {
    if (this.forgotten) return; // once: a newer reply of the session may be saved there since
    this.forgotten = true;
    this.over = true;
    clearTimeout(this.timer);
    if (this.sid) localStorage.removeItem(REPLY_KEY + this.sid);
  }
}

function savedReply(sid) {
  try {
    return JSON.parse(localStorage.getItem(REPLY_KEY + sid) || "null");
  } catch {
    return null;
  }
}

function show(run, reply, event, id) {
  if (id) run.lastId = id;
  switch (event.type) {
    case "stream_start":
      run.messageId = event.message_id;
      run.sid = event.session_id;
      if (event.session_id !== store.session) store.session = event.session_id;
      run.save();
      break;
    case "stream_chunk":
      reply.append(event.chunk);
      run.text += event.chunk;
      run.saveSoon();
      break;
    case "tool_start":
      reply.toolStart(event.tool, event.tool_call_id);
      run.tools.push({ name: event.tool, id: event.tool_call_id, done: false });
      run.save();
      break;
    case "tool_end": {
      reply.toolEnd(event.tool, event.result, event.tool_call_id);
      const tool = run.tools.find((t) => !t.done && (event.tool_call_id
        ? t.id === event.tool_call_id : t.name === event.tool));
      if (tool) Object.assign(tool, { done: true, result: String(event.result || "").slice(0, 300) });
      run.save();
      break;
    }
    case "links":
      reply.links(event.tool, event.links);
      keepLinks(event.session_id, { turn: run.turn, tool: event.tool, links: event.links });
      run.save();
      break;
    case "source": {
      const source = { url: String(event.url || ""), title: String(event.title || "") };
      reply.sources([source]);
      keepSource(event.session_id, run.turn, source);
      break;
    }
    case "map_action":
      geoMap.apply(event.action);
      keep(event.session_id, event.action);
      run.save();
      break;
    case "error": reply.error(event.error); run.forget(); break;
    case "stream_end": run.forget(); break;
    default: break;
  }
}

const pause = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/** Read `stream` into `reply`: "end" (its last event came), "restart" (a restart cut it: send it
 * again) or "broken" (the connection ended before its last event: resume it). */
async function read(run, reply, stream) {
  try {
    for await (const { event, id, retry } of stream) {
      if (event.type === "error" && retry != null && run.retries < RESTART_RETRIES) return "restart";
      show(run, reply, event, id);
      if (event.type === "stream_end" || event.type === "error") return "end";
    }
  } catch (err) {
    if (err instanceof ApiError || err.name === "AbortError" || run.controller.signal.aborted) throw err;
    // fetch's TypeError: the connection broke mid-body
  }
  return run.over ? "end" : "broken";
}

/** `stream` once its answer has come (a refusal such as a 503 throws here): the same events. */
async function started(stream) {
  const first = await stream.next();
  return (async function* () {
    if (!first.done) yield first.value;
    yield* stream;
  })();
}

/** `open()` the reply's stream, again after a 503 with Retry-After (a restarting server) and,
 * with `unreachable`, after a failed connection (a lone server starting again). */
async function again(run, open, unreachable = false) {
  for (let tries = 1; ; tries += 1) {
    try {
      return await open();
    } catch (err) {
      const busy = err instanceof ApiError && err.status === 503 && err.retryAfter;
      const down = unreachable && err instanceof TypeError;
      const limit = down ? UNREACHABLE_TRIES : BUSY_RETRIES;
      if (!(busy || down) || tries > limit || run.controller.signal.aborted) throw err;
      await pause((busy ? err.retryAfter : Math.min(tries, 3)) * 1000, run.controller.signal);
    }
  }
}

/** Show the reply's events (`stream`, or `open()`'s) in `reply` until its end. */
async function follow(run, reply, stream, open = null) {
  running = run;
  setRunning(true);
  reply.busy(true);
  try {
    if (open) stream = await again(run, open);
    for (let resumes = 0; ;) {
      const how = await read(run, reply, stream);
      if (how === "end" || run.controller.signal.aborted) break;
      if (how === "restart") { // the same question again, same session: shown in place of the cut one
        if (run.sid) dropLinks(run.sid, run.turn);
        run.restart();
        reply.clear();
        stream = await again(run, () => started(streamChat(run.question,
          run.sid || store.session, run.controller.signal, true)), true);
        continue;
      }
      if (!run.messageId || resumes >= RESUMES) break; // kept: a reload resumes it
      resumes += 1;
      await pause(250 * resumes, run.controller.signal);
      try {
        stream = await resumeChat(run.messageId, run.lastId, run.controller.signal);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) { // its log is gone (one server)
          reply.error(err.message);
          run.forget();
          break;
        }
        if (err instanceof ApiError) throw err;
        stream = (async function* () {})(); // not reached: the next round tries again
      }
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      reply.item.remove();
      conversation.list.lastElementChild?.remove(); // the question is asked again after the token
      pending = run.question;
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
    // Kept only when the connection broke (a reload resumes it); over once it ended or stopped.
    if (run.over || run.controller.signal.aborted) run.forget();
    reply.busy(false);
    if (running === run) { // not when a newer message interrupted it: that one runs now
      running = null;
      setRunning(false);
    }
    run.finish();
  }
}

function ask(text) {
  const turn = conversation.list.querySelectorAll(".msg.user").length - 1;
  const run = new Run({ question: text, turn });
  const open = () => started(streamChat(text, store.session, run.controller.signal));
  return follow(run, conversation.assistant(), null, open);
}

function submit() {
  const text = question.value.trim();
  if (!text) return;
  question.value = "";
  running?.forget(); // an answer running is stopped by the server, then this one is answered
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
  run.forget();
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

window.addEventListener("pagehide", () => running?.save()); // a reload resumes from here

tiles.value = geoMap.tiles;
tiles.addEventListener("change", () => {
  geoMap.useTiles(tiles.value);
  localStorage.setItem(TILES_KEY, geoMap.tiles);
});

$("new-chat").addEventListener("click", () => {
  if (running) return;
  if (store.session) {
    localStorage.removeItem(MAP_KEY + store.session);
    localStorage.removeItem(REPLY_KEY + store.session);
    localStorage.removeItem(LINKS_KEY + store.session);
  }
  store.session = null;
  conversation.clear();
  geoMap.clear("all");
  question.focus();
});

/** The messages before the `turn`-th user message (the start of the reply being resumed). */
function before(messages, turn) {
  let users = 0;
  const at = messages.findIndex((m) => m.role === "user" && users++ === turn);
  return at < 0 ? messages : messages.slice(0, at);
}

/** Resume the reply `saved` after its last SSE id: null when it can no longer be resumed. */
async function resume(saved) {
  const run = new Run(saved);
  try {
    return [run, await resumeChat(run.messageId, run.lastId, run.controller.signal)];
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err; // asked again after the token
    if (err instanceof ApiError) run.forget(); // 404: its log expired (its end is in the history)
    return null;
  }
}

async function load() {
  const sid = store.session;
  if (!sid) return;
  try {
    const messages = await history(sid);
    const saved = savedReply(sid);
    const resumed = saved && !running ? await resume(saved) : null;
    for (const action of keptActions(sid)) geoMap.apply(action);
    if (!resumed) {
      conversation.replay(messages);
      restoreLinks(sid);
      return;
    }
    const [run, stream] = resumed; // its turn is redrawn from what was saved, then goes on
    conversation.replay(before(messages, run.turn));
    conversation.user(run.question);
    const reply = conversation.assistant();
    for (const tool of run.tools) {
      reply.toolStart(tool.name, tool.id);
      if (tool.done) reply.toolEnd(tool.name, tool.result, tool.id);
    }
    reply.append(run.text);
    restoreLinks(sid);
    follow(run, reply, stream); // runs on after the page has loaded
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) askForToken(err.message);
    else if (err instanceof ApiError && err.status === 404) store.session = null;
    else conversation.assistant().error(err.message || String(err));
  }
}

setRunning(false);
document.body.dataset.ready = "true";
load().finally(() => { document.body.dataset.loaded = "true"; });
