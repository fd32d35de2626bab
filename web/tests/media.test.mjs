// End-to-end: screen sharing, pictures, voice input and spoken replies in Debian's headless Chromium, against
// `qwglm serve` on the fixture models: qwen3-vl-micro (vision), parakeet-micro (speech recognition) and
// piper-micro (speech synthesis). Chromium's own test switches stand in for the person at the computer:
// --auto-select-tab-capture-source-by-title picks the tab to share, and --use-file-for-fake-audio-capture
// plays a fixture recording into the microphone. Screenshots go to web/test-results/screenshots/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { repo, speechArgs, startServer } from './server.mjs';
import { readWav } from './fixtures.mjs';

const shots = path.join(repo, 'web/test-results/screenshots');
const fx = path.join(repo, 'tests/fixtures');
const baseArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'];
const TARGET = 'qwglm-share-target';
let srv;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  srv = await startServer(['-m', path.join(fx, 'qwen3-vl-micro'), '--ctx', '4096', ...speechArgs(), '--web',
    path.join(repo, 'web/dist')]);
});

after(async () => {
  if (srv) assert.equal(await srv.stop(), 0, srv.stderr);
});

async function launch(args) {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: [...baseArgs, ...args] });
}

/** Opens the app, waits for the engine, and sets greedy sampling, a short reply and the image budget. */
async function openApp(browser, { maxTokens = 24, imageTokens = 256 } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${srv.url}/`);
  await page.locator('.gpu-status .dot.state-ready').waitFor({ timeout: 15000 });
  await page.locator('button', { hasText: 'Settings' }).click();
  await page.locator('label', { hasText: 'Temperature' }).locator('input').fill('0');
  await page.locator('label', { hasText: 'Max tokens' }).locator('input').fill(String(maxTokens));
  await page.locator('[data-testid="image-tokens"]').fill(String(imageTokens));
  await page.locator('[aria-label="Close settings"]').click();
  return page;
}

/** The JSON body of the next chat request the page sends. */
async function nextChat(page, send) {
  const [req] = await Promise.all([page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')), send()]);
  return { body: req.postDataJSON() };
}

/** The messages of the most recently updated conversation, as the app stored them in IndexedDB. */
function storedMessages(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const req = indexedDB.open('qwglm', 1);
    req.onsuccess = () => {
      const get = req.result.transaction('conversations').objectStore('conversations').getAll();
      get.onsuccess = () => {
        req.result.close();
        resolve(get.result.sort((a, b) => b.updatedAt - a.updatedAt)[0].messages);
      };
      get.onerror = () => reject(get.error);
    };
    req.onerror = () => reject(req.error);
  }));
}

async function metric(name) {
  const t = await (await fetch(`${srv.url}/metrics`)).text();
  return Number(t.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? 0);
}
const imageParts = (body) => body.messages.at(-1).content.filter?.((p) => p.type === 'image_url') ?? [];

/** Width and height of a baseline or progressive JPEG (its SOF segment). */
function jpegSize(b) {
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1];
    if (m >= 0xc0 && m <= 0xc2) return { h: b.readUInt16BE(i + 5), w: b.readUInt16BE(i + 7) };
    i += 2 + b.readUInt16BE(i + 2);
  }
  return null;
}

/** Qwen2-VL's smart_resize for a factor of 32 within the model's 64..16384 tokens: the tokens an image takes. */
function imageTokens(w, h) {
  const round = (x) => (Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x)); // half to even
  let hb = Math.max(32, round(h / 32) * 32);
  let wb = Math.max(32, round(w / 32) * 32);
  const min = 64 * 1024;
  const max = 16384 * 1024;
  if (hb * wb > max) {
    const beta = Math.sqrt((h * w) / max);
    hb = Math.floor(h / beta / 32) * 32;
    wb = Math.floor(w / beta / 32) * 32;
  } else if (hb * wb < min) {
    const beta = Math.sqrt(min / (h * w));
    hb = Math.ceil((h * beta) / 32) * 32;
    wb = Math.ceil((w * beta) / 32) * 32;
  }
  return (hb / 32) * (wb / 32);
}

describe('screen sharing and pictures (qwen3-vl-micro)', () => {
  let browser;
  let page;

  before(async () => {
    browser = await launch([`--auto-select-tab-capture-source-by-title=${TARGET}`]);
    const target = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await target.setContent(`<!doctype html><title>${TARGET}</title><body style="margin:0;background:#f7f3e8;` +
      `font:64px serif"><h1 style="color:#b00">Quarterly report</h1><p style="color:#036">Revenue 42%</p></body>`);
    page = await openApp(browser);
  });

  after(async () => {
    await browser?.close();
  });

  test('a shared tab: preview, a frame scaled to the budget attached to the next message, and a reply', async () => {
    await page.locator('[data-testid="screenshare-button"]').click();
    await page.locator('[data-testid="start-sharing"]').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="screen-preview"]')?.videoWidth > 0 &&
      document.querySelector('[data-testid="screen-thumb"]')?.videoWidth > 0);
    await page.locator('[data-testid="attach-frame"]').click();
    await page.locator('[data-testid="attachments"] img').waitFor();
    await page.screenshot({ path: path.join(shots, 'media-01-screen-shared.png') });
    await page.locator('[data-testid="screenshare-button"]').click(); // close the panel; sharing goes on

    const question = 'What is on my screen?';
    await page.locator('[data-testid="composer"]').fill(question);
    const before = await metric('qwglm_prompt_tokens_total');
    const { body } = await nextChat(page, () => page.keyboard.press('Enter'));
    await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 60000 });
    const withImage = (await metric('qwglm_prompt_tokens_total')) - before;
    const parts = imageParts(body);
    assert.equal(parts.length, 1);
    const url = parts[0].image_url.url;
    assert.match(url, /^data:image\/jpeg;base64,/);
    const size = jpegSize(Buffer.from(url.split(',')[1], 'base64'));
    assert.ok(size && size.w * size.h <= 256 * 1024 && size.w > 400, JSON.stringify(size)); // 1280x720 at 256 tokens
    // the prompt holds the image's tokens: compare with the same question without it
    const plain = await (await fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...body, stream: false, messages: [{ role: 'user', content: question }], max_tokens: 1 }),
    })).json();
    assert.equal(withImage - plain.usage.prompt_tokens, imageTokens(size.w, size.h) + 2); // + vision_start/end
    // the model's text as the page keeps it (rendered, a random model's output may be markup that shows nothing)
    const last = (await storedMessages(page)).at(-1);
    assert.equal(last.role, 'assistant');
    assert.ok(last.content.length > 0 && last.finishReason === 'length' && last.timings.predicted_n === 24,
      JSON.stringify(last));
    assert.equal(await page.locator('[data-testid="message-user"]').last().locator('[data-testid="message-image"]')
      .count(), 1);
    await page.screenshot({ path: path.join(shots, 'media-02-screen-reply.png') });
  });

  test('live mode attaches a fresh frame to every message', async () => {
    await page.locator('[data-testid="screenshare-button"]').click();
    await page.locator('[data-testid="screen-live"]').check();
    await page.locator('[data-testid="screenshare-button"]').click();
    for (const q of ['And now?', 'Still there?']) {
      await page.locator('[data-testid="composer"]').fill(q);
      const { body } = await nextChat(page, () => page.keyboard.press('Enter'));
      assert.equal(imageParts(body).length, 1, q);
      await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 60000 });
    }
    await page.locator('[data-testid="screenshare-button"]').click();
    await page.locator('[data-testid="stop-sharing"]').click();
    await page.locator('[data-testid="screenshare-button"]').click();
  });

  test('a dropped picture is sent as it is (within the budget) and shown in the chat', async () => {
    await page.locator('button', { hasText: '+ New chat' }).click();
    const png = fs.readFileSync(path.join(fx, 'qwen3-vl-micro/image0.png'));
    const dt = await page.evaluateHandle((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([bytes], 'image0.png', { type: 'image/png' }));
      return d;
    }, png.toString('base64'));
    await page.dispatchEvent('section.chat', 'dragover', { dataTransfer: dt });
    await page.dispatchEvent('section.chat', 'drop', { dataTransfer: dt });
    await page.locator('[data-testid="attachments"] img').waitFor();
    await page.locator('[data-testid="composer"]').fill('Describe this picture.');
    const { body } = await nextChat(page, () => page.keyboard.press('Enter'));
    const parts = imageParts(body);
    assert.equal(parts.length, 1);
    assert.equal(parts[0].image_url.url, `data:image/png;base64,${png.toString('base64')}`);
    await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 60000 });
    await page.locator('[data-testid="message-user"] [data-testid="message-image"]').waitFor();
    await page.screenshot({ path: path.join(shots, 'media-03-dropped-picture.png') });
  });
});

describe('voice (parakeet-micro) and spoken replies (piper-micro)', () => {
  let browser;
  let page;
  const wavFile = path.join(fx, 'audio/fox_16k.wav');

  before(async () => {
    browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wavFile}%noloop`, '--autoplay-policy=no-user-gesture-required']);
    page = await openApp(browser, { maxTokens: 24 });
  });

  after(async () => {
    await browser?.close();
  });

  test('hands-free: the spoken words become the user message, with a partial transcript while speaking', async () => {
    const transcripts = [];
    let upload = null;
    await page.route('**/v1/audio/transcriptions', (route) => {
      upload = route.request().postDataBuffer(); // watched, passed on unchanged
      return route.continue();
    });
    page.on('response', async (r) => {
      if (r.url().endsWith('/v1/audio/transcriptions') && r.ok()) transcripts.push((await r.json()).text);
    });
    await page.locator('[data-testid="voice-button"]').click();
    await page.locator('[data-testid="speak-replies"]').check();
    await page.locator('[data-testid="hands-free"]').click();
    await page.locator('[data-testid="voice-state"][data-state="speech"]').waitFor({ timeout: 10000 });
    await page.locator('[data-testid="voice-partial"]').waitFor({ timeout: 10000 }); // shown while speaking
    await page.screenshot({ path: path.join(shots, 'media-04-hearing.png') });
    const user = page.locator('[data-testid="message-user"]').last();
    await user.waitFor({ timeout: 20000 });
    // the message is the final transcription of the utterance the page uploaded
    const text = (await user.locator('.plain').innerText()).trim();
    assert.ok(text.length > 0);
    assert.equal(text, transcripts.at(-1));
    // ... and that upload is the recording that was played into the microphone
    const wav = upload.subarray(upload.indexOf('RIFF'));
    const rate = wav.readUInt32LE(24);
    const n = wav.readUInt32LE(40) / 2;
    const got = Float32Array.from({ length: n }, (_, i) => wav.readInt16LE(44 + 2 * i) / 32768);
    const want = readWav(wavFile).samples;
    assert.equal(rate, 16000);
    assert.ok(n > want.length * 0.9 && n < want.length + 3 * rate, `${n} samples uploaded`);
    const corr = bestCorrelation(got, want);
    assert.ok(corr > 0.6, `the uploaded audio is not the fixture recording (correlation ${corr.toFixed(3)})`);

    await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 60000 });
    await page.locator('[data-testid="hands-free"]').click(); // the microphone goes off
    await page.locator('[data-testid="voice-state"]').waitFor({ state: 'detached' });
  });

  test('a reply is spoken sentence by sentence while its text still streams', async () => {
    // greedy decoding of this prompt gives a long run of letters without sentence ends: the player gets it in
    // pieces of at most 160 characters as they complete
    await page.locator('button', { hasText: 'Settings' }).click();
    await page.locator('label', { hasText: 'Max tokens' }).locator('input').fill('200');
    await page.locator('[aria-label="Close settings"]').click();
    await page.locator('[data-testid="voice-button"]').click(); // close the panel
    const spoken = [];
    await page.route('**/v1/audio/speech', (route) => {
      spoken.push({ at: Date.now(), input: route.request().postDataJSON().input });
      return route.continue();
    });
    await page.locator('button', { hasText: '+ New chat' }).click(); // a reply that depends on this prompt only
    await page.locator('[data-testid="composer"]').fill('Hello');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 60000 });
    const textDone = Date.now();
    const player = page.locator('[data-testid="speech-player"]');
    try {
      await page.waitForFunction(() => Number(document.querySelector('[data-testid="speech-player"]')
        ?.dataset.played) > 0, null, { timeout: 30000 });
    } catch (e) {
      throw new Error(`${e.message}: ${JSON.stringify(await player.evaluate((el) => ({ ...el.dataset })))} ` +
        `${spoken.length} requests; reply ${JSON.stringify((await storedMessages(page)).at(-1))}`);
    }
    for (let i = 0; i < 100 && spoken.length < 2; i++) await page.waitForTimeout(100);
    await page.screenshot({ path: path.join(shots, 'media-05-spoken-reply.png') });
    await page.unroute('**/v1/audio/speech');
    const reply = (await storedMessages(page)).at(-1).content.replace(/\s+/g, ' ');
    assert.ok(spoken.length >= 2, `${spoken.length} sentences for ${reply.length} characters`);
    assert.ok(spoken[0].at < textDone, 'speaking began only after the text had finished');
    for (const s of spoken) assert.ok(s.input.length <= 160 && reply.includes(s.input), s.input);
    await page.locator('[data-testid="stop-speaking"]').click();
  });

  test('speaking stops on Stop speaking and when the user presses to talk', async () => {
    const player = page.locator('[data-testid="speech-player"]');
    const speakingNow = () => page.waitForFunction(() => document.querySelector('[data-testid="speech-player"]')
      ?.dataset.speaking === 'true', null, { timeout: 30000 });
    const waitQuiet = () => page.waitForFunction(() => document.querySelector('[data-testid="speech-player"]')
      ?.dataset.speaking === 'false', null, { timeout: 5000 });
    await page.locator('button', { hasText: '+ New chat' }).click();
    await page.locator('[data-testid="voice-button"]').click();
    await page.locator('[data-testid="push-to-talk"]').click();
    await page.locator('[data-testid="voice-button"]').click(); // close the panel

    await page.locator('[data-testid="composer"]').fill('Hello');
    await page.keyboard.press('Enter');
    await speakingNow();
    await page.locator('[data-testid="stop-speaking"]').click();
    await waitQuiet();
    const played = Number(await player.getAttribute('data-scheduled'));
    await page.waitForTimeout(500);
    assert.equal(Number(await player.getAttribute('data-scheduled')), played, 'audio kept coming after stop');

    await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 60000 });
    await page.locator('[data-testid="regenerate"]').click();
    await speakingNow();
    await page.locator('[data-testid="talk"]').dispatchEvent('pointerdown');
    await waitQuiet();
    await page.locator('[data-testid="talk"]').dispatchEvent('pointerup');
    await page.screenshot({ path: path.join(shots, 'media-06-interrupted.png') });
  });
});

/** The largest normalised correlation of a with b over shifts that line up their first loud samples. */
// How well the upload a matches the recording b: the median, over the recording's voiced half-second windows, of
// each window's best correlation with a at lags near the onset-aligned one. Window by window, so that a capture
// glitch on a busy machine (a dropped or repeated block, which shifts everything after it) costs only its window.
function bestCorrelation(a, b) {
  const onset = (x) => x.findIndex((v) => Math.abs(v) > 0.05);
  const base = onset(a) - onset(b);
  const win = 8000;
  const scores = [];
  for (let w0 = 0; w0 + win <= b.length; w0 += win) {
    let energy = 0;
    for (let i = w0; i < w0 + win; i++) energy += b[i] * b[i];
    if (energy < win * 1e-4) continue; // silence: nothing to match
    let best = -1;
    for (let lag = base - 1600; lag <= base + 1600; lag += 1) {
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let i = w0; i < w0 + win; i++) {
        const j = i + lag;
        if (j < 0 || j >= a.length) continue;
        ab += a[j] * b[i];
        aa += a[j] * a[j];
        bb += b[i] * b[i];
      }
      if (aa > 0 && bb > 0) best = Math.max(best, ab / Math.sqrt(aa * bb));
    }
    scores.push(best);
  }
  scores.sort((x, y) => x - y);
  return scores.length ? scores[Math.floor(scores.length / 2)] : -1;
}
