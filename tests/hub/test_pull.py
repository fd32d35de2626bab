#!/usr/bin/env python3
"""End-to-end tests of `qwglm pull` against the Hub-shaped server in hub_server.py (real HTTP over loopback).

Usage: test_pull.py --qwglm PATH/TO/qwglm [unittest arguments, e.g. PullTest.test_fresh_pull]
Each test gets its own server, HF_HOME and cache; what qwglm leaves in the cache is compared with the exact
layout huggingface_hub writes (models--ORG--NAME/{blobs,refs,snapshots}, relative symlinks, .locks/).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hub_server import TOKEN_NO_ACCESS, TOKEN_OK, HubServer, build_repos, git_blob_id, is_lfs  # noqa: E402

QWGLM = None
REPOS = None  # built once per process, shared by the servers of its tests

SMALL = "qwglm-test/qwen3-small"
WANTED = ["config.json", "generation_config.json", "model.safetensors"]


def oid(path, data):
    return hashlib.sha256(data).hexdigest() if is_lfs(path) else git_blob_id(data)


class PullTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="qwglm-hub-")
        self.hub = HubServer(REPOS)
        self.url = self.hub.start()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        self.env.update(HF_HOME=os.path.join(self.tmp, "hf"), HF_ENDPOINT=self.url)
        self.cache = os.path.join(self.tmp, "hf", "hub")

    def tearDown(self):
        self.hub.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers ----
    def run_pull(self, ref, *args, env=None, rc=0):
        e = dict(self.env, **(env or {}))
        p = subprocess.run([QWGLM, "pull", "--progress", "lines", *args, ref], env=e, capture_output=True,
                           text=True, timeout=120)
        if rc is not None:
            self.assertEqual(p.returncode, rc, "qwglm pull %s: rc %d\nstdout: %s\nstderr: %s" %
                             (ref, p.returncode, p.stdout, p.stderr))
        return p

    def start_pull(self, ref, *args, env=None):
        return subprocess.Popen([QWGLM, "pull", "--progress", "lines", *args, ref], env=dict(self.env, **(env or {})),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def repo_dir(self, repo):
        return os.path.join(self.cache, "models--" + repo.replace("/", "--"))

    def commit(self, repo, rev="main"):
        return self.hub.repos[repo].resolve(rev)

    def tree(self):
        """Every path under the cache (folders end with '/'), symlinks as 'path -> target'."""
        out = set()
        for root, dirs, files in os.walk(self.cache):
            for d in dirs:
                out.add(os.path.relpath(os.path.join(root, d), self.cache) + "/")
            for f in files:
                p = os.path.join(root, f)
                rel = os.path.relpath(p, self.cache)
                out.add(rel + " -> " + os.readlink(p) if os.path.islink(p) else rel)
        return out

    def expected_tree(self, repo, commit, names, refs=("main",)):
        folder = "models--" + repo.replace("/", "--")
        t = {folder + "/", folder + "/blobs/", folder + "/snapshots/", folder + "/snapshots/" + commit.sha + "/",
             ".locks/", ".locks/" + folder + "/"}
        if refs:
            t.add(folder + "/refs/")
        for r in refs:
            t.add(folder + "/refs/" + r)
        for n in names:
            o = oid(n, commit.files[n])
            t.add(folder + "/blobs/" + o)
            t.add(".locks/" + folder + "/" + o + ".lock")
            t.add("%s/snapshots/%s/%s -> ../../blobs/%s" % (folder, commit.sha, n, o))
        return t

    def data_gets(self, name, data):
        """GETs that carried the bytes of a file: resolve (small files) or the CDN (LFS)."""
        key = hashlib.sha256(data).hexdigest() if is_lfs(name) else name
        return [r for r in self.hub.file_gets(key) if r["status"] in (200, 206)]

    def wait_for(self, cond, timeout=30):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            v = cond()
            if v:
                return v
            time.sleep(0.02)
        self.fail("timed out waiting")

    # ---- tests ----
    def test_fresh_pull(self):
        c = self.commit(SMALL)
        p = self.run_pull(SMALL)
        snap = os.path.join(self.repo_dir(SMALL), "snapshots", c.sha)
        self.assertEqual(p.stdout.strip(), snap)
        # exactly huggingface_hub's layout, and nothing else (no partial or temporary files)
        self.assertEqual(self.tree(), self.expected_tree(SMALL, c, WANTED))
        with open(os.path.join(self.repo_dir(SMALL), "refs", "main"), "rb") as f:
            self.assertEqual(f.read(), c.sha.encode())  # 40 hex digits, no newline
        for n in WANTED:
            with open(os.path.join(snap, n), "rb") as f:
                self.assertEqual(f.read(), c.files[n], n)
        # other formats and documents never travel
        asked = {r["path"] for r in self.hub.requests}
        for n in ("README.md", "pytorch_model.bin", "model.gguf", "onnx/model.onnx", ".gitattributes"):
            self.assertFalse(any(a.endswith("/" + n) for a in asked), n)
        apis = [r for r in self.hub.requests if r["path"].startswith("/api/")]
        self.assertEqual(len(apis), 1)
        # a second pull asks the Hub which commit main is, and downloads nothing
        n_before = len(self.hub.requests)
        p2 = self.run_pull(SMALL)
        self.assertEqual(p2.stdout, p.stdout)
        later = self.hub.requests[n_before:]
        self.assertEqual([r["path"] for r in later], ["/api/models/%s/revision/main" % SMALL])

    def test_resume_after_kill(self):
        c = self.commit(SMALL)
        data = c.files["model.safetensors"]
        sha = hashlib.sha256(data).hexdigest()
        part = os.path.join(self.repo_dir(SMALL), "blobs", sha + ".incomplete")
        self.hub.faults["model.safetensors"] = {"slow": 1500000}
        proc = self.start_pull(SMALL)
        self.wait_for(lambda: os.path.exists(part) and os.path.getsize(part) >= 1000000)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kept = os.path.getsize(part)
        self.assertGreater(kept, 0)
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir(SMALL), "blobs", sha)))
        self.assertFalse(os.path.lexists(os.path.join(self.repo_dir(SMALL), "snapshots", c.sha,
                                                      "model.safetensors")))
        self.hub.faults.clear()
        n_before = len(self.hub.requests)
        self.run_pull(SMALL)
        gets = [r for r in self.hub.requests[n_before:] if r["path"] == "/cdn/" + sha]
        self.assertEqual(len(gets), 1)
        self.assertEqual(gets[0]["range"], "bytes=%d-" % kept)
        self.assertEqual(gets[0]["status"], 206)
        self.assertEqual(gets[0]["bytes"], len(data) - kept)
        self.assertEqual(self.tree(), self.expected_tree(SMALL, c, WANTED))
        with open(os.path.join(self.repo_dir(SMALL), "blobs", sha), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), sha)

    def test_offline_mode(self):
        c = self.commit(SMALL)
        first = self.run_pull(SMALL).stdout
        self.hub.stop()
        dead = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}
        self.assertEqual(self.run_pull(SMALL, env=dead).stdout, first)
        self.assertEqual(self.run_pull(SMALL + "@" + c.sha, env=dead).stdout, first)
        self.assertEqual(self.run_pull(SMALL, "--offline", env={"HF_ENDPOINT": "http://127.0.0.1:9"}).stdout, first)
        p = self.run_pull(SMALL + "@v1.0", env=dead, rc=1)
        self.assertIn("HF_HUB_OFFLINE", p.stderr)
        self.assertIn("not in the cache", p.stderr)
        p = self.run_pull("qwglm-test/voice", env=dict(dead, HF_HUB_OFFLINE="true"), rc=1)
        self.assertIn("not in the cache", p.stderr)
        # a snapshot that lost a file is not used offline
        os.unlink(os.path.join(self.repo_dir(SMALL), "snapshots", c.sha, "model.safetensors"))
        p = self.run_pull(SMALL, env=dead, rc=1)
        self.assertIn("only partly in the cache", p.stderr)
        # without HF_HUB_OFFLINE, an unreachable endpoint is a clear network error
        p = self.run_pull(SMALL, "--retries", "2", env={"HF_ENDPOINT": "http://127.0.0.1:9"}, rc=1)
        self.assertIn("cannot reach http://127.0.0.1:9", p.stderr)

    def test_revision_pinning(self):
        v1, main = self.commit(SMALL, "v1.0"), self.commit(SMALL)
        self.assertNotEqual(v1.sha, main.sha)
        p = self.run_pull(SMALL + "@v1.0")
        snap = os.path.join(self.repo_dir(SMALL), "snapshots", v1.sha)
        self.assertEqual(p.stdout.strip(), snap)
        with open(os.path.join(snap, "generation_config.json"), "rb") as f:
            self.assertEqual(json.loads(f.read())["temperature"], 0.5)
        self.assertEqual(self.tree(), self.expected_tree(SMALL, v1, WANTED, refs=("v1.0",)))
        # a commit id is its own revision: no ref is written for it
        p = self.run_pull(SMALL + "@" + v1.sha)
        self.assertEqual(p.stdout.strip(), snap)
        self.assertEqual(os.listdir(os.path.join(self.repo_dir(SMALL), "refs")), ["v1.0"])
        # main shares the weights blob: the new commit only brings the changed config
        self.run_pull(SMALL)
        self.assertEqual(len(self.data_gets("model.safetensors", main.files["model.safetensors"])), 1)
        t = self.tree()
        self.assertTrue(self.expected_tree(SMALL, main, WANTED, refs=("main", "v1.0")) <= t)
        self.assertTrue(self.expected_tree(SMALL, v1, WANTED, refs=()) <= t)
        with open(os.path.join(self.repo_dir(SMALL), "refs", "v1.0")) as f:
            self.assertEqual(f.read(), v1.sha)

    def test_corrupt_blob_rejected(self):
        c = self.commit(SMALL)
        sha = hashlib.sha256(c.files["model.safetensors"]).hexdigest()
        blobs = os.path.join(self.repo_dir(SMALL), "blobs")
        self.hub.faults["model.safetensors"] = {"corrupt": -1}
        p = self.run_pull(SMALL, rc=1)
        self.assertIn("sha256", p.stderr)
        self.assertNotIn(sha, os.listdir(blobs))
        self.assertNotIn(sha + ".incomplete", os.listdir(blobs))
        self.assertFalse(os.path.lexists(os.path.join(self.repo_dir(SMALL), "snapshots", c.sha,
                                                      "model.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir(SMALL), "refs", "main")))
        # corrupt once: rejected, downloaded again, verified
        self.hub.faults["model.safetensors"] = {"corrupt": 1}
        p = self.run_pull(SMALL)
        self.assertIn("retrying", p.stderr)
        self.assertEqual(self.tree(), self.expected_tree(SMALL, c, WANTED))
        # a small (git) file that hashes wrong is rejected too
        shutil.rmtree(self.cache)
        self.hub.faults = {"config.json": {"corrupt": -1}}
        p = self.run_pull(SMALL, rc=1)
        self.assertIn("git blob id", p.stderr)

    def test_drops_and_server_errors_are_retried(self):
        c = self.commit(SMALL)
        data = c.files["model.safetensors"]
        self.hub.faults = {"api": {"status500": 2}, "config.json": {"status500": 1},
                           "model.safetensors": {"drop": 2}}
        p = self.run_pull(SMALL)
        self.assertIn("retrying", p.stderr)
        self.assertEqual(self.tree(), self.expected_tree(SMALL, c, WANTED))
        gets = [r for r in self.hub.file_gets(hashlib.sha256(data).hexdigest())]
        self.assertEqual(len(gets), 3)
        self.assertIsNone(gets[0]["range"])
        for g in gets[1:]:  # each retry continues where the dropped transfer stopped
            self.assertTrue(g["range"] and g["range"] != "bytes=0-", g)
        self.assertEqual(sum(g["bytes"] for g in gets), len(data))
        # a server that ignores Range after a drop: the whole file again (200), still one verified blob
        shutil.rmtree(self.cache)
        self.hub.faults = {"model.safetensors": {"drop": 1, "norange": True}}
        n_before = len(self.hub.requests)
        self.run_pull(SMALL)
        gets = [r for r in self.hub.requests[n_before:] if r["path"] == "/cdn/" + hashlib.sha256(data).hexdigest()]
        self.assertEqual([g["status"] for g in gets], [200, 200])
        self.assertTrue(gets[1]["range"])
        self.assertEqual(gets[1]["bytes"], len(data))
        self.assertEqual(self.tree(), self.expected_tree(SMALL, c, WANTED))
        # a server that keeps failing: a clear message after the retries
        shutil.rmtree(self.cache)
        self.hub.faults = {"api": {"status500": 100}}
        p = self.run_pull(SMALL, "--retries", "2", rc=1)
        self.assertIn("HTTP 500", p.stderr)
        self.assertIn("3 times; try again later", p.stderr)

    def test_stall_and_slow_responses(self):
        c = self.commit(SMALL)
        self.hub.faults = {"model.safetensors": {"stall": 30, "slow": 4000000}}
        t0 = time.monotonic()
        p = self.run_pull(SMALL, "--timeout", "1", "--progress", "json")
        self.assertLess(time.monotonic() - t0, 20)  # did not wait for the stalled server
        events = [json.loads(line) for line in p.stderr.splitlines() if line.startswith("{")]
        kinds = [e["event"] for e in events]
        self.assertEqual(kinds[0], "resolved")
        self.assertEqual(kinds[-1], "done")
        self.assertIn("retry", kinds)
        self.assertEqual(kinds.count("file_done"), 3)
        total = sum(len(c.files[n]) for n in WANTED)
        self.assertEqual(events[0]["total"], total)
        self.assertEqual(events[0]["files_total"], 3)
        self.assertEqual(events[0]["commit"], c.sha)
        self.assertEqual(events[-1]["done"], total)
        progress = [e for e in events if e["event"] == "progress"]
        self.assertTrue(progress)
        self.assertTrue(any(e["speed"] > 0 and e["eta_s"] >= 0 for e in progress))
        self.assertTrue(all(0 <= e["done"] <= e["total"] for e in events))
        self.assertEqual(self.tree(), self.expected_tree(SMALL, c, WANTED))

    def test_gated_repository(self):
        repo = "qwglm-test/gated"
        p = self.run_pull(repo, rc=1)
        self.assertIn("is gated", p.stderr)
        self.assertIn("HF_TOKEN", p.stderr)
        p = self.run_pull(repo, env={"HF_TOKEN": TOKEN_NO_ACCESS}, rc=1)
        self.assertIn("has no access", p.stderr)
        p = self.run_pull(repo, env={"HF_TOKEN": "hf_wrong"}, rc=1)
        self.assertIn("invalid credentials", p.stderr)
        # the token file of `huggingface-cli login`
        os.makedirs(os.path.join(self.tmp, "hf"), exist_ok=True)
        with open(os.path.join(self.tmp, "hf", "token"), "w") as f:
            f.write(TOKEN_OK + "\n")
        self.run_pull(repo)
        resolves = [r for r in self.hub.requests if "/resolve/" in r["path"] and r["status"] in (200, 302)]
        self.assertTrue(resolves and all(r["auth"] == "Bearer " + TOKEN_OK for r in resolves))
        cdn = [r for r in self.hub.requests if r["path"].startswith("/cdn/")]
        self.assertTrue(cdn)
        self.assertTrue(all(r["auth"] is None for r in cdn), "the token must not follow the redirect to the CDN")

    def test_missing_repository_and_revision(self):
        p = self.run_pull("qwglm-test/no-such-model", rc=1)
        self.assertIn("no such model", p.stderr)
        self.assertIn("HF_TOKEN", p.stderr)
        p = self.run_pull(SMALL + "@no-such-branch", rc=1)
        self.assertIn("has no revision 'no-such-branch'", p.stderr)
        p = self.run_pull("not/a/ref", rc=2)
        self.assertEqual(os.path.exists(self.cache), False)

    def test_disk_space_checked_first(self):
        p = self.run_pull("qwglm-test/huge", rc=1)
        self.assertIn("not enough disk space", p.stderr)
        self.assertFalse([r for r in self.hub.requests if r["path"].endswith("/model.safetensors")])

    def test_concurrent_pulls(self):
        c = self.commit(SMALL)
        self.hub.faults["model.safetensors"] = {"slow": 2000000}  # 3.4 s: the others start meanwhile
        procs = [self.start_pull(SMALL) for _ in range(3)]
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(out, outs[0][0])
        for n in WANTED:  # every file crossed the network once; the others waited on its lock
            self.assertEqual(len(self.data_gets(n, c.files[n])), 1, n)
        self.assertTrue(any("waiting" in err for _, err in outs))
        self.assertEqual(self.tree(), self.expected_tree(SMALL, c, WANTED))

    def test_file_choice(self):
        sharded = self.commit("qwglm-test/qwen3-sharded")
        self.run_pull("qwglm-test/qwen3-sharded")
        names = ["config.json", "generation_config.json", "model.safetensors.index.json",
                 "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        snap = os.path.join(self.repo_dir("qwglm-test/qwen3-sharded"), "snapshots", sharded.sha)
        self.assertEqual(sorted(os.listdir(snap)), sorted(names))
        self.assertFalse([r for r in self.hub.requests if "consolidated" in r["path"] or
                          r["path"] == "/cdn/" + hashlib.sha256(sharded.files["consolidated.safetensors"]).hexdigest()])
        voice = self.commit("qwglm-test/voice")
        self.run_pull("qwglm-test/voice")
        snap = os.path.join(self.repo_dir("qwglm-test/voice"), "snapshots", voice.sha)
        self.assertEqual(sorted(os.listdir(snap)), ["en_US-micro-medium.onnx", "en_US-micro-medium.onnx.json"])
        p = self.run_pull("qwglm-test/bin-only", rc=1)
        self.assertIn("no safetensors weights", p.stderr)
        self.assertIn("pytorch_model.bin", p.stderr)
        small = self.commit(SMALL)
        self.run_pull(SMALL, "--include", "*.md", "--include", "onnx/")
        snap = os.path.join(self.repo_dir(SMALL), "snapshots", small.sha)
        self.assertEqual(sorted(os.listdir(snap)), ["README.md", "onnx"])
        self.assertEqual(os.readlink(os.path.join(snap, "onnx", "model.onnx")),
                         "../../../blobs/" + hashlib.sha256(small.files["onnx/model.onnx"]).hexdigest())

    def test_run_downloads_and_runs(self):
        """qwglm run -m ORG/NAME: pulled on first use, then run from the cache, also offline; the downloaded
        weights (single file and sharded) give the reference greedy tokens of the fixture."""
        with open(os.path.join(os.path.dirname(__file__), "..", "fixtures", "qwen3-small", "reference.json")) as f:
            case = json.load(f)["cases"][0]
        args = ["--prompt-ids", ",".join(map(str, case["input_ids"])), "-n", str(len(case["greedy"])), "--temp",
                "0", "--dtype", "f32", "--json"]

        def run(model, env=None):
            p = subprocess.run([QWGLM, "run", "-m", model, *args], env=dict(self.env, **(env or {})),
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            return json.loads(p.stdout)["tokens"]

        for repo in (SMALL, "qwglm-test/qwen3-sharded"):
            self.assertEqual(run(repo), case["greedy"], repo)
        n_before = len(self.hub.requests)
        self.assertEqual(run(SMALL), case["greedy"])  # a complete cached snapshot: no request at all
        self.assertEqual(len(self.hub.requests), n_before)
        self.hub.stop()
        self.assertEqual(run(SMALL, {"HF_HUB_OFFLINE": "1"}), case["greedy"])
        p = subprocess.run([QWGLM, "run", "-m", "qwglm-test/voice", *args], env=dict(self.env, HF_HUB_OFFLINE="1"),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("HF_HUB_OFFLINE", p.stderr)

    def test_chat_prompt_through_the_hub(self):
        """run -p and chat -m ORG/NAME: the tokenizer and chat template come along and give what the local folder
        gives."""
        outs = []
        for model in ("qwglm-test/qwen3-micro", os.path.join("tests", "fixtures", "qwen3-micro")):
            p = subprocess.run([QWGLM, "run", "-m", model, "-p", "Hello", "-n", "8", "--temp", "0", "--json"],
                               env=self.env, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            r = json.loads(p.stdout)
            outs.append((r["prompt_ids"], r["tokens"], r["text"]))
            p = subprocess.run([QWGLM, "chat", "-m", model, "-n", "4", "--temp", "0"], input="Hi\n", env=self.env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            outs.append(p.stdout)
        self.assertEqual(outs[0], outs[2])
        self.assertEqual(outs[1], outs[3])
        c = self.commit("qwglm-test/qwen3-micro")
        self.assertEqual(sorted(os.listdir(os.path.join(self.repo_dir("qwglm-test/qwen3-micro"), "snapshots", c.sha))),
                         ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                          "tokenizer_config.json"])

    def test_bench_and_quantize_through_the_hub(self):
        """bench -m and quantize -m take ORG/NAME like run: the same logits hash as the local folder, and a
        quantized copy that runs."""
        hashes = []
        for model in (SMALL, os.path.join("tests", "fixtures", "qwen3-small")):
            p = subprocess.run([QWGLM, "bench", "-m", model, "-p", "4", "-n", "2", "--reps", "1", "--threads", "1",
                                "--bandwidth-mib", "8", "--json"], env=self.env, capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            hashes.append(json.loads(p.stdout)["logits_hash"])
        self.assertEqual(hashes[0], hashes[1])
        out = os.path.join(self.tmp, "small-q8")
        p = subprocess.run([QWGLM, "quantize", "-m", SMALL, "-o", out, "--dtype", "q8", "-q"], env=self.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.isfile(os.path.join(out, "model.safetensors")))

    def test_speak_downloads_the_voice(self):
        """qwglm speak -m ORG/NAME: the voice repository is pulled and speaks exactly as the local fixture."""
        out = [os.path.join(self.tmp, n) for n in ("hub.wav", "local.wav")]
        for model, wav in (("qwglm-test/voice", out[0]),
                           (os.path.join("tests", "fixtures", "piper-micro", "en_US-micro-medium.onnx"), out[1])):
            p = subprocess.run([QWGLM, "speak", "-m", model, "--scales", "0,1,0", "-o", wav, "Hello there."],
                               env=self.env, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
        with open(out[0], "rb") as a, open(out[1], "rb") as b:
            self.assertEqual(a.read(), b.read())
        voice = self.commit("qwglm-test/voice")
        self.assertEqual(sorted(os.listdir(os.path.join(self.repo_dir("qwglm-test/voice"), "snapshots", voice.sha))),
                         ["en_US-micro-medium.onnx", "en_US-micro-medium.onnx.json"])

    def test_transcribe_downloads_the_model(self):
        """qwglm transcribe -m ORG/NAME: the recogniser is pulled (without its reference files) and transcribes
        exactly as the local fixture folder does."""
        audio = os.path.join("tests", "fixtures", "audio", "hello_16k.wav")
        outs = []
        for model in ("qwglm-test/parakeet", os.path.join("tests", "fixtures", "parakeet-micro")):
            p = subprocess.run([QWGLM, "transcribe", "-m", model, audio], env=self.env, capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            outs.append(p.stdout)
        self.assertEqual(outs[0], outs[1])
        c = self.commit("qwglm-test/parakeet")
        self.assertEqual(sorted(os.listdir(os.path.join(self.repo_dir("qwglm-test/parakeet"), "snapshots", c.sha))),
                         ["config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
                          "processor_config.json", "tokenizer.json", "tokenizer_config.json"])

    def test_serve_reports_download_progress(self):
        """qwglm serve -m ORG/NAME pulls the model while it starts, and GET /api/status shows the download."""
        import socket
        import urllib.request
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.hub.faults["model.safetensors"] = {"slow": 2000000}
        proc = subprocess.Popen([QWGLM, "serve", "-m", SMALL, "--port", str(port)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = []
        try:
            def poll():
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=2) as r:
                        p = json.load(r)["progress"]
                except OSError:
                    return None
                seen.append(p)
                return p["phase"] == "download" and p["file"] == "model.safetensors" and 0 < p["done"] < p["total"]
            self.wait_for(poll, timeout=60)
        finally:
            proc.kill()
            proc.communicate()
        total = sum(len(self.commit(SMALL).files[n]) for n in WANTED)
        self.assertEqual(seen[-1]["total"], total)


def main():
    global QWGLM, REPOS
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--qwglm":
        sys.exit("usage: test_pull.py --qwglm PATH [unittest args]")
    QWGLM = os.path.abspath(args[1])
    REPOS = build_repos()
    unittest.main(argv=[sys.argv[0]] + args[2:], verbosity=1)


if __name__ == "__main__":
    main()
