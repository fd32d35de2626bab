import type { Sampling } from '../lib/modelClient';
import type { Settings, Theme } from '../lib/settings';

interface Props {
  settings: Settings;
  models: string[];
  onChange: (s: Settings) => void;
  onClose: () => void;
}

const fields: { key: keyof Sampling; label: string; step: number; min: number; max: number; hint: string }[] = [
  { key: 'temperature', label: 'Temperature', step: 0.05, min: 0, max: 2, hint: '0 is greedy' },
  { key: 'top_p', label: 'Top p', step: 0.01, min: 0, max: 1, hint: '1 is off' },
  { key: 'top_k', label: 'Top k', step: 1, min: 0, max: 1000, hint: '0 is off' },
  { key: 'min_p', label: 'Min p', step: 0.01, min: 0, max: 1, hint: '0 is off' },
  { key: 'repetition_penalty', label: 'Repetition penalty', step: 0.01, min: 0.5, max: 2, hint: '1 is off' },
  { key: 'presence_penalty', label: 'Presence penalty', step: 0.1, min: -2, max: 2, hint: '0 is off' },
  { key: 'max_tokens', label: 'Max tokens', step: 1, min: 1, max: 1 << 20, hint: 'empty: until done' },
  { key: 'seed', label: 'Seed', step: 1, min: 0, max: 2 ** 31, hint: 'empty: random' },
];

export function SettingsPanel({ settings, models, onChange, onClose }: Props) {
  const set = (patch: Partial<Settings>) => onChange({ ...settings, ...patch });
  const setSampling = (key: keyof Sampling, raw: string) => {
    const sampling = { ...settings.sampling };
    const v = Number(raw);
    if (raw === '' || !Number.isFinite(v)) delete sampling[key];
    else sampling[key] = v;
    set({ sampling });
  };
  return (
    <aside className="settings" role="dialog" aria-label="Settings" data-testid="settings">
      <div className="settings-head">
        <h2>Settings</h2>
        <button type="button" onClick={onClose} aria-label="Close settings">×</button>
      </div>
      <label>
        Model
        <select value={settings.model} onChange={(e) => set({ model: e.target.value })}>
          <option value="">(the served model)</option>
          {models.map((m) => (
            <option key={m} value={m}>{m}</option>
          ))}
        </select>
      </label>
      <label>
        System prompt
        <textarea
          rows={4}
          value={settings.systemPrompt}
          placeholder="You are a helpful assistant."
          onChange={(e) => set({ systemPrompt: e.target.value })}
        />
      </label>
      <label className="toggle">
        <input type="checkbox" checked={settings.thinking} onChange={(e) => set({ thinking: e.target.checked })} />
        Thinking (reason before answering)
      </label>
      <fieldset>
        <legend>Sampling (empty: the model's defaults)</legend>
        <div className="grid">
          {fields.map((f) => (
            <label key={f.key}>
              {f.label}
              <input
                type="number"
                step={f.step}
                min={f.min}
                max={f.max}
                placeholder={f.hint}
                value={settings.sampling[f.key] ?? ''}
                onChange={(e) => setSampling(f.key, e.target.value)}
              />
            </label>
          ))}
        </div>
      </fieldset>
      <label>
        Image budget (tokens per screen frame or picture; 1024 is about 1344 x 768)
        <input
          type="number"
          min={64}
          max={16384}
          step={64}
          defaultValue={settings.imageTokens}
          data-testid="image-tokens"
          onChange={(e) => {
            const v = Math.round(Number(e.target.value));
            if (Number.isFinite(v) && v >= 64 && v <= 16384) set({ imageTokens: v });
          }}
        />
      </label>
      <label>
        Theme
        <select value={settings.theme} onChange={(e) => set({ theme: e.target.value as Theme })}>
          <option value="system">System</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </label>
      <label>
        API key (when the server was started with --api-key)
        <input
          type="password"
          autoComplete="off"
          value={settings.apiKey}
          onChange={(e) => set({ apiKey: e.target.value })}
        />
      </label>
    </aside>
  );
}
