#!/usr/bin/env bash
# Cross-builds the CPU backend for AArch64 and runs the kernel and op tests under qemu-aarch64-static, so the NEON
# kernels are checked against the scalar reference on an x86 machine. Only the files the tests need are built
# (the rest of the project finds its host libraries through pkg-config, which a cross build must not use).
# Skipped when the tools are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
    echo "aarch64-linux-gnu-gcc or qemu-aarch64-static not installed: skipped"
    exit 0
fi
mkdir -p build-aarch64
srcs=(src/base/*.c src/ops/*.c)
for f in src/format/*.c; do
    case "$f" in */image*.c) ;; *) srcs+=("$f") ;; esac # the image decoders need the host's libpng, libjpeg, ...
done
for f in src/backend/cpu/*.c; do
    case "$f" in */kernels_avx*.c | */kernels_wasm.c) ;; *) srcs+=("$f") ;; esac
done
pids=()
for t in test_kernels test_ops; do
    aarch64-linux-gnu-gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wvla -Werror -Iinclude -Isrc -Itests \
        "${srcs[@]}" "tests/unit/$t.c" -o "build-aarch64/$t" -lm -lpthread &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for t in test_kernels test_ops; do
    qemu-aarch64-static -L /usr/aarch64-linux-gnu "build-aarch64/$t"
done
