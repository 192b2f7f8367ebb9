// What the server tells the page (agent/server/page.py writes it into index.html as inline JSON):
// the optional events to ask for and every tool's name in the user's language.

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
