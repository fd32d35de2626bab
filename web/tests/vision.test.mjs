// Images in /v1/chat/completions on tests/fixtures/qwen3-vl-micro, token-exact against the transformers reference:
// the reference prompt ("Look: " + two images + " What is in these images?") sent as OpenAI content parts with
// data: URLs must expand to the reference's 161 prompt tokens and give its 8 greedy tokens. The same with the
// images named by http URLs (a local HTTP server in the test) and by file paths, on a server started with
// --allow-image-urls and --allow-image-files; and the 400s: not enabled, 404, too large, redirect loops,
// unreachable hosts, files outside the folder.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
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
let srvNamed; // with --allow-image-urls, --allow-image-files DIR and a small --max-body
let clientNamed;
let files; // the local HTTP server the images are fetched from
let filesUrl;
const maxBody = 65536;

before(async () => {
  srv = await startServer(['-m', dir, '--ctx', '1024']);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  srvNamed = await startServer(['-m', dir, '--ctx', '1024', '--allow-image-urls', '--allow-image-files', dir,
    '--max-body', String(maxBody)]);
  clientNamed = new OpenAI({ baseURL: `${srvNamed.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  files = http.createServer((req, res) => {
    const name = req.url.slice(1);
    if (name === 'big.png') {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      res.end(Buffer.alloc(maxBody + 1000, 7));
    } else if (name === 'loop') {
      res.writeHead(302, { Location: '/loop' });
      res.end();
    } else if (name === 'moved.png') {
      res.writeHead(301, { Location: '/image0.png' });
      res.end();
    } else if (/^image[01]\.png$/.test(name)) {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      res.end(fs.readFileSync(path.join(dir, name)));
    } else {
      res.writeHead(404);
      res.end('not here');
    }
  });
  await new Promise((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${files.address().port}`;
});

after(async () => {
  files.close();
  assert.equal(await srv.stop(), 0, srv.stderr);
  assert.equal(await srvNamed.stop(), 0, srvNamed.stderr);
});

/** The reference prompt with its images as url(file) parts; checks the reference tokens, with and without
 * streaming. */
async function referencePrompt(cl, url) {
  const c = ref.cases[0];
  const content = [
    { type: 'text', text: c.prompt.before },
    ...ref.images.map((im) => ({ type: 'image_url', image_url: { url: url(im.file) } })),
    { type: 'text', text: c.prompt.after },
  ];
  const want = tokenText(path.join(dir, 'tokenizer.json'), c.greedy);
  for (const stream of [false, true]) {
    const req = { model: 'x', messages: [{ role: 'user', content }], temperature: 0, repetition_penalty: 1,
      max_tokens: c.greedy.length, stream, stream_options: stream ? { include_usage: true } : undefined };
    let text = '';
    let usage;
    if (stream) {
      for await (const ch of await cl.chat.completions.create(req)) {
        text += ch.choices[0]?.delta?.content ?? '';
        usage = ch.usage ?? usage;
      }
    } else {
      const r = await cl.chat.completions.create(req);
      text = r.choices[0].message.content;
      usage = r.usage;
    }
    assert.equal(usage.prompt_tokens, c.input_ids.length);
    assert.equal(usage.completion_tokens, c.greedy.length);
    assert.equal(text, want);
  }
}

test('the reference prompt with two images gives the reference tokens', async () => {
  await referencePrompt(client, dataUrl);
  const s = await (await fetch(`${srv.url}/api/status`)).json();
  assert.equal(s.capabilities.vision, true);
});

test('images named by http URLs and by paths give the same tokens where enabled', async () => {
  await referencePrompt(clientNamed, (f) => `${filesUrl}/${f}`);
  await referencePrompt(clientNamed, (f) => path.join(dir, f));
  await referencePrompt(clientNamed, (f) => `file://${path.join(dir, f)}`);
  await referencePrompt(clientNamed, (f) => (f === 'image0.png' ? `${filesUrl}/moved.png` : dataUrl(f)));
});

/** POSTs one message with an image named by url; resolves with the status and the error object. */
async function postImage(base, url) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Look: ' },
      { type: 'image_url', image_url: { url } }] }], max_tokens: 1 }),
  });
  return { status: r.status, error: (await r.json()).error };
}

test('named images are refused where not enabled, and when they cannot be had', async () => {
  const cases = [
    [srv.url, `${filesUrl}/image0.png`, /does not fetch image URLs \(qwglm serve --allow-image-urls\)/],
    [srv.url, path.join(dir, 'image0.png'), /does not read local image files/],
    [srvNamed.url, `${filesUrl}/nothing.png`, /cannot fetch http:\/\/127\.0\.0\.1:\d+\/nothing\.png: HTTP 404/],
    [srvNamed.url, `${filesUrl}/big.png`, new RegExp(`big\\.png: larger than ${maxBody} bytes`)],
    [srvNamed.url, `${filesUrl}/loop`, /loop: more than 5 redirects/],
    [srvNamed.url, 'http://127.0.0.1:9/a.png', /cannot fetch http:\/\/127\.0\.0\.1:9\/a\.png: /],
    [srvNamed.url, `${dir}/../qwen3-micro/config.json`, /is not a file in the server's image folder/],
    [srvNamed.url, '/etc/passwd', /is not a file in the server's image folder/],
    [srvNamed.url, `file://${dir}/config.json`, /config\.json': image: not a PNG, JPEG, WebP, GIF or BMP/],
    [srvNamed.url, 'ftp://127.0.0.1/a.png', /must be data:, http\(s\):\/\/, file:\/\/ or an absolute path/],
  ];
  for (const [base, url, message] of cases) {
    const { status, error } = await postImage(base, url);
    assert.equal(status, 400, url);
    assert.equal(error.param, 'messages[0].content[1]', url);
    assert.match(error.message, message, url);
  }
});
