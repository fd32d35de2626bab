#!/usr/bin/env bash
# The whole test suite, as CI runs it: release build + tests, then the same tests under ASan + UBSan.
# Usage: scripts/test.sh [--quick]   (--quick: release tests only)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== server and web app: API and browser tests"
scripts/test-web.sh release

[ "${1:-}" = "--quick" ] && exit 0

echo "== tokenizer differential test against @lenml/tokenizers (random Unicode text)"
if command -v node >/dev/null && command -v npm >/dev/null; then
    (cd tests/tokenizer-diff && { [ -d node_modules/@lenml/tokenizers ] || npm ci --no-audit --no-fund >/dev/null; })
    node tests/tokenizer-diff/diff.mjs build/qwglm tests/fixtures/qwen3-micro "${QWGLM_DIFF_SEED:-1}" 1500
elif [ -n "${CI:-}" ]; then
    echo "node and npm are required in CI" >&2
    exit 1
else
    echo "node or npm not installed: skipped"
fi

echo "== sanitizer build (ASan + UBSan) and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQWGLM_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== server under ASan: API tests and the load test"
scripts/test-web.sh asan

echo "== aarch64 cross build, NEON kernels against the reference under qemu"
scripts/test-aarch64.sh

echo "== WebAssembly SIMD128 kernels against the reference under Node's WASI"
scripts/test-wasm.sh

echo "== fuzz targets, a short bounded run each"
if command -v clang >/dev/null; then
    scripts/fuzz.sh "${QWGLM_FUZZ_SECONDS:-10}"
else
    echo "clang not installed: skipped"
fi
