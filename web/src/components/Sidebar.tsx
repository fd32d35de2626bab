import { useState } from 'react';
import type { Conversation } from '../lib/store';

interface Props {
  conversations: Conversation[];
  activeId: string;
  onSelect: (id: string) => void;
  onNew: () => void;
  onRename: (id: string, title: string) => void;
  onDelete: (id: string) => void;
}

export function Sidebar({ conversations, activeId, onSelect, onNew, onRename, onDelete }: Props) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  return (
    <nav className="sidebar" aria-label="Conversations">
      <button type="button" className="primary new-chat" onClick={onNew} title="New chat (Alt+N)">
        + New chat
      </button>
      <ul className="conversations">
        {conversations.map((c) => (
          <li key={c.id} className={c.id === activeId ? 'active' : ''} data-testid="conversation-item">
            {renaming === c.id ? (
              <input
                autoFocus
                value={draft}
                aria-label="Conversation name"
                onChange={(e) => setDraft(e.target.value)}
                onBlur={() => (onRename(c.id, draft.trim() || c.title), setRenaming(null))}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') (onRename(c.id, draft.trim() || c.title), setRenaming(null));
                  else if (e.key === 'Escape') setRenaming(null);
                }}
              />
            ) : (
              <>
                <button type="button" className="title" onClick={() => onSelect(c.id)} aria-current={c.id === activeId}>
                  {c.title}
                </button>
                <span className="row-actions">
                  <button type="button" aria-label={`Rename ${c.title}`} onClick={() => (setDraft(c.title), setRenaming(c.id))}>
                    ✎
                  </button>
                  <button
                    type="button"
                    aria-label={`Delete ${c.title}`}
                    onClick={() => {
                      if (confirm(`Delete "${c.title}"?`)) onDelete(c.id);
                    }}
                  >
                    🗑
                  </button>
                </span>
              </>
            )}
          </li>
        ))}
      </ul>
    </nav>
  );
}
