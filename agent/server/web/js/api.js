// The server's own HTTP API (README "Serve it over HTTP"), same origin, with the bearer token.
import { EVENTS } from "./config.js";
import { readSSE } from "./sse.js";

const SESSION_KEY = "geo-agent.session";
const TOKEN_KEY = "geo-agent.token";

/** An answer other than 2xx: `status` and the server's own wording (`{"type":"error","error"}`). */
export class ApiError extends Error {
  constructor(status, text, retryAfter = null) {
    super(text);
    this.status = status;
    this.retryAfter = retryAfter; // seconds (a 429, or a 503 from a server that is restarting)
  }
}

export const store = {
  get session() { return localStorage.getItem(SESSION_KEY); },
  set session(id) { id ? localStorage.setItem(SESSION_KEY, id) : localStorage.removeItem(SESSION_KEY); },
  // The token lives for the tab (sessionStorage): it survives reloads, not the browser.
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ""; },
  set token(t) { t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY); },
};

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (store.token) h.Authorization = `Bearer ${store.token}`;
  return h;
}

async function failure(response) {
  let text = `请求失败（HTTP ${response.status}）。`;
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") text = body.error;
  } catch { /* not JSON */ }
  const after = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, text, Number.isFinite(after) && after > 0 ? after : null);
}

/** A reply's SSE body as {event, id, retry}: the event dict, the SSE id it was sent with and
 * the block's `retry:` (set on the `error` of a reply cut by a server restart: send again). */
async function* replyEvents(response) {
  for await (const sse of readSSE(response)) {
    let event;
    try {
      event = JSON.parse(sse.data);
    } catch { continue; } // not ours
    yield { event, id: sse.id, retry: sse.retry };
  }
}

/** POST /v1/chat/stream: yields the reply's {event, id, retry}s as they arrive. `retry`: the
 * same message again after a restart cut its reply (the stored turn is replaced). A reply still
 * running in the session is stopped first (README "A second message while a reply runs"). */
export async function* streamChat(message, sessionId, signal, retry = false) {
  const body = { message, events: EVENTS, multitask_strategy: "interrupt" };
  if (sessionId) body.session_id = sessionId;
  if (retry) body.retry = true;
  const response = await fetch("v1/chat/stream", {
    method: "POST", headers: { ...headers(true), Accept: "text/event-stream" },
    body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await failure(response);
  yield* replyEvents(response);
}

/** GET /v1/chat/{id}/events: the reply's {event, id}s after SSE id `lastId`, then the live
 * rest (README "Resuming a reply"). Throws ApiError before any event (404: the log is gone). */
export async function resumeChat(messageId, lastId, signal) {
  const response = await fetch(`v1/chat/${encodeURIComponent(messageId)}/events`, {
    headers: { ...headers(false), Accept: "text/event-stream", "Last-Event-ID": String(lastId) },
    signal,
  });
  if (!response.ok) throw await failure(response);
  return replyEvents(response);
}

/** POST /v1/chat/{id}/stop. */
export async function stopReply(messageId) {
  const response = await fetch(`v1/chat/${encodeURIComponent(messageId)}/stop`, {
    method: "POST", headers: headers(false),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** GET /v1/sessions/{id}: the stored messages, oldest first. */
export async function history(sessionId) {
  const response = await fetch(`v1/sessions/${encodeURIComponent(sessionId)}`, { headers: headers(false) });
  if (!response.ok) throw await failure(response);
  return (await response.json()).messages;
}
