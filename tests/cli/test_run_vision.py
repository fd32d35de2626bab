#!/usr/bin/env python3
"""qwglm run with images: the Qwen3-VL fixture from its PNG files (one pad per image, expanded by the engine)
against the reference's greedy tokens and decode-step logits, the same images named by file:// and http URLs
(a local HTTP server), the token budget flags, and bad image input.

Usage: test_run_vision.py QWGLM_BINARY   (run from the repository root)
"""
import functools
import http.server
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading

QWGLM = sys.argv[1]
FIX = "tests/fixtures/qwen3-vl-micro"
IMAGES = ["--image", f"{FIX}/image0.png", "--image", f"{FIX}/image1.png"]
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg, file=sys.stderr)


def run(*args, timeout=120):
    return subprocess.run([QWGLM, "run", "-m", FIX, *args], capture_output=True, text=True, timeout=timeout)


def read_f32(path, name):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    t = json.loads(data[8:8 + n])[name]
    b0, b1 = t["data_offsets"]
    return struct.unpack("<%df" % ((b1 - b0) // 4), data[8 + n + b0:8 + n + b1])


def one_pad_per_image(ids):
    return [v for i, v in enumerate(ids) if not (v == 151655 and i > 0 and ids[i - 1] == 151655)]


case = json.load(open(f"{FIX}/reference.json"))["cases"][0]
short = ",".join(map(str, one_pad_per_image(case["input_ids"])))
decode = read_f32(f"{FIX}/reference.safetensors", "decode_logits")
V = len(decode) // 2

with tempfile.TemporaryDirectory() as tmp:
    lp = os.path.join(tmp, "logits.bin")
    r = run(*IMAGES, "--prompt-ids", short, "-n", str(len(case["greedy"])), "--temp", "0", "--dtype", "f32",
            "--json", "--logits", lp)
    check(r.returncode == 0, f"reference prompt: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        out = json.loads(r.stdout)
        check(out["tokens"] == case["greedy"], f"greedy tokens {out['tokens']} != {case['greedy']}")
        ours = struct.unpack("<%df" % (2 * V), open(lp, "rb").read()[:8 * V])
        err = max(abs(a - b) for a, b in zip(ours, decode)) / max(abs(b) for b in decode)
        check(err < 2e-3, f"decode logits from the PNG files: rel err {err}")  # the end-to-end bound

    # the images named by file:// and http URLs give the same tokens
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=FIX)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    here = os.path.abspath(FIX).replace("%", "%25").replace(" ", "%20")
    for named in ([f"file://{here}/image0.png", f"file://{here}/image1.png"],
                  [f"{base}/image0.png", f"{base}/image1.png"]):
        r = run("--image", named[0], "--image", named[1], "--prompt-ids", short, "-n", str(len(case["greedy"])),
                "--temp", "0", "--dtype", "f32", "--json")
        check(r.returncode == 0 and json.loads(r.stdout)["tokens"] == case["greedy"],
              f"{named[0]}: exit {r.returncode}: {r.stdout} {r.stderr}")

    # a token budget shrinks the images: fewer prompt tokens, still a valid run
    r = run(*IMAGES, "--prompt-ids", short, "-n", "1", "--temp", "0", "--image-max-tokens", "16", "--json")
    check(r.returncode == 0, f"budget: exit {r.returncode}: {r.stderr}")

    bad = os.path.join(tmp, "bad.png")
    open(bad, "wb").write(open(f"{FIX}/image0.png", "rb").read()[:300])
    cases = [
        (["--image", f"{FIX}/image0.png", "--prompt-ids", short], "2 image placeholders but 1 image"),
        ([*IMAGES, "--prompt-ids", "1,151655,2"], "1 image placeholder but 2 images"),
        (["--image", f"{FIX}/missing.png", "--prompt-ids", "1,151655"], "missing.png"),
        (["--image", f"{FIX}/config.json", "--prompt-ids", "1,151655"], "not a PNG, JPEG, WebP, GIF or BMP"),
        (["--image", bad, "--prompt-ids", "1,151655"], "bad.png"),
        (["--prompt-ids", "1,151655,151655,151655,2", "--image", f"{FIX}/image0.png"], "3 placeholder tokens"),
        (["--image", f"{base}/missing.png", "--prompt-ids", "1,151655"], "missing.png: HTTP 404"),
        (["--image", "file://elsewhere/a.png", "--prompt-ids", "1,151655"], "not a file:///PATH URL"),
    ]
    for args, want in cases:
        r = run(*args, "-n", "1")
        check(r.returncode == 1 and want in r.stderr and "\n" == r.stderr[-1:] and r.stderr.count("\n") == 1,
              f"{args}: exit {r.returncode}, stderr {r.stderr!r}, wanted one line with {want!r}")
    r = run("--image-max-tokens", "zero", "--prompt-ids", "1")
    check(r.returncode == 2, f"bad budget flag: exit {r.returncode}")
    httpd.shutdown()

print(f"{0 if failures else 1} passed, {failures} failed")
sys.exit(1 if failures else 0)
