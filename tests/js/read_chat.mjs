// The `ai` package's own client reading our /api/chat: DefaultChatTransport (which validates
// every part against uiMessageChunkSchema) and readUIMessageStream (which rebuilds the message).
// usage: node read_chat.mjs URL TOKEN CHAT_ID TEXT [abort-after-first-delta]
// Prints one JSON line {chunks, message, errors}: a part the schema rejects shows in errors
// (as does an `error` part's text); exits 1 if the request itself failed.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [url, token, chatId, text, mode] = process.argv.slice(2);
const transport = new DefaultChatTransport({
  api: url,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
});
const controller = new AbortController();
const messages = [{ id: 'user-1', role: 'user', parts: [{ type: 'text', text }] }];
const chunks = [];
const errors = [];
let message;
let failed = false;
try {
  const stream = await transport.sendMessages({
    chatId, messages, trigger: 'submit-message', messageId: undefined,
    abortSignal: controller.signal,
  });
  const recorded = stream.pipeThrough(new TransformStream({
    transform(chunk, out) {
      chunks.push(chunk);
      out.enqueue(chunk);
      if (mode === 'abort' && chunk.type === 'text-delta') controller.abort();
    },
  }));
  for await (const snapshot of readUIMessageStream({
    stream: recorded, onError: (e) => errors.push(String(e?.message ?? e)),
  })) {
    message = snapshot;
  }
} catch (e) {
  if (!(mode === 'abort' && e?.name === 'AbortError')) {
    failed = true;
    errors.push(`${e?.name}: ${e?.message ?? e}`);
  }
}
console.log(JSON.stringify({ chunks, message, errors, aborted: controller.signal.aborted }));
process.exit(failed ? 1 : 0);
