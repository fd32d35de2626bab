import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { SentenceSplitter, SpeechPlayer, type PlayerStats } from '../lib/audio/speech';
import { imageFileToDataUrl } from '../lib/images';
import type { ChatTurn, ModelClient, Timings } from '../lib/modelClient';
import type { Settings } from '../lib/settings';
import { newId, titleFrom, type ChatMessage, type Conversation } from '../lib/store';
import { Message } from './Message';
import { ScreenShare, type ScreenShareHandle } from './ScreenShare';
import { VoiceInterface } from './VoiceInterface';

const MAX_IMAGES = 8; // per message (the server takes up to 32)

interface Props {
  conversationId: string;
  initial: Conversation | undefined;
  client: ModelClient;
  settings: Settings;
  ready: boolean;
  vision: boolean;
  transcription: boolean;
  speech: boolean;
  voices: string[];
  onChange: (c: Conversation) => void;
  onTimings: (t: Timings) => void;
  onThinkingChange: (on: boolean) => void;
  onSettings: (patch: Partial<Settings>) => void;
}

export function ChatInterface(props: Props) {
  const { conversationId, initial, client, settings, ready, onChange, onTimings } = props;
  const [messages, setMessages] = useState<ChatMessage[]>(initial?.messages ?? []);
  const [input, setInput] = useState('');
  const [streaming, setStreaming] = useState(false);
  const [images, setImages] = useState<string[]>([]);
  const [attachError, setAttachError] = useState('');
  const [dragging, setDragging] = useState(false);
  const [partial, setPartial] = useState('');
  const [playerStats, setPlayerStats] = useState<PlayerStats>({
    speaking: false, sentences: 0, scheduled: 0, played: 0, error: '', context: 'none', clock: 0 });
  const player = useMemo(() => new SpeechPlayer(client, setPlayerStats), [client]);
  const screenRef = useRef<ScreenShareHandle>(null);
  const pendingVoice = useRef<string | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  const convRef = useRef<Conversation | undefined>(initial);
  const listRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const stickRef = useRef(true);
  // "Stop speaking" (or starting to talk) silences the rest of the reply being streamed, not just what is queued
  const speechMuted = useRef(false);
  const silence = useCallback(() => {
    speechMuted.current = true;
    player.stop();
  }, [player]);

  useEffect(() => () => abortRef.current?.abort(), []);
  useEffect(() => () => player.close(), [player]);
  useEffect(() => player.setVoice(settings.voice), [player, settings.voice]);
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

      // spoken replies: sentences go to the player as soon as the streamed text completes them
      const speak = props.speech && settings.speakReplies;
      const splitter = speak ? new SentenceSplitter() : null;
      if (speak) player.stop();
      speechMuted.current = false;

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
          if (ev.type === 'content') {
            reply.content += ev.text;
            for (const sentence of splitter?.push(ev.text) ?? []) if (!speechMuted.current) player.say(sentence);
          } else if (ev.type === 'reasoning') reply.reasoning += ev.text;
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
        else for (const sentence of splitter?.flush() ?? []) if (!speechMuted.current) player.say(sentence);
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
    [client, settings, persist, onTimings, player, props.speech],
  );

  const stop = useCallback(() => {
    abortRef.current?.abort();
    player.stop();
  }, [player]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && (abortRef.current || player.speaking)) stop();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [stop, player]);

  /** Sends text (the composer's, or a voice transcript) with the attached images and, in live mode, a fresh
   * frame of the shared screen. */
  const send = useCallback(
    (spoken?: string) => {
      const text = (spoken ?? input).trim();
      if (!text || streaming || !ready) return;
      player.unlock();
      const msg: ChatMessage = { id: newId(), role: 'user', content: text };
      const attach = props.vision ? [...images] : [];
      const live = props.vision ? screenRef.current?.liveFrame() : null;
      if (live) attach.push(live);
      if (attach.length) msg.images = attach.slice(0, MAX_IMAGES);
      if (spoken === undefined) setInput('');
      setImages([]);
      setAttachError('');
      void generate([...messages, msg]);
    },
    [input, streaming, ready, messages, generate, images, props.vision, player],
  );

  // A transcript that arrives while a reply streams interrupts it, then goes out once the reply has stopped.
  const onTranscript = useCallback(
    (text: string) => {
      if (streaming) {
        pendingVoice.current = text;
        stop();
      } else {
        send(text);
      }
    },
    [streaming, stop, send],
  );
  useEffect(() => {
    if (!streaming && pendingVoice.current) {
      const t = pendingVoice.current;
      pendingVoice.current = null;
      send(t);
    }
  }, [streaming, send]);

  const attachFiles = useCallback(
    async (files: File[]) => {
      const pics = files.filter((f) => f.type.startsWith('image/'));
      if (!pics.length) return false;
      if (!props.vision) {
        setAttachError('The model served now reads text only: images need a vision model (Qwen3-VL).');
        return true;
      }
      setAttachError('');
      for (const f of pics) {
        try {
          const url = await imageFileToDataUrl(f, settings.imageTokens);
          setImages((list) => (list.length < MAX_IMAGES ? [...list, url] : list));
        } catch (e) {
          setAttachError((e as Error).message);
        }
      }
      return true;
    },
    [props.vision, settings.imageTokens],
  );

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
    <section
      className={dragging ? 'chat dragging' : 'chat'}
      aria-label="Chat"
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={(e) => {
        setDragging(false);
        if (!e.dataTransfer.files.length) return;
        e.preventDefault();
        void attachFiles([...e.dataTransfer.files]);
      }}
    >
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
        {images.length ? (
          <div className="attachments" data-testid="attachments">
            {images.map((src, i) => (
              <div className="frame-chip" key={i}>
                <img src={src} alt={`image ${i + 1} to send`} />
                <button
                  type="button"
                  onClick={() => setImages((list) => list.filter((_, k) => k !== i))}
                  aria-label={`Remove image ${i + 1}`}
                >
                  ×
                </button>
              </div>
            ))}
          </div>
        ) : null}
        {attachError ? <div className="error small" role="alert">{attachError}</div> : null}
        {partial ? (
          <div className="voice-partial" data-testid="voice-partial" aria-live="polite">
            {partial}
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
          onPaste={(e) => {
            const files = [...e.clipboardData.files];
            if (files.some((f) => f.type.startsWith('image/'))) {
              e.preventDefault();
              void attachFiles(files);
            }
          }}
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
            <ScreenShare
              ref={screenRef}
              active={props.vision}
              budget={settings.imageTokens}
              onFrame={(f) => setImages((list) => (list.length < MAX_IMAGES ? [...list, f] : list))}
            />
            <VoiceInterface
              client={client}
              transcription={props.transcription}
              speech={props.speech}
              speakReplies={settings.speakReplies}
              onSpeakReplies={(on) => {
                if (!on) player.stop();
                props.onSettings({ speakReplies: on });
              }}
              voices={props.voices}
              voice={settings.voice}
              onVoice={(voice) => props.onSettings({ voice })}
              player={playerStats}
              onTranscript={onTranscript}
              onPartial={setPartial}
              onSpeechStart={silence}
              onGesture={() => player.unlock()}
              onStopSpeaking={silence}
            />
          </div>
          {streaming ? (
            <button type="button" className="stop" onClick={stop} data-testid="stop" aria-label="Stop (Esc)">
              Stop
            </button>
          ) : (
            <button type="submit" className="primary" disabled={!input.trim() || !ready} data-testid="send"
              onClick={() => player.unlock()}>
              Send
            </button>
          )}
        </div>
      </form>
    </section>
  );
}
