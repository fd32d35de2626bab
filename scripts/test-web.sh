#!/usr/bin/env bash
# The server's and web app's tests (node's test runner) on the fixture models in tests/fixtures: API tests with the
# openai client and raw HTTP (qwen3-micro, token-exact against the transformers reference), images
# (qwen3-vl-micro), speech (parakeet-micro, piper-micro), the end-to-end browser tests in Debian's headless
# Chromium, and the bounded load test.
# Usage: scripts/test-web.sh release   (API, vision, speech and browser tests against build/qwglm)
#        scripts/test-web.sh asan      (API and speech tests and the 60 s load test against build-asan/qwglm)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-release}
if ! command -v npm >/dev/null; then
    echo "test-web: npm is not installed" >&2
    exit 1
fi
scripts/build-web.sh
cd web
case "$mode" in
release)
    QWGLM_BIN=build/qwglm timeout 600 node --test --test-concurrency=1 tests/api.test.mjs tests/audio.test.mjs \
        tests/vision.test.mjs tests/e2e.test.mjs tests/media.test.mjs
    ;;
asan)
    QWGLM_BIN=build-asan/qwglm ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        timeout 900 node --test --test-concurrency=1 tests/api.test.mjs tests/audio.test.mjs tests/load.test.mjs
    ;;
*)
    echo "usage: scripts/test-web.sh release|asan" >&2
    exit 2
    ;;
esac
