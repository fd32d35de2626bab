#!/usr/bin/env python3
"""qwglm transcribe's machine interface on the parakeet-micro fixture: --json against the reference (text, tokens,
frames, durations, timestamps), --timestamps lines, raw PCM on stdin, and bad input.

Usage: test_transcribe.py QWGLM_BINARY   (run from the repository root)
"""
import json
import struct
import subprocess
import sys
import wave

QWGLM = sys.argv[1]
MODEL = "tests/fixtures/parakeet-micro"
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg, file=sys.stderr)


def run(*args, stdin=None, timeout=120):
    return subprocess.run([QWGLM, "transcribe", "-m", MODEL, *args], input=stdin, capture_output=True,
                          timeout=timeout)


def test_reference():
    cases = json.load(open(MODEL + "/reference.json"))["cases"]
    for i, c in enumerate(cases):
        r = run("tests/fixtures/audio/" + c["file"], "--json")
        check(r.returncode == 0, "utt%d: exit %d: %s" % (i, r.returncode, r.stderr.decode()))
        if r.returncode:
            continue
        out = json.loads(r.stdout)
        # the default decoding rule is the checkpoint's (NeMo's symbols-per-frame limit)
        want = c["nemo_greedy"]
        for key in ("tokens", "token_frames", "token_durations"):
            check(out[key] == want[key], "utt%d: %s %s, reference %s" % (i, key, out[key], want[key]))
        check(abs(out["duration"] - c["samples"] / c["sample_rate"]) < 1e-3, "utt%d: duration %s" % (i, out["duration"]))
        if want["same_as_transformers"]:
            check(out["text"] == c["text"], "utt%d: text %r, reference %r" % (i, out["text"], c["text"]))
            got = [(t["token"], round(t["start"], 6), round(t["end"], 6)) for t in out["timestamps"]]
            ref = [(t["token"], round(t["start"], 6), round(t["end"], 6)) for t in c["timestamps"]]
            check(got == ref, "utt%d: timestamps differ" % i)
        check("".join(w["word"] + " " for w in out["words"]).strip() == out["text"].strip(),
              "utt%d: words do not spell the text" % i)


def test_timestamps_and_raw():
    c = json.load(open(MODEL + "/reference.json"))["cases"][0]
    r = run("tests/fixtures/audio/" + c["file"], "--timestamps")
    lines = r.stdout.decode().splitlines()
    check(r.returncode == 0 and len(lines) >= 1, "--timestamps: exit %d, %d lines" % (r.returncode, len(lines)))
    words = " ".join(l.split("]", 1)[1].strip() for l in lines if "]" in l)
    check(words == c["text"].strip(), "--timestamps words %r, text %r" % (words, c["text"]))
    first = lines[0].split("]")[0].strip("[ ").split("-")
    check(abs(float(first[0]) - c["timestamps"][0]["start"]) < 1e-6, "--timestamps: first start %s" % first[0])
    # the browser's format: raw little-endian float32 PCM on stdin gives the same transcript
    with wave.open("tests/fixtures/audio/" + c["file"]) as w:
        frames = w.readframes(w.getnframes())
        assert w.getsampwidth() == 2 and w.getframerate() == 16000 and w.getnchannels() == 1
    ints = struct.unpack("<%dh" % (len(frames) // 2), frames)
    pcm = struct.pack("<%df" % len(ints), *(v / 32768.0 for v in ints))
    r = run("-", "--raw-rate", "16000", "--json", stdin=pcm)
    check(r.returncode == 0, "raw PCM: exit %d: %s" % (r.returncode, r.stderr.decode()))
    if r.returncode == 0:
        out = json.loads(r.stdout)
        check(out["text"] == c["text"] and out["tokens"] == c["nemo_greedy"]["tokens"], "raw PCM: %r" % out["text"])


def test_bad_input():
    for args, stdin, what in (
        (["tests/fixtures/audio/missing.wav"], None, "a missing file"),
        (["-"], b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", "a truncated WAV"),
        (["-"], b"", "empty input"),
        (["-", "--raw-rate", "3"], b"\x00" * 64, "an absurd sample rate"),
        (["-", "--raw-rate", "16000"], b"\x00" * 7, "raw PCM that is not whole samples"),
        ([], None, "no audio"),
    ):
        r = run(*args, stdin=stdin)
        err = r.stderr.decode().strip().splitlines()
        check(r.returncode not in (0, -11, -6) and r.returncode > 0, "%s: exit %d" % (what, r.returncode))
        check(len(err) >= 1 and any("qwglm" in l for l in err), "%s: message %r" % (what, err))


def test_serve_flag():
    r = subprocess.run([QWGLM, "serve", "--asr-dtype", "f12"], capture_output=True, timeout=60)
    check(r.returncode == 2 and b"--asr-dtype" in r.stderr, "serve --asr-dtype f12: exit %d" % r.returncode)


test_reference()
test_serve_flag()
test_timestamps_and_raw()
test_bad_input()
print("cli_transcribe: %d failures" % failures)
sys.exit(1 if failures else 0)
