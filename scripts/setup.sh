#!/usr/bin/env bash
# Installs what qwglm needs to build, run and test on Debian bookworm (uses sudo when not root).
# Usage: scripts/setup.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
packages=(
    build-essential cmake pkg-config ca-certificates python3
    clang libclang-rt-14-dev                                   # fuzzing and sanitizers
    libespeak-ng-dev espeak-ng-data                            # text to phonemes (speech synthesis)
    libsndfile1-dev                                            # audio files (speech recognition)
    libpng-dev libjpeg-dev libwebp-dev libgif-dev              # images (vision)
    libmicrohttpd-dev                                          # qwglm serve
    libcurl4-openssl-dev libssl-dev                            # models from the Hugging Face Hub
    chromium                                                   # browser tests
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static # NEON kernels tested under qemu
    wasi-libc libclang-rt-14-dev-wasm32                        # WASM SIMD kernels tested under Node's WASI
)
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Node.js and npm for the web app and the tokenizer differential test; most images ship them, Debian's
# packages are the fallback
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
echo "setup: done" >&2
