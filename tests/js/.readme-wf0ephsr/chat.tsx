import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, type LanguageModelUsage, type UIMessage } from 'ai';
import { useState } from 'react';

const API = 'http://127.0.0.1:8000';
const headers = { Authorization: 'Bearer my-token' };   // with GEO_AGENT_API_TOKENS set

type GeoMessage = UIMessage<
  { sessionId: string; model?: string; usage?: LanguageModelUsage; modelCalls?: number;
    timings?: { firstChunkMs?: number; totalMs: number } },
  { 'map-action': Record<string, unknown>;
    'tool-progress': { tool: string; toolCallId: string; state: 'running' | 'done' | 'error'; ms?: number };
    links: { tool: string; links: { kind: string; label: string; url: string }[] };
    interrupted: { reason: string; retry: boolean } }
>;

export default function Chat({ chatId }: { chatId: string }) {
  const [input, setInput] = useState('');
  const [progress, setProgress] = useState('');
  const { messages, sendMessage, stop, status } = useChat<GeoMessage>({
    id: chatId,
    resume: true,                                  // a reload picks the running reply up again
    transport: new DefaultChatTransport({ api: `${API}/api/chat`, headers }),
    onData: (part) => {
      if (part.type === 'data-tool-progress')      // transient: only here, never in messages
        setProgress(part.data.state === 'running' ? `${part.data.tool} …` : '');
      if (part.type === 'data-map-action') console.log('map:', part.data);
    },
  });
  const stopReply = () => {                        // the server stops, then the page stops reading
    const last = messages[messages.length - 1];
    const assistantMessage = status === 'streaming' && last?.role === 'assistant' ? last : undefined;
    void fetch(`${API}/api/chat/${encodeURIComponent(chatId)}/stop`, {
      method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify(assistantMessage ? { assistantMessage } : {}),
    });
    void stop();
  };
  return (<div>
    {messages.map((m) => <div key={m.id}>
      <p>{m.role}: {m.parts.map((p) => p.type === 'text' ? p.text : '').join('')}</p>
      {m.metadata?.usage && <small>{m.metadata.model} · {m.metadata.usage.totalTokenz} tokens ·
        first chunk {m.metadata.timings?.firstChunkMs} ms</small>}
    </div>)}
    {progress && <p>{progress}</p>}
    <form onSubmit={(e) => { e.preventDefault(); sendMessage({ text: input }); setInput(''); }}>
      <input value={input} onChange={(e) => setInput(e.target.value)} />
      {(status === 'submitted' || status === 'streaming') &&
        <button type="button" onClick={stopReply}>停止</button>}
    </form></div>);
}
