// The conversation's DOM. Everything from the tools and the server is set with textContent
// (never innerHTML): a POI named <img src=x onerror=...> shows as those characters. The answer
// is Markdown, rendered and sanitised by markdown.js (its raw HTML shown as text), again as it
// grows (at most every RENDER_EVERY_MS; what came since shows as plain text meanwhile).

import { say, TOOL_NAMES } from "./config.js";
import { addSources, linkList } from "./links.js";
import { renderMarkdown } from "./markdown.js";

const RENDER_EVERY_MS = 80;
const CONTAINERS = new Set(["DIV", "P", "UL", "OL", "LI", "BLOCKQUOTE", "TABLE", "THEAD", "TBODY",
  "TR", "TD", "TH", "H1", "H2", "H3", "H4", "H5", "H6", "PRE"]);

/** Where text that came after the last render goes meanwhile: the last block's end. */
function tailOf(root) {
  let node = root;
  while (node.lastElementChild && CONTAINERS.has(node.lastElementChild.nodeName)) node = node.lastElementChild;
  return node;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Show a tool's hand-off `links` in the assistant message `item`, after its text and the
 * links shown before; false when none can be shown. */
export function showLinks(item, tool, links) {
  const list = linkList(links);
  if (!list.childElementCount) return false;
  list.dataset.tool = String(tool ?? "");
  const after = [...item.querySelectorAll(":scope > ul.links")].pop() || item.querySelector(":scope > .text");
  item.insertBefore(list, after ? after.nextSibling : null);
  return true;
}

/** Show the web search's `sources` ([{url, title}]) under the answer of the assistant message
 * `item` (one list a reply, after its links); false when none was new. */
export function showSources(item, sources) {
  let box = item.querySelector(":scope > .sources");
  if (!box) {
    box = el("section", "sources");
    box.setAttribute("aria-label", say("sources"));
    box.append(el("p", "sources-title", say("sources")), el("ol", "sources-list"));
    const before = item.querySelector(":scope > p.error");
    item.insertBefore(box, before);
  }
  const added = addSources(box.querySelector("ol"), sources);
  if (!box.querySelector("li")) box.remove();
  return added > 0;
}

export class Conversation {
  constructor(list) {
    this.list = list;
  }

  clear() {
    this.list.replaceChildren();
  }

  scroll() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  user(text) {
    const item = el("li", "msg user");
    item.append(el("span", "who visually-hidden", "我："), el("p", "text", text));
    this.list.append(item);
    this.scroll();
    return item;
  }

  /** A new assistant message; returns a handle to fill it as events arrive. */
  assistant() {
    const item = el("li", "msg assistant");
    const tools = el("ul", "tools");
    tools.setAttribute("aria-label", "工具调用");
    const text = el("div", "text md");
    item.append(el("span", "who visually-hidden", "助手："), tools, text);
    this.list.append(item);
    this.scroll();
    const chips = new Map();
    let source = ""; // the answer's Markdown so far
    let timer = null;
    let rendered = 0; // when it was last rendered
    const render = () => {
      clearTimeout(timer);
      timer = null;
      rendered = performance.now();
      renderMarkdown(text, source);
      this.scroll();
    };
    const streaming = () => item.classList.contains("streaming");
    return {
      item,
      busy(on) {
        item.classList.toggle("streaming", on);
        item.setAttribute("aria-busy", on ? "true" : "false");
        if (!on) render(); // the whole answer, rendered once more
      },
      append: (chunk) => {
        source += chunk;
        if (!streaming()) { render(); return; }
        tailOf(text).append(chunk);
        if (!timer) timer = setTimeout(render, Math.max(0, RENDER_EVERY_MS - (performance.now() - rendered)));
        this.scroll();
      },
      set: (full) => { source = full; render(); },
      // Start over (a reply sent again after a restart cut it): no text, tools, links or errors.
      clear: () => {
        source = "";
        render();
        tools.replaceChildren();
        chips.clear();
        for (const p of item.querySelectorAll("p.error, ul.links, .sources")) p.remove();
      },
      // A call's chip is found by its tool_call_id (parallel calls of one tool pair up),
      // by the tool's name where no id is known (an older server).
      toolStart: (name, id) => {
        const shown = Object.hasOwn(TOOL_NAMES, name) ? TOOL_NAMES[name] : name;
        const chip = el("li", "tool running", shown);
        chip.title = name;
        tools.append(chip);
        const key = id || name;
        (chips.get(key) || chips.set(key, []).get(key)).push(chip);
      },
      toolEnd: (name, result, id) => {
        const chip = (chips.get(id || name) || []).shift();
        if (!chip) return;
        chip.classList.replace("running", "done");
        if (result) chip.title = `${name}: ${String(result).slice(0, 300)}`;
      },
      // A tool's hand-off links: buttons with QR codes, after the answer's text.
      links: (tool, links) => {
        if (showLinks(item, tool, links)) this.scroll();
      },
      // The web pages the answer used: a numbered list of links under it.
      sources: (sources) => {
        if (showSources(item, sources)) this.scroll();
      },
      error: (message) => {
        const p = el("p", "error", String(message));
        p.setAttribute("role", "alert");
        item.append(p);
        this.scroll();
      },
    };
  }

  /** The assistant message answering the `turn`-th user message (0 first), or null. */
  assistantAfter(turn) {
    let node = this.list.querySelectorAll(".msg.user")[turn]?.nextElementSibling;
    while (node && !node.classList.contains("user")) {
      if (node.classList.contains("assistant")) return node;
      node = node.nextElementSibling;
    }
    return null;
  }

  /** Redraw a stored conversation (GET /v1/sessions/{id}). */
  replay(messages) {
    this.clear();
    let current = null;
    for (const m of messages) {
      if (m.role === "user") {
        this.user(m.content);
        current = null;
      } else if (m.role === "assistant") {
        current = current || this.assistant();
        for (const call of m.tool_calls || []) current.toolStart(call.name);
        if (m.content) current.append(m.content);
        if (m.interrupted) current.item.append(el("p", "interrupted", "（回答被中断）"));
      } else if (m.role === "tool" && current) {
        current.toolEnd(m.name, m.content);
      }
    }
  }
}
