#!/usr/bin/env python3
"""A Hub-shaped HTTP server over loopback for qwglm's Hub client tests (Python standard library only).

It speaks the part of the Hugging Face Hub protocol that downloads use, as the real Hub does:
  GET  /api/models/ORG/NAME/revision/REV[?blobs=true]  model info: commit sha, siblings (size, blobId, lfs)
  GET|HEAD /ORG/NAME/resolve/REV/PATH   small (git) files: 200 + ETag "<git blob id>" + X-Repo-Commit;
                                        LFS files: 302 to the CDN + X-Linked-Etag "<sha256>" + X-Linked-Size
  GET|HEAD /cdn/SHA256                  LFS content on another host name (localhost vs 127.0.0.1), so a client
                                        that leaks Authorization across hosts is caught
Range requests (206, 416), ETags, and the Hub's error headers (X-Error-Code: RepoNotFound, GatedRepo,
RevisionNotFound, EntryNotFound; 401 "Invalid credentials in Authorization header") behave like the real Hub.

Repositories are built from the fixture models in tests/fixtures (see build_repos). Faults are injected per file
name ("api" for the model-info call) through HubServer.faults:
  {"status500": N}   the next N requests answer 500
  {"drop": N}        the next N transfers send half the body and close the connection
  {"corrupt": N}     the next N transfers flip one byte (N < 0: always)
  {"slow": BPS}      send at most BPS bytes per second
  {"stall": S}       the next transfer sends half the body, then nothing for S seconds, then closes
  {"norange": True}  ignore Range and send the whole file (200)
Every request is recorded in HubServer.requests (method, path, range, auth, status, bytes).

Run alone:  python3 tests/hub/hub_server.py [--port N]   then   HF_ENDPOINT=http://127.0.0.1:N qwglm pull ...
"""
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

TOKEN_OK = "hf_testtoken"        # may read gated repositories
TOKEN_NO_ACCESS = "hf_noaccess"  # a valid token without access to the gated repository


_digests = {}


def _digest(kind, data):
    """sha256 / git blob id of data, computed once per object (weights are hashed on every API call otherwise)."""
    key = (kind, id(data))
    if key not in _digests:
        if kind == "sha256":
            _digests[key] = (data, hashlib.sha256(data).hexdigest())
        else:
            _digests[key] = (data, hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
    return _digests[key][1]


def git_blob_id(data):
    return _digest("git", data)


def sha256(data):
    return _digest("sha256", data)


def is_lfs(path):
    return path.endswith((".safetensors", ".bin", ".gguf", ".onnx", ".pth", ".pt")) and not path.endswith(".json")


class Commit:
    def __init__(self, repo_id, files, parent=""):
        self.files = dict(files)  # path -> bytes (or int: a virtual file of that size that is never served)
        h = hashlib.sha1((repo_id + parent).encode())
        for path in sorted(self.files):
            content = self.files[path]
            h.update(path.encode() + (b"%d" % content if isinstance(content, int) else content))
        self.sha = h.hexdigest()

    def sibling(self, path, blobs):
        content = self.files[path]
        if isinstance(content, int):  # virtual: listed, never downloaded
            fake = hashlib.sha256(path.encode()).hexdigest()
            return {"rfilename": path, "size": content, "blobId": fake[:40],
                    "lfs": {"sha256": fake, "size": content, "pointerSize": 134}}
        s = {"rfilename": path}
        if blobs:
            s["size"] = len(content)
            if not is_lfs(path):
                s["blobId"] = git_blob_id(content)
            else:  # git holds a pointer file; blobId is the pointer's id
                sha = sha256(content)
                pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
                    sha.encode(), len(content))
                s["blobId"] = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()
                s["lfs"] = {"sha256": sha, "size": len(content), "pointerSize": len(pointer)}
        return s


class Repo:
    def __init__(self, repo_id, gated=False):
        self.id = repo_id
        self.gated = gated
        self.commits = {}
        self.refs = {}  # branch or tag -> sha

    def add(self, files, refs, parent=""):
        c = Commit(self.id, files, parent)
        self.commits[c.sha] = c
        for r in refs:
            self.refs[r] = c.sha
        return c

    def resolve(self, rev):
        if rev in self.refs:
            return self.commits[self.refs[rev]]
        if len(rev) >= 7 and all(ch in "0123456789abcdef" for ch in rev):
            for sha, c in self.commits.items():
                if sha.startswith(rev):
                    return c
        return None


def read(path):
    with open(path, "rb") as f:
        return f.read()


def split_safetensors(data, parts):
    """Splits one safetensors file into shards as save_pretrained writes them, plus the index."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    body = data[8 + n:]
    shards, weight_map = [], {}
    per = (len(names) + parts - 1) // parts
    for p in range(parts):
        chunk = names[p * per:(p + 1) * per]
        fname = "model-%05d-of-%05d.safetensors" % (p + 1, parts)
        h, blobs, off = {}, [], 0
        for k in chunk:
            a, b = header[k]["data_offsets"]
            h[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [off, off + b - a]}
            blobs.append(body[a:b])
            off += b - a
            weight_map[k] = fname
        if meta is not None:
            h["__metadata__"] = meta
        hj = json.dumps(h, separators=(",", ":")).encode()
        hj += b" " * ((8 - len(hj) % 8) % 8)
        shards.append((fname, struct.pack("<Q", len(hj)) + hj + b"".join(blobs)))
    index = {"metadata": {"total_size": len(body)}, "weight_map": weight_map}
    return shards, json.dumps(index, indent=2).encode()


def build_repos():
    small = os.path.join(FIXTURES, "qwen3-small")
    config = read(os.path.join(small, "config.json"))
    gen = read(os.path.join(small, "generation_config.json"))
    weights = read(os.path.join(small, "model.safetensors"))
    gen_v1 = json.dumps(dict(json.loads(gen), temperature=0.5), indent=2).encode()
    readme = b"---\nlicense: apache-2.0\n---\n# qwen3-small (test fixture)\n"
    junk = bytes(range(256)) * 1200  # formats qwglm must not download

    repos = {}
    r = Repo("qwglm-test/qwen3-small")
    v1 = r.add({"config.json": config, "generation_config.json": gen_v1, "model.safetensors": weights,
                "README.md": readme}, ["v1.0"])
    r.add({"config.json": config, "generation_config.json": gen, "model.safetensors": weights,
           "README.md": readme, ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
           "pytorch_model.bin": junk, "model.gguf": junk[:100000], "onnx/model.onnx": junk[:50000],
           "original/params.json": b"{}"}, ["main"], parent=v1.sha)
    repos[r.id] = r

    r = Repo("qwglm-test/qwen3-sharded")
    shards, index = split_safetensors(weights, 2)
    files = {"config.json": config, "generation_config.json": gen, "model.safetensors.index.json": index,
             "consolidated.safetensors": weights, "README.md": readme}
    files.update(shards)
    r.add(files, ["main"])
    repos[r.id] = r

    r = Repo("qwglm-test/gated", gated=True)
    r.add({"config.json": config, "model.safetensors": weights}, ["main"])
    repos[r.id] = r

    r = Repo("qwglm-test/voice")  # a Piper voice repository: the piper-micro fixture
    piper = os.path.join(FIXTURES, "piper-micro")
    r.add({"en_US-micro-medium.onnx": read(os.path.join(piper, "en_US-micro-medium.onnx")),
           "en_US-micro-medium.onnx.json": read(os.path.join(piper, "en_US-micro-medium.onnx.json")),
           "README.md": readme, "MODEL_CARD": b"test voice\n"}, ["main"])
    repos[r.id] = r

    r = Repo("qwglm-test/qwen3-micro")  # the real Qwen3 tokenizer and chat template, tiny weights
    micro = os.path.join(FIXTURES, "qwen3-micro")
    r.add({n: read(os.path.join(micro, n)) for n in os.listdir(micro)}, ["main"])
    repos[r.id] = r

    r = Repo("qwglm-test/parakeet")  # speech recognition: the parakeet-micro fixture as save_pretrained wrote it
    pk = os.path.join(FIXTURES, "parakeet-micro")
    r.add({n: read(os.path.join(pk, n)) for n in os.listdir(pk)}, ["main"])  # reference files must not travel
    repos[r.id] = r

    r = Repo("qwglm-test/bin-only")
    r.add({"config.json": config, "pytorch_model.bin": junk, "README.md": readme}, ["main"])
    repos[r.id] = r

    r = Repo("qwglm-test/huge")
    r.add({"config.json": config, "model.safetensors": 1 << 50}, ["main"])  # a petabyte, never served
    repos[r.id] = r
    return repos


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hub-test/1"

    def log_message(self, fmt, *args):  # quiet; requests are recorded in hub.requests
        pass

    @property
    def hub(self):
        return self.server.hub

    def record(self, status, nbytes=0):
        """Records the request before its body is sent (a client may see the answer and exit before this thread
        runs again); returns the entry, whose "bytes" the sender keeps up to date."""
        entry = {"method": self.command, "path": urllib.parse.urlsplit(self.path).path,
                 "host": self.headers.get("Host", ""), "range": self.headers.get("Range"),
                 "auth": self.headers.get("Authorization"), "status": status, "bytes": nbytes}
        self.hub.record(entry)
        return entry

    def send_error_json(self, status, code=None, message=None, extra=None):
        body = json.dumps({"error": message or "error"}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if message:
            self.send_header("X-Error-Message", message)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.record(status, len(body))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        try:
            if path.startswith("/api/models/"):
                return self.api(path[len("/api/models/"):], urllib.parse.parse_qs(parts.query))
            if path.startswith("/cdn/"):
                return self.cdn(path[len("/cdn/"):])
            seg = path.lstrip("/").split("/", 4)
            if len(seg) == 5 and seg[2] == "resolve":
                return self.resolve("/".join(seg[:2]), urllib.parse.unquote(seg[3]), urllib.parse.unquote(seg[4]))
            self.send_error_json(404, message="Not Found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ---- access control, as the Hub answers it ----
    def check_access(self, repo_id):
        """Returns the Repo, or None after sending the Hub's refusal."""
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token is not None and token not in (TOKEN_OK, TOKEN_NO_ACCESS):
            self.send_error_json(401, message="Invalid credentials in Authorization header")
            return None
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self.send_error_json(401 if token is None else 404, "RepoNotFound", "Repository not found")
            return None
        if repo.gated and token != TOKEN_OK:
            self.send_error_json(401 if token is None else 403, "GatedRepo",
                                 "Access to model %s is restricted. You must have access to it and be "
                                 "authenticated to access it. Please log in." % repo_id)
            return None
        return repo

    def api(self, rest, query):
        if "/revision/" in rest:
            repo_id, rev = rest.split("/revision/", 1)
            rev = urllib.parse.unquote(rev)
        else:
            repo_id, rev = rest, "main"
        if self.hub.take_fault("api", "status500"):
            return self.send_error_json(500, message="Internal Error")
        repo = self.check_access(repo_id)
        if repo is None:
            return
        c = repo.resolve(rev)
        if c is None:
            return self.send_error_json(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
        blobs = query.get("blobs", ["false"])[0] in ("true", "True", "1")
        info = {"_id": c.sha[:24], "id": repo.id, "modelId": repo.id, "author": repo.id.split("/")[0],
                "sha": c.sha, "lastModified": "2026-01-01T00:00:00.000Z", "private": False,
                "gated": "manual" if repo.gated else False, "disabled": False, "downloads": 0, "likes": 0,
                "library_name": "transformers", "tags": ["safetensors"], "pipeline_tag": "text-generation",
                "siblings": [c.sibling(p, blobs) for p in sorted(c.files)],
                "createdAt": "2026-01-01T00:00:00.000Z", "usedStorage": 0}
        body = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.record(200, len(body))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def resolve(self, repo_id, rev, fname):
        repo = self.check_access(repo_id)
        if repo is None:
            return
        c = repo.resolve(rev)
        if c is None:
            return self.send_error_json(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
        if fname not in c.files or isinstance(c.files[fname], int):
            return self.send_error_json(404, "EntryNotFound", "%s does not exist on \"%s\"" % (fname, rev),
                                        {"X-Repo-Commit": c.sha})
        if self.hub.take_fault(fname, "status500"):
            return self.send_error_json(500, message="Internal Error")
        data = c.files[fname]
        if is_lfs(fname):
            sha = sha256(data)
            self.hub.blobs[sha] = (fname, data)
            self.send_response(302)
            self.send_header("Location", "%s/cdn/%s?X-Amz-Signature=test" % (self.hub.cdn_url, sha))
            self.send_header("X-Repo-Commit", c.sha)
            self.send_header("X-Linked-Etag", '"%s"' % sha)
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("ETag", '"%s"' % sha)
            self.send_header("Content-Length", "0")
            self.record(302)
            self.end_headers()
            return
        self.send_content(fname, data, git_blob_id(data), {"X-Repo-Commit": c.sha})

    def cdn(self, sha):
        if sha not in self.hub.blobs:
            return self.send_error_json(404, message="NoSuchKey")
        if self.headers.get("Authorization"):  # a presigned URL allows no second authentication
            return self.send_error_json(400, message="Only one auth mechanism allowed")
        fname, data = self.hub.blobs[sha]
        self.send_content(fname, data, sha, {})

    # ---- content, with Range and the faults ----
    def send_content(self, fname, data, etag, extra):
        size = len(data)
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and not self.hub.fault(fname).get("norange"):
            try:
                unit, spec = rng.split("=", 1)
                a, b = spec.split("-", 1)
                start = int(a)
                end = int(b) if b else size - 1
                assert unit == "bytes" and start >= 0 and "," not in spec
            except (ValueError, AssertionError):
                return self.send_error_json(400, message="bad range")
            if start >= size:
                return self.send_error_json(416, message="Range Not Satisfiable",
                                            extra={"Content-Range": "bytes */%d" % size})
            end = min(end, size - 1)
            status = 206
        else:
            end = size - 1
        body = memoryview(data)[start:end + 1]  # no copy of a large file per request
        if self.hub.take_fault(fname, "corrupt") and len(body):
            body = bytes([body[0] ^ 0xFF]) + bytes(body[1:])
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", '"%s"' % etag)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        for k, v in extra.items():
            self.send_header(k, v)
        entry = self.record(status)
        self.end_headers()
        if self.command == "HEAD":
            return
        drop = self.hub.take_fault(fname, "drop")
        stall = self.hub.take_fault(fname, "stall")
        rate = self.hub.fault(fname).get("slow")
        limit = len(body) // 2 if (drop or stall) else len(body)
        sent, step, t0 = 0, 65536, time.monotonic()
        while sent < limit:
            n = min(step, limit - sent)
            entry["bytes"] = sent + n  # counted before the client can have them
            self.wfile.write(body[sent:sent + n])
            sent += n
            if rate:
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        self.wfile.flush()
        if stall:
            time.sleep(stall)
        if sent < len(body):  # drop the connection mid-file
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class HubServer:
    """The server in a thread. start() returns the endpoint URL; stop() ends it."""

    def __init__(self, repos=None):
        self.repos = repos if repos is not None else build_repos()
        self.faults = {}
        self.requests = []
        self.blobs = {}
        self.lock = threading.Lock()
        self.httpd = None
        self.url = self.cdn_url = None
        for r in self.repos.values():  # the CDN serves every LFS blob from the start
            for c in r.commits.values():
                for p, d in c.files.items():
                    if is_lfs(p) and not isinstance(d, int):
                        self.blobs[sha256(d)] = (p, d)

    def start(self, port=0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.hub = self
        port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % port
        self.cdn_url = "http://localhost:%d" % port  # another host name: Authorization must not follow
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self.url

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def fault(self, fname):
        with self.lock:
            return dict(self.faults.get(fname, {}))

    def take_fault(self, fname, kind):
        """Uses one count of a fault; returns its value (truthy) when it applies to this request."""
        with self.lock:
            f = self.faults.get(fname)
            if not f or not f.get(kind):
                return 0
            v = f[kind]
            if kind == "stall":
                f[kind] = 0
                return v
            if isinstance(v, int) and v > 0:
                f[kind] = v - 1
            return v

    def file_gets(self, sha_or_name):
        with self.lock:
            return [r for r in self.requests if r["method"] == "GET" and r["path"].endswith("/" + sha_or_name)]


def main():
    port = 0
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        port = int(sys.argv[2])
    hub = HubServer()
    print(hub.start(port), flush=True)
    for r in hub.repos.values():
        print("  %s  main=%s" % (r.id, r.refs.get("main", "")[:12]), flush=True)
    parent = os.getppid()
    try:
        while os.getppid() == parent:  # a test that started it and died takes the server with it
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    hub.stop()


if __name__ == "__main__":
    main()
