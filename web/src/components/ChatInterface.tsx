import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatTurn, ModelClient, Timings } from '../lib/modelClient';
import type { Settings } from '../lib/settings';
import { newId, titleFrom, type ChatMessage, type Conversation } from '../lib/store';
import { Message } from './Message';
import { ScreenShare } from './ScreenShare';
import { VoiceInterface } from './VoiceInterface';

interface Props {
  conversationId: string;
  initial: Conversation | undefined;
  client: ModelClient;
  settings: Settings;
  ready: boolean;
  vision: boolean;
  transcription: boolean;
  speech: boolean;
  onChange: (c: Conversation) => void;
  onTimings: (t: Timings) => void;
  onThinkingChange: (on: boolean) => void;
}

export function ChatInterface(props: Props) {
  const { conversationId, initial, client, settings, ready, onChange, onTimings } = props;
  const [messages, setMessages] = useState<ChatMessage[]>(initial?.messages ?? []);
  const [input, setInput] = useState('');
  const [streaming, setStreaming] = useState(false);
  const [frame, setFrame] = useState<string | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  const convRef = useRef<Conversation | undefined>(initial);
  const listRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const stickRef = useRef(true);

  useEffect(() => () => abortRef.current?.abort(), []);
  useEffect(() => inputRef.current?.focus(), []);

  // Follow the reply as it streams unless the user scrolled up.
  useEffect(() => {
    const el = listRef.current;
    if (el && stickRef.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const persist = useCallback(
    (msgs: ChatMessage[]) => {
      const now = Date.now();
      const first = msgs.find((m) => m.role === 'user');
      const prev = convRef.current;
      const c: Conversation = {
        id: conversationId,
        title: prev?.title && prev.title !== 'New chat' ? prev.title : titleFrom(first?.content ?? ''),
        createdAt: prev?.createdAt ?? now,
        updatedAt: now,
        messages: msgs,
      };
      convRef.current = c;
      onChange(c);
    },
    [conversationId, onChange],
  );

  const generate = useCallback(
    async (history: ChatMessage[]) => {
      const ctl = new AbortController();
      abortRef.current = ctl;
      const reply: ChatMessage = { id: newId(), role: 'assistant', content: '', reasoning: '' };
      let current = [...history, reply];
      setMessages(current);
      persist(history);
      setStreaming(true);
      stickRef.current = true;

      const turns: ChatTurn[] = [];
      if (settings.systemPrompt.trim()) turns.push({ role: 'system', content: settings.systemPrompt });
      for (const m of history) turns.push({ role: m.role, content: m.content, images: m.images });

      // Render at most once per animation frame however fast tokens arrive.
      let pending = false;
      const flush = () => {
        pending = false;
        current = [...history, { ...reply }];
        setMessages(current);
      };
      const schedule = () => {
        if (!pending) {
          pending = true;
          requestAnimationFrame(flush);
        }
      };
      try {
        for await (const ev of client.chat({
          model: settings.model || undefined,
          messages: turns,
          sampling: settings.sampling,
          thinking: settings.thinking,
          signal: ctl.signal,
        })) {
          if (ev.type === 'content') reply.content += ev.text;
          else if (ev.type === 'reasoning') reply.reasoning += ev.text;
          else {
            reply.finishReason = ev.finishReason;
            if (ev.timings) {
              reply.timings = ev.timings;
              onTimings(ev.timings);
            }
          }
          schedule();
        }
        if (ctl.signal.aborted) reply.stopped = true;
      } catch (e) {
        reply.error = (e as Error).message;
      }
      if (!reply.reasoning) delete reply.reasoning;
      const final = [...history, { ...reply }];
      pending = true; // no late frame may overwrite the final state
      setMessages(final);
      persist(final);
      setStreaming(false);
      abortRef.current = null;
      inputRef.current?.focus();
    },
    [client, settings, persist, onTimings],
  );

  const stop = useCallback(() => abortRef.current?.abort(), []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && abortRef.current) stop();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [stop]);

  const send = useCallback(() => {
    const text = input.trim();
    if (!text || streaming || !ready) return;
    const msg: ChatMessage = { id: newId(), role: 'user', content: text };
    if (frame && props.vision) msg.images = [frame];
    setInput('');
    setFrame(null);
    void generate([...messages, msg]);
  }, [input, streaming, ready, messages, generate, frame, props.vision]);

  const regenerate = useCallback(() => {
    if (streaming) return;
    let end = messages.length;
    while (end > 0 && messages[end - 1].role === 'assistant') end--;
    if (end > 0) void generate(messages.slice(0, end));
  }, [messages, streaming, generate]);

  const editAndResend = useCallback(
    (index: number, text: string) => {
      if (streaming || !text.trim()) return;
      const edited = { ...messages[index], content: text.trim(), id: newId() };
      void generate([...messages.slice(0, index), edited]);
    },
    [messages, streaming, generate],
  );

  const lastAssistant = messages.length - 1;
  return (
    <section className="chat" aria-label="Chat">
      <div
        className="messages"
        ref={listRef}
        onScroll={(e) => {
          const el = e.currentTarget;
          stickRef.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
        aria-live="polite"
      >
        {messages.length === 0 ? (
          <div className="empty">
            <h2>What can I help with?</h2>
            <p>Everything runs on this machine. Enter sends, Shift+Enter adds a line, Esc stops a reply.</p>
          </div>
        ) : null}
        {messages.map((m, i) => (
          <Message
            key={m.id}
            message={m}
            streaming={streaming && i === lastAssistant && m.role === 'assistant'}
            canRegenerate={m.role === 'assistant' && i === lastAssistant}
            disabled={streaming || !ready}
            onRegenerate={regenerate}
            onEdit={(t) => editAndResend(i, t)}
          />
        ))}
      </div>
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        {frame ? (
          <div className="frame-chip">
            <img src={frame} alt="screen frame to attach" />
            <button type="button" onClick={() => setFrame(null)} aria-label="Remove frame">×</button>
          </div>
        ) : null}
        <textarea
          ref={inputRef}
          data-testid="composer"
          value={input}
          rows={Math.min(8, Math.max(1, input.split('\n').length))}
          placeholder={ready ? 'Message the assistant' : 'The model is loading…'}
          aria-label="Message"
          onChange={(e) => setInput(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              send();
            } else if (e.key === 'Escape' && streaming) {
              e.preventDefault();
              stop();
            }
          }}
        />
        <div className="composer-bar">
          <div className="tools">
            <label className="toggle" title="Let the model think before it answers">
              <input
                type="checkbox"
                checked={settings.thinking}
                onChange={(e) => props.onThinkingChange(e.target.checked)}
              />
              Thinking
            </label>
            <ScreenShare active={props.vision} onFrame={setFrame} />
            <VoiceInterface
              transcription={props.transcription}
              speech={props.speech}
              onTranscript={(t) => setInput((v) => (v ? v + ' ' : '') + t)}
            />
          </div>
          {streaming ? (
            <button type="button" className="stop" onClick={stop} data-testid="stop" aria-label="Stop (Esc)">
              Stop
            </button>
          ) : (
            <button type="submit" className="primary" disabled={!input.trim() || !ready} data-testid="send">
              Send
            </button>
          )}
        </div>
      </form>
    </section>
  );
}
