// Load test on loopback: 32 concurrent streaming clients for LOAD_SECONDS (default 60), a quarter of them
// hanging up early, against `qwglm serve` on the fixture model tests/fixtures/qwen3-micro (CI runs it on the ASan
// build). Every request must be answered completely (200 ending in [DONE]) or rejected properly (503 in OpenAI's
// error shape); the server must stay healthy and exit 0 on SIGTERM, which under ASan also means no leak.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelArgs, startServer } from './server.mjs';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 32);

test(`${CLIENTS} streaming clients for ${SECONDS} s`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const srv = await startServer([...modelArgs(4096), '--parallel', '4', '--queue', '16']);
  const stats = { ok: 0, rejected: 0, hungUp: 0, tokens: 0, other: [] };
  const end = Date.now() + SECONDS * 1000;
  let seq = 0;

  async function one(id) {
    const n = seq++;
    const hangUp = n % 4 === 3; // a quarter hang up after a few chunks
    const ctl = new AbortController();
    const body = JSON.stringify({
      messages: [{ role: 'user', content: `client ${id} request ${n} ${n % 5 === 0 ? 'long' : ''}` }],
      stream: true,
      max_tokens: 4 + (n % 12), // short replies: under ASan the fixture model decodes some 15 tokens/s per slot
      temperature: (n % 3) * 0.5,
      seed: n,
    });
    let res;
    try {
      res = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', body, signal: ctl.signal });
    } catch (e) {
      stats.other.push(`fetch: ${e.message}`);
      return;
    }
    if (res.status === 503) {
      const j = await res.json();
      if (j?.error?.type === 'server_error' && res.headers.get('retry-after')) stats.rejected++;
      else stats.other.push(`bad 503: ${JSON.stringify(j)}`);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
      return;
    }
    if (res.status !== 200) {
      stats.other.push(`status ${res.status}: ${await res.text()}`);
      return;
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    let chunks = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
        chunks++;
        if (hangUp && chunks >= 3) {
          ctl.abort();
          stats.hungUp++;
          return;
        }
      }
    } catch (e) {
      if (!ctl.signal.aborted) stats.other.push(`read: ${e.message}`);
      return;
    }
    if (!text.endsWith('data: [DONE]\n\n')) {
      stats.other.push(`incomplete stream: ...${text.slice(-120)}`);
      return;
    }
    stats.ok++;
    stats.tokens += (text.match(/"delta":\{"(content|reasoning_content)"/g) ?? []).length;
  }

  async function client(id) {
    while (Date.now() < end) await one(id);
  }

  const t0 = Date.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  const secs = (Date.now() - t0) / 1000;
  const health = await fetch(`${srv.url}/health`);
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  const code = await srv.stop();
  console.log(
    `load: ${seq} requests in ${secs.toFixed(1)} s: ${stats.ok} complete, ${stats.hungUp} hung up early, ` +
      `${stats.rejected} rejected (503), ${stats.other.length} wrong; ${stats.tokens} streamed deltas ` +
      `(${(stats.tokens / secs).toFixed(0)}/s)`,
  );
  console.log(metrics.split('\n').filter((l) => /^qwglm_(requests_cancelled|requests_rejected|completion_tokens)_total/.test(l)).join('\n'));
  assert.deepEqual(stats.other.slice(0, 5), []);
  assert.equal(health.status, 200);
  assert.ok(stats.ok > 0 && stats.hungUp > 0);
  assert.equal(code, 0, `server exit status ${code}; stderr:\n${srv.stderr.slice(-4000)}`);
});
