// Spoken replies: the streamed reply text is cut into sentences as it arrives, each sentence is synthesized by the
// server (POST /v1/audio/speech, 16-bit PCM streamed as the engine produces it) and played back to back with Web
// Audio, so the first sentence sounds while the model is still writing the rest.
import type { ModelClient } from '../modelClient';

/** Longest text sent as one sentence: a voice has a bounded length per sentence, and a long one delays the start. */
const MAX_SENTENCE = 160;

/** Turns markdown into what should be read aloud: no code blocks, no markup, links by their text. */
export function speakable(md: string): string {
  return md
    .replace(/```[\s\S]*?(```|$)/g, ' ')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/!\[[^\]]*\]\([^)]*\)/g, ' ')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, ' ')
    .replace(/^\s{0,3}(#{1,6}|[-*+]|\d+[.)]|>)\s+/gm, '')
    .replace(/[*_~]{1,3}/g, '')
    .replace(/\|/g, ' ');
}

/** Cuts a growing text into sentences: after . ! ? or … followed by a space, at line ends, before a code block,
 * and (for text without any of these) at the last space or comma before MAX_SENTENCE characters. Code blocks are
 * skipped whole, also while they are still open. */
export class SentenceSplitter {
  private text = '';
  private done = 0; // characters of text handed out or skipped

  /** Appends streamed text; returns the sentences it completed. */
  push(chunk: string): string[] {
    this.text += chunk;
    return this.take(false);
  }

  /** The rest, once the reply is complete. */
  flush(): string[] {
    return this.take(true);
  }

  private take(final: boolean): string[] {
    const out: string[] = [];
    for (;;) {
      const rest = this.text.slice(this.done);
      const fence = rest.indexOf('```');
      if (fence === 0) {
        const close = rest.indexOf('```', 3);
        if (close < 0) {
          if (final) this.done = this.text.length;
          break;
        }
        this.done += close + 3;
        continue;
      }
      const region = fence > 0 ? rest.slice(0, fence) : rest; // up to the next code block
      if (!region) break;
      const m = /[.!?…]+["')\]]*\s|\n/.exec(region);
      let cut = m ? m.index + m[0].length : -1;
      if (cut < 0 && (fence > 0 || final)) cut = region.length; // nothing more can join this text
      if (cut < 0 && region.length <= MAX_SENTENCE) break; // wait for the sentence to end
      if (cut < 0 || cut > MAX_SENTENCE) {
        const head = region.slice(0, MAX_SENTENCE);
        cut = Math.max(head.lastIndexOf(' '), head.lastIndexOf(',')) + 1;
        if (cut < MAX_SENTENCE / 2) cut = MAX_SENTENCE;
      }
      const sentence = speakable(region.slice(0, cut)).replace(/\s+/g, ' ').trim();
      if (/[\p{L}\p{N}]/u.test(sentence)) out.push(sentence);
      this.done += cut;
    }
    return out;
  }
}

export interface PlayerStats {
  speaking: boolean;
  /** Sentences synthesized so far (since the last stop). */
  sentences: number;
  /** Seconds of audio scheduled, and of audio that finished playing. */
  scheduled: number;
  played: number;
  error: string;
  /** The audio context's state and clock at the last change (for the curious, and for tests). */
  context: string;
  clock: number;
}

/** Plays sentences in order, each streamed from the server as it is synthesized. */
export class SpeechPlayer {
  private ctx: AudioContext | null = null;
  private queue: string[] = [];
  private running = false;
  private abort = new AbortController();
  private sources = new Set<AudioBufferSourceNode>();
  private nextTime = 0;
  private stats: PlayerStats = {
    speaking: false, sentences: 0, scheduled: 0, played: 0, error: '', context: 'none', clock: 0 };

  constructor(private client: ModelClient, private onChange: (s: PlayerStats) => void, private voice = '') {}

  get speaking(): boolean {
    return this.stats.speaking;
  }

  /** Creates (or resumes) the audio context; call from a user gesture so that the browser lets it play. */
  unlock(): void {
    if (!this.ctx) this.ctx = new AudioContext();
    if (this.ctx.state === 'suspended') void this.ctx.resume();
  }

  setVoice(voice: string): void {
    this.voice = voice;
  }

  say(sentence: string): void {
    this.queue.push(sentence);
    this.update({ speaking: true });
    void this.run();
  }

  /** Stops at once: queued sentences, the synthesis in flight and the audio playing. */
  stop(): void {
    this.queue = [];
    this.abort.abort();
    this.abort = new AbortController();
    for (const s of this.sources) {
      s.onended = null;
      try {
        s.stop();
      } catch {
        // not started yet
      }
    }
    this.sources.clear();
    this.nextTime = 0;
    this.update({ speaking: false });
  }

  close(): void {
    this.stop();
    void this.ctx?.close();
    this.ctx = null;
  }

  private update(patch: Partial<PlayerStats>) {
    this.stats = { ...this.stats, ...patch, context: this.ctx?.state ?? 'none', clock: this.ctx?.currentTime ?? 0 };
    this.onChange(this.stats);
  }

  private settle() {
    if (!this.running && this.queue.length === 0 && this.sources.size === 0) this.update({ speaking: false });
  }

  private async run() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) {
        const text = this.queue.shift()!;
        const signal = this.abort.signal;
        try {
          await this.play(text, signal);
          if (!signal.aborted) this.update({ sentences: this.stats.sentences + 1 });
        } catch (e) {
          if (!signal.aborted) this.update({ error: (e as Error).message });
        }
      }
    } finally {
      this.running = false;
      this.settle();
    }
  }

  private async play(text: string, signal: AbortSignal) {
    this.unlock();
    const ctx = this.ctx!;
    const speech = await this.client.speak(text, { voice: this.voice || undefined, signal });
    const piece = Math.round(speech.sampleRate / 4); // 250 ms buffers, however the network cut the stream
    for await (const chunk of speech.chunks) {
      for (let off = 0; off < chunk.length; off += piece) {
        if (signal.aborted) return;
        this.schedule(ctx, chunk.subarray(off, off + piece), speech.sampleRate);
      }
    }
  }

  /** Queues samples right after what is already queued (or at once, when the queue has run dry). */
  private schedule(ctx: AudioContext, samples: Int16Array, rate: number) {
    const buf = ctx.createBuffer(1, samples.length, rate);
    const data = buf.getChannelData(0);
    for (let i = 0; i < samples.length; i++) data[i] = samples[i] / 32768;
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    const at = Math.max(this.nextTime, ctx.currentTime + 0.05);
    src.start(at);
    this.nextTime = at + buf.duration;
    this.sources.add(src);
    this.update({ scheduled: this.stats.scheduled + buf.duration });
    src.onended = () => {
      this.sources.delete(src);
      this.update({ played: this.stats.played + buf.duration });
      this.settle();
    };
  }
}
