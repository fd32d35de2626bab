// End-to-end: `qwglm serve` with the built web app, driven in Debian's headless Chromium through playwright-core
// (no browser download). Screenshots go to web/test-results/screenshots/ for CI to keep.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { modelArgs, repo, startServer } from './server.mjs';

const shots = path.join(repo, 'web/test-results/screenshots');
// The fixture model (tests/fixtures/qwen3-micro) has random weights: with thinking off, this prompt is the
// reference case whose greedy reply is " schn" (id 41130) over and over, which shows in the page.
const first = 'Tell me a story about a GPU.';
let srv;
let browser;
let page;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  srv = await startServer([...modelArgs(8192), '--web', path.join(repo, 'web/dist')]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 820 } });
  page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  await browser?.close();
  if (srv) assert.equal(await srv.stop(), 0, srv.stderr);
});

const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });
const lastReply = () => page.locator('[data-testid="message-assistant"]').last();
const metric = async (name) => {
  const t = await (await fetch(`${srv.url}/metrics`)).text();
  return Number(t.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? 0);
};

test('the page loads and shows the engine status', async () => {
  await page.goto(`${srv.url}/`);
  await page.locator('.gpu-status .dot.state-ready').waitFor({ timeout: 15000 });
  assert.match(await page.locator('[data-testid="gpu-status"]').innerText(), /cpu/);
  await shot('01-empty');
});

test('a message streams its reply token by token', async () => {
  await page.locator('label.toggle', { hasText: 'Thinking' }).locator('input').uncheck();
  await page.locator('button', { hasText: 'Settings' }).click();
  await page.locator('label', { hasText: 'Temperature' }).locator('input').fill('0');
  // 1500 tokens: long enough to stream over many frames however fast the kernels are (300 tokens of the micro
  // model can arrive in one or two network reads)
  await page.locator('label', { hasText: 'Max tokens' }).locator('input').fill('1500');
  await page.locator('[aria-label="Close settings"]').click();
  await page.locator('[data-testid="composer"]').fill(first);
  // the reply grows while it streams: every length the last reply has on screen, recorded as the page changes
  // (polling would depend on how fast the model is)
  await page.evaluate(() => {
    window.__replyLengths = [];
    new MutationObserver(() => {
      const all = document.querySelectorAll('[data-testid="message-assistant"]');
      if (all.length) window.__replyLengths.push(all[all.length - 1].innerText.length);
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  await page.keyboard.press('Enter');
  const reply = lastReply();
  await reply.waitFor();
  await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 20000 });
  const lengths = await page.evaluate(() => window.__replyLengths);
  assert.ok(new Set(lengths).size >= 3, `reply did not grow gradually: ${lengths}`);
  const text = await reply.innerText();
  assert.match(text, /^Assistant\s+schn schn schn schn/);
  assert.match(await page.locator('[data-testid="speed"]').innerText(), /tok\/s/);
  await shot('02-reply');
});

const setMaxTokens = async (value) => {
  await page.locator('button', { hasText: 'Settings' }).click();
  await page.locator('label', { hasText: 'Max tokens' }).locator('input').fill(value);
  await page.locator('[aria-label="Close settings"]').click();
};

test('stop ends a reply midway', async () => {
  // no token limit: the reply runs until the context (8192) is full, so it is still streaming when the click
  // reaches the server
  await setMaxTokens('');
  const before = await metric('qwglm_requests_cancelled_total');
  await page.locator('[data-testid="composer"]').fill('tell me a long story');
  await page.locator('[data-testid="send"]').click();
  await page.locator('[data-testid="stop"]').waitFor();
  // stop as soon as text arrives: with the SIMD kernels the micro model fills its context in about a second
  await page.waitForFunction(() => {
    const all = document.querySelectorAll('[data-testid="message-assistant"]');
    return all.length && all[all.length - 1].innerText.length > 'Assistant'.length + 8;
  });
  await page.locator('[data-testid="stop"]').click();
  await page.locator('[data-testid="send"]').waitFor();
  await lastReply().locator('text=Stopped.').waitFor();
  const frozen = await lastReply().innerText();
  await page.waitForTimeout(400);
  assert.equal(await lastReply().innerText(), frozen, 'the reply kept growing after stop');
  for (let i = 0; i < 30 && (await metric('qwglm_requests_cancelled_total')) <= before; i++) await page.waitForTimeout(100);
  assert.ok((await metric('qwglm_requests_cancelled_total')) > before, 'the server did not cancel the reply');
  await shot('03-stopped');
  await setMaxTokens('300'); // the later tests' replies: short
});

test('after a reload the conversation is still there', async () => {
  await page.reload();
  await page.locator('.gpu-status .dot.state-ready').waitFor({ timeout: 15000 });
  const item = page.locator('[data-testid="conversation-item"]', { hasText: first });
  await item.waitFor();
  await item.locator('button.title').click();
  await page.locator('[data-testid="message-user"]', { hasText: 'tell me a long story' }).waitFor();
  assert.equal(await page.locator('[data-testid="message-assistant"]').count(), 2);
  await shot('04-reloaded');
});

test('regenerate, and edit and resend', async () => {
  await setMaxTokens(''); // a regenerated reply long enough to be stopped (see the stop test)
  await page.locator('[data-testid="regenerate"]').click();
  await page.locator('[data-testid="stop"]').waitFor();
  await page.locator('[data-testid="stop"]').click();
  await page.locator('[data-testid="send"]').waitFor();
  await setMaxTokens('300');
  const user = page.locator('[data-testid="message-user"]').last();
  await user.locator('button', { hasText: 'Edit' }).click();
  await page.locator('textarea.edit-box').fill('edited question');
  await page.locator('button', { hasText: 'Save & send' }).click();
  await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 20000 });
  assert.equal(await page.locator('[data-testid="message-user"]', { hasText: 'tell me a long story' }).count(), 0);
});

test('conversations can be renamed and deleted', async () => {
  await page.locator('button', { hasText: '+ New chat' }).click();
  await page.locator('[data-testid="composer"]').fill('second conversation');
  await page.keyboard.press('Enter');
  await page.locator('[data-testid="regenerate"]').waitFor({ timeout: 20000 });
  const items = page.locator('[data-testid="conversation-item"]');
  assert.equal(await items.count(), 2);
  const second = items.filter({ hasText: 'second conversation' });
  await second.hover();
  await second.getByRole('button', { name: /Rename/ }).click();
  await page.locator('[aria-label="Conversation name"]').fill('renamed chat');
  await page.keyboard.press('Enter');
  await items.filter({ hasText: 'renamed chat' }).waitFor();
  const renamed = items.filter({ hasText: 'renamed chat' });
  await renamed.hover();
  await renamed.getByRole('button', { name: /Delete/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="conversation-item"]').length === 1);
  await page.reload();
  await items.first().waitFor();
  assert.equal(await items.count(), 1);
});

test('screen sharing and voice say they are not active yet; settings and themes', async () => {
  await page.locator('[data-testid="screenshare-button"]').click();
  await page.locator('[data-testid="screenshare-inactive"]').waitFor();
  await shot('05-screenshare');
  await page.locator('[data-testid="screenshare-button"]').click();
  await page.locator('[data-testid="voice-button"]').click();
  await page.locator('[data-testid="voice-inactive"]').waitFor();
  await page.locator('[data-testid="voice-button"]').click();
  await page.locator('button', { hasText: 'Settings' }).click();
  await page.locator('[data-testid="settings"]').waitFor();
  await shot('06-settings');
  await page.locator('[aria-label="Close settings"]').click();
  await page.locator('[aria-label="Toggle theme"]').click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await shot('07-dark');
  await page.setViewportSize({ width: 390, height: 780 });
  await shot('08-mobile');
});

test('stored replies render markdown, highlighted code and a folded thought process', async () => {
  // A conversation as the app stores it, with what the fixture model never writes: a <think> block's reasoning
  // and a markdown answer with code.
  const conv = {
    id: 'rendering-test', title: 'rendering test', createdAt: Date.now(), updatedAt: Date.now() + 1e6,
    messages: [
      { id: 'u1', role: 'user', content: 'show me code' },
      { id: 'a1', role: 'assistant', reasoning: 'The user wants code.',
        content: 'Here:\n\n```c\nint main(void) { return 0; }\n```\n\n**bold** and <img src=x onerror="window.pwned=1">' },
    ],
  };
  await page.setViewportSize({ width: 1280, height: 820 });
  await page.evaluate((c) => new Promise((resolve, reject) => {
    const req = indexedDB.open('qwglm', 1);
    req.onsuccess = () => {
      const tx = req.result.transaction('conversations', 'readwrite');
      tx.objectStore('conversations').put(c);
      tx.oncomplete = () => (req.result.close(), resolve());
      tx.onerror = () => reject(tx.error);
    };
    req.onerror = () => reject(req.error);
  }), conv);
  await page.reload();
  await page.locator('[data-testid="conversation-item"]', { hasText: 'rendering test' }).locator('button.title').click();
  const reply = lastReply();
  await reply.locator('.codeblock .hljs-keyword').first().waitFor();
  assert.equal(await reply.locator('strong').innerText(), 'bold');
  const thinking = reply.locator('details.thinking');
  assert.equal(await thinking.getAttribute('open'), null, 'the thought process is folded');
  await thinking.locator('summary').click();
  assert.match(await thinking.innerText(), /The user wants code/);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'model output is sanitized');
  await shot('05b-rendering');
  await page.evaluate((id) => new Promise((resolve) => {
    const req = indexedDB.open('qwglm', 1);
    req.onsuccess = () => {
      const tx = req.result.transaction('conversations', 'readwrite');
      tx.objectStore('conversations').delete(id);
      tx.oncomplete = () => (req.result.close(), resolve());
    };
  }), conv.id);
});

test('LoadingProgress follows a model load, and shows why it failed', async () => {
  // A model directory whose tokenizer.json is a named pipe: the server's loader blocks in open() (a real load,
  // held by the test), so the page sees it loading; writing to the pipe lets the loader see a file that is not a
  // regular file, and the load fails with that message.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwglm-slow-model-'));
  const fixture = path.join(repo, 'tests/fixtures/qwen3-micro');
  for (const f of fs.readdirSync(fixture)) if (f !== 'tokenizer.json') fs.symlinkSync(path.join(fixture, f), path.join(dir, f));
  execFileSync('mkfifo', [path.join(dir, 'tokenizer.json')]);
  const slow = await startServer(['-m', dir, '--web', path.join(repo, 'web/dist')], { wait: false });
  try {
    const p2 = await browser.newPage();
    await p2.goto(`${slow.url}/`);
    const bar = p2.locator('[data-testid="loading-progress"]');
    await bar.waitFor({ timeout: 10000 });
    await p2.locator('[data-testid="loading-progress"] [role="progressbar"]').waitFor();
    assert.match(await bar.innerText(), /Loading/);
    await p2.screenshot({ path: path.join(shots, '09-loading.png') });
    assert.equal(await p2.locator('[data-testid="send"]').isDisabled(), true);
    fs.closeSync(fs.openSync(path.join(dir, 'tokenizer.json'), 'w')); // the loader's open() returns
    await bar.locator('text=not a regular file').waitFor({ timeout: 10000 });
    await p2.screenshot({ path: path.join(shots, '10-load-failed.png') });
    await p2.close();
  } finally {
    assert.equal(await slow.stop(), 1, slow.stderr); // a model that failed to load: exit status 1
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
