#!/usr/bin/env python3
"""qwglm serve with images: /v1/chat/completions with image_url data: URLs on the Qwen3-VL fixture gives the
reference's greedy reply (the chat template renders the reference prompt: "Look: ", both images, " What is in
these images?"), twice in a row on the same slot; a text-only model answers image parts with a 400.

Usage: test_serve_vision.py QWGLM_BINARY   (run from the repository root)
"""
import base64
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

QWGLM = sys.argv[1]
FIX = "tests/fixtures/qwen3-vl-micro"
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg, file=sys.stderr)


def start(model):
    """Starts the server and waits until its model is loaded."""
    p = subprocess.Popen([QWGLM, "serve", "-m", model, "--port", "0", "--ctx", "1024", "--dtype", "f32"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    reader = threading.Thread(target=lambda: [log.append(line) for line in p.stderr], daemon=True)
    reader.start()
    url = None
    for _ in range(3000):
        text = "".join(log)
        if p.poll() is not None:
            raise SystemExit("server exited: " + text)
        m = re.search(r"listening on (http://[^/\s]+)/", text)
        url = url or (m.group(1) if m else None)
        if url:
            req = urllib.request.Request(url + "/v1/chat/completions", b"{}", {"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=5)
            except urllib.error.HTTPError as e:
                if e.code != 503:  # 503 while the model loads; then {} is a 400
                    return p, url
            except (urllib.error.URLError, ConnectionError):
                pass
        time.sleep(0.1)
    raise SystemExit("server not ready: " + "".join(log))


def post(url, body):
    req = urllib.request.Request(url + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def token_text(ids):
    """Byte-level BPE decoding of ids with the fixture's vocabulary (GPT-2's byte <-> unicode table)."""
    vocab = {v: k for k, v in json.load(open(f"{FIX}/tokenizer.json"))["model"]["vocab"].items()}
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    back = {chr(c): b for b, c in zip(bs, cs)}
    return bytes(back[ch] for i in ids for ch in vocab[i]).decode("utf-8", "replace")


def data_url(path):
    return "data:image/png;base64," + base64.b64encode(open(path, "rb").read()).decode()


ref = json.load(open(f"{FIX}/reference.json"))["cases"][0]
messages = [{"role": "user", "content": [
    {"type": "text", "text": ref["prompt"]["before"]},
    {"type": "image_url", "image_url": {"url": data_url(f"{FIX}/image0.png")}},
    {"type": "image_url", "image_url": {"url": data_url(f"{FIX}/image1.png")}},
    {"type": "text", "text": ref["prompt"]["after"]}]}]
body = {"messages": messages, "temperature": 0, "max_tokens": len(ref["greedy"])}

proc, url = start(FIX)
try:
    want = token_text(ref["greedy"])
    for attempt in range(2):  # the second request runs on a slot that held images before
        status, out = post(url, body)
        check(status == 200, f"attempt {attempt}: status {status}: {out}")
        if status == 200:
            msg = out["choices"][0]["message"]
            text = (msg.get("reasoning_content") or "") + (msg.get("content") or "")
            check(text == want, f"attempt {attempt}: reply {text!r}, reference {want!r}")
            check(out["usage"]["completion_tokens"] == len(ref["greedy"]), f"usage {out['usage']}")
    # placeholders typed as text without images are plain tokens; images without placeholders are impossible
    # through content parts, but a truncated image is a 400 naming the part
    bad = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(open(f"{FIX}/image0.png", "rb").read()[:200]).decode()}}]}]}
    status, out = post(url, bad)
    check(status == 400 and out["error"]["param"] == "messages[0].content[0]", f"truncated image: {status} {out}")
finally:
    proc.terminate()
    check(proc.wait(timeout=60) == 0, "server exit status")

proc, url = start("tests/fixtures/qwen3-micro")
try:
    status, out = post(url, body)
    check(status == 400 and "text only" in out["error"]["message"], f"text model with images: {status} {out}")
finally:
    proc.terminate()
    proc.wait(timeout=60)

print(f"{0 if failures else 1} passed, {failures} failed")
sys.exit(1 if failures else 0)
