#!/usr/bin/env bash
# Builds qwglm and the web app, then starts `qwglm serve`; open the URL it prints.
# Usage: scripts/start.sh [qwglm serve options]     e.g. scripts/start.sh -m Qwen/Qwen3-0.6B
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >&2
exec build/qwglm serve "$@"
