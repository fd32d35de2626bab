#!/usr/bin/env python3
"""qwglm run's machine interface against the reference fixtures, and its handling of bad input.

Usage: test_run.py QWGLM_BINARY   (run from the repository root)
"""
import json
import os
import shutil
import struct
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


def run(*args, timeout=120):
    return subprocess.run([QWGLM, *args], capture_output=True, text=True, timeout=timeout)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        b0, b1 = t["data_offsets"]
        out[name] = struct.unpack("<%df" % ((b1 - b0) // 4), data[8 + n + b0:8 + n + b1])
    return out


def rel_err(ours, ref):
    diff = max(abs(a - b) for a, b in zip(ours, ref))
    return diff / max(abs(b) for b in ref)


def test_reference(fixture):
    ref = json.load(open(f"tests/fixtures/{fixture}/reference.json"))
    arrays = read_safetensors(f"tests/fixtures/{fixture}/reference.safetensors")
    with tempfile.TemporaryDirectory() as tmp:
        for c, case in enumerate(ref["cases"]):
            ids = ",".join(map(str, case["input_ids"]))
            logits_path = os.path.join(tmp, "logits.bin")
            r = run("run", "-m", f"tests/fixtures/{fixture}", "--prompt-ids", ids, "-n", str(len(case["greedy"])),
                    "--temp", "0", "--dtype", "f32", "--json", "--logits", logits_path)
            check(r.returncode == 0, f"{fixture} case {c}: exit {r.returncode}: {r.stderr}")
            if r.returncode:
                continue
            out = json.loads(r.stdout)
            check(out["prompt_ids"] == case["input_ids"], f"{fixture} case {c}: prompt_ids echoed")
            check(out["tokens"] == case["greedy"], f"{fixture} case {c}: tokens {out['tokens']} != {case['greedy']}")
            decode = arrays[f"case{c}.decode_logits"]
            with open(logits_path, "rb") as f:
                raw = f.read()
            vocab = ref["config"]["vocab_size"]
            check(len(raw) == 4 * vocab * len(case["greedy"]), f"{fixture} case {c}: logits file size {len(raw)}")
            ours = struct.unpack("<%df" % (len(raw) // 4), raw)
            steps = len(decode) // vocab
            for s in range(steps):
                err = rel_err(ours[s * vocab:(s + 1) * vocab], decode[s * vocab:(s + 1) * vocab])
                check(err < 1e-4, f"{fixture} case {c} step {s}: logits rel err {err}")


def expect_error(what, args, must_contain):
    r = run(*args)
    check(r.returncode in (1, 2), f"{what}: exit code {r.returncode} (stderr: {r.stderr.strip()})")
    lines = [l for l in r.stderr.strip().splitlines() if l]
    check(len(lines) >= 1 and must_contain in r.stderr, f"{what}: stderr {r.stderr.strip()!r} lacks {must_contain!r}")
    check(r.stdout == "", f"{what}: printed to stdout: {r.stdout!r}")


def broken_model(tmp, name, config=None, weights=None):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    src = "tests/fixtures/qwen3-small"
    cfg = json.load(open(f"{src}/config.json"))
    if config:
        config(cfg)
    json.dump(cfg, open(f"{d}/config.json", "w"))
    data = open(f"{src}/model.safetensors", "rb").read()
    if weights:
        data = weights(data)
    open(f"{d}/model.safetensors", "wb").write(data)
    return d


def rewrite_header(data, edit):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    edit(header)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data[8 + n:]


def test_bad_input():
    m = ["--prompt-ids", "1,2,3", "-n", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        expect_error("missing dir", ["run", "-m", os.path.join(tmp, "nope"), *m], "config.json")
        d = broken_model(tmp, "truncated", weights=lambda b: b[:len(b) // 2])
        expect_error("truncated safetensors", ["run", "-m", d, *m], "out of range")
        d = broken_model(tmp, "hdrlen", weights=lambda b: struct.pack("<Q", 1 << 40) + b[8:])
        expect_error("header length", ["run", "-m", d, *m], "runs past the end")
        d = broken_model(tmp, "tiny", weights=lambda b: b[:5])
        expect_error("too short", ["run", "-m", d, *m], "too short")

        def overlap(h):
            h["model.norm.weight"]["data_offsets"] = h["lm_head.weight"]["data_offsets"][:1] + [
                h["lm_head.weight"]["data_offsets"][0] + 512]
        d = broken_model(tmp, "overlap", weights=lambda b: rewrite_header(b, overlap))
        expect_error("overlapping offsets", ["run", "-m", d, *m], "overlap")

        def bad_dtype(h):
            h["model.norm.weight"]["dtype"] = "Q7"
        d = broken_model(tmp, "dtype", weights=lambda b: rewrite_header(b, bad_dtype))
        expect_error("unknown dtype", ["run", "-m", d, *m], "unknown dtype")

        def unsupported_dtype(h):
            t = h["model.norm.weight"]
            t["dtype"] = "I16"
        d = broken_model(tmp, "i16", weights=lambda b: rewrite_header(b, unsupported_dtype))
        expect_error("unsupported dtype", ["run", "-m", d, *m], "dtype I16")

        d = broken_model(tmp, "missing", weights=lambda b: rewrite_header(b, lambda h: h.pop("model.norm.weight")))
        expect_error("missing tensor", ["run", "-m", d, *m], "model.norm.weight")

        d = broken_model(tmp, "shape", config=lambda c: c.update(intermediate_size=384))
        expect_error("shape mismatch", ["run", "-m", d, *m], "config says")

        d = broken_model(tmp, "arch", config=lambda c: c.update(architectures=["LlamaForCausalLM"], model_type="llama"))
        expect_error("unsupported architecture", ["run", "-m", d, *m], "unsupported architecture")

        d = broken_model(tmp, "json", config=None)
        open(f"{d}/config.json", "w").write('{"architectures": ["Qwen3ForCausalLM"], ')
        expect_error("malformed JSON", ["run", "-m", d, *m], "JSON")

        d = broken_model(tmp, "negative", config=lambda c: c.update(num_hidden_layers=-3))
        expect_error("negative layers", ["run", "-m", d, *m], "num_hidden_layers")

    small = ["run", "-m", "tests/fixtures/qwen3-small", "--dtype", "f32"]
    expect_error("id out of vocabulary", [*small, "--prompt-ids", "1,1024,3"], "outside the vocabulary")
    expect_error("negative id", [*small, "--prompt-ids", "-1"], "outside the vocabulary")
    expect_error("prompt longer than the context", [*small, "--ctx", "4", "--prompt-ids", "1,2,3,4,5"],
                 "do not fit")
    expect_error("malformed ids", [*small, "--prompt-ids", "1,,2"], "comma-separated")
    expect_error("bad dtype flag", [*small, "--dtype", "q3", "--prompt-ids", "1"], "--dtype")
    expect_error("unknown flag", [*small, "--frobnicate"], "unknown option")

    # a full context ends generation cleanly
    r = run(*small, "--ctx", "6", "--prompt-ids", "1,2,3", "-n", "50", "--temp", "0", "--json")
    check(r.returncode == 0, f"full context: {r.stderr}")
    if r.returncode == 0:
        out = json.loads(r.stdout)
        check(out["stop_reason"] == "context" and len(out["tokens"]) == 4, f"full context: {out}")


def test_sampling():
    base = ["run", "-m", "tests/fixtures/qwen3-small", "--prompt-ids", "5,6,7", "-n", "24", "--json"]
    a = run(*base, "--temp", "0.9", "--top-p", "0.95", "--top-k", "50", "--seed", "42")
    b = run(*base, "--temp", "0.9", "--top-p", "0.95", "--top-k", "50", "--seed", "42")
    c = run(*base, "--temp", "0.9", "--top-p", "0.95", "--top-k", "50", "--seed", "43")
    check(a.returncode == 0 and b.returncode == 0 and c.returncode == 0, "sampling runs")
    if a.returncode == 0 and b.returncode == 0 and c.returncode == 0:
        ta, tb, tc = (json.loads(x.stdout)["tokens"] for x in (a, b, c))
        check(ta == tb, "same seed, same tokens")
        check(ta != tc, "different seed, different tokens")
    # top-k 1 is greedy whatever the temperature
    g = run(*base, "--temp", "0")
    k1 = run(*base, "--temp", "1.5", "--top-k", "1", "--seed", "7")
    check(json.loads(g.stdout)["tokens"] == json.loads(k1.stdout)["tokens"], "top-k 1 equals greedy")
    # a strong repetition penalty removes repeats in a greedy run that has them
    rep = run(*base, "--temp", "0", "--repeat-penalty", "100", "-n", "12")
    toks = json.loads(rep.stdout)["tokens"]
    check(len(set(toks) & {5, 6, 7}) == 0 and len(set(toks)) == len(toks), f"repetition penalty: {toks}")


def write_safetensors(path, tensors):
    """tensors: name -> (dtype, shape, raw bytes)"""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_raw(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: (v["dtype"], v["shape"], data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def bf16_to(raw, dtype):
    """bf16 bytes as F32 (exact) or F16 (rounded) bytes."""
    vals = struct.unpack("<%dH" % (len(raw) // 2), raw)
    f32 = struct.pack("<%dI" % len(vals), *(v << 16 for v in vals))
    if dtype == "F32":
        return f32
    floats = struct.unpack("<%df" % len(vals), f32)
    return struct.pack("<%de" % len(vals), *floats)


def test_checkpoint_forms():
    """The same weights as shards with an index, as F32 and as F16 give the reference results."""
    src = "tests/fixtures/qwen3-small"
    ref = json.load(open(f"{src}/reference.json"))["cases"][0]
    tensors = read_raw(f"{src}/model.safetensors")
    ids = ",".join(map(str, ref["input_ids"]))
    args = ["--prompt-ids", ids, "-n", str(len(ref["greedy"])), "--temp", "0", "--dtype", "f32", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        def model_dir(name, files):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            for f in ("config.json", "generation_config.json"):
                shutil.copy(f"{src}/{f}", d)
            for fname, content in files.items():
                if isinstance(content, dict):
                    write_safetensors(os.path.join(d, fname), content)
                else:
                    open(os.path.join(d, fname), "w").write(content)
            return d
        names = sorted(tensors)
        half = len(names) // 2
        shards = {"model-00001-of-00002.safetensors": {n: tensors[n] for n in names[:half]},
                  "model-00002-of-00002.safetensors": {n: tensors[n] for n in names[half:]}}
        index = {"metadata": {}, "weight_map": {n: ("model-00001-of-00002.safetensors" if i < half else
                                                    "model-00002-of-00002.safetensors") for i, n in enumerate(names)}}
        sharded = model_dir("sharded", {**shards, "model.safetensors.index.json": json.dumps(index)})
        f32 = model_dir("f32", {"model.safetensors": {n: ("F32", t[1], bf16_to(t[2], "F32")) for n, t in tensors.items()}})
        f16 = model_dir("f16", {"model.safetensors": {n: ("F16", t[1], bf16_to(t[2], "F16")) for n, t in tensors.items()}})
        for name, d in (("sharded", sharded), ("f32", f32), ("f16", f16)):
            r = run("run", "-m", d, *args)
            check(r.returncode == 0, f"{name} checkpoint: {r.stderr}")
            if r.returncode == 0:
                check(json.loads(r.stdout)["tokens"] == ref["greedy"], f"{name} checkpoint: tokens differ")
        # a tensor the index places in the wrong shard, and a shard name that leaves the folder
        index["weight_map"][names[0]] = "model-00002-of-00002.safetensors"
        bad = model_dir("misplaced", {**shards, "model.safetensors.index.json": json.dumps(index)})
        expect_error("index names the wrong shard", ["run", "-m", bad, *args], "not model-00002-of-00002")
        index["weight_map"][names[0]] = "../model.safetensors"
        bad = model_dir("escape", {**shards, "model.safetensors.index.json": json.dumps(index)})
        expect_error("shard outside the folder", ["run", "-m", bad, *args], "bad shard name")
        # end-of-sequence ids from generation_config.json end generation at that token
        eos_dir = model_dir("eos", {"model.safetensors": tensors})
        json.dump({"eos_token_id": [9999, ref["greedy"][3]]}, open(f"{eos_dir}/generation_config.json", "w"))
        r = run("run", "-m", eos_dir, *args)
        check(r.returncode == 0, f"eos: {r.stderr}")
        if r.returncode == 0:
            out = json.loads(r.stdout)
            check(out["tokens"] == ref["greedy"][:4] and out["stop_reason"] == "eos", f"eos: {out}")


test_checkpoint_forms()
test_reference("qwen3-small")
test_reference("qwen3-micro")
test_bad_input()
test_sampling()
print(f"test_run.py: {failures} failures", file=sys.stderr)
sys.exit(1 if failures else 0)
