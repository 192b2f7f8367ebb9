// @ag-ui/client's own HttpAgent running our POST /v1/agui. Its runAgent() pipes every event
// through the protocol's enforcement (enforceEvents: the schema), chunk expansion and
// verification (verifyEvents: the order rules) before the subscriber sees it, so an event
// the protocol rejects fails the run (it shows in `failed`).
// usage: node agui_run.mjs URL TOKEN THREAD_ID TEXT [FORWARDED_PROPS_JSON] [STATE_JSON] [abort]
// abort: agent.abortRun() at the first TEXT_MESSAGE_CONTENT (what a stop button does);
// stop: POST /v1/chat/{RUN_STARTED.metadata.messageId}/stop there instead (the run reads on).
// Prints one JSON line {events, messages, state, runErrors, failed}; exits 0 either way.
import { HttpAgent } from '@ag-ui/client';

const [url, token, threadId, text, forwarded, state, mode] = process.argv.slice(2);
const agent = new HttpAgent({
  url,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  threadId,
  initialMessages: [{ id: 'user-1', role: 'user', content: text }],
  initialState: state ? JSON.parse(state) : {},
});
const events = [];
const runErrors = [];
let failed = null;
let messageId;
let stopping = null;
try {
  await agent.runAgent(
    { runId: 'run-1', forwardedProps: forwarded ? JSON.parse(forwarded) : {} },
    {
      onEvent: ({ event }) => {
        events.push(event);
        if (event.type === 'RUN_STARTED') messageId = event.metadata?.messageId;
        if (event.type !== 'TEXT_MESSAGE_CONTENT' || stopping) return;
        if (mode === 'abort') agent.abortRun();
        if (mode === 'stop') {
          stopping = fetch(new URL(`/v1/chat/${messageId}/stop`, url), {
            method: 'POST', headers: { Authorization: `Bearer ${token}` },
          }).then((r) => r.status);
        }
      },
      onRunErrorEvent: ({ event }) => { runErrors.push({ message: event.message, code: event.code }); },
      onRunFailed: ({ error }) => { failed = String(error?.message ?? error); },
    },
  );
} catch (e) {
  failed = failed ?? String(e?.message ?? e);
}
console.log(JSON.stringify({
  events, messages: agent.messages, state: agent.state, runErrors, failed,
  aborted: agent.abortController.signal.aborted, stopStatus: await stopping,
}));
