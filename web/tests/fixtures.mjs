// Readers for the reference fixtures the tests compare with: safetensors files (float32 and int64 tensors) and
// PCM WAV files, plus a WAV writer for made-up signals.
import fs from 'node:fs';

/** The tensors of a safetensors file: F32 as Float32Array, I64 as BigInt64Array, by name. */
export function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    const copy = new Uint8Array(bytes).buffer; // aligned
    if (t.dtype === 'F32') out[name] = new Float32Array(copy);
    else if (t.dtype === 'I64') out[name] = new BigInt64Array(copy);
  }
  return out;
}

/** Mono float samples and the rate of a 16-bit PCM WAV file (channels are averaged). */
export function readWav(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error(`${file}: not WAV`);
  let off = 12;
  let rate = 0;
  let channels = 1;
  let bits = 16;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
      bits = b.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`${file}: ${bits}-bit samples`);
      const frames = Math.floor(Math.min(size, b.length - off - 8) / (2 * channels));
      const samples = new Float32Array(frames);
      for (let i = 0; i < frames; i++) {
        let s = 0;
        for (let c = 0; c < channels; c++) s += b.readInt16LE(off + 8 + 2 * (i * channels + c));
        samples[i] = s / channels / 32768;
      }
      return { samples, rate };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

/** A 16-bit mono WAV file of float samples. */
export function wavBytes(samples, rate) {
  const b = Buffer.alloc(44 + 2 * samples.length);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + 2 * samples.length, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(2 * samples.length, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32767))), 44 + 2 * i);
  return b;
}

/** GPT-2's byte-level alphabet: the character each byte is written as in a byte-level BPE vocabulary. */
function byteAlphabet() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) (bs.push(b), cs.push(256 + n++));
  return new Map(cs.map((c, i) => [String.fromCodePoint(c), bs[i]]));
}

/** The text of token ids of a byte-level BPE tokenizer.json (Qwen's), decoded from its vocabulary. */
export function tokenText(tokenizerJson, ids) {
  const vocab = JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')).model.vocab;
  const byId = new Map(Object.entries(vocab).map(([p, i]) => [i, p]));
  const alpha = byteAlphabet();
  const bytes = ids.flatMap((id) => [...byId.get(id)].map((ch) => alpha.get(ch)));
  return Buffer.from(bytes).toString('utf8');
}
