// The map app for MCP hosts (MCP Apps, the view side of SEP-1865): the host runs this page in a
// sandboxed iframe and talks JSON-RPC 2.0 over postMessage. The view asks `ui/initialize`,
// says `ui/notifications/initialized`, reports its size, and draws the map commands of each
// `ui/notifications/tool-result` (`structuredContent.map_action` / `.map_actions`) with the
// web page's own renderer (js/map.js). agent/mcp/app.py inlines this file, Leaflet and the
// renderer into one document.
import { GeoMap } from "./map.js";
import { say } from "./config.js";

/* global APP_INFO, PROTOCOL_VERSION */

const host = window.parent;
const status = document.getElementById("map-status");
const notice = document.getElementById("map-notice");
let nextId = 1;
const pending = new Map(); // request id -> resolve

function post(message) {
  host.postMessage({ jsonrpc: "2.0", ...message }, "*");
}

function request(method, params) {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    post({ id, method, params });
  });
}

function notify(method, params) {
  post(params === undefined ? { method } : { method, params });
}

/** The map commands of a tool result: its `map_action` and its `map_actions`, in order. */
export function commandsOf(result) {
  const content = result && typeof result === "object" ? result.structuredContent : null;
  if (!content || typeof content !== "object") return [];
  const commands = [];
  if (content.map_action && typeof content.map_action === "object") commands.push(content.map_action);
  if (Array.isArray(content.map_actions)) commands.push(...content.map_actions.filter((c) => c && typeof c === "object"));
  return commands;
}

// The first command's datum picks the base map: GCJ-02 on AMap's tiles, WGS-84 on OpenStreetMap.
function tilesFor(commands) {
  const crs = JSON.stringify(commands).match(/"crs":"(gcj02|wgs84)"/);
  return crs && crs[1] === "wgs84" ? "osm" : "amap";
}

let geoMap = null;

function mapFor(commands) {
  if (!geoMap) {
    geoMap = new GeoMap(document.getElementById("map"), tilesFor(commands),
      (text) => { status.textContent = text; },
      (ok) => { notice.textContent = ok ? "" : say("tiles_failed"); notice.hidden = ok; });
    window.geoMap = geoMap; // for tests and the console: geoMap.state()
  }
  return geoMap;
}

function showResult(result) {
  const commands = commandsOf(result);
  status.textContent = ""; // no longer looking it up
  if (result && result.isError) {
    status.textContent = say("tool_failed");
    return;
  }
  const map = mapFor(commands);
  let drawn = 0;
  for (const command of commands) if (map.apply(command)) drawn += 1;
  document.body.dataset.drawn = String(drawn);
  if (!commands.length) status.textContent = say("nothing_to_draw");
}

// The height only: the map takes whatever width the host gives it.
function reportSize() {
  notify("ui/notifications/size-changed", { height: document.documentElement.scrollHeight });
}

function applyContext(context) {
  if (context && (context.theme === "light" || context.theme === "dark")) {
    document.documentElement.dataset.theme = context.theme;
  }
}

const NOTIFICATIONS = {
  "ui/notifications/tool-input": () => { status.textContent = say("drawing"); },
  "ui/notifications/tool-input-partial": () => {},
  "ui/notifications/tool-result": (params) => showResult(params),
  "ui/notifications/tool-cancelled": () => { status.textContent = say("cancelled"); },
  "ui/notifications/host-context-changed": (params) => applyContext(params),
};

const REQUESTS = {
  ping: () => ({}),
  "ui/resource-teardown": () => ({}),
};

window.addEventListener("message", (event) => {
  if (event.source !== host) return; // only the host's messages
  const message = event.data;
  if (!message || message.jsonrpc !== "2.0") return;
  if (message.method === undefined) { // a response to one of our requests
    const resolve = pending.get(message.id);
    if (resolve) {
      pending.delete(message.id);
      resolve(message);
    }
    return;
  }
  if (message.id !== undefined) { // a request of the host's
    const handler = Object.hasOwn(REQUESTS, message.method) ? REQUESTS[message.method] : null;
    if (handler) post({ id: message.id, result: handler(message.params) });
    else post({ id: message.id, error: { code: -32601, message: "Method not found" } });
    return;
  }
  const handler = Object.hasOwn(NOTIFICATIONS, message.method) ? NOTIFICATIONS[message.method] : null;
  if (handler) handler(message.params || {});
});

async function start() {
  const answer = await request("ui/initialize", {
    appInfo: APP_INFO,
    appCapabilities: { availableDisplayModes: ["inline"] },
    protocolVersion: PROTOCOL_VERSION,
  });
  if (answer.result) applyContext(answer.result.hostContext);
  notify("ui/notifications/initialized", {});
  reportSize();
  if (typeof ResizeObserver === "function") new ResizeObserver(reportSize).observe(document.documentElement);
  document.body.dataset.ready = "true";
}

if (host && host !== window) start();
