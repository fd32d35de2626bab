#!/usr/bin/env bash
# Builds qwglm (release) into build/ and, when npm is available, the web app into web/dist.
# Usage: scripts/build.sh [extra cmake args]      (QWGLM_NO_WEB=1 skips the web app)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
if [ -z "${QWGLM_NO_WEB:-}" ]; then
    if command -v npm >/dev/null; then
        scripts/build-web.sh
    else
        echo "build: npm not found: skipped the web app (qwglm serve will serve the API only)" >&2
    fi
fi
