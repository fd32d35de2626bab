// Every call the web app makes to a model goes through ModelClient. The HTTP server (`qwglm serve`) is the first
// implementation (httpClient.ts); the in-browser engine (WebAssembly + WebGPU) will be the second, so nothing
// outside src/lib may call fetch on the API directly.

export type Role = 'system' | 'user' | 'assistant';

export interface ChatTurn {
  role: Role;
  content: string;
  /** Images attached to a user turn, as data: URLs (sent once vision is active). */
  images?: string[];
}

export interface Sampling {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  max_tokens?: number;
  repetition_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
}

export interface ChatRequest {
  model?: string;
  messages: ChatTurn[];
  sampling: Sampling;
  thinking: boolean;
  signal?: AbortSignal;
}

/** Prefill (prompt_*) and decode (predicted_*) figures of one reply, as the server measured them. */
export interface Timings {
  cache_n: number;
  prompt_n: number;
  prompt_ms: number;
  prompt_per_second: number;
  predicted_n: number;
  predicted_ms: number;
  predicted_per_second: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type ChatEvent =
  | { type: 'reasoning'; text: string }
  | { type: 'content'; text: string }
  | { type: 'done'; finishReason: string; timings?: Timings; usage?: Usage };

export interface LoadProgress {
  state: 'loading' | 'ready' | 'error';
  phase: string;
  file: string;
  done: number;
  total: number;
  message: string;
}

export interface EngineStatus {
  state: 'loading' | 'ready' | 'error';
  model: { id: string; arch: string; dtype: string; weight_bytes: number; n_ctx: number };
  backend: string;
  device: string;
  memory: { rss_bytes: number; weight_bytes: number };
  slots: { total: number; busy: number; queued: number };
  capabilities: { chat: boolean; vision: boolean; transcription: boolean; speech: boolean };
  auth: boolean;
  progress: LoadProgress;
  /** Speeds of the last reply the server finished (any client's). */
  last?: { prefill_tokens_per_second: number; decode_tokens_per_second: number };
}

export interface ModelInfo {
  id: string;
}

/** An error the model side reported, with its HTTP status where there is one. */
export class ModelError extends Error {
  constructor(message: string, readonly status = 0, readonly code: string | null = null) {
    super(message);
    this.name = 'ModelError';
  }
}

export interface ModelClient {
  /** "http" for the server, "browser" for the in-browser engine. */
  readonly kind: string;
  listModels(): Promise<ModelInfo[]>;
  status(): Promise<EngineStatus>;
  /** Calls onProgress for every change of the model's load progress until it is ready or failed; returns a
   * function that stops watching. */
  watchProgress(onProgress: (p: LoadProgress) => void): () => void;
  /** Streams one reply. Aborting req.signal stops it (the iterator then ends without a 'done' event). */
  chat(req: ChatRequest): AsyncIterable<ChatEvent>;
}
