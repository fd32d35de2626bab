#!/usr/bin/env python3
"""qwglm pull throughput on loopback against the test Hub, beside curl fetching the same file.

Usage: bench/hub_pull.py [SIZE_MB] [RUNS]   (from the repository root, after scripts/build.sh)
One repository with a SIZE_MB weight file (default 512) served by tests/hub/hub_server.py; each run pulls it into
an empty cache (qwglm: download, sha256, fsync, rename, symlink) and fetches it with `curl -sL -o` (download
only). Prints wall and CPU seconds of each; the best of RUNS counts.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "hub"))
from hub_server import HubServer, Repo, sha256  # noqa: E402

size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
data = os.urandom(1 << 20) * size
repo = Repo("bench/big")
repo.add({"config.json": b"{}", "model.safetensors": data}, ["main"])
sha256(data)  # the server hashes once, before timing
hub = HubServer({repo.id: repo})
url = hub.start()
tmp = tempfile.mkdtemp(prefix="qwglm-bench-")
env = dict(os.environ, HF_HOME=os.path.join(tmp, "hf"), HF_ENDPOINT=url)
best = {}
for _ in range(runs):
    shutil.rmtree(os.path.join(tmp, "hf"), ignore_errors=True)
    for name, cmd in (("qwglm pull", ["build/qwglm", "pull", "--progress", "none", "bench/big"]),
                      ("curl", ["curl", "-sL", "-o", os.path.join(tmp, "out.bin"),
                                url + "/bench/big/resolve/main/model.safetensors"])):
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S", *cmd], env=env, capture_output=True, text=True,
                           check=True)
        wall, user, sys_s = map(float, p.stderr.split()[-3:])
        print("%-10s %6.2f s wall  %5.2f s user  %5.2f s sys  %6.0f MB/s" % (name, wall, user, sys_s,
                                                                             size * 1.048576 / wall))
        best[name] = min(best.get(name, 1e9), wall)
hub.stop()
shutil.rmtree(tmp)
print("best: qwglm pull %.2f s, curl %.2f s, ratio %.2f" % (best["qwglm pull"], best["curl"],
                                                           best["curl"] / best["qwglm pull"]))
