// Starts `qwglm serve` for a test on a free port and stops it with SIGTERM, checking that it exits cleanly
// (under AddressSanitizer a leak or an error makes the exit status nonzero and leaves a report on stderr).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function binary() {
  return path.resolve(repo, process.env.QWGLM_BIN ?? 'build/qwglm');
}

/** The fixture language model (tests/fixtures/qwen3-micro: the real Qwen3 tokenizer and chat template, random
 * weights whose greedy replies the transformers reference gives). Its replies never end on their own, so a small
 * context bounds them. */
export function modelArgs(ctx = 2048) {
  return ['-m', path.join(repo, 'tests/fixtures/qwen3-micro'), '--ctx', String(ctx)];
}

/** The speech fixtures: Parakeet for transcriptions, the Piper voice for speech. */
export function speechArgs() {
  return ['--asr-model', path.join(repo, 'tests/fixtures/parakeet-micro'), '--voice',
    path.join(repo, 'tests/fixtures/piper-micro/en_US-micro-medium.onnx')];
}

export async function startServer(args = [], { timeoutMs = 60000, wait = true } = {}) {
  const child = spawn(binary(), ['serve', '--port', '0', ...args], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), timeoutMs);
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = stderr.match(/listening on (http:\/\/[^/\s]+)\//);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  const server = {
    url,
    child,
    get stderr() {
      return stderr;
    },
    /** Sends SIGTERM and resolves with the exit code. */
    stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      return new Promise((resolve) => {
        child.once('exit', (code, sig) => resolve(code ?? sig));
        child.kill(signal);
      });
    },
  };
  if (wait) await waitReady(url, timeoutMs);
  return server;
}

export async function waitReady(url, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error('server never became ready');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends raw bytes over a socket and resolves with the whole response text (the server closes or we time out). */
export async function rawRequest(url, text, { timeoutMs = 5000 } = {}) {
  const net = await import('node:net');
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => sock.write(text));
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', (e) => (out ? resolve(out) : reject(e)));
    setTimeout(() => (sock.destroy(), resolve(out)), timeoutMs);
  });
}
