import type {
  ChatEvent, ChatRequest, ChatTurn, EngineStatus, LoadProgress, ModelClient, ModelInfo,
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
            content: [
              { type: 'text', text: m.content },
              ...m.images.map((url) => ({ type: 'image_url', image_url: { url } })),
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
}
