#!/usr/bin/env python3
"""qwglm quantize (a converted checkpoint loads and decodes like quantizing at load) and the machine interface of
qwglm bench (its flags and the keys of its JSON object; the figures themselves are not checked: benchmarks do not
run in tests, this is a seconds-long smoke run on a tiny model).

Usage: test_quantize_bench.py QWGLM_BINARY   (run from the repository root)
"""
import json
import os
import subprocess
import sys
import tempfile

QWGLM = sys.argv[1]
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg, file=sys.stderr)


def run(*args, timeout=300):
    return subprocess.run([QWGLM, *args], capture_output=True, text=True, timeout=timeout)


def test_quantize():
    fixture = "tests/fixtures/qwen3-small"
    ids = "5,77,3,900,12,4"
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("q8", "q4"):
            out = os.path.join(tmp, dtype)
            r = run("quantize", "-m", fixture, "-o", out, "--dtype", dtype, "-q")
            check(r.returncode == 0, f"quantize {dtype}: exit {r.returncode}: {r.stderr}")
            check(os.path.exists(os.path.join(out, "config.json")), f"quantize {dtype}: config.json not copied")
            a = run("run", "-m", out, "--prompt-ids", ids, "-n", "8", "--temp", "0", "--json")
            b = run("run", "-m", fixture, "--dtype", dtype, "--prompt-ids", ids, "-n", "8", "--temp", "0", "--json")
            check(a.returncode == 0 and b.returncode == 0, f"run {dtype}: {a.stderr} {b.stderr}")
            if a.returncode == 0 and b.returncode == 0:
                check(json.loads(a.stdout)["tokens"] == json.loads(b.stdout)["tokens"],
                      f"{dtype}: the quantized checkpoint decodes differently from quantizing at load")
        r = run("quantize", "-m", fixture, "-o", os.path.join(tmp, "x"))
        check(r.returncode == 2 and "--dtype" in r.stderr, f"quantize without --dtype: {r.returncode} {r.stderr}")
        r = run("quantize", "-m", os.path.join(tmp, "q4"), "-o", os.path.join(tmp, "y"), "--dtype", "q8")
        check(r.returncode == 1 and "already quantized" in r.stderr, f"requantize: {r.returncode} {r.stderr}")


def test_bench():
    r = run("bench", "-m", "tests/fixtures/qwen3-small", "--dtype", "q4", "-p", "8", "-n", "4", "--reps", "1",
            "--bandwidth-mib", "8", "--profile", "--json")
    check(r.returncode == 0, f"bench: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        out = json.loads(r.stdout)
        for key in ("machine_read_gbps", "prefill_tok_s", "decode_tok_s", "decode_bytes_per_token", "decode_gbps",
                    "decode_roofline_pct", "logits_hash", "profile"):
            check(key in out, f"bench --json: no '{key}'")
        check(out.get("decode_bytes_per_token", 0) > 0 and out.get("dtype") == "q4", f"bench --json: {out}")
        check("linear q4" in out.get("profile", {}).get("decode", {}), f"bench --profile: {out.get('profile')}")
        lo, hi = out.get("decode_machine_read_gbps_min", 0), out.get("decode_machine_read_gbps_max", 0)
        check(out.get("decode_bandwidth_samples", 0) >= 2 and 0 < lo <= out.get("decode_machine_read_gbps", 0) <= hi,
              f"bench --json: the sampled roofline: {out}")
    r = run("bench", "--attention", "--attention-keys", "64", "--attention-heads", "4x2", "--reps", "1",
            "--bandwidth-mib", "8", "--json")
    check(r.returncode == 0, f"bench --attention: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        a = json.loads(r.stdout).get("attention", {})
        check(a.get("keys") == 64 and a.get("heads") == 4 and a.get("us", 0) > 0 and a.get("gbps", 0) > 0,
              f"bench --attention --json: {a}")
    r = run("bench", "--attention-heads", "3x2")
    check(r.returncode == 2 and "--attention-heads" in r.stderr, f"bench --attention-heads 3x2: {r.returncode}")
    r = run("bench", "--matvec", "--matvec-shape", "64x256", "--matmul-tokens", "4", "--reps", "1",
            "--bandwidth-mib", "8", "--json")
    check(r.returncode == 0, f"bench --matvec: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        k = json.loads(r.stdout).get("kernels", {})
        check(all(d in k and "matvec_gbps" in k[d] and "matmul_gflops" in k[d] for d in ("f32", "bf16", "q8", "q4")),
              f"bench --matvec --json: {k}")
    for args, what in ((["--random"], "--config"), (["--config", "bench/configs/qwen3-0.6b.json"], "--random"),
                       ([], "nothing to measure")):
        r = run("bench", *args)
        check(r.returncode == 2 and what in r.stderr, f"bench {args}: {r.returncode} {r.stderr}")


test_quantize()
test_bench()
print("test_quantize_bench:", "ok" if failures == 0 else f"{failures} failures", file=sys.stderr)
sys.exit(1 if failures else 0)
