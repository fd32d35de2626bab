// The audio endpoints against the speech fixtures: POST /v1/audio/transcriptions on tests/fixtures/parakeet-micro
// (tokens and text of the four recordings as the transformers / NeMo reference decoded them) and
// POST /v1/audio/speech on tests/fixtures/piper-micro (the deterministic cases' samples against Piper's reference
// audio, the other sentences by sample counts), through the official `openai` client and raw HTTP; and the
// voice activity detector behind POST /api/vad.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { modelArgs, rawRequest, repo, speechArgs, startServer } from './server.mjs';
import { readSafetensors, readWav, wavBytes } from './fixtures.mjs';

const fx = path.join(repo, 'tests/fixtures');
const asrRef = JSON.parse(fs.readFileSync(path.join(fx, 'parakeet-micro/reference.json'), 'utf8'));
const ttsRef = JSON.parse(fs.readFileSync(path.join(fx, 'piper-micro/reference.json'), 'utf8'));
const ttsAudio = readSafetensors(path.join(fx, 'piper-micro/reference.safetensors'));
const voiceName = 'en_US-micro-medium';
const RATE = 22050;

let srv;
let client;

before(async () => {
  srv = await startServer([...modelArgs(), ...speechArgs(), '--max-audio-seconds', '4', '--max-audio-bytes', '200000',
    '--max-body', '1048576']);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  const code = await srv.stop();
  assert.equal(code, 0, `server exit status ${code}:\n${srv.stderr}`);
});

/** The text of Parakeet token ids as its tokenizer.json spells them ("▁" is a space). */
const asrVocab = (() => {
  const tok = JSON.parse(fs.readFileSync(path.join(fx, 'parakeet-micro/tokenizer.json'), 'utf8'));
  const v = tok.model.vocab;
  const pieces = [];
  if (Array.isArray(v)) v.forEach((p, i) => (pieces[i] = Array.isArray(p) ? p[0] : p));
  else for (const [p, i] of Object.entries(v)) pieces[i] = p;
  return pieces;
})();
const detok = (ids) => ids.map((i) => asrVocab[i]).join('').replaceAll('\u2581', ' ').trim();

async function transcribe(file, fields = {}, name = 'audio.wav') {
  const form = new FormData();
  form.append('file', new Blob([file]), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const r = await fetch(`${srv.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // text, srt or vtt
  }
  return { status: r.status, headers: r.headers, text, json };
}

async function speak(body) {
  const r = await fetch(`${srv.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, buf, json: r.ok ? null : JSON.parse(buf.toString('utf8')) };
}

const pcm16 = (buf) => new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));

/** Piper's WAV samples of the reference float audio: peak-normalised per sentence, truncated to 16 bits. */
function piperPcm(x) {
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const scale = 32767 / Math.max(0.01, peak);
  return Int16Array.from(x, (v) => Math.trunc(Math.max(-32768, Math.min(32767, v * scale))));
}

function assertCloseToReference(got, name) {
  const want = piperPcm(ttsAudio[`${name}.audio`]);
  assert.equal(got.length, want.length, `${name}: sample count`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  // 1e-4 of full scale (the engine's tolerance against the reference) is 3.3 steps; the peak used for the
  // normalisation moves by as much, and truncation adds one step
  assert.ok(worst <= 8, `${name}: max difference ${worst} steps of 32767`);
}

describe('transcriptions', () => {
  for (const [i, c] of asrRef.cases.entries()) {
    test(`${c.file}: the reference tokens and text (openai client)`, async () => {
      const file = await toFile(fs.createReadStream(path.join(fx, 'audio', c.file)), c.file);
      const r = await client.audio.transcriptions.create({ file, model: 'parakeet', response_format: 'verbose_json' });
      // NeMo's greedy rule (the server's default) is the reference; on utt3 it differs from transformers' decoding
      const tokens = r.segments.flatMap((s) => s.tokens);
      assert.deepEqual(tokens, c.nemo_greedy.tokens, `${c.file} tokens`);
      assert.equal(r.text, c.nemo_greedy.same_as_transformers ? c.text : detok(c.nemo_greedy.tokens));
      assert.equal(r.text, detok(tokens));
      assert.equal(r.task, 'transcribe');
      assert.ok(Math.abs(r.duration - c.samples / c.sample_rate) < 1e-3, `duration ${r.duration}`);
      if (c.nemo_greedy.same_as_transformers) {
        assert.ok(Math.abs(r.segments[0].start - c.timestamps[0].start) < 1e-6);
        assert.ok(Math.abs(r.segments.at(-1).end - c.timestamps.at(-1).end) < 1e-6);
      }
      assert.equal(r.words.map((w) => w.word).join(' '), r.text.split(/\s+/).join(' '));
      // word times come from the token timestamps (a TDT duration may reach past the end of the audio)
      for (const [k, w] of r.words.entries()) assert.ok(w.start <= w.end && (k === 0 || r.words[k - 1].start <= w.start));
      if (i === 0) {
        const plain = await client.audio.transcriptions.create({ file: await toFile(fs.readFileSync(
          path.join(fx, 'audio', c.file)), c.file), model: 'parakeet' });
        assert.equal(plain.text, c.text);
      }
    });
  }

  test('text, srt and vtt formats', async () => {
    const c = asrRef.cases[1];
    const wav = fs.readFileSync(path.join(fx, 'audio', c.file));
    const text = await client.audio.transcriptions.create({
      file: await toFile(wav, c.file), model: 'x', response_format: 'text' });
    assert.equal(String(text).trim(), c.text);
    const srt = await transcribe(wav, { response_format: 'srt' });
    assert.equal(srt.status, 200);
    assert.match(srt.headers.get('content-type'), /subrip/);
    assert.match(srt.text, new RegExp(`^1\\n\\d\\d:\\d\\d:\\d\\d,\\d{3} --> \\d\\d:\\d\\d:\\d\\d,\\d{3}\\n${c.text}`));
    const vtt = await transcribe(wav, { response_format: 'vtt' });
    assert.match(vtt.text, /^WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> /);
  });

  test('bad uploads get OpenAI-shaped errors', async () => {
    const wav = fs.readFileSync(path.join(fx, 'audio/morning_16k.wav'));
    const cases = [
      [await transcribe(wav, { response_format: 'mp3' }), 400, 'response_format'],
      [await transcribe(Buffer.from('definitely not audio, just some text'), {}), 400, 'file'],
      [await transcribe(Buffer.alloc(0), {}), 400, 'file'],
      [await transcribe(wav.subarray(0, 30), {}), 400, 'file'], // a truncated header
      // 5 s of silence is over --max-audio-seconds 4; 250 KB is over --max-audio-bytes
      [await transcribe(wavBytes(new Float32Array(16000 * 5), 16000), {}), 413, 'file'],
      [await transcribe(Buffer.alloc(250000, 1), {}), 413, 'file'],
    ];
    for (const [i, [res, status, param]] of cases.entries()) {
      assert.equal(res.status, status, `case ${i}: ${res.text}`);
      assert.equal(typeof res.json.error.message, 'string');
      assert.equal(res.json.error.param, param, `case ${i}: ${res.text}`);
    }
    assert.match(cases[4][0].json.error.message, /limit of 4 s/);
    const noFile = await fetch(`${srv.url}/v1/audio/transcriptions`, { method: 'POST', body: new FormData() });
    assert.equal(noFile.status, 400);
    const json = await fetch(`${srv.url}/v1/audio/transcriptions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(json.status, 400);
    assert.match((await json.json()).error.message, /multipart\/form-data/);
    // the openai client sees the status and message
    await assert.rejects(client.audio.transcriptions.create({ file: await toFile(Buffer.from('xx'), 'x.wav'),
      model: 'x' }), (e) => e.status === 400 && /x\.wav/.test(e.message));
  });

  test('raw HTTP: hand-made, chunked and broken multipart bodies', async () => {
    const wav = fs.readFileSync(path.join(fx, 'audio/morning_16k.wav'));
    const head = (b, extra = '') => `--${b}\r\nContent-Disposition: form-data; name="file"; filename="m.wav"\r\n` +
      `Content-Type: audio/wav\r\n${extra}\r\n`;
    const bodyOf = (b) => Buffer.concat([Buffer.from(head(b)), wav, Buffer.from(`\r\n--${b}--\r\n`)]);
    const send = (b, body, te = false) => {
      const hdr = `POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
        `Content-Type: multipart/form-data; boundary="${b}"\r\n` +
        (te ? 'Transfer-Encoding: chunked\r\n\r\n' : `Content-Length: ${body.length}\r\n\r\n`);
      const payload = te ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body,
        Buffer.from('\r\n0\r\n\r\n')]) : body;
      return rawRequest(srv.url, Buffer.concat([Buffer.from(hdr), payload]));
    };
    const want = asrRef.cases.find((c) => c.file === 'morning_16k.wav').text;
    for (const te of [false, true]) {
      const res = await send('a b:c', bodyOf('a b:c'), te);
      assert.match(res, /^HTTP\/1\.1 200/, res);
      assert.ok(res.includes(JSON.stringify(want)), res);
    }
    const cut = bodyOf('xyz').subarray(0, 400);
    const res = await send('xyz', cut);
    assert.match(res, /^HTTP\/1\.1 400/);
    assert.match(res, /closing boundary/);
  });
});

describe('speech', () => {
  const fox = 'The quick brown fox jumps over the lazy dog.';
  const still = { noise_scale: 0, noise_w: 0 }; // the reference's deterministic cases

  test('the deterministic cases equal Piper\'s reference audio (openai client, pcm)', async () => {
    for (const [name, speed] of [['case0', 1], ['case1', 1 / 1.3]]) {
      const r = await client.audio.speech.create({ model: 'piper', voice: 'alloy', input: fox, response_format: 'pcm',
        speed, ...still });
      assert.equal(r.headers.get('x-sample-rate'), String(RATE));
      assertCloseToReference(pcm16(Buffer.from(await r.arrayBuffer())), name);
    }
  });

  test('several sentences stream one after another; each is its own synthesis', async () => {
    const text = 'Hello, world! How are you? I\'m fine: thanks; bye.';
    const res = await fetch(`${srv.url}/v1/audio/speech`, { method: 'POST', headers: {
      'Content-Type': 'application/json' }, body: JSON.stringify({ input: text, voice: voiceName,
      response_format: 'pcm', ...still }) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('transfer-encoding'), 'chunked');
    const chunks = [];
    for await (const c of res.body) chunks.push(Buffer.from(c));
    const all = pcm16(Buffer.concat(chunks));
    // sentence 1 of the reference is "Hello, world!"
    assertCloseToReference(all.subarray(0, ttsRef.cases.find((c) => c.name === 'case2').samples), 'case2');
    let off = 0;
    for (const s of ['Hello, world!', 'How are you?', 'I\'m fine: thanks; bye.']) {
      const one = pcm16((await speak({ input: s, response_format: 'pcm', ...still })).buf);
      assert.ok(one.length > 0);
      assert.deepEqual(all.subarray(off, off + one.length), one, s);
      off += one.length;
    }
    assert.equal(off, all.length);
  });

  test('wav: a streaming header, then the pcm samples', async () => {
    const wav = await speak({ input: fox, response_format: 'wav', ...still });
    const pcm = await speak({ input: fox, response_format: 'pcm', ...still });
    assert.equal(wav.headers.get('content-type'), 'audio/wav');
    const b = wav.buf;
    assert.equal(b.toString('latin1', 0, 4), 'RIFF');
    assert.equal(b.toString('latin1', 8, 16), 'WAVEfmt ');
    assert.equal(b.readUInt16LE(20), 1);
    assert.equal(b.readUInt16LE(22), 1);
    assert.equal(b.readUInt32LE(24), RATE);
    assert.equal(b.readUInt16LE(34), 16);
    assert.equal(b.toString('latin1', 36, 40), 'data');
    assert.deepEqual(b.subarray(44), pcm.buf);
    // the default response format is wav
    const dflt = await speak({ input: fox, ...still });
    assert.deepEqual(dflt.buf, b);
  });

  test('noise: the same seed gives the same audio, another seed other audio', async () => {
    const a = await speak({ input: fox, response_format: 'pcm', seed: 7 });
    const b = await speak({ input: fox, response_format: 'pcm', seed: 7 });
    const c = await speak({ input: fox, response_format: 'pcm', seed: 8 });
    assert.deepEqual(a.buf, b.buf);
    assert.notDeepEqual(a.buf, c.buf);
    // speed scales the length
    const slow = await speak({ input: fox, response_format: 'pcm', speed: 0.5, ...still });
    const ref = ttsRef.cases.find((x) => x.name === 'case0').samples;
    assert.ok(slow.buf.length / 2 > 1.8 * ref, `${slow.buf.length / 2} samples at half speed`);
  });

  test('a client that hangs up mid-stream leaves the server serving', async () => {
    const ctl = new AbortController();
    const long = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} is here.`).join(' ');
    const res = await fetch(`${srv.url}/v1/audio/speech`, { method: 'POST', signal: ctl.signal,
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ input: long, response_format: 'pcm' }) });
    const reader = res.body.getReader();
    await reader.read();
    ctl.abort();
    const after = await speak({ input: 'Still here.', response_format: 'pcm' });
    assert.equal(after.status, 200);
  });

  test('bad requests get OpenAI-shaped errors', async () => {
    const cases = [
      [{}, 'input'],
      [{ input: '' }, 'input'],
      [{ input: 'x'.repeat(4097) }, 'input'],
      [{ input: 'hi', response_format: 'mp3' }, 'response_format'],
      [{ input: 'hi', voice: 'nobody' }, 'voice'],
      [{ input: 'hi', speed: 10 }, 'speed'],
      [{ input: 'hi', stream_format: 'sse' }, 'stream_format'],
    ];
    for (const [body, param] of cases) {
      const r = await speak(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.param, param);
      assert.equal(r.json.error.type, 'invalid_request_error');
    }
    assert.match((await speak({ input: 'hi', voice: 'nobody' })).json.error.message, new RegExp(voiceName));
    assert.equal((await speak('{"input":')).status, 400);
    await assert.rejects(client.audio.speech.create({ model: 'x', voice: 'alloy', input: '' }),
      (e) => e.status === 400);
  });
});

describe('status and the voice activity detector', () => {
  test('capabilities and the speech models in /api/status', async () => {
    const s = await (await fetch(`${srv.url}/api/status`)).json();
    assert.equal(s.capabilities.transcription, true);
    assert.equal(s.capabilities.speech, true);
    assert.equal(s.audio.asr_model, 'parakeet-micro');
    assert.deepEqual(s.audio.voices, [{ name: voiceName, sample_rate: RATE, n_speakers: 1 }]);
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(m, /qwglm_requests_total\{route="transcriptions",code="2xx"\} \d+/);
    assert.match(m, /qwglm_audio_synthesized_seconds_total [1-9]/);
  });

  test('POST /api/vad finds where the speech of a recording starts and ends', async () => {
    const { samples, rate } = readWav(path.join(fx, 'audio/fox_16k.wav'));
    const signal = new Float32Array(rate / 2 + samples.length + rate * 2); // 0.5 s quiet, speech, 2 s quiet
    signal.set(samples, rate / 2);
    const session = `test-${Date.now()}`;
    const events = [];
    const block = rate / 10;
    for (let off = 0; off < signal.length; off += block) {
      const part = signal.slice(off, off + block);
      const r = await fetch(`${srv.url}/api/vad?session=${session}&rate=${rate}${off ? '' : '&reset=1'}`, {
        method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Buffer.from(part.buffer) });
      assert.equal(r.status, 200);
      const j = await r.json();
      assert.equal(j.new, off === 0);
      assert.equal(j.position, Math.min(off + block, signal.length));
      events.push(...j.events);
    }
    let first = 0;
    let last = 0;
    for (let i = 0; i < samples.length; i++) if (Math.abs(samples[i]) > 0.05) (last = i, first ||= i);
    assert.equal(events.length, 2, JSON.stringify(events));
    assert.equal(events[0].type, 'speech_start');
    assert.ok(events[0].sample <= rate / 2 + first, JSON.stringify(events));
    assert.equal(events[1].type, 'speech_end');
    assert.ok(events[1].sample >= rate / 2 + last + 0.7 * rate, JSON.stringify(events));
    const bad = await fetch(`${srv.url}/api/vad?session=x&rate=16000`, { method: 'POST', body: 'abcd' });
    assert.equal(bad.status, 400);
    const odd = await fetch(`${srv.url}/api/vad?session=${session}&rate=16000`, { method: 'POST', body: 'abc' });
    assert.equal(odd.status, 400);
  });
});
