#!/usr/bin/env bash
# Cross-builds qwglm for AArch64 and runs the kernel and op tests under qemu-aarch64-static, so the
# NEON kernels are checked against the scalar reference on an x86 machine. Skipped when the tools are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
    echo "aarch64-linux-gnu-gcc or qemu-aarch64-static not installed: skipped"
    exit 0
fi
cmake -S . -B build-aarch64 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
cmake --build build-aarch64 -j"$(nproc)" --target test_kernels test_ops
ctest --test-dir build-aarch64 --output-on-failure -R '^(test_kernels|test_ops)$'
