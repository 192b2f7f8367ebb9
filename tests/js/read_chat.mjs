// The `ai` package's own client reading our /api/chat: DefaultChatTransport (which validates
// every part against uiMessageChunkSchema) and readUIMessageStream (which rebuilds the message).
// usage: node read_chat.mjs URL TOKEN CHAT_ID TEXT [MODE]
// MODE: abort (abort after the first delta, sending `resume: false` so the abort cancels the
// reply), abort-detached (abort without it: the reply runs on), resume (no new message: the
// transport's reconnectToStream, as useChat({ resume: true }) does; {"none": true} on a 204),
// regenerate (the message sent again with useChat's regenerate() trigger).
// Prints one JSON line {chunks, message, errors}: a part the schema rejects shows in errors
// (as does an `error` part's text); exits 1 if the request itself failed.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [url, token, chatId, text, mode] = process.argv.slice(2);
const transport = new DefaultChatTransport({
  api: url,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  body: mode === 'abort' ? { resume: false } : undefined,
});
const controller = new AbortController();
const messages = [{ id: 'user-1', role: 'user', parts: [{ type: 'text', text }] }];
const chunks = [];
const errors = [];
let message;
let failed = false;
try {
  const stream = mode === 'resume'
    ? await transport.reconnectToStream({ chatId })
    : await transport.sendMessages({
      chatId, messages, trigger: mode === 'regenerate' ? 'regenerate-message' : 'submit-message',
      messageId: undefined,
      abortSignal: controller.signal,
    });
  if (stream === null) {
    console.log(JSON.stringify({ none: true, chunks, errors }));
    process.exit(0);
  }
  const recorded = stream.pipeThrough(new TransformStream({
    transform(chunk, out) {
      chunks.push(chunk);
      out.enqueue(chunk);
      if (mode.startsWith('abort') && chunk.type === 'text-delta') controller.abort();
    },
  }));
  for await (const snapshot of readUIMessageStream({
    stream: recorded, onError: (e) => errors.push(String(e?.message ?? e)),
  })) {
    message = snapshot;
  }
} catch (e) {
  if (!(mode?.startsWith('abort') && e?.name === 'AbortError')) {
    failed = true;
    errors.push(`${e?.name}: ${e?.message ?? e}`);
  }
}
console.log(JSON.stringify({ chunks, message, errors, aborted: controller.signal.aborted }));
process.exit(failed ? 1 : 0);
