#!/usr/bin/env bash
# Programs under an address-space limit (`ulimit -v`, i.e. RLIMIT_AS) with
# zslab preloaded: running out of memory must look exactly as it does with
# glibc's malloc (NULL / MemoryError), never like a crash.
#
#   - python3 asking for one 8 GiB bytearray under `ulimit -v 500000`:
#     MemoryError, caught, exit 0; with pymalloc and with PYTHONMALLOC=malloc
#     (every object through malloc, so through zslab's small slabs);
#   - python3 filling a list with small strings under `ulimit -v 250000` until
#     MemoryError, caught, exit 0; both allocator settings;
#   - limits so tight that zslab cannot reserve its default slab region
#     (`ulimit -v` 30000 and 60000 KiB): python3 -c, ls, sort still run and
#     give the same output as without zslab;
#   - the C test preload-tests/rlimit_as in child mode, started by the shell
#     under `ulimit -v 131072` (the in-process and exec'd-child variants are
#     in run.sh's preload tests).
# Each check first runs the same command without zslab and must see it pass
# there (otherwise the check itself is wrong, and it is reported as such).
#
# Usage: scripts/test-limits.sh [path/to/libzslab.so]
# Prints PASS/FAIL per check and a summary line; exits non-zero on failure.
# Takes ~40 s.

set -u

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=$(cd "$script_dir/.." && pwd)
lib=${1:-$root_dir/target/release/libzslab.so}
if [ ! -f "$lib" ]; then
    echo "test-limits.sh: library not found: $lib (cargo build --release)" >&2
    exit 2
fi
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
# The real interpreter, not a wrapper script (pyenv shims are bash).
py=$(python3 -c 'import sys; print(sys.executable)') || { echo "python3 missing" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zslab-limits.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

pass=0
fail=0
failed=()
ok()  { echo "PASS $1"; pass=$((pass + 1)); }
bad() {
    echo "FAIL $1${2:+: $2}"
    fail=$((fail + 1))
    failed+=("$1")
    if [ -n "${3:-}" ] && [ -f "$3" ]; then tail -n 20 "$3" | sed 's/^/    | /'; fi
}

# describe STATUS -> "exit N" or "signal NAME"
describe() {
    local st=$1
    if [ "$st" -gt 128 ] && [ "$st" -lt 193 ]; then
        echo "killed by SIG$(kill -l $((st - 128)) 2>/dev/null || echo $((st - 128)))"
    else
        echo "exit $st"
    fi
}

# run_limited KIB OUTFILE PRELOAD CMD... : run CMD under `ulimit -v KIB`,
# with LD_PRELOAD=PRELOAD (empty: none); prints the exit status.
run_limited() {
    local kib=$1 out=$2 pre=$3
    shift 3
    (
        ulimit -v "$kib" || exit 99
        if [ -n "$pre" ]; then export LD_PRELOAD=$pre; else unset LD_PRELOAD; fi
        exec timeout -k 5 120 "$@"
    ) >"$out" 2>&1 </dev/null
    echo $?
}

# check_same NAME KIB EXPECT_SUBSTRING CMD...: the command must exit 0 and
# print EXPECT_SUBSTRING both without and with zslab (and, when the
# substring is empty, give identical output).
check_same() {
    local name=$1 kib=$2 want=$3
    shift 3
    local st0 st1
    st0=$(run_limited "$kib" "$tmp/base.out" "" "$@")
    if [ "$st0" != 0 ] || { [ -n "$want" ] && ! grep -qF -- "$want" "$tmp/base.out"; }; then
        bad "$name" "the check is wrong: without zslab it gives $(describe "$st0")" "$tmp/base.out"
        return
    fi
    st1=$(run_limited "$kib" "$tmp/zs.out" "$lib" "$@")
    if [ "$st1" != 0 ]; then
        bad "$name" "with zslab: $(describe "$st1") (without: exit 0)" "$tmp/zs.out"
    elif [ -n "$want" ] && ! grep -qF -- "$want" "$tmp/zs.out"; then
        bad "$name" "with zslab the output lacks \"$want\"" "$tmp/zs.out"
    elif [ -z "$want" ] && ! diff -q <(grep -v '^zslab:' "$tmp/base.out") \
            <(grep -v '^zslab:' "$tmp/zs.out") >/dev/null; then
        bad "$name" "with zslab the output differs" "$tmp/zs.out"
    else
        ok "$name"
    fi
}

cat >"$tmp/pymem.py" <<'EOF'
import sys
kind = sys.argv[1]
try:
    if kind == "big":
        b = bytearray(8 << 30)
    else:
        l = []
        for i in range(50_000_000):
            l.append(("x%d" % i) * 2)
    print("no MemoryError")
    sys.exit(2)
except MemoryError:
    l = None
    b = None
    # the interpreter must be fully usable again
    d = {str(i): i for i in range(10000)}
    print("MemoryError caught", len(d))
EOF

for pm in pymalloc malloc; do
    check_same "python3 bytearray(8 GiB) under ulimit -v 500000 (PYTHONMALLOC=$pm): MemoryError" \
        500000 "MemoryError caught 10000" env PYTHONMALLOC=$pm "$py" "$tmp/pymem.py" big
    check_same "python3 small strings until MemoryError under ulimit -v 250000 (PYTHONMALLOC=$pm)" \
        250000 "MemoryError caught 10000" env PYTHONMALLOC=$pm "$py" "$tmp/pymem.py" small
done

# Limits too small for zslab's default 32 GiB region (and for most halvings
# of it): programs start and behave as without zslab.
seq 1 20000 | sort -R --random-source=<(yes) >"$tmp/numbers"
for kib in 30000 60000; do
    check_same "python3 -c under ulimit -v $kib" "$kib" "" \
        env PYTHONMALLOC=malloc "$py" -c 'import json; print(sum(json.loads(json.dumps(list(range(20000))))))'
    check_same "ls -la /usr/bin under ulimit -v $kib" "$kib" "" ls -la /usr/bin
    check_same "sort -n under ulimit -v $kib" "$kib" "" sort -n "$tmp/numbers"
done

# The C test's child mode, limit set by the shell.
mkdir -p "$root_dir/preload-tests/build"
if gcc -O2 -g -Wall -Wextra -Werror -pthread -fno-builtin -o "$tmp/rlimit_as" \
        "$root_dir/preload-tests/rlimit_as.c" >"$tmp/cc.log" 2>&1; then
    check_same "preload-tests/rlimit_as --child under ulimit -v 131072" 131072 "CHILD-OK" \
        "$tmp/rlimit_as" --child
else
    bad "build preload-tests/rlimit_as.c" "compilation failed" "$tmp/cc.log"
fi

echo
echo "test-limits: $pass passed, $fail failed"
if [ "$fail" -gt 0 ]; then
    echo "Failed: ${failed[*]}"
    exit 1
fi
exit 0
