// User settings, kept in localStorage.
import type { Sampling } from './modelClient';

export type Theme = 'system' | 'light' | 'dark';

export interface Settings {
  model: string;
  systemPrompt: string;
  thinking: boolean;
  sampling: Sampling;
  apiKey: string;
  theme: Theme;
  speakReplies: boolean;
  /** Piper voice for spoken replies; '' is the server's default. */
  voice: string;
  /** Image tokens a screen frame or a pasted picture may take (it is scaled down to fit). */
  imageTokens: number;
}

export const defaultSettings: Settings = {
  model: '',
  systemPrompt: '',
  thinking: true,
  sampling: {},
  apiKey: '',
  theme: 'system',
  speakReplies: false,
  voice: '',
  imageTokens: 1024,
};

const KEY = 'qwglm.settings';

export function loadSettings(): Settings {
  try {
    const raw = localStorage.getItem(KEY);
    if (raw) return { ...defaultSettings, ...JSON.parse(raw) };
  } catch {
    // unreadable: defaults
  }
  return { ...defaultSettings };
}

export function saveSettings(s: Settings): void {
  localStorage.setItem(KEY, JSON.stringify(s));
}
