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
  /** The speech models: the recognizer's name and the voices (the first is the default). */
  audio?: { asr_model: string | null; voices: { name: string; sample_rate: number; n_speakers: number }[] };
  auth: boolean;
  progress: LoadProgress;
  /** Speeds of the last reply the server finished (any client's). */
  last?: { prefill_tokens_per_second: number; decode_tokens_per_second: number };
}

export interface ModelInfo {
  id: string;
}

export interface Transcript {
  text: string;
}

/** Synthesized speech as it arrives: 16-bit mono samples at sampleRate, one chunk at a time. */
export interface SpeechStream {
  sampleRate: number;
  chunks: AsyncIterable<Int16Array>;
}

export interface SpeakOptions {
  voice?: string;
  speed?: number;
  signal?: AbortSignal;
}

/** What the voice activity detector found in one block: event positions count samples since the session began. */
export interface VadResult {
  events: { type: 'speech_start' | 'speech_end'; sample: number }[];
  inSpeech: boolean;
  /** Samples the detector has seen in this session. */
  position: number;
  /** The session was (re)started by this call: positions count from its first sample. */
  fresh: boolean;
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
  /** Transcribes an audio file (WAV here). */
  transcribe(audio: Blob, signal?: AbortSignal): Promise<Transcript>;
  /** Speaks text, streamed sentence by sentence as the engine synthesizes it. */
  speak(text: string, opts?: SpeakOptions): Promise<SpeechStream>;
  /** Feeds mono samples at `rate` to the engine's voice activity detector session `session` (`reset` starts it
   * over). */
  vad(session: string, rate: number, samples: Float32Array, reset: boolean): Promise<VadResult>;
}
