import type {
  ChatEvent, ChatRequest, ChatTurn, EngineStatus, LoadProgress, ModelClient, ModelInfo, SpeakOptions, SpeechStream,
  Transcript, VadResult,
} from './modelClient';
import { ModelError } from './modelClient';
import { readSse } from './sse';

/** ModelClient for `qwglm serve` (or any OpenAI-compatible server, minus the /api extras). */
export class HttpModelClient implements ModelClient {
  readonly kind = 'http';

  constructor(private baseUrl = '', private apiKey = '') {}

  private headers(json = false): Record<string, string> {
    const h: Record<string, string> = {};
    if (json) h['Content-Type'] = 'application/json';
    if (this.apiKey) h['Authorization'] = `Bearer ${this.apiKey}`;
    return h;
  }

  private async check(res: Response): Promise<Response> {
    if (res.ok) return res;
    let message = `${res.status} ${res.statusText}`;
    let code: string | null = null;
    try {
      const body = await res.json();
      if (body?.error?.message) message = body.error.message;
      code = body?.error?.code ?? null;
    } catch {
      // not JSON: keep the status line
    }
    throw new ModelError(message, res.status, code);
  }

  async listModels(): Promise<ModelInfo[]> {
    const res = await this.check(await fetch(`${this.baseUrl}/v1/models`, { headers: this.headers() }));
    const body = await res.json();
    return (body.data ?? []).map((m: { id: string }) => ({ id: m.id }));
  }

  async status(): Promise<EngineStatus> {
    const res = await this.check(await fetch(`${this.baseUrl}/api/status`, { headers: this.headers() }));
    return res.json();
  }

  watchProgress(onProgress: (p: LoadProgress) => void): () => void {
    const ctl = new AbortController();
    const run = async () => {
      for (let attempt = 0; !ctl.signal.aborted; attempt++) {
        try {
          const res = await this.check(
            await fetch(`${this.baseUrl}/api/progress`, { headers: this.headers(), signal: ctl.signal }),
          );
          if (!res.body) return;
          for await (const ev of readSse(res.body)) {
            const p = JSON.parse(ev.data) as LoadProgress;
            onProgress(p);
            if (p.state !== 'loading') return;
          }
        } catch (e) {
          if (ctl.signal.aborted) return;
          if (e instanceof ModelError && e.status === 401) {
            onProgress({ state: 'error', phase: 'error', file: '', done: 0, total: 0, message: e.message });
            return;
          }
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * (attempt + 1))));
      }
    };
    void run();
    return () => ctl.abort();
  }

  private body(req: ChatRequest) {
    const messages = req.messages.map((m: ChatTurn) =>
      m.images && m.images.length
        ? {
            role: m.role,
            // images first, then the question about them, as Qwen-VL's examples put them
            content: [
              ...m.images.map((url) => ({ type: 'image_url', image_url: { url } })),
              { type: 'text', text: m.content },
            ],
          }
        : { role: m.role, content: m.content },
    );
    const s = req.sampling;
    const b: Record<string, unknown> = {
      messages,
      stream: true,
      stream_options: { include_usage: true },
      chat_template_kwargs: { enable_thinking: req.thinking },
    };
    if (req.model) b.model = req.model;
    for (const k of Object.keys(s) as (keyof typeof s)[]) {
      const v = s[k];
      if (typeof v === 'number' && Number.isFinite(v)) b[k] = v;
    }
    return b;
  }

  async *chat(req: ChatRequest): AsyncGenerator<ChatEvent> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: this.headers(true),
        body: JSON.stringify(this.body(req)),
        signal: req.signal,
      });
    } catch (e) {
      if (req.signal?.aborted) return;
      throw new ModelError(`cannot reach the server: ${(e as Error).message}`);
    }
    await this.check(res);
    if (!res.body) throw new ModelError('the server sent no body');
    let finishReason = '';
    let timings;
    try {
      for await (const ev of readSse(res.body)) {
        if (ev.data === '[DONE]') break;
        const chunk = JSON.parse(ev.data);
        if (chunk.error) throw new ModelError(chunk.error.message ?? 'error', 0, chunk.error.code ?? null);
        if (chunk.timings) timings = chunk.timings;
        if (chunk.usage && (!chunk.choices || chunk.choices.length === 0)) {
          yield { type: 'done', finishReason, timings, usage: chunk.usage };
          finishReason = '';
          continue;
        }
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const d = choice.delta ?? {};
        if (d.reasoning_content) yield { type: 'reasoning', text: d.reasoning_content };
        if (d.content) yield { type: 'content', text: d.content };
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
    } catch (e) {
      if (req.signal?.aborted) return;
      throw e;
    }
    if (finishReason) yield { type: 'done', finishReason, timings };
  }

  async transcribe(audio: Blob, signal?: AbortSignal): Promise<Transcript> {
    const form = new FormData();
    form.append('file', audio, 'speech.wav');
    form.append('model', 'parakeet');
    form.append('response_format', 'json');
    const res = await this.check(
      await fetch(`${this.baseUrl}/v1/audio/transcriptions`, { method: 'POST', headers: this.headers(), body: form, signal }),
    );
    const body = await res.json();
    return { text: String(body.text ?? '') };
  }

  async speak(text: string, opts: SpeakOptions = {}): Promise<SpeechStream> {
    const body: Record<string, unknown> = { model: 'piper', input: text, response_format: 'pcm' };
    if (opts.voice) body.voice = opts.voice;
    if (opts.speed) body.speed = opts.speed;
    const res = await this.check(
      await fetch(`${this.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: this.headers(true),
        body: JSON.stringify(body),
        signal: opts.signal,
      }),
    );
    const sampleRate = Number(res.headers.get('X-Sample-Rate')) || 22050;
    const stream = res.body;
    if (!stream) throw new ModelError('the server sent no audio');
    return { sampleRate, chunks: pcm16Chunks(stream) };
  }

  async vad(session: string, rate: number, samples: Float32Array, reset: boolean): Promise<VadResult> {
    const q = new URLSearchParams({ session, rate: String(rate) });
    if (reset) q.set('reset', '1');
    // float32 in the host's byte order, which is little-endian wherever browsers run
    const bytes = samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength) as ArrayBuffer;
    const res = await this.check(
      await fetch(`${this.baseUrl}/api/vad?${q}`, {
        method: 'POST',
        headers: { ...this.headers(), 'Content-Type': 'application/octet-stream' },
        body: bytes,
      }),
    );
    const b = await res.json();
    return { events: b.events ?? [], inSpeech: !!b.in_speech, position: Number(b.position), fresh: !!b.new };
  }
}

/** 16-bit little-endian samples from a byte stream whose chunks may split a sample. */
async function* pcm16Chunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Int16Array> {
  const reader = stream.getReader();
  let carry: number | null = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (!value || value.length === 0) continue;
      let bytes = value;
      if (carry !== null) {
        const joined = new Uint8Array(bytes.length + 1);
        joined[0] = carry;
        joined.set(bytes, 1);
        bytes = joined;
        carry = null;
      }
      if (bytes.length % 2) {
        carry = bytes[bytes.length - 1];
        bytes = bytes.subarray(0, bytes.length - 1);
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Int16Array(bytes.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, true);
      yield out;
    }
  } finally {
    reader.cancel().catch(() => undefined); // a consumer that stopped early stops the download too
  }
}
