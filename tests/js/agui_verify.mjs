// @ag-ui/client's own HttpAgent reading a recorded AG-UI response body (SSE bytes, a file)
// through its `fetch` hook: the same parsing, schema enforcement and event verification
// (verifyEvents) as over HTTP, for event sequences a test builds with our adapter.
// usage: node agui_verify.mjs BODY_FILE
// Prints one JSON line {events, messages, state, runErrors, failed}.
import { readFileSync } from 'node:fs';
import { HttpAgent } from '@ag-ui/client';

const body = readFileSync(process.argv[2]);
const agent = new HttpAgent({
  url: 'http://127.0.0.1:9/v1/agui',  // never dialled: `fetch` answers
  fetch: async () => new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } }),
  threadId: 'thread-1',
  initialMessages: [{ id: 'user-1', role: 'user', content: 'hi' }],
});
const events = [];
const runErrors = [];
let failed = null;
try {
  await agent.runAgent({ runId: 'run-1' }, {
    onEvent: ({ event }) => { events.push(event); },
    onRunErrorEvent: ({ event }) => { runErrors.push({ message: event.message, code: event.code }); },
    onRunFailed: ({ error }) => { failed = String(error?.message ?? error); },
  });
} catch (e) {
  failed = failed ?? String(e?.message ?? e);
}
console.log(JSON.stringify({ events, messages: agent.messages, state: agent.state, runErrors, failed }));
