#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time over a copy of its corpus.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 20 s, every target)
# A crash leaves its input in build-fuzz/; add it to tests/fuzz/corpus/NAME/ in the fixing commit.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQWGLM_FUZZ=ON -DQWGLM_SANITIZE=ON \
    -DQWGLM_TESTS=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
# leaks inside Debian's libraries that our code cannot free (libvorbis under libsndfile)
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in build-fuzz/fuzz/fuzz_*; do targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
# leaks inside Debian libraries we cannot fix (see the file)
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}
for t in "${targets[@]}"; do
    work=build-fuzz/corpus-$t
    rm -rf "$work" && mkdir -p "$work" && cp -r tests/fuzz/corpus/"$t"/. "$work"/
    dict=()
    [ -f tests/fuzz/"$t".dict ] && dict=(-dict=tests/fuzz/"$t".dict)
    echo "== fuzz $t for ${secs}s"
    (cd build-fuzz && ./fuzz/fuzz_"$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        "${dict[@]/#-dict=/-dict=../}" "corpus-$t" 2>&1 | tail -3)
done
