// What the server tells the page (agent/server/page.py writes it into index.html as inline JSON):
// its language, the optional events to ask for, every tool's name and the page's own texts in
// the user's language, and the base maps' tile URLs.

function read() {
  try {
    const config = JSON.parse(document.getElementById("page-config")?.textContent || "{}");
    return config && typeof config === "object" ? config : {};
  } catch {
    return {};
  }
}

const config = read();

/** The optional event types the page asks for (agent/events.py FRONT_END_EVENTS). */
export const EVENTS = Array.isArray(config.events) ? config.events.map(String) : [];

/** Tool name -> what the page calls it (prompts/catalogue.py tool_name_<tool>). */
export const TOOL_NAMES = config.tools && typeof config.tools === "object" ? config.tools : {};

/** The page's language ("zh" | "en"). */
export const LANGUAGE = config.language === "en" ? "en" : "zh";

/** Base map key -> its tile URL template (agent/server/page.py TILE_URLS). */
export const TILE_SOURCES = config.tiles && typeof config.tiles === "object" ? config.tiles : {};

const TEXTS = config.text && typeof config.text === "object" ? config.text : {};

/** The page text `key` in the page's language (prompts/catalogue.py page_<key>), `{name}`s
 * filled from `values`; the key itself when the server sent none. */
export function say(key, values = {}) {
  const template = Object.hasOwn(TEXTS, key) ? String(TEXTS[key]) : key;
  return template.replace(/\{(\w+)\}/g, (all, name) => (Object.hasOwn(values, name) ? String(values[name]) : all));
}
