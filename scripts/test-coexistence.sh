#!/usr/bin/env bash
# zslab next to the other things that replace or watch malloc:
#
#   valgrind   `LD_PRELOAD=libzslab.so valgrind prog`: valgrind replaces malloc
#              itself, so zslab must either work or step aside (forward to
#              what valgrind provides) with at most a one-line message; the
#              program must run correctly, in reasonable time.
#   ASan       a program built with -fsanitize=address, zslab in LD_PRELOAD:
#                - zslab alone in LD_PRELOAD: ASan refuses to start
#                  ("ASan runtime does not come first", its own rule, no crash)
#                  or the program runs correctly;
#                - the same with ASAN_OPTIONS=verify_asan_link_order=0: the
#                  program must run correctly (zslab works or steps aside);
#                - LD_PRELOAD="libasan.so zslab": ASan wins and the program
#                  runs correctly; a heap overflow is still reported by ASan.
#   dlopen     zslab loaded with dlopen, its malloc called through dlsym:
#              zslab steps aside (glibc serves the program).
#   jemalloc,  LD_PRELOAD with zslab and another allocator, in either order:
#   mimalloc   the first in the list wins and the program must run correctly
#              either way (zslab first: zslab serves the small blocks; the
#              other first: zslab must not serve anything that the winner
#              will later be asked to free or measure).
#              Programs: preload-tests/coexist_api.c (the whole portable API
#              plus glibc-allocated blocks freed by the program), python3
#              with PYTHONMALLOC=malloc (same output as without any
#              preload), and, with zslab first, preload-tests/exerciser.c.
# Each configuration is first run without zslab (the "baseline"); a failing
# baseline means the check itself is wrong and is reported as such.
#
# Installs what is missing with apt-get: valgrind, libjemalloc2,
# libmimalloc2.0 (libasan comes with gcc).
#
# Usage: scripts/test-coexistence.sh [path/to/libzslab.so]
# Prints PASS/FAIL per check and a summary line; exits non-zero on failure.
# Takes ~1 minute when everything passes (each run is limited to 120 s).

set -u

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=$(cd "$script_dir/.." && pwd)
lib=${1:-$root_dir/target/release/libzslab.so}
if [ ! -f "$lib" ]; then
    echo "test-coexistence.sh: library not found: $lib (cargo build --release)" >&2
    exit 2
fi
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
py=$(python3 -c 'import sys; print(sys.executable)') || { echo "python3 missing" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zslab-coexist.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

pass=0
fail=0
failed=()
ok()  { echo "PASS $1"; pass=$((pass + 1)); }
bad() {
    echo "FAIL $1${2:+: $2}"
    fail=$((fail + 1))
    failed+=("$1")
    if [ -n "${3:-}" ] && [ -f "$3" ]; then tail -n 25 "$3" | sed 's/^/    | /'; fi
}

describe() {
    local st=$1
    if [ "$st" = 124 ] || [ "$st" = 137 ]; then
        echo "timed out (120 s)"
    elif [ "$st" -gt 128 ] && [ "$st" -lt 193 ]; then
        echo "killed by SIG$(kill -l $((st - 128)) 2>/dev/null || echo $((st - 128)))"
    else
        echo "exit $st"
    fi
}

# run OUT ENV-ASSIGNMENTS... -- CMD...: run with a clean LD_PRELOAD/ASAN
# setting plus the given NAME=value pairs, 120 s at most; prints the status
# and the elapsed seconds ("STATUS SECS").
run() {
    local out=$1
    shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local t0 t1 st
    t0=$(date +%s%N)
    # The settings reach the program only, not timeout: one process's
    # lines from zslab are counted.
    env -u LD_PRELOAD -u ASAN_OPTIONS \
        timeout -k 5 120 env "${envs[@]+"${envs[@]}"}" "$@" >"$out" 2>&1 </dev/null
    st=$?
    t1=$(date +%s%N)
    echo "$st $(( (t1 - t0) / 1000000000 ))"
}

# At most one line from zslab on stderr (the "stepping aside" message).
zslab_lines() { grep -c '^zslab:' "$1"; }

# ------------------------------------------------------------------ set-up
need_pkgs=()
command -v valgrind >/dev/null 2>&1 || need_pkgs+=(valgrind)
find_lib() { ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'; }
[ -n "$(find_lib libjemalloc.so.2)" ] || need_pkgs+=(libjemalloc2)
[ -n "$(find_lib libmimalloc.so.2)" ] || need_pkgs+=(libmimalloc2.0)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "installing: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q "${need_pkgs[@]}" >"$tmp/apt.log" 2>&1; then
        apt-get update -q >>"$tmp/apt.log" 2>&1
        apt-get install -y -q "${need_pkgs[@]}" >>"$tmp/apt.log" 2>&1 ||
            { echo "apt-get install ${need_pkgs[*]} failed:"; tail -n 20 "$tmp/apt.log"; exit 2; }
    fi
fi
jemalloc=$(find_lib libjemalloc.so.2)
mimalloc=$(find_lib libmimalloc.so.2)
asan=$(readlink -f "$(gcc -print-file-name=libasan.so)")

cflags=(-O2 -g -Wall -Wextra -Werror -pthread -fno-builtin)
build() { # OUT SRC [FLAGS...]
    local out=$1 src=$2
    shift 2
    if ! gcc "${cflags[@]}" "$@" -o "$out" "$src" >"$tmp/cc.log" 2>&1; then
        echo "build of $src failed:"
        cat "$tmp/cc.log"
        exit 2
    fi
}
build "$tmp/coexist_api" "$root_dir/preload-tests/coexist_api.c"
build "$tmp/exerciser" "$root_dir/preload-tests/exerciser.c"
build "$tmp/coexist_asan" "$root_dir/preload-tests/coexist_api.c" -fsanitize=address -fno-omit-frame-pointer
cat >"$tmp/overflow.c" <<'EOF'
#include <stdlib.h>
#include <stdio.h>
int main(void)
{
    volatile char *p = malloc(10);
    p[10] = 1; /* one past the end: ASan must report it */
    free((void *)p);
    puts("overflow not detected");
    return 0;
}
EOF
gcc -O0 -g -fsanitize=address -o "$tmp/overflow" "$tmp/overflow.c" ||
    { echo "build of the ASan overflow program failed"; exit 2; }

# check_prog NAME OUT WANT_MALLOC_FROM ENVS... -- CMD...: CMD must exit 0
# with "OK coexist_api" (or "OK exerciser"), at most one zslab line, and,
# when WANT_MALLOC_FROM is set, report that object as malloc's provider.
check_prog() {
    local name=$1 out=$2 want=$3
    shift 3
    local r st secs
    r=$(run "$out" "$@")
    st=${r% *} secs=${r#* }
    if [ "$st" != 0 ]; then
        bad "$name" "$(describe "$st") after ${secs}s" "$out"
    elif ! grep -qE '^OK (coexist_api|exerciser)$' "$out"; then
        bad "$name" "exit 0 but no OK line" "$out"
    elif [ "$(zslab_lines "$out")" -gt 1 ]; then
        bad "$name" "more than one line from zslab" "$out"
    elif [ -n "$want" ] && ! grep -q "^malloc_from=$want" "$out"; then
        bad "$name" "malloc is not provided by $want ($(grep '^malloc_from' "$out"))" "$out"
    else
        ok "$name (${secs}s)"
    fi
}

# ------------------------------------------------------------------ valgrind
r=$(run "$tmp/vg0.out" -- valgrind -q "$tmp/coexist_api")
if [ "${r% *}" != 0 ] || ! grep -q '^OK coexist_api$' "$tmp/vg0.out"; then
    bad "valgrind baseline: coexist_api without zslab" "$(describe "${r% *}")" "$tmp/vg0.out"
else
    ok "valgrind baseline: coexist_api without zslab (${r#* }s)"
    check_prog "valgrind: coexist_api with zslab in LD_PRELOAD" "$tmp/vg1.out" "" \
        "LD_PRELOAD=$lib" -- valgrind -q "$tmp/coexist_api"
fi
seq 1 30000 | awk '{ print ($1 * 7919) % 30011 }' >"$tmp/numbers"
r=$(run "$tmp/vgsort0.out" -- valgrind -q sort -n "$tmp/numbers")
r1=$(run "$tmp/vgsort1.out" "LD_PRELOAD=$lib" -- valgrind -q sort -n "$tmp/numbers")
if [ "${r% *}" != 0 ]; then
    bad "valgrind baseline: sort -n" "$(describe "${r% *}")" "$tmp/vgsort0.out"
elif [ "${r1% *}" != 0 ]; then
    bad "valgrind: sort -n with zslab in LD_PRELOAD" "$(describe "${r1% *}") after ${r1#* }s" "$tmp/vgsort1.out"
elif ! diff -q <(grep -v '^zslab:' "$tmp/vgsort0.out") <(grep -v '^zslab:' "$tmp/vgsort1.out") >/dev/null; then
    bad "valgrind: sort -n with zslab in LD_PRELOAD" "output differs" "$tmp/vgsort1.out"
elif [ "$(zslab_lines "$tmp/vgsort1.out")" -gt 1 ]; then
    bad "valgrind: sort -n with zslab in LD_PRELOAD" "more than one line from zslab" "$tmp/vgsort1.out"
else
    ok "valgrind: sort -n with zslab in LD_PRELOAD (${r1#* }s)"
fi

# ------------------------------------------------------------------ ASan
r=$(run "$tmp/asan0.out" -- "$tmp/coexist_asan")
if [ "${r% *}" != 0 ] || ! grep -q '^OK coexist_api$' "$tmp/asan0.out"; then
    bad "ASan baseline: coexist_api built with -fsanitize=address" "$(describe "${r% *}")" "$tmp/asan0.out"
else
    ok "ASan baseline: coexist_api built with -fsanitize=address"
    # zslab alone in LD_PRELOAD: ASan's link-order refusal, or a correct run
    r=$(run "$tmp/asan1.out" "LD_PRELOAD=$lib" -- "$tmp/coexist_asan")
    st=${r% *}
    if [ "$st" = 0 ] && grep -q '^OK coexist_api$' "$tmp/asan1.out"; then
        ok "ASan: LD_PRELOAD=zslab: the program runs correctly"
    elif [ "$st" -gt 0 ] && [ "$st" -le 128 ] && [ "$st" != 124 ] &&
            grep -q 'ASan runtime does not come first' "$tmp/asan1.out" &&
            ! grep -q 'AddressSanitizer:' "$tmp/asan1.out"; then
        ok "ASan: LD_PRELOAD=zslab: ASan refuses the link order (its own rule), no crash"
    else
        bad "ASan: LD_PRELOAD=zslab" "$(describe "$st"), neither a correct run nor ASan's link-order refusal" "$tmp/asan1.out"
    fi
    check_prog "ASan: LD_PRELOAD=zslab, ASAN_OPTIONS=verify_asan_link_order=0" "$tmp/asan2.out" "" \
        "LD_PRELOAD=$lib" ASAN_OPTIONS=verify_asan_link_order=0 -- "$tmp/coexist_asan"
    check_prog "ASan: LD_PRELOAD=\"libasan zslab\"" "$tmp/asan3.out" "" \
        "LD_PRELOAD=$asan $lib" -- "$tmp/coexist_asan"
    r=$(run "$tmp/asan4.out" "LD_PRELOAD=$asan $lib" -- "$tmp/overflow")
    if grep -q 'heap-buffer-overflow' "$tmp/asan4.out" && [ "${r% *}" != 0 ] && [ "${r% *}" -le 128 ]; then
        ok "ASan: LD_PRELOAD=\"libasan zslab\": a heap overflow is still reported"
    else
        bad "ASan: LD_PRELOAD=\"libasan zslab\": heap overflow" "not reported ($(describe "${r% *}"))" "$tmp/asan4.out"
    fi
fi

# ------------------------------------------------------------ other allocators
cat >"$tmp/work.py" <<'EOF'
import json, random, re
random.seed(7)
d = {}
for i in range(60000):
    d["k%d" % i] = [i, str(i) * (i % 7), {"v": random.random(), "s": "x" * (i % 50)}]
s = json.dumps(d, sort_keys=True)
x = json.loads(s)
words = re.findall(r"k\d+", s)
big = [bytearray(i * 1000) for i in range(200)]
print(len(s), len(x), len(words), sum(len(b) for b in big), sum(v[0] for v in x.values()))
EOF
r=$(run "$tmp/py0.out" PYTHONMALLOC=malloc PYTHONHASHSEED=0 -- "$py" "$tmp/work.py")
[ "${r% *}" = 0 ] || bad "python3 baseline" "$(describe "${r% *}")" "$tmp/py0.out"

for other in jemalloc mimalloc; do
    olib=${!other}
    oname=$(basename "$olib")
    check_prog "$other baseline: coexist_api under $other alone" "$tmp/$other.0.out" "$oname" \
        "LD_PRELOAD=$olib" -- "$tmp/coexist_api"
    check_prog "LD_PRELOAD=\"zslab $other\": coexist_api (zslab wins)" "$tmp/$other.1.out" \
        "$(basename "$lib")" "LD_PRELOAD=$lib $olib" -- "$tmp/coexist_api"
    if [ -f "$tmp/$other.1.out" ] && grep -q '^OK coexist_api$' "$tmp/$other.1.out"; then
        n=$(sed -n 's/^zslab_small_allocs=//p' "$tmp/$other.1.out")
        if [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 1000 ]; then
            ok "LD_PRELOAD=\"zslab $other\": zslab serves the small blocks ($n)"
        else
            bad "LD_PRELOAD=\"zslab $other\": zslab serves the small blocks" "small_allocs=$n"
        fi
    fi
    check_prog "LD_PRELOAD=\"$other:zslab\": coexist_api ($other wins)" "$tmp/$other.2.out" \
        "$oname" "LD_PRELOAD=$olib:$lib" -- "$tmp/coexist_api"
    check_prog "LD_PRELOAD=\"zslab $other\": exerciser, 1 seed, 2 s" "$tmp/$other.3.out" "" \
        "LD_PRELOAD=$lib $olib" EXERCISER_SECONDS=2 -- "$tmp/exerciser" 5
    for order in "zslab $other" "$other zslab"; do
        pre=${order/zslab/$lib}
        pre=${pre/$other/$olib}
        r=$(run "$tmp/py.out" "LD_PRELOAD=$pre" PYTHONMALLOC=malloc PYTHONHASHSEED=0 -- "$py" "$tmp/work.py")
        if [ "${r% *}" != 0 ]; then
            bad "LD_PRELOAD=\"$order\": python3" "$(describe "${r% *}")" "$tmp/py.out"
        elif ! diff -q <(grep -v '^zslab:' "$tmp/py0.out") <(grep -v '^zslab:' "$tmp/py.out") >/dev/null; then
            bad "LD_PRELOAD=\"$order\": python3" "output differs from plain python3" "$tmp/py.out"
        else
            ok "LD_PRELOAD=\"$order\": python3 (${r#* }s)"
        fi
    done
done

# ------------------------------------------------- loaded with dlopen
# zslab dlopen'ed by a program (not preloaded): glibc already serves the
# program, so zslab's own malloc, called through dlsym, must hand out
# blocks glibc's free and realloc accept.
cat >"$tmp/late.c" <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
    void *(*zmalloc)(size_t) = (void *(*)(size_t))dlsym(h, "malloc");
    void (*zfree)(void *) = (void (*)(void *))dlsym(h, "free");
    if (!zmalloc || !zfree) { printf("dlsym failed\n"); return 2; }
    for (int i = 0; i < 1000; i++) {
        char *p = zmalloc(16 + i * 37);
        memset(p, 1, 16 + i * 37);
        p = realloc(p, 64 + i * 41);   /* glibc's realloc */
        free(p);                       /* glibc's free */
        char *q = malloc(100);         /* glibc's malloc */
        zfree(q);                      /* zslab's free: forwards */
    }
    printf("OK late\n");
    return 0;
}
EOF
if gcc -O1 -o "$tmp/late" "$tmp/late.c" -ldl 2>"$tmp/late.cc"; then
    r=$(run "$tmp/late.out" -- "$tmp/late" "$lib")
    if [ "${r% *}" != 0 ] || ! grep -q '^OK late$' "$tmp/late.out"; then
        bad "dlopen'ed, not preloaded: glibc frees zslab's malloc blocks" "$(describe "${r% *}")" "$tmp/late.out"
    elif [ "$(zslab_lines "$tmp/late.out")" -gt 1 ]; then
        bad "dlopen'ed, not preloaded" "more than one line from zslab" "$tmp/late.out"
    else
        ok "dlopen'ed, not preloaded: zslab steps aside, glibc serves its callers"
    fi
else
    bad "dlopen'ed, not preloaded: test program does not build" "" "$tmp/late.cc"
fi

echo
echo "test-coexistence: $pass passed, $fail failed"
if [ "$fail" -gt 0 ]; then
    echo "Failed: ${failed[*]}"
    exit 1
fi
exit 0
