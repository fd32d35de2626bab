#!/usr/bin/env python3
"""qwglm tokenize / template / run -p / chat against the Hugging Face fixtures, and their handling of bad input.

Usage: test_text.py QWGLM_BINARY   (run from the repository root)
"""
import json
import os
import subprocess
import sys
import tempfile

QWGLM = sys.argv[1]
MODEL = "tests/fixtures/qwen3-micro"
failures = 0
checks = 0


def check(cond, msg):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", msg, file=sys.stderr)


def run(*args, stdin=b"", timeout=300):
    return subprocess.run([QWGLM, *args], input=stdin, capture_output=True, timeout=timeout)


def test_tokenize():
    cases = json.load(open("tests/fixtures/text/tokenizer-cases.json", encoding="utf-8"))
    texts = [c["text"] for c in cases["encode"]] + [c["rendered"] for c in cases["chat"]]
    want = [c["ids"] for c in cases["encode"]] + [c["ids"] for c in cases["chat"]]
    p = run("tokenize", "-m", MODEL, stdin="".join(json.dumps(t) + "\n" for t in texts).encode())
    check(p.returncode == 0, f"tokenize failed: {p.stderr}")
    got = [json.loads(l) for l in p.stdout.decode().splitlines()]
    check(got == want, "tokenize ids differ from the reference")
    p = run("tokenize", "-m", MODEL, "--decode", stdin="".join(json.dumps(i) + "\n" for i in want).encode())
    check(p.returncode == 0, f"decode failed: {p.stderr}")
    got = [json.loads(l) for l in p.stdout.decode().splitlines()]
    check(got == texts, "decoded text differs from the reference")
    p = run("tokenize", "-m", MODEL, stdin=b'"ok"\n{"not": "a string"}\n')
    check(p.returncode == 1 and b"line 2" in p.stderr, "a bad line must fail naming it")
    p = run("tokenize", "-m", MODEL, stdin=b'"ok"\n[1, 2\n')
    check(p.returncode == 1 and b"line 2" in p.stderr, "malformed JSON must fail naming the line")
    p = run("tokenize")
    check(p.returncode == 2, "tokenize without -m is a usage error")
    # invalid UTF-8 still encodes (each stray byte its own symbol) and decodes back to U+FFFD
    p = run("tokenize", "-m", MODEL, stdin=b'"a\\udc80b"\n')
    check(p.returncode == 0 and len(json.loads(p.stdout)) >= 3, "stray surrogates encode")


def test_template():
    cases = json.load(open("tests/fixtures/text/tokenizer-cases.json", encoding="utf-8"))
    for i, c in enumerate(cases["chat"]):
        req = {"messages": c["messages"], **c["options"]}
        p = run("template", "-m", MODEL, stdin=json.dumps(req).encode())
        check(p.returncode == 0 and p.stdout.decode() == c["rendered"], f"template case {i}: {p.stderr}")
    p = run("template", "-m", MODEL, stdin=b'{"messages": 3}')
    check(p.returncode == 1 and b"messages" in p.stderr, "a request without a messages list fails")
    p = run("template", "-m", MODEL, stdin=b'{"messages": [}')
    check(p.returncode == 1, "malformed request JSON fails")


def test_bad_model_dir():
    with tempfile.TemporaryDirectory() as d:
        p = run("tokenize", "-m", d, stdin=b'"x"\n')
        check(p.returncode == 1 and b"tokenizer.json" in p.stderr, "a missing tokenizer.json is named")
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b"]]}, '
                    '"pre_tokenizer": {"type": "ByteLevel"}}')
        p = run("tokenize", "-m", d, stdin=b'"x"\n')
        check(p.returncode == 1 and b"merge 0" in p.stderr, f"a bad merge is named: {p.stderr}")
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Split", '
                    '"pattern": {"Regex": "(a"}, "behavior": "Isolated"}}')
        p = run("tokenize", "-m", d, stdin=b'"x"\n')
        check(p.returncode == 1 and b"regex" in p.stderr, f"a bad regex is named: {p.stderr}")
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            f.write(open(f"{MODEL}/tokenizer.json", encoding="utf-8").read())
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"chat_template": "line one\n{% for x in messages %}\n{{ x | nosuchfilter }}{% endfor %}"}, f)
        p = run("template", "-m", d, stdin=b'{"messages": [{"role": "user", "content": "a"}]}')
        check(p.returncode == 1 and b"line 3" in p.stderr, f"template errors name the line: {p.stderr}")
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"chat_template": "{% for x in messages %}{% call foo() %}{% endcall %}{% endfor %}"}, f)
        p = run("template", "-m", d, stdin=b'{"messages": []}')
        check(p.returncode == 1 and b"line 1" in p.stderr and b"call" in p.stderr,
              f"unsupported tags are named: {p.stderr}")


def test_run_and_chat():
    ref = json.load(open(f"{MODEL}/reference.json"))["cases"]
    p = run("run", "-m", MODEL, "-p", "Tell me a story about a GPU.", "--no-think", "--temp", "0", "-n", "16", "--json")
    check(p.returncode == 0, f"run -p failed: {p.stderr}")
    out = json.loads(p.stdout)
    check(out["prompt_ids"] == ref[0]["input_ids"], "run -p renders and tokenizes as transformers")
    check(out["tokens"] == ref[0]["greedy"], "run -p greedy tokens")
    check(out["text"] == " schn" * 16 and out["reasoning"] == "", f"run -p text: {out['text']!r}")
    p = run("run", "-m", MODEL, "-p", "The quick brown fox", "--raw", "--temp", "0", "-n", "3", "--json")
    check(p.returncode == 0 and json.loads(p.stdout)["prompt_ids"] == ref[1]["input_ids"], "run --raw")
    p = run("chat", "-m", MODEL, "--temp", "0", "-n", "3", "--system", "Be brief.",
            stdin=b"Hello\n/reset\nAgain\nAnd once more\n/exit\n")
    check(p.returncode == 0, f"chat failed: {p.stderr}")
    check(len(p.stdout.decode().splitlines()) == 3, f"chat printed one line per reply: {p.stdout!r}")


test_tokenize()
test_template()
test_bad_model_dir()
test_run_and_chat()
print(f"test_text: {checks} checks, {failures} failed")
sys.exit(1 if failures else 0)
