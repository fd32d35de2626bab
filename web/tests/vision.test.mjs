// Images in /v1/chat/completions on tests/fixtures/qwen3-vl-micro, token-exact against the transformers reference:
// the reference prompt ("Look: " + two images + " What is in these images?") sent as OpenAI content parts with
// data: URLs must expand to the reference's 161 prompt tokens and give its 8 greedy tokens.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { repo, startServer } from './server.mjs';
import { tokenText } from './fixtures.mjs';

const dir = path.join(repo, 'tests/fixtures/qwen3-vl-micro');
const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
const dataUrl = (f) => `data:image/png;base64,${fs.readFileSync(path.join(dir, f)).toString('base64')}`;
let srv;
let client;

before(async () => {
  srv = await startServer(['-m', dir, '--ctx', '1024']);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  assert.equal(await srv.stop(), 0, srv.stderr);
});

test('the reference prompt with two images gives the reference tokens', async () => {
  const c = ref.cases[0];
  const content = [
    { type: 'text', text: c.prompt.before },
    ...ref.images.map((im) => ({ type: 'image_url', image_url: { url: dataUrl(im.file) } })),
    { type: 'text', text: c.prompt.after },
  ];
  const want = tokenText(path.join(dir, 'tokenizer.json'), c.greedy);
  for (const stream of [false, true]) {
    const req = { model: 'x', messages: [{ role: 'user', content }], temperature: 0, repetition_penalty: 1,
      max_tokens: c.greedy.length, stream, stream_options: stream ? { include_usage: true } : undefined };
    let text = '';
    let usage;
    if (stream) {
      for await (const ch of await client.chat.completions.create(req)) {
        text += ch.choices[0]?.delta?.content ?? '';
        usage = ch.usage ?? usage;
      }
    } else {
      const r = await client.chat.completions.create(req);
      text = r.choices[0].message.content;
      usage = r.usage;
    }
    assert.equal(usage.prompt_tokens, c.input_ids.length);
    assert.equal(usage.completion_tokens, c.greedy.length);
    assert.equal(text, want);
  }
  const s = await (await fetch(`${srv.url}/api/status`)).json();
  assert.equal(s.capabilities.vision, true);
});
