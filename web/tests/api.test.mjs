// API tests: the official `openai` client as a real client, plus raw HTTP for what a client library would never
// send. Run with `node --test tests/api.test.mjs` (QWGLM_BIN picks the binary; the default is build/qwglm).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { modelArgs, rawRequest, repo, startServer } from './server.mjs';

// tests/fixtures/qwen3-micro, whose random weights give the transformers reference's greedy replies
const greedy = { temperature: 0, repetition_penalty: 1, presence_penalty: 0, frequency_penalty: 0 };
const story = 'Tell me a story about a GPU.'; // reference.json case 0: with thinking off, " schn" (id 41130) again and again
let srv;
let client;

before(async () => {
  srv = await startServer([...modelArgs(), '--parallel', '2', '--max-body', '65536', '--web', `${repo}/web/dist`]);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  const code = await srv.stop();
  assert.equal(code, 0, `server exit status ${code}:\n${srv.stderr}`);
});

async function post(path, body, headers = {}) {
  const r = await fetch(`${srv.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: r.status, headers: r.headers, text, json };
}

function assertOpenAIError(res, status, param) {
  assert.equal(res.status, status, res.text);
  assert.equal(typeof res.json?.error?.message, 'string', res.text);
  assert.equal(typeof res.json.error.type, 'string');
  assert.ok('param' in res.json.error && 'code' in res.json.error, res.text);
  if (param !== undefined) assert.equal(res.json.error.param, param, res.text);
}

describe('openai client', () => {
  test('lists the model', async () => {
    const models = await client.models.list();
    assert.equal(models.data.length, 1);
    assert.equal(models.data[0].id, 'qwen3-micro');
    assert.equal(models.data[0].object, 'model');
  });

  test('non-streaming chat with usage and timings', async () => {
    const r = await client.chat.completions.create({
      model: 'any',
      messages: [{ role: 'user', content: 'hello world' }],
      max_tokens: 24,
    });
    assert.equal(r.object, 'chat.completion');
    const m = r.choices[0].message;
    assert.equal(m.role, 'assistant');
    assert.equal(typeof m.content, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.ok(r.usage.completion_tokens <= 24);
    assert.ok(r.timings.predicted_per_second >= 0);
  });

  test('streaming chat arrives in several chunks and ends with a finish reason', async () => {
    const stream = await client.chat.completions.create({
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 30,
    });
    let content = '';
    let reasoning = '';
    let chunks = 0;
    let finish = null;
    let usage = null;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
      const ch = c.choices[0];
      if (!ch) continue;
      content += ch.delta.content ?? '';
      reasoning += ch.delta.reasoning_content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    assert.ok(chunks > 3, `only ${chunks} chunks`);
    assert.ok(['stop', 'length'].includes(finish));
    assert.ok(usage && usage.completion_tokens > 0 && usage.completion_tokens <= 30);
    assert.equal(reasoning, '', 'the fixture model never opens a <think> block');
    assert.ok(content.length > 0);
  });

  test('thinking off: no reasoning_content', async () => {
    const r = await client.chat.completions.create({
      messages: [{ role: 'user', content: story }],
      max_tokens: 12,
      chat_template_kwargs: { enable_thinking: false },
      ...greedy,
    });
    assert.equal(r.choices[0].message.reasoning_content, undefined);
    assert.equal(r.choices[0].message.content, ' schn'.repeat(12));
  });

  test('content parts are joined', async () => {
    const ask = (content) => client.chat.completions.create({
      messages: [{ role: 'user', content }], max_tokens: 4, chat_template_kwargs: { enable_thinking: false },
      ...greedy });
    const parts = await ask([{ type: 'text', text: 'part one' }, { type: 'text', text: ' part two' }]);
    const joined = await ask('part one part two');
    assert.equal(parts.usage.prompt_tokens, joined.usage.prompt_tokens);
    assert.equal(parts.choices[0].message.content, joined.choices[0].message.content);
  });

  test('text completions, streaming and not', async () => {
    const r = await client.completions.create({ model: 'x', prompt: '<|im_start|>user\nabc<|im_end|>\n', max_tokens: 5 });
    assert.equal(r.object, 'text_completion');
    assert.equal(typeof r.choices[0].text, 'string');
    assert.ok(r.usage.completion_tokens <= 5);
    const s = await client.completions.create({ prompt: 'Once upon a time', max_tokens: 5, stream: true });
    let n = 0;
    for await (const c of s) n += c.choices.length ? 1 : 0;
    assert.ok(n >= 1);
  });

  test('stop strings cut the reply, also inside and across tokens', async () => {
    for (const stream of [false, true]) {
      const req = { messages: [{ role: 'user', content: story }], stop: ['hn s', 'never'], max_tokens: 40,
        chat_template_kwargs: { enable_thinking: false }, stream, ...greedy };
      let content = '';
      let finish = null;
      if (stream) {
        for await (const c of await client.chat.completions.create(req)) {
          content += c.choices[0]?.delta?.content ?? '';
          finish = c.choices[0]?.finish_reason ?? finish;
        }
      } else {
        const r = await client.chat.completions.create(req);
        content = r.choices[0].message.content;
        finish = r.choices[0].finish_reason;
      }
      assert.equal(content, ' sc'); // " schn schn ..." up to the first "hn s"
      assert.equal(finish, 'stop');
    }
  });

  test('same seed, same reply', async () => {
    const req = { messages: [{ role: 'user', content: 'seeded' }], temperature: 1, seed: 42, max_tokens: 40 };
    const a = await client.chat.completions.create(req);
    const b = await client.chat.completions.create(req);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  });

  test('a follow-up turn reuses the cached prompt prefix', async () => {
    const first = [{ role: 'user', content: 'remember this conversation' }];
    const a = await client.chat.completions.create({ messages: first, max_tokens: 8 });
    const b = await client.chat.completions.create({
      messages: [...first, { role: 'assistant', content: a.choices[0].message.content }, { role: 'user', content: 'and now?' }],
      max_tokens: 8,
    });
    assert.ok(b.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(b.usage));
    assert.ok(b.usage.prompt_tokens_details.cached_tokens < b.usage.prompt_tokens);
  });

  test('errors come as APIError with the status', async () => {
    await assert.rejects(
      client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }),
      (e) => e.status === 400 && e.param === 'temperature',
    );
    await assert.rejects(
      client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], n: 2 }),
      (e) => e.status === 400 && e.param === 'n',
    );
    await assert.rejects(
      client.chat.completions.create({ messages: [{ role: 'user', content: 'word '.repeat(3000) }] }),
      (e) => e.status === 400 && e.code === 'context_length_exceeded',
    );
  });
});

// Token-exact against the transformers reference (tests/fixtures/qwen3-micro/reference.json): the chat template,
// the tokenizer, the model, greedy decoding and the detokenizer all have to be right.
describe('the fixture model against its reference', () => {
  test('chat: template, tokenizer and 16 greedy tokens', async () => {
    const r = await client.chat.completions.create({
      messages: [{ role: 'user', content: story }],
      chat_template_kwargs: { enable_thinking: false },
      ...greedy,
      max_tokens: 16,
    });
    assert.equal(r.usage.prompt_tokens, 20); // <|im_start|>user ... <think>\n\n</think>\n\n
    assert.equal(r.usage.completion_tokens, 16);
    assert.equal(r.choices[0].message.content, ' schn'.repeat(16)); // id 41130, 16 times
    assert.equal(r.choices[0].finish_reason, 'length');
  });

  test('completion: raw prompt and 16 greedy tokens, streamed', async () => {
    const s = await client.completions.create({ prompt: 'The quick brown fox', stream: true, ...greedy,
      max_tokens: 16 });
    let text = '';
    for await (const c of s) text += c.choices[0]?.text ?? '';
    assert.equal(text, ' fox'.repeat(16)); // id 38835, 16 times
    const r = await client.completions.create({ prompt: 'The quick brown fox', ...greedy, max_tokens: 16 });
    assert.equal(r.usage.prompt_tokens, 4);
    assert.equal(r.choices[0].text, ' fox'.repeat(16));
  });
});

describe('raw HTTP', () => {
  test('malformed JSON is a 400 in OpenAI error shape', async () => {
    assertOpenAIError(await post('/v1/chat/completions', '{"messages": [}'), 400, null);
    assertOpenAIError(await post('/v1/chat/completions', ''), 400, null);
    assertOpenAIError(await post('/v1/chat/completions', '[1,2]'), 400, null);
    assertOpenAIError(await post('/v1/chat/completions', '"\\ud800'), 400, null);
  });

  test('wrong types and values name the field', async () => {
    const m = [{ role: 'user', content: 'x' }];
    assertOpenAIError(await post('/v1/chat/completions', {}), 400, 'messages');
    assertOpenAIError(await post('/v1/chat/completions', { messages: 'hi' }), 400, 'messages');
    assertOpenAIError(await post('/v1/chat/completions', { messages: [] }), 400, 'messages');
    assertOpenAIError(await post('/v1/chat/completions', { messages: [{ role: 'wizard', content: 'x' }] }), 400,
      'messages[0].role');
    assertOpenAIError(await post('/v1/chat/completions', { messages: [{ role: 'user' }] }), 400, 'messages[0].content');
    assertOpenAIError(await post('/v1/chat/completions', { messages: [{ role: 'user', content: 5 }] }), 400,
      'messages[0].content');
    assertOpenAIError(await post('/v1/chat/completions', {
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }],
    }), 400, 'messages[0].content[0]');
    assertOpenAIError(await post('/v1/chat/completions', { messages: m, max_tokens: 0 }), 400, 'max_tokens');
    assertOpenAIError(await post('/v1/chat/completions', { messages: m, max_tokens: 1.5 }), 400, 'max_tokens');
    assertOpenAIError(await post('/v1/chat/completions', { messages: m, top_p: 2 }), 400, 'top_p');
    assertOpenAIError(await post('/v1/chat/completions', { messages: m, stream: 'yes' }), 400, 'stream');
    assertOpenAIError(await post('/v1/chat/completions', { messages: m, stop: [1] }), 400, 'stop');
    assertOpenAIError(await post('/v1/chat/completions', { messages: m, stop: ['\u0000e9'] }), 400, 'stop');
    assertOpenAIError(await post('/v1/chat/completions', { messages: m, model: 7 }), 400, 'model');
    assertOpenAIError(await post('/v1/completions', { prompt: 3 }), 400, 'prompt');
  });

  test('unknown fields are ignored', async () => {
    const r = await post('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'x', name: 'bob', extra: { a: 1 } }],
      max_tokens: 3,
      user: 'someone',
      some_vendor_extension: [1, 2, 3],
      logprobs: false,
      tools: [],
    });
    assert.equal(r.status, 200, r.text);
  });

  test('bodies over --max-body get 413', async () => {
    const big = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(70000) }] });
    assertOpenAIError(await post('/v1/chat/completions', big), 413);
    // chunked: no Content-Length to check up front
    const body = big;
    const chunked = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const raw = await rawRequest(srv.url, chunked);
    assert.match(raw, /^HTTP\/1\.1 413/, raw.slice(0, 200));
  });

  test('unknown URLs and methods', async () => {
    assertOpenAIError(await post('/v1/nope', {}), 404);
    const r = await fetch(`${srv.url}/v1/chat/completions`);
    assert.equal(r.status, 405);
    const d = await fetch(`${srv.url}/v1/models`, { method: 'DELETE' });
    assert.equal(d.status, 405);
  });

  test('health, metrics, status, progress', async () => {
    const h = await fetch(`${srv.url}/health`);
    assert.deepEqual(await h.json(), { status: 'ok' });
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    for (const name of ['qwglm_requests_total', 'qwglm_completion_tokens_total', 'qwglm_decode_tokens_per_second',
      'qwglm_queue_depth', 'qwglm_resident_memory_bytes'])
      assert.match(m, new RegExp(`^${name}`, 'm'), name);
    const s = await (await fetch(`${srv.url}/api/status`)).json();
    assert.equal(s.state, 'ready');
    assert.equal(s.slots.total, 2);
    assert.equal(s.capabilities.chat, true);
    assert.deepEqual(s.capabilities, { chat: true, vision: false, transcription: false, speech: false });
    assert.deepEqual(s.audio, { asr_model: null, voices: [] });
    const p = await fetch(`${srv.url}/api/progress`);
    assert.equal(p.headers.get('content-type'), 'text/event-stream');
    const text = await p.text();
    assert.match(text, /^event: progress\ndata: \{"state":"ready"/m);
  });

  test('static files and no path traversal', async () => {
    const index = await fetch(`${srv.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type'), /text\/html/);
    for (const path of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/../../CMakeLists.txt',
      '/..%2f..%2fCMakeLists.txt', '/.hidden', '/a\\..\\..\\etc\\passwd']) {
      const raw = await rawRequest(srv.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.doesNotMatch(raw, /root:|cmake_minimum_required/, path);
      assert.match(raw, /^HTTP\/1\.1 (404|400)/, `${path}: ${raw.slice(0, 80)}`);
    }
    // a route of the single-page app gets the page
    assert.equal((await fetch(`${srv.url}/chat/some-id`)).status, 200);
  });

  test('a client that hangs up mid-stream cancels its reply', async () => {
    const before = await (await fetch(`${srv.url}/metrics`)).text();
    const count = (t) => Number(t.match(/^qwglm_requests_cancelled_total (\d+)/m)[1]);
    const ctl = new AbortController();
    const r = await fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ messages: [{ role: 'user', content: 'a long story' }], stream: true, max_tokens: 100000 }),
      signal: ctl.signal,
    });
    const reader = r.body.getReader();
    await reader.read();
    ctl.abort();
    let cancelled = 0;
    for (let i = 0; i < 50 && cancelled <= count(before); i++) {
      await new Promise((res) => setTimeout(res, 100));
      cancelled = count(await (await fetch(`${srv.url}/metrics`)).text());
    }
    assert.ok(cancelled > count(before), 'the reply was not cancelled');
  });
});

describe('a server without speech models', () => {
  test('the audio endpoints answer 404 naming the option that enables them', async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(100)]), 'a.wav');
    const t = await fetch(`${srv.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    const tj = await t.json();
    assert.equal(t.status, 404);
    assert.equal(tj.error.code, 'model_not_found');
    assert.match(tj.error.message, /--asr-model/);
    const s = await post('/v1/audio/speech', { input: 'hi', voice: 'alloy' });
    assertOpenAIError(s, 404);
    assert.match(s.json.error.message, /--voice/);
    // the voice activity detector needs no model
    const v = await fetch(`${srv.url}/api/vad?session=no-models&rate=16000`, { method: 'POST',
      body: new Uint8Array(6400) });
    assert.equal(v.status, 200);
    assert.deepEqual((await v.json()).events, []);
  });
});

describe('server options', () => {
  test('--api-key: 401 without it, 200 with it; /health stays open', async () => {
    const s = await startServer([...modelArgs(), '--api-key', 'sekrit']);
    try {
      const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await assert.rejects(bad.models.list(), (e) => e.status === 401 && e.code === 'invalid_api_key');
      const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
      assert.equal((await good.models.list()).data.length, 1);
      assert.equal((await fetch(`${s.url}/metrics`)).status, 401);
      assert.equal((await fetch(`${s.url}/health`)).status, 200);
    } finally {
      assert.equal(await s.stop(), 0, s.stderr);
    }
  });

  test('--cors: headers and preflight only when asked for', async () => {
    const s = await startServer([...modelArgs(), '--cors', 'http://example.test']);
    try {
      const r = await fetch(`${s.url}/v1/models`);
      assert.equal(r.headers.get('access-control-allow-origin'), 'http://example.test');
      const p = await fetch(`${s.url}/v1/chat/completions`, { method: 'OPTIONS' });
      assert.equal(p.status, 204);
      assert.match(p.headers.get('access-control-allow-headers'), /Authorization/);
    } finally {
      assert.equal(await s.stop(), 0, s.stderr);
    }
    const r = await fetch(`${srv.url}/v1/models`);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });

  test('overload: a full queue answers 503 with Retry-After', async () => {
    const s = await startServer([...modelArgs(), '--parallel', '1', '--queue', '1']);
    try {
      // two thousand tokens keep the one slot busy while the others arrive, however fast the kernels
      const body = JSON.stringify({ messages: [{ role: 'user', content: 'slow' }], max_tokens: 2000 });
      const send = () => fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body });
      const results = await Promise.all([send(), send(), send(), send()]);
      const codes = results.map((r) => r.status).sort();
      assert.ok(codes.includes(200), codes.join());
      assert.ok(codes.includes(503), codes.join());
      const rejected = results.find((r) => r.status === 503);
      assert.equal(rejected.headers.get('retry-after'), '1');
      assert.equal((await rejected.json()).error.type, 'server_error');
    } finally {
      assert.equal(await s.stop(), 0, s.stderr);
    }
  });

  test('SIGTERM mid-stream: the stream ends and the server exits 0', async () => {
    const s = await startServer(modelArgs());
    const r = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ messages: [{ role: 'user', content: 'long one' }], stream: true, max_tokens: 300 }),
    });
    const reader = r.body.getReader();
    await reader.read();
    const exit = s.stop();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ done: true }));
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.equal(await exit, 0, s.stderr);
    assert.match(text, /data: \[DONE\]/);
  });
});
