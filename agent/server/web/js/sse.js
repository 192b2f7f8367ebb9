// A small reader of text/event-stream bodies (the EventSource parsing rules) for fetch responses:
// EventSource itself can only GET and cannot send an Authorization header.

/** Yields {event, data, id, retry} for each event of `response`'s body (`retry`: the event
 * block's own `retry:` field in ms, else null); `:` comments are skipped. */
export async function* readSSE(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  let data = [];
  let id = "";
  let retry = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let match;
      while ((match = /\r\n|\r|\n/.exec(buffer)) !== null) {
        if (match[0] === "\r" && match.index === buffer.length - 1) break; // maybe \r\n split
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n"), id, retry };
          event = "";
          data = [];
          retry = null;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
        else if (field === "id") id = val;
        else if (field === "retry" && /^\d+$/.test(val)) retry = Number(val);
      }
    }
  } finally {
    reader.releaseLock();
  }
}
