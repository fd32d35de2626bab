import { memo, useMemo, useState } from 'react';
import { renderMarkdown } from '../lib/markdown';
import { formatRate } from '../lib/format';
import type { ChatMessage } from '../lib/store';

interface Props {
  message: ChatMessage;
  streaming: boolean;
  canRegenerate: boolean;
  disabled: boolean;
  onRegenerate: () => void;
  onEdit: (text: string) => void;
}

async function copyText(text: string) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // clipboard refused (insecure origin): fall back to a selection copy
    const ta = document.createElement('textarea');
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
}

function onCodeCopy(e: React.MouseEvent) {
  const btn = (e.target as HTMLElement).closest('.copy-code');
  if (!btn) return;
  const code = btn.closest('.codeblock')?.querySelector('pre');
  if (code) {
    void copyText(code.textContent ?? '');
    btn.textContent = 'Copied';
    setTimeout(() => (btn.textContent = 'Copy'), 1200);
  }
}

function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div className="markdown" onClick={onCodeCopy} dangerouslySetInnerHTML={{ __html: html }} />;
}

function MessageView({ message, streaming, canRegenerate, disabled, onRegenerate, onEdit }: Props) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const [copied, setCopied] = useState(false);
  const thinkingNow = streaming && !message.content;
  const isUser = message.role === 'user';

  if (editing) {
    return (
      <div className="message user editing" data-testid="message-user">
        <textarea
          className="edit-box"
          value={draft}
          autoFocus
          aria-label="Edit message"
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              setEditing(false);
              onEdit(draft);
            } else if (e.key === 'Escape') {
              setEditing(false);
            }
          }}
        />
        <div className="actions">
          <button type="button" className="primary" onClick={() => (setEditing(false), onEdit(draft))}>
            Save &amp; send
          </button>
          <button type="button" onClick={() => setEditing(false)}>Cancel</button>
        </div>
      </div>
    );
  }

  return (
    <div className={`message ${message.role}`} data-testid={`message-${message.role}`}>
      <div className="role">{isUser ? 'You' : 'Assistant'}</div>
      {message.images?.length ? (
        <div className="attached-images">
          {message.images.map((src, i) => (
            <img key={i} className="attached" src={src} alt={`attached image ${i + 1}`} data-testid="message-image" />
          ))}
        </div>
      ) : null}
      {message.reasoning ? (
        <details className="thinking" open={thinkingNow} data-testid="thinking">
          <summary>{thinkingNow ? 'Thinking…' : 'Thought process'}</summary>
          <div className="thinking-body">{message.reasoning}</div>
        </details>
      ) : null}
      {isUser ? (
        <div className="plain">{message.content}</div>
      ) : (
        <Markdown text={message.content} />
      )}
      {streaming && !message.content && !message.reasoning ? <div className="typing" aria-label="waiting">●●●</div> : null}
      {message.error ? <div className="error" role="alert">{message.error}</div> : null}
      {message.stopped ? <div className="note">Stopped.</div> : null}
      {!streaming ? (
        <div className="actions">
          <button
            type="button"
            aria-label="Copy message"
            onClick={() => {
              void copyText(message.content);
              setCopied(true);
              setTimeout(() => setCopied(false), 1200);
            }}
          >
            {copied ? 'Copied' : 'Copy'}
          </button>
          {isUser ? (
            <button type="button" disabled={disabled} onClick={() => (setDraft(message.content), setEditing(true))}>
              Edit
            </button>
          ) : null}
          {canRegenerate ? (
            <button type="button" disabled={disabled} onClick={onRegenerate} data-testid="regenerate">
              Regenerate
            </button>
          ) : null}
          {message.timings ? (
            <span className="stats" title="prefill / decode speed of this reply">
              {formatRate(message.timings.prompt_per_second)} prefill · {formatRate(message.timings.predicted_per_second)}{' '}
              decode · {message.timings.predicted_n} tokens
            </span>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

export const Message = memo(MessageView);
