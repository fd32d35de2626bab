// Microphone capture: getUserMedia into an AudioWorklet that posts mono float blocks to the main thread.
//
// The context runs at 16 kHz, the rate the speech recognizer takes, when the browser can connect the microphone
// to such a context (Chrome resamples for us); otherwise at the device's rate, which the server resamples.

/** Samples per posted block: 100 ms at 16 kHz. */
const BLOCK = 1600;

// The worklet runs in the audio thread; it is a tiny module of its own, loaded from a Blob URL so the bundle needs
// no second entry point.
const workletSource = `
class QwglmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.block;
    this.buf = new Float32Array(this.size);
    this.fill = 0;
  }
  process(inputs) {
    const ch = inputs[0];
    if (ch && ch.length) {
      const n = ch[0].length;
      for (let i = 0; i < n; i++) {
        let v = 0;
        for (let c = 0; c < ch.length; c++) v += ch[c][i];
        this.buf[this.fill++] = v / ch.length;
        if (this.fill === this.size) {
          this.port.postMessage(this.buf, [this.buf.buffer]);
          this.buf = new Float32Array(this.size);
          this.fill = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor('qwglm-capture', QwglmCapture);
`;

export interface Capture {
  /** Samples per second of the blocks. */
  readonly rate: number;
  stop(): void;
}

async function open(stream: MediaStream, rate: number | undefined, onBlock: (b: Float32Array) => void) {
  const ctx = new AudioContext(rate ? { sampleRate: rate } : undefined);
  try {
    const url = URL.createObjectURL(new Blob([workletSource], { type: 'text/javascript' }));
    try {
      await ctx.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
    const source = ctx.createMediaStreamSource(stream); // throws where the rates may not differ (Firefox)
    const node = new AudioWorkletNode(ctx, 'qwglm-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      processorOptions: { block: Math.round((BLOCK * ctx.sampleRate) / 16000) },
    });
    node.port.onmessage = (e: MessageEvent<Float32Array>) => onBlock(e.data);
    source.connect(node);
    if (ctx.state !== 'running') await ctx.resume();
    return { ctx, source, node };
  } catch (e) {
    void ctx.close();
    throw e;
  }
}

/** Opens the microphone and calls onBlock with every 100 ms of mono samples until stop(). */
export async function startCapture(onBlock: (block: Float32Array) => void): Promise<Capture> {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  let graph;
  try {
    graph = await open(stream, 16000, onBlock).catch(() => open(stream, undefined, onBlock));
  } catch (e) {
    stream.getTracks().forEach((t) => t.stop());
    throw e;
  }
  const { ctx, source, node } = graph;
  return {
    rate: ctx.sampleRate,
    stop() {
      node.port.onmessage = null;
      source.disconnect();
      stream.getTracks().forEach((t) => t.stop());
      void ctx.close();
    },
  };
}

/** A 16-bit mono PCM WAV file of float samples. */
export function wavBlob(samples: Float32Array, rate: number): Blob {
  const buf = new ArrayBuffer(44 + 2 * samples.length);
  const v = new DataView(buf);
  const text = (off: number, s: string) => [...s].forEach((c, i) => v.setUint8(off + i, c.charCodeAt(0)));
  text(0, 'RIFF');
  v.setUint32(4, 36 + 2 * samples.length, true);
  text(8, 'WAVEfmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  text(36, 'data');
  v.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + 2 * i, Math.round(x * 32767), true);
  }
  return new Blob([buf], { type: 'audio/wav' });
}
