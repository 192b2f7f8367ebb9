// A tool's hand-off links (the `links` event: [{kind, label, url}]): each a button that opens
// it and a QR code a phone scans, drawn on a canvas by qrcode-generator (no network). A URL
// whose scheme is not a safe one (safety.js) is shown as text only, with no QR code. The web
// search's sources (`source` events: {url, title}) are a numbered list of plain links under the
// answer, by the same rules (pages to read here, so no QR code).
import qrcode from "../vendor/qrcode-generator/qrcode.mjs";
import { say } from "./config.js";
import { safeUrl } from "./safety.js";

// URLs hold UTF-8 (a place's name): the QR code's bytes are its UTF-8 bytes.
qrcode.stringToBytes = (s) => Array.from(new TextEncoder().encode(s));

const CELL = 3; // pixels per module
const MARGIN = 4; // modules of quiet zone

/** A canvas with the QR code of `text` (error correction M, the smallest version that fits). */
export function qrCanvas(text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Byte");
  qr.make();
  const count = qr.getModuleCount();
  const size = (count + 2 * MARGIN) * CELL;
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = "#000000";
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (qr.isDark(row, col)) ctx.fillRect((col + MARGIN) * CELL, (row + MARGIN) * CELL, CELL, CELL);
    }
  }
  return canvas;
}

/** The element showing `links`: one card per link. */
export function linkList(links) {
  const list = document.createElement("ul");
  list.className = "links";
  list.setAttribute("aria-label", say("links"));
  for (const link of Array.isArray(links) ? links : []) {
    if (!link || typeof link !== "object") continue;
    const label = String(link.label ?? link.url ?? "");
    const raw = String(link.url ?? "");
    const url = safeUrl(raw);
    const item = document.createElement("li");
    item.className = "link";
    if (link.kind) item.dataset.kind = String(link.kind);
    if (url) {
      const a = document.createElement("a");
      a.className = "link-button";
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = label;
      const qr = qrCanvas(url);
      qr.className = "qr";
      qr.setAttribute("role", "img");
      qr.setAttribute("aria-label", say("link_qr") + label);
      qr.dataset.url = url;
      item.append(a, qr);
    } else {
      const span = document.createElement("span");
      span.className = "link-text";
      span.textContent = `${label}: ${raw}`;
      const note = document.createElement("span");
      note.className = "link-unsafe";
      note.textContent = say("link_unsafe");
      item.append(span, note);
    }
    list.append(item);
  }
  return list;
}

/** Add the web `sources` ([{url, title}]) to `list` (an `ol.sources-list`), each URL once; the
 * number added. */
export function addSources(list, sources) {
  const shown = new Set([...list.children].map((li) => li.dataset.url));
  let added = 0;
  for (const source of Array.isArray(sources) ? sources : []) {
    if (!source || typeof source !== "object") continue;
    const raw = String(source.url ?? "");
    if (!raw || shown.has(raw)) continue;
    shown.add(raw);
    const url = safeUrl(raw);
    const title = String(source.title ?? "").trim() || raw;
    const item = document.createElement("li");
    item.className = "source";
    item.dataset.url = raw;
    if (url) {
      const a = document.createElement("a");
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = title;
      const site = document.createElement("span");
      site.className = "source-site";
      site.textContent = new URL(url).hostname;
      item.append(a, " ", site);
    } else {
      const span = document.createElement("span");
      span.className = "link-text";
      span.textContent = `${title}: ${raw}`;
      const note = document.createElement("span");
      note.className = "link-unsafe";
      note.textContent = say("link_unsafe");
      item.append(span, " ", note);
    }
    list.append(item);
    added += 1;
  }
  return added;
}
