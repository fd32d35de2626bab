#!/usr/bin/env bash
# Builds the kernel test for WebAssembly with SIMD128 (clang, Debian's wasi-libc) and runs it under Node's WASI,
# so the WASM kernels are checked against the scalar reference like every other variant. Only the files the test
# needs are built (the browser build proper is Emscripten's). Skipped when the tools are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null || ! command -v node >/dev/null || [ ! -f /usr/lib/wasm32-wasi/libc.a ]; then
    echo "clang, node or wasi-libc not installed: skipped"
    exit 0
fi
mkdir -p build-wasm
clang --target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi -msimd128 -O2 \
    -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc -Iinclude -Itests \
    src/backend/cpu/kernels_ref.c src/backend/cpu/kernels_conv_ref.c src/backend/cpu/kernels_wasm.c \
    src/backend/cpu/cpu_dispatch.c \
    src/ops/quant.c src/ops/ops.c src/base/mem.c tests/unit/test_kernels.c \
    -Wl,-z,stack-size=8388608 -o build-wasm/test_kernels.wasm
node --no-warnings -e '
const { WASI } = require("node:wasi");
const fs = require("node:fs");
const wasi = new WASI({ version: "preview1", args: ["test_kernels"], returnOnExit: true });
WebAssembly.instantiate(fs.readFileSync("build-wasm/test_kernels.wasm"), wasi.getImportObject())
    .then(({ instance }) => process.exit(wasi.start(instance)));
'
