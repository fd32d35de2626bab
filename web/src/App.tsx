import { useCallback, useEffect, useMemo, useState } from 'react';
import { ChatInterface } from './components/ChatInterface';
import { GPUStatus } from './components/GPUStatus';
import { LoadingProgress } from './components/LoadingProgress';
import { SettingsPanel } from './components/SettingsPanel';
import { Sidebar } from './components/Sidebar';
import { HttpModelClient } from './lib/httpClient';
import type { EngineStatus, LoadProgress, ModelClient, Timings } from './lib/modelClient';
import { loadSettings, saveSettings, type Settings } from './lib/settings';
import {
  deleteConversation, listConversations, newId, saveConversation, type Conversation,
} from './lib/store';

export function App() {
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const client: ModelClient = useMemo(() => new HttpModelClient('', settings.apiKey), [settings.apiKey]);
  const [status, setStatus] = useState<EngineStatus | null>(null);
  const [progress, setProgress] = useState<LoadProgress | null>(null);
  const [statusError, setStatusError] = useState('');
  const [models, setModels] = useState<string[]>([]);
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [activeId, setActiveId] = useState<string>(() => newId());
  const [lastTimings, setLastTimings] = useState<Timings | null>(null);
  const [showSettings, setShowSettings] = useState(false);
  const [showSidebar, setShowSidebar] = useState(false);

  const updateSettings = useCallback((s: Settings) => {
    setSettings(s);
    saveSettings(s);
  }, []);

  useEffect(() => {
    document.documentElement.dataset.theme = settings.theme;
  }, [settings.theme]);

  useEffect(() => {
    listConversations()
      .then((list) => {
        setConversations(list);
        if (list.length) setActiveId(list[0].id);
      })
      .catch(() => undefined)
      .finally(() => setLoaded(true));
  }, []);

  // Engine status: once at start, every 10 s, and after each reply (for memory and speeds).
  const refreshStatus = useCallback(() => {
    client
      .status()
      .then((s) => {
        setStatus(s);
        setStatusError('');
        setProgress(s.progress);
      })
      .catch((e: Error) => setStatusError(e.message));
  }, [client]);
  useEffect(() => {
    refreshStatus();
    const t = setInterval(refreshStatus, 10000);
    return () => clearInterval(t);
  }, [refreshStatus]);

  const loading = !status || status.state !== 'ready';
  useEffect(() => {
    if (!loading) return undefined;
    return client.watchProgress((p) => {
      setProgress(p);
      if (p.state !== 'loading') refreshStatus();
    });
  }, [client, loading, refreshStatus]);

  useEffect(() => {
    if (status?.state === 'ready') client.listModels().then((m) => setModels(m.map((x) => x.id))).catch(() => undefined);
  }, [client, status?.state]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey && (e.key === 'n' || e.key === 'N')) {
        e.preventDefault();
        setActiveId(newId());
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const onChange = useCallback((c: Conversation) => {
    setConversations((list) => [c, ...list.filter((x) => x.id !== c.id)]);
    void saveConversation(c);
  }, []);

  const onRename = useCallback((id: string, title: string) => {
    setConversations((list) =>
      list.map((c) => {
        if (c.id !== id) return c;
        const r = { ...c, title };
        void saveConversation(r);
        return r;
      }),
    );
  }, []);

  const onDelete = useCallback(
    (id: string) => {
      void deleteConversation(id);
      setConversations((list) => list.filter((c) => c.id !== id));
      if (id === activeId) setActiveId(newId());
    },
    [activeId],
  );

  const onTimings = useCallback(
    (t: Timings) => {
      setLastTimings(t);
      refreshStatus();
    },
    [refreshStatus],
  );

  const active = conversations.find((c) => c.id === activeId);
  const ready = status?.state === 'ready';
  return (
    <div className={`app ${showSidebar ? 'sidebar-open' : ''}`}>
      <header className="topbar">
        <button type="button" className="menu" aria-label="Conversations" onClick={() => setShowSidebar(!showSidebar)}>
          ☰
        </button>
        <h1>qwglm</h1>
        <GPUStatus status={status} last={lastTimings} />
        <div className="spacer" />
        <button
          type="button"
          aria-label="Toggle theme"
          onClick={() =>
            updateSettings({
              ...settings,
              theme: settings.theme === 'dark' ? 'light' : settings.theme === 'light' ? 'system' : 'dark',
            })
          }
          title={`Theme: ${settings.theme}`}
        >
          {settings.theme === 'dark' ? '☾' : settings.theme === 'light' ? '☀' : '◐'}
        </button>
        <button type="button" onClick={() => setShowSettings(!showSettings)} aria-expanded={showSettings}>
          Settings
        </button>
      </header>
      <Sidebar
        conversations={conversations}
        activeId={activeId}
        onSelect={(id) => (setActiveId(id), setShowSidebar(false))}
        onNew={() => (setActiveId(newId()), setShowSidebar(false))}
        onRename={onRename}
        onDelete={onDelete}
      />
      <main className="main">
        {statusError && !status ? (
          <div className="banner error" role="alert">Cannot reach the server: {statusError}</div>
        ) : null}
        <LoadingProgress progress={ready ? null : progress ?? status?.progress ?? null} />
        {loaded ? (
          <ChatInterface
            key={activeId}
            conversationId={activeId}
            initial={active}
            client={client}
            settings={settings}
            ready={ready}
            vision={!!status?.capabilities.vision}
            transcription={!!status?.capabilities.transcription}
            speech={!!status?.capabilities.speech}
            voices={status?.audio?.voices.map((v) => v.name) ?? []}
            onSettings={(patch) => updateSettings({ ...settings, ...patch })}
            onChange={onChange}
            onTimings={onTimings}
            onThinkingChange={(thinking) => updateSettings({ ...settings, thinking })}
          />
        ) : null}
      </main>
      {showSettings ? (
        <SettingsPanel settings={settings} models={models} onChange={updateSettings} onClose={() => setShowSettings(false)} />
      ) : null}
    </div>
  );
}
