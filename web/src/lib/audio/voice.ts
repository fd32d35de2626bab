// Talking to the assistant: microphone blocks, utterance detection and transcription.
//
// Hands-free mode finds utterances with the engine's voice activity detector (qwglm_vad: an energy detector with
// an adaptive noise floor, 120 ms to confirm an onset, 700 ms of quiet to end, 250 ms of pre-roll). The web app
// calls it on the server (POST /api/vad) rather than running a JavaScript copy: browser and native then share one
// implementation, the same one the WebAssembly build will run in the page; the cost is one small request per
// 100 ms block while listening (6.4 KB at 16 kHz), which only loopback or a LAN carries well.
// Push-to-talk takes what is recorded while the button is held. Either way the growing utterance is transcribed
// about once a second for the partial transcript, and once more when it ends for the final text.
import type { ModelClient } from '../modelClient';
import { startCapture, wavBlob, type Capture } from './capture';

export type VoiceMode = 'push-to-talk' | 'hands-free';
export type VoiceState = 'off' | 'listening' | 'speech' | 'transcribing';

export interface VoiceEvents {
  state(s: VoiceState): void;
  /** The user started to speak: stop talking over them. */
  speechStart(): void;
  partial(text: string): void;
  /** The finished utterance's text (not called for silence). */
  final(text: string): void;
  error(message: string): void;
}

const PARTIAL_MS = 1000;
const MAX_UTTERANCE_S = 60; // an utterance this long ends there
const KEEP_BEFORE_S = 3; // audio kept from before an utterance: the detector's pre-roll, plus its answer's delay

export class VoiceSession {
  private capture: Capture | null = null;
  private blocks: { start: number; data: Float32Array }[] = []; // recent audio, absolute sample positions
  private pos = 0; // samples captured
  private utterance: { id: number; start: number } | null = null;
  private nextId = 1;
  private partialBusy = false;
  private lastPartial = 0;
  private vadQueue: Float32Array[] = [];
  private vadBusy = false;
  private vadSession = '';
  private vadFresh = true;
  private closed = false;
  private vadFailed = false;

  constructor(private client: ModelClient, readonly mode: VoiceMode, private on: VoiceEvents) {}

  get rate(): number {
    return this.capture?.rate ?? 16000;
  }

  async start(): Promise<void> {
    this.vadSession = `web-${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`;
    this.capture = await startCapture((b) => this.onBlock(b));
    if (this.closed) return this.capture.stop();
    this.on.state('listening');
  }

  stop(): void {
    this.closed = true;
    this.capture?.stop();
    this.capture = null;
    this.utterance = null;
    this.on.state('off');
  }

  /** Push-to-talk: the button went down. */
  pressTalk(): void {
    if (this.mode !== 'push-to-talk' || !this.capture || this.utterance) return;
    this.begin(this.pos);
  }

  /** Push-to-talk: the button came up. */
  releaseTalk(): void {
    if (this.mode !== 'push-to-talk' || !this.utterance) return;
    this.finish(this.pos);
  }

  private onBlock(b: Float32Array) {
    this.blocks.push({ start: this.pos, data: b });
    this.pos += b.length;
    const keepFrom = (this.utterance ? this.utterance.start : this.pos) - KEEP_BEFORE_S * this.rate;
    while (this.blocks.length && this.blocks[0].start + this.blocks[0].data.length < keepFrom) this.blocks.shift();
    if (this.mode === 'hands-free') {
      this.vadQueue.push(b);
      void this.pumpVad();
    }
    if (this.utterance) {
      if (this.pos - this.utterance.start > MAX_UTTERANCE_S * this.rate) this.finish(this.pos);
      else if (Date.now() - this.lastPartial > PARTIAL_MS) void this.partial();
    }
  }

  /** Sends the queued blocks to the detector, one request at a time, in order. */
  private async pumpVad() {
    if (this.vadBusy || !this.vadQueue.length) return;
    this.vadBusy = true;
    try {
      while (this.vadQueue.length && !this.closed) {
        const n = this.vadQueue.reduce((a, b) => a + b.length, 0);
        const all = new Float32Array(n);
        let off = 0;
        for (const b of this.vadQueue.splice(0)) (all.set(b, off), (off += b.length));
        const r = await this.client.vad(this.vadSession, this.rate, all, this.vadFresh);
        if (this.closed) return; // turned off meanwhile: what it heard no longer counts
        this.vadFresh = false;
        if (r.fresh && r.position !== n && !this.closed) {
          // the server dropped our session (too many at once): start over from here
          this.vadFresh = true;
          continue;
        }
        for (const ev of r.events) {
          // positions count from the session's first sample, which was our first captured sample
          if (ev.type === 'speech_start' && !this.utterance) this.begin(ev.sample);
          else if (ev.type === 'speech_end' && this.utterance) this.finish(ev.sample);
        }
      }
    } catch (e) {
      if (!this.closed && !this.vadFailed) this.on.error(`voice activity detection: ${(e as Error).message}`);
      this.vadFailed = true;
      this.vadQueue.length = 0;
    } finally {
      this.vadBusy = false;
    }
  }

  private begin(start: number) {
    this.utterance = { id: this.nextId++, start };
    this.lastPartial = Date.now();
    this.on.speechStart();
    this.on.state('speech');
  }

  /** Samples [start, end) from the recent blocks. */
  private slice(start: number, end: number): Float32Array {
    const out = new Float32Array(Math.max(0, end - start));
    for (const b of this.blocks) {
      const from = Math.max(start, b.start);
      const to = Math.min(end, b.start + b.data.length);
      if (to > from) out.set(b.data.subarray(from - b.start, to - b.start), from - start);
    }
    return out;
  }

  private async partial() {
    const u = this.utterance;
    if (!u || this.partialBusy) return;
    this.partialBusy = true;
    this.lastPartial = Date.now();
    try {
      const t = await this.client.transcribe(wavBlob(this.slice(u.start, this.pos), this.rate));
      if (this.utterance?.id === u.id && t.text && !this.closed) this.on.partial(t.text);
    } catch {
      // a partial transcript is a nicety; the final one reports errors
    } finally {
      this.partialBusy = false;
    }
  }

  private async finish(end: number) {
    const u = this.utterance;
    if (!u) return;
    this.utterance = null;
    const audio = this.slice(u.start, end);
    this.on.state('transcribing');
    try {
      const t = await this.client.transcribe(wavBlob(audio, this.rate));
      if (t.text.trim() && !this.closed) this.on.final(t.text.trim());
    } catch (e) {
      if (!this.closed) this.on.error(`transcription: ${(e as Error).message}`);
    }
    if (!this.closed) this.on.state(this.utterance ? 'speech' : 'listening');
  }
}
