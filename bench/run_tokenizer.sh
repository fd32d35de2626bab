#!/usr/bin/env bash
# Tokenizer encode throughput, qwglm vs @lenml/tokenizers under Node, on the same ~4 MB corpus.
# Usage: bench/run_tokenizer.sh [MODEL_DIR]   (builds release, needs node and npm)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-tests/fixtures/qwen3-micro}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target bench_tokenizer >/dev/null
(cd tests/tokenizer-diff && [ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null)
node bench/make-corpus.mjs build/bench-corpus.txt 4000000 42
build/bench_tokenizer "$model" build/bench-corpus.txt 5
node bench/tokenizer-peer.mjs "$model" build/bench-corpus.txt 1
