// The `ai` package's own chat (AbstractChat, what useChat wraps) on our /api/chat, used as the
// README's useChat snippet uses it: message.metadata, onData for transient parts, and the stop
// button (the documented POST /api/chat/{id}/stop with the shown assistant message, then stop()).
// usage: node chat_client.mjs BASE_URL TOKEN CHAT_ID TEXT [MODE [STOP_BASE_URL]]
// MODE: "" (send, read the reply to its end), stop (stop once the answer shows STOP_AFTER
// characters or more, as the snippet's stop button does; the stop call goes to STOP_BASE_URL,
// another instance, when given).
// Prints one JSON line {chunks, message, data, errors, status, stop?}: chunks as the transport
// got them (validated by its uiMessageChunkSchema), the last assistant message, every part
// onData saw; exits 1 if the chat failed other than by the stop.
import { AbstractChat, DefaultChatTransport } from 'ai';

const STOP_AFTER = 6;
const [base, token, chatId, text, mode = '', stopBase = base] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const chunks = [];
const data = [];
const errors = [];
let stopping;

class State {  // a plain ChatState (React's keeps the same in hooks)
  status = 'ready';
  error = undefined;
  messages = [];
  pushMessage = (m) => { this.messages = [...this.messages, m]; changed(); };
  popMessage = () => { this.messages = this.messages.slice(0, -1); changed(); };
  replaceMessage = (i, m) => {
    this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)];
    changed();
  };
  snapshot = (thing) => structuredClone(thing);
}

const transport = new DefaultChatTransport({ api: `${base}/api/chat`, headers });
const send = transport.sendMessages.bind(transport);
transport.sendMessages = async (options) => (await send(options)).pipeThrough(
  new TransformStream({ transform(chunk, out) { chunks.push(chunk); out.enqueue(chunk); } }));

const state = new State();
const chat = new AbstractChat({
  id: chatId, transport, state,
  onData: (part) => data.push(part),
  onError: (e) => errors.push(String(e?.message ?? e)),
});

function answerText(message) {
  return (message?.parts ?? []).filter((p) => p.type === 'text').map((p) => p.text).join('');
}

// The README snippet's stop button: tell the server (it stops the model request and keeps the
// answer as shown), then stop reading.
function stop() {
  const last = chat.messages[chat.messages.length - 1];
  const assistantMessage = chat.status === 'streaming' && last?.role === 'assistant'
    ? last : undefined;
  const request = fetch(`${stopBase}/api/chat/${encodeURIComponent(chatId)}/stop`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(assistantMessage ? { assistantMessage } : {}),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  const shown = answerText(assistantMessage);
  const pressed = Date.now();
  return Promise.all([request, chat.stop()]).then(([response]) => ({
    response, shown, pressed, answered: Date.now(),
  }));
}

function changed() {
  if (mode !== 'stop' || stopping) return;
  const last = state.messages[state.messages.length - 1];
  if (last?.role === 'assistant' && answerText(last).length >= STOP_AFTER) {
    stopping = stop();
  }
}

let failed = false;
try {
  await chat.sendMessage({ text });
} catch (e) {
  failed = true;
  errors.push(`${e?.name}: ${e?.message ?? e}`);
}
const stopped = stopping ? await stopping : undefined;
const message = chat.messages.filter((m) => m.role === 'assistant').at(-1);
console.log(JSON.stringify({
  chunks, message, data, errors, status: chat.status, stop: stopped,
  text: answerText(message),
}));
process.exit(failed ? 1 : 0);
