#!/usr/bin/env bash
# CLI tests of `qwglm tinygpu`: every reference case byte for byte against the RTL's expected.json, exit statuses,
# asm/disasm round trips through files, the trace, and error messages with line numbers.
# Usage: tests/cli/tinygpu.sh path/to/qwglm   (run from anywhere; works in the repository root)
set -u
qwglm=$1
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for d in tests/fixtures/tinygpu/*/; do
    name=$(basename "$d")
    kernel=$(ls "$d"kernel.hex "$d"kernel.bin 2>/dev/null | head -1)
    threads=$(cat "$d/threads")
    args=()
    [ -f "$d/args" ] && read -ra args <"$d/args"
    want_rc=0
    grep -q '"done": false' "$d/expected.json" && want_rc=2

    "$qwglm" tinygpu run "$kernel" "$d/data.txt" "$threads" "${args[@]}" >"$tmp/out.json"
    rc=$?
    cmp -s "$tmp/out.json" "$d/expected.json" || bad "$name: run output differs from expected.json"
    [ "$rc" = "$want_rc" ] || bad "$name: run exited $rc, want $want_rc"

    # the assembler reproduces the reference words and data; the assembly file also runs directly
    "$qwglm" tinygpu asm "$d/kernel.asm" -o "$tmp/k.hex" --data "$tmp/d.txt" >"$tmp/asm.json" ||
        bad "$name: asm failed"
    grep -q "\"threads\": $threads}" "$tmp/asm.json" || bad "$name: asm summary $(cat "$tmp/asm.json")"
    "$qwglm" tinygpu run "$tmp/k.hex" "$tmp/d.txt" "$threads" "${args[@]}" >"$tmp/out2.json"
    cmp -s "$tmp/out2.json" "$d/expected.json" || bad "$name: assembled kernel runs differently"
    "$qwglm" tinygpu run "$d/kernel.asm" - - "${args[@]}" >"$tmp/out3.json"
    cmp -s "$tmp/out3.json" "$d/expected.json" || bad "$name: kernel.asm run directly differs"
    "$qwglm" tinygpu disasm "$kernel" >"$tmp/ref.lst" || bad "$name: disasm failed"
    "$qwglm" tinygpu disasm "$tmp/k.hex" >"$tmp/ours.lst"
    cmp -s "$tmp/ref.lst" "$tmp/ours.lst" || bad "$name: assembled words differ from $kernel"
    # disassembly round trip: listing -> asm -> same listing
    "$qwglm" tinygpu asm "$tmp/ref.lst" -o "$tmp/k3.hex" >/dev/null || bad "$name: listing does not assemble"
    "$qwglm" tinygpu disasm "$tmp/k3.hex" >"$tmp/again.lst"
    cmp -s "$tmp/ref.lst" "$tmp/again.lst" || bad "$name: disasm round trip differs"
done

# the trace: one line per cycle on stderr, stdout unchanged
m=tests/fixtures/tinygpu/matadd
"$qwglm" tinygpu run $m/kernel.bin $m/data.txt 8 --trace >"$tmp/out.json" 2>"$tmp/trace.txt"
cmp -s "$tmp/out.json" $m/expected.json || bad "trace: stdout differs"
[ "$(wc -l <"$tmp/trace.txt")" = 178 ] || bad "trace: $(wc -l <"$tmp/trace.txt") lines, want 178"
grep -q '^cycle 14 | c0 b0 FETCH pc 1 | c1 b1 DECODE pc 0 \[fetched\] | c0 R0 = 0 0 0 0$' "$tmp/trace.txt" ||
    bad "trace: cycle 14 line"
grep -q 'data.*write \[16\] 0' "$tmp/trace.txt" || bad "trace: no write of C[0]"

# the NOP kernel runs into the cycle limit
echo 0000 >"$tmp/nop.hex"
"$qwglm" tinygpu run "$tmp/nop.hex" - 8 --max-cycles 5000 >"$tmp/out.json"
[ $? = 2 ] || bad "nop: exit status"
grep -q '^{"cycles": 5000, "done": false, "threads": 8, "program_words": 1, "data_memory": \[0, 0' "$tmp/out.json" ||
    bad "nop: $(head -c 80 "$tmp/out.json")"

# errors: one line naming the file and the line
expect_error() { # WANT_RC PATTERN ARGS...
    local want=$1 pattern=$2
    shift 2
    "$qwglm" tinygpu "$@" >"$tmp/o" 2>"$tmp/e"
    local rc=$?
    [ "$rc" = "$want" ] || bad "'$*': exit $rc, want $want"
    grep -qF -- "$pattern" "$tmp/e" || bad "'$*': stderr '$(cat "$tmp/e")' lacks '$pattern'"
    [ -s "$tmp/o" ] && bad "'$*': wrote to stdout"
}
printf 'NOP\nFOO R1\n' >"$tmp/bad.asm"
expect_error 1 "bad.asm: line 2: unknown mnemonic 'FOO'" asm "$tmp/bad.asm" -o "$tmp/x.hex"
printf 'BRn NOWHERE\n' >"$tmp/bad.asm"
expect_error 1 "line 1: label 'NOWHERE' not defined" asm "$tmp/bad.asm" -o "$tmp/x.hex"
printf 'CONST R17, #1\n' >"$tmp/bad.asm"
expect_error 1 "line 1: register 'R17' out of range" asm "$tmp/bad.asm" -o "$tmp/x.hex"
for i in $(seq 257); do echo NOP; done >"$tmp/bad.asm"
expect_error 1 "line 257: program exceeds 256 words" asm "$tmp/bad.asm" -o "$tmp/x.hex"
printf '1 2 3\n4 300\n' >"$tmp/bad.txt"
expect_error 1 "bad.txt: line 2: byte '300' out of range 0..255" run "$tmp/nop.hex" "$tmp/bad.txt" 4
printf '50de\nzz\n' >"$tmp/bad.hex"
expect_error 1 "bad.hex: line 2: malformed word 'zz'" run "$tmp/bad.hex" - 4
expect_error 1 "bad.hex: line 2: malformed word 'zz'" disasm "$tmp/bad.hex"
expect_error 1 "$tmp/missing.hex" run "$tmp/missing.hex" - 4
expect_error 2 "THREADS must be 0..255" run "$tmp/nop.hex" - 256
expect_error 2 "--max-cycles: bad value" run "$tmp/nop.hex" - 4 --max-cycles x
expect_error 2 "n_cores 17 out of range" run "$tmp/nop.hex" - 4 --cores 17
expect_error 2 "unknown subcommand" frobnicate

[ $fail = 0 ] && echo "cli tinygpu: all passed"
exit $fail
