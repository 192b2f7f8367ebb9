// Tool approval the way a stock useChat page does it, with the `ai` package's own Chat
// (AbstractChat with a plain state, as @ai-sdk/react's Chat has) over DefaultChatTransport:
// sendMessage, then addToolApprovalResponse on the `approval-requested` tool part, and
// sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses sends it.
// usage: node approval_chat.mjs URL TOKEN CHAT_ID TEXT approve|refuse [REASON] [ANSWER_URL]
// ANSWER_URL: the answer goes to another instance (a reload behind a load balancer).
// Prints one JSON line {messages, requested, bodies, errors}; exits 1 if a request failed.
import {
  AbstractChat, DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses,
} from 'ai';

const [url, token, chatId, text, mode, reason, answerUrl] = process.argv.slice(2);

class PlainState {
  constructor() { this.status = 'ready'; this.error = undefined; this.messages = []; }
  pushMessage(m) { this.messages = this.messages.concat(m); }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(i, m) { this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)]; }
  snapshot(thing) { return structuredClone(thing); }
}

const bodies = [];
const errors = [];
let finished = 0;
let onSecond;
const second = new Promise((resolve) => { onSecond = resolve; });
const chat = new AbstractChat({
  id: chatId,
  state: new PlainState(),
  transport: new DefaultChatTransport({
    api: url,
    headers: { Authorization: `Bearer ${token}` },
    fetch: async (input, init) => {
      bodies.push(JSON.parse(init.body));
      return fetch(bodies.length > 1 && answerUrl ? answerUrl : input, init);
    },
  }),
  sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  onError: (e) => errors.push(String(e?.message ?? e)),
  onFinish: () => { finished += 1; if (finished === 2) onSecond(); },
});

const timeout = (ms) => new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), ms));
let failed = false;
let requested = null;
try {
  await chat.sendMessage({ text });
  const last = chat.messages[chat.messages.length - 1];
  requested = structuredClone(last);
  const part = last.parts.find((p) => p.state === 'approval-requested');
  if (!part) throw new Error('no approval-requested tool part');
  await chat.addToolApprovalResponse({
    id: part.approval.id, approved: mode === 'approve', reason: reason || undefined,
  });
  await Promise.race([second, timeout(30000)]);
} catch (e) {
  failed = true;
  errors.push(`${e?.name}: ${e?.message ?? e}`);
}
console.log(JSON.stringify({ messages: chat.messages, requested, bodies, errors, status: chat.status }));
process.exit(failed ? 1 : 0);
