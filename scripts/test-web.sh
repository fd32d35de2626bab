#!/usr/bin/env bash
# The server's and web app's tests (node's test runner): API tests with the openai client and raw HTTP, the
# end-to-end browser test in Debian's headless Chromium, and the bounded load test. Each runs on the mock model
# (exact checks of the server and the UI) and, once this build has the tokenizer, on tests/fixtures/qwen3-micro
# (token-exact against the transformers reference).
# Usage: scripts/test-web.sh release   (API + end-to-end against build/qwglm)
#        scripts/test-web.sh asan      (API + 60 s load test against build-asan/qwglm)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-release}
if ! command -v npm >/dev/null; then
    echo "test-web: npm is not installed" >&2
    exit 1
fi
models=(mock)
grep -q qwglm_chat_render include/qwglm.h && models+=(fixture)
scripts/build-web.sh
cd web
for model in "${models[@]}"; do
    echo "-- $mode tests on the $model model"
    case "$mode" in
    release)
        QWGLM_TEST_MODEL=$model QWGLM_BIN=build/qwglm timeout 600 \
            node --test --test-concurrency=1 tests/api.test.mjs tests/e2e.test.mjs
        ;;
    asan)
        files=(tests/api.test.mjs)
        [ "$model" = mock ] && files+=(tests/load.test.mjs)
        QWGLM_TEST_MODEL=$model QWGLM_BIN=build-asan/qwglm ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            timeout 900 node --test --test-concurrency=1 "${files[@]}"
        ;;
    *)
        echo "usage: scripts/test-web.sh release|asan" >&2
        exit 2
        ;;
    esac
done
