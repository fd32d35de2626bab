#!/usr/bin/env bash
# Builds the web app into web/dist (served by `qwglm serve` at /). Installs its npm packages from the committed
# package-lock.json first when they are missing or stale.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null; then
    echo "build-web: npm is not installed; the web app is not built (qwglm serve will serve the API only)" >&2
    exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
