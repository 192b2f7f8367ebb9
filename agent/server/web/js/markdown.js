// The assistant's answer as Markdown (Qwen writes lists, bold, tables): marked renders it,
// DOMPurify sanitises the result, and the sanitised DOM (never an HTML string) is put in place.
// Raw HTML in the answer is shown as text; images are shown as their text; links are kept only
// with a safe scheme (safety.js) and open in a new tab.
import { Marked } from "../vendor/marked/marked.esm.js";
import DOMPurify from "../vendor/dompurify/purify.es.mjs";
import { safeUrl } from "./safety.js";

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const marked = new Marked({ gfm: true, breaks: true });
marked.use({
  renderer: {
    html({ text, block }) { // the model's (or a provider's) HTML: its characters, not markup
      return block ? `<p>${escapeHtml(text.trim())}</p>\n` : escapeHtml(text);
    },
    image({ text }) {
      return escapeHtml(text);
    },
    link({ href, title, tokens }) {
      const inner = this.parser.parseInline(tokens);
      const url = safeUrl(href);
      if (!url) return inner;
      return `<a href="${escapeHtml(url)}"${title ? ` title="${escapeHtml(title)}"` : ""}>${inner}</a>`;
    },
  },
});

const ALLOWED_TAGS = ["p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol",
  "li", "table", "thead", "tbody", "tr", "th", "td", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "a"];

const purify = DOMPurify(window);
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A") {
    const url = safeUrl(node.getAttribute("href"));
    if (url) {
      node.setAttribute("href", url);
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    } else {
      node.removeAttribute("href");
    }
  }
});

const CONFIG = {
  ALLOWED_TAGS,
  ALLOWED_ATTR: ["href", "title", "align", "start"],
  ALLOWED_URI_REGEXP: /^(?:https:|geo:|amapuri:)/i,
  ADD_URI_SAFE_ATTR: ["align", "start"], // not URLs: not held to the schemes above
  RETURN_DOM_FRAGMENT: true,
};

const BLOCKS = new Set(["UL", "OL", "LI", "TABLE", "THEAD", "TBODY", "TR", "BLOCKQUOTE"]);

/** The newlines marked puts between blocks: dropped, so the text reads as written (spaces
 * between words and code blocks keep theirs). */
function tidy(fragment) {
  const walker = document.createTreeWalker(fragment, NodeFilter.SHOW_TEXT);
  const blank = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentNode;
    if (!node.data.trim() && node.data.includes("\n")
        && (parent === fragment || BLOCKS.has(parent.nodeName))) blank.push(node);
  }
  for (const node of blank) node.remove();
  return fragment;
}

/** The sanitised DOM of Markdown `source`. */
export function markdown(source) {
  return tidy(purify.sanitize(marked.parse(String(source)), CONFIG));
}

/** Show Markdown `source` as `target`'s content. */
export function renderMarkdown(target, source) {
  target.replaceChildren(markdown(source));
}
