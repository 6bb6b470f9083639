#!/usr/bin/env bash
# Install test for zslab: `make install` into a temporary prefix, then use
# the installed files as a user would.
#
# Usage: scripts/test-install.sh
#
# Checks, each printed as "PASS <what>", "FAIL <what>: <why>" or
# "SKIP <what>: <why>":
#   * the installed layout: lib/libzslab.so.<version>, the soname link
#     lib/libzslab.so.<major> and the dev link lib/libzslab.so, the header,
#     lib/pkgconfig/zslab.pc, bin/zslab; a DESTDIR install is staged under
#     DESTDIR with paths that do not mention it;
#   * C programs built with `pkg-config --cflags --libs zslab`: one looks the
#     API up with dlsym (runs without zslab, and with it under LD_PRELOAD and
#     `zslab run`), one is linked with -lzslab and must start and allocate
#     from zslab with no LD_PRELOAD;
#   * `zslab --version` is the version in Cargo.toml;
#   * `zslab run --stats -- python3 ...` prints exactly one report, also when
#     python3 is a version manager's shim (a fake one is built here: a shell
#     chain that would otherwise report once per process) and for a script
#     whose `#!/usr/bin/env python3` line leads to that shim;
#   * `zslab show` and `zslab diff` on JSON snapshots of real python3 runs,
#     including one with keys added and removed;
#   * `zslab stats PID`: refuses (leaving the process alive) a process not
#     started with a stats signal; asks a stand-in C program that answers the
#     signal as the library does (the command's side, whatever the library
#     does), and gives up on it when it is stopped; and asks a python3 started with
#     `zslab run --stats-signal USR2` (PYTHONMALLOC=malloc, so its objects
#     come from zslab) for a snapshot. That last part needs the library's
#     ZSLAB_STATS_SIGNAL support: a library that does not install a handler
#     for the signal FAILs it (STATS_SIGNAL_REQUIRED=0 reports SKIP instead,
#     for testing the command against an older library);
#   * `make uninstall` leaves no file in the prefix.
# Exits 1 if anything failed. Installs pkg-config with apt-get if missing.
#
# Environment knobs: STATS_SIGNAL_REQUIRED=0 (see above), ZSLAB_IT_KEEP=1
# (keep the temporary directory).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATS_SIGNAL_REQUIRED=${STATS_SIGNAL_REQUIRED:-1}
KEEP=${ZSLAB_IT_KEEP:-0}

failures=0
pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1: $2"
    failures=$((failures + 1))
}
skip() { echo "SKIP $1: $2"; }
# check NAME CONDITION-COMMAND... : PASS if the command succeeds.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "${WHY:-check failed}"; fi
    WHY=
}

unset LD_PRELOAD ZSLAB_STATS ZSLAB_STATS_FILE ZSLAB_STATS_SIGNAL ZSLAB_EPOCH_MS PYTHONMALLOC
export LC_ALL=C

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "test-install: installing pkg-config"
    { apt-get update -qq && apt-get install -y -qq pkg-config; } >/dev/null 2>&1 ||
        { echo "test-install: error: pkg-config is missing and could not be installed" >&2; exit 2; }
fi

TMP=$(mktemp -d /tmp/zslab-install-test.XXXXXX)
BG_PIDS=()
cleanup() {
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ "$KEEP" = 1 ]; then echo "test-install: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)
MAJOR=${VERSION%%.*}
PREFIX=$TMP/prefix
Z=$PREFIX/bin/zslab

# --- install ---------------------------------------------------------------
if ! make -C "$ROOT" install PREFIX="$PREFIX" LDCONFIG=true >"$TMP/install.log" 2>&1; then
    fail "make install" "see below"
    cat "$TMP/install.log"
    exit 1
fi
pass "make install PREFIX=$PREFIX"

L=$PREFIX/lib
WHY="lib/libzslab.so.$VERSION is not a regular file"
check "installed library file" test -f "$L/libzslab.so.$VERSION" -a ! -L "$L/libzslab.so.$VERSION"
WHY="lib/libzslab.so.$MAJOR -> $(readlink "$L/libzslab.so.$MAJOR" 2>/dev/null)"
check "soname link libzslab.so.$MAJOR" test "$(readlink "$L/libzslab.so.$MAJOR")" = "libzslab.so.$VERSION"
WHY="lib/libzslab.so -> $(readlink "$L/libzslab.so" 2>/dev/null)"
check "dev link libzslab.so" test "$(readlink "$L/libzslab.so")" = "libzslab.so.$MAJOR"
soname=$(readelf -d "$L/libzslab.so.$VERSION" 2>/dev/null | sed -n 's/.*soname: \[\(.*\)\]/\1/p')
WHY="the library's soname is '$soname'"
check "soname link matches the ELF soname" test "$soname" = "libzslab.so.$MAJOR"
check "header installed" cmp -s "$ROOT/include/zslab.h" "$PREFIX/include/zslab.h"
check "zslab command installed" test -x "$Z"

export PKG_CONFIG_PATH=$L/pkgconfig
pcver=$(pkg-config --modversion zslab 2>&1)
WHY="pkg-config --modversion zslab gave '$pcver'"
check "pkg-config version is $VERSION" test "$pcver" = "$VERSION"

# --- C programs built with pkg-config --------------------------------------
cat >"$TMP/dl.c" <<'EOF'
/* Looks zslab up with dlsym: runs with or without it. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <zslab.h>
int main(void) {
    unsigned (*advance)(void) = (unsigned (*)(void))dlsym(RTLD_DEFAULT, "slab_epoch_advance");
    int (*global)(struct zslab_global_stats *, size_t) =
        (int (*)(struct zslab_global_stats *, size_t))dlsym(RTLD_DEFAULT, "slab_stats_global");
    if (!advance || !global) { puts("absent"); return 0; }
    unsigned e = advance();
    void *p[1000];
    for (int i = 0; i < 1000; i++) p[i] = malloc(64);
    struct zslab_global_stats g;
    if (global(&g, sizeof g) != 0 || g.small_allocs < 1000 || g.epoch_advances < 1) { puts("bad stats"); return 1; }
    for (int i = 0; i < 1000; i++) free(p[i]);
    printf("present epoch=%u\n", e);
    return 0;
}
EOF
cat >"$TMP/linked.c" <<'EOF'
/* Linked with -lzslab: zslab is the allocator with no LD_PRELOAD. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zslab.h>
int main(int argc, char **argv) {
    struct zslab_global_stats before, after;
    if (slab_stats_global(&before, sizeof before) != 0) { puts("stats failed"); return 1; }
    void *p[1000];
    for (int i = 0; i < 1000; i++) p[i] = malloc(48);
    slab_stats_global(&after, sizeof after);
    for (int i = 0; i < 1000; i++) free(p[i]);
    if (after.small_allocs < before.small_allocs + 1000) { puts("malloc is not zslab's"); return 1; }
    /* The version symbol, where the library has it. */
    const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "zslab_version");
    if (version) {
        if (argc > 1 && strcmp(version(), argv[1]) != 0) { printf("version %s\n", version()); return 1; }
        printf("version-ok ");
    } else {
        printf("no-version-symbol ");
    }
    printf("linked epoch=%u\n", slab_epoch_current());
    return 0;
}
EOF
# shellcheck disable=SC2046
if gcc -O1 -Wall -Werror $(pkg-config --cflags zslab) -o "$TMP/dl" "$TMP/dl.c" 2>"$TMP/cc.log"; then
    pass "dlsym program builds with pkg-config --cflags"
    out=$("$TMP/dl")
    WHY="without zslab it printed '$out'"
    check "dlsym program runs without zslab" test "$out" = "absent"
    out=$(LD_PRELOAD=$L/libzslab.so "$TMP/dl")
    WHY="under LD_PRELOAD it printed '$out'"
    check "dlsym program finds zslab under LD_PRELOAD" test "${out%% *}" = "present"
    out=$("$Z" run -- "$TMP/dl")
    WHY="under zslab run it printed '$out'"
    check "dlsym program finds zslab under zslab run" test "${out%% *}" = "present"
else
    fail "dlsym program builds with pkg-config --cflags" "$(cat "$TMP/cc.log")"
fi

# shellcheck disable=SC2046
if gcc -O1 -Wall -Werror -o "$TMP/linked" "$TMP/linked.c" $(pkg-config --cflags --libs zslab) 2>"$TMP/cc.log"; then
    pass "program links with pkg-config --libs zslab ($(pkg-config --libs zslab | xargs))"
    resolved=$(ldd "$TMP/linked" | awk '/libzslab/ {print $3}')
    WHY="ldd resolves libzslab to '$resolved'"
    check "linked program finds libzslab.so.$MAJOR in the prefix" test "$resolved" = "$L/libzslab.so.$MAJOR"
    out=$("$TMP/linked" "$VERSION" 2>&1)
    rc=$?
    WHY="exit $rc, output '$out'"
    check "linked program starts and allocates from zslab" test $rc = 0 -a -n "$(echo "$out" | grep 'linked epoch=')"
    case "$out" in
    version-ok*) pass "zslab_version() is $VERSION" ;;
    no-version-symbol*) skip "zslab_version()" "the library does not export it yet" ;;
    esac
else
    fail "program links with pkg-config --libs zslab" "$(cat "$TMP/cc.log")"
fi

# --- zslab --version -------------------------------------------------------
out=$("$Z" --version)
WHY="it printed '$out'"
check "zslab --version is $VERSION" test "$out" = "zslab $VERSION"

# --- zslab run: one report per program, shims resolved ----------------------
# The summary's first line ("zslab statistics (pid N)").
count_reports() { grep -Ec '^zslab:? statistics' "$1"; }

mkdir -p "$TMP/one"
"$Z" run --stats --stats-file "$TMP/one/s.%p.json" -- python3 -c 'print(sum(len(str(i)) for i in range(20000)))' \
    >"$TMP/run.out" 2>"$TMP/run.err"
rc=$?
n=$(count_reports "$TMP/run.err")
files=$(find "$TMP/one" -name 's.*.json' | wc -l)
WHY="exit $rc, $n reports on stderr, $files stats files, stdout '$(cat "$TMP/run.out")'"
check "zslab run --stats -- python3: one report ($(command -v python3))" \
    test $rc = 0 -a "$n" = 1 -a "$files" = 1 -a "$(cat "$TMP/run.out")" = 88890

# A fake version manager in the style of pyenv/rbenv: the shim is a bash
# script that runs the manager, which forks before exec'ing the real program.
REALPY=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
M=$TMP/testenv
mkdir -p "$M/libexec" "$M/shims"
cat >"$M/libexec/testenv" <<EOF
#!/usr/bin/env bash
set -e
case "\$1" in
which) [ "\$2" = python3 ] && echo "$REALPY" || { echo "testenv: \$2: not found" >&2; exit 127; } ;;
exec) shift; prog=\$1; shift
      real=\$("\$0" which "\$prog"); dir=\$(dirname "\$real")
      PATH="\$dir:\$PATH" exec "\$real" "\$@" ;;
esac
EOF
cat >"$M/shims/python3" <<EOF
#!/usr/bin/env bash
set -e
program="\${0##*/}"
export TESTENV_ROOT="$M"
exec "$M/libexec/testenv" exec "\$program" "\$@"
EOF
chmod +x "$M/libexec/testenv" "$M/shims/python3"
SHIMPATH=$M/shims:$PATH

PATH=$SHIMPATH LD_PRELOAD=$L/libzslab.so ZSLAB_STATS=1 python3 -c 'pass' 2>"$TMP/shim-plain.err"
plain=$(count_reports "$TMP/shim-plain.err")
PATH=$SHIMPATH "$Z" run --stats -v -- python3 -c 'import sys; print(sys.executable)' >"$TMP/shim.out" 2>"$TMP/shim.err"
rc=$?
n=$(count_reports "$TMP/shim.err")
WHY="exit $rc, $n reports (LD_PRELOAD through the shim: $plain), notes: $(grep -m1 shim "$TMP/shim.err")"
check "zslab run resolves a shim: one report instead of $plain" \
    test $rc = 0 -a "$n" = 1 -a "$plain" -gt 1 -a "$(cat "$TMP/shim.out")" = "$REALPY"
PATH=$SHIMPATH "$Z" run --stats --no-resolve -- python3 -c 'pass' 2>"$TMP/shim-nr.err"
n=$(count_reports "$TMP/shim-nr.err")
WHY="$n reports"
check "zslab run --no-resolve runs the shim itself" test "$n" -gt 1

printf '#!/usr/bin/env python3\nimport sys\nprint("script", len(sys.argv))\n' >"$TMP/app.py"
chmod +x "$TMP/app.py"
(cd "$TMP" && PATH=$SHIMPATH "$Z" run --stats -- ./app.py a b >"$TMP/app.out" 2>"$TMP/app.err")
rc=$?
n=$(count_reports "$TMP/app.err")
WHY="exit $rc, $n reports, stdout '$(cat "$TMP/app.out")'"
check "zslab run on a '#!/usr/bin/env python3' script behind a shim: one report" \
    test $rc = 0 -a "$n" = 1 -a "$(cat "$TMP/app.out")" = "script 3"

"$Z" run ZSLAB_STATS=1 --epoch-ms 1 -- python3 -c 'pass' 2>"$TMP/vars.err"
WHY="$(count_reports "$TMP/vars.err") reports"
check "zslab run VAR=val sets the variable" test "$(count_reports "$TMP/vars.err")" = 1
"$Z" run python3 >/dev/null 2>"$TMP/nodash.err"
rc=$?
WHY="exit $rc: $(cat "$TMP/nodash.err")"
check "zslab run without -- explains the usage" test $rc = 2 -a -n "$(grep -- '--' "$TMP/nodash.err")"
"$Z" run -- /nonexistent/prog 2>"$TMP/noprog.err"
rc=$?
WHY="exit $rc: $(cat "$TMP/noprog.err")"
check "zslab run of a missing program fails clearly" test $rc -ne 0 -a -s "$TMP/noprog.err"

# --- zslab show / diff on snapshots of real python3 runs --------------------
# Labelled epochs; the "work" epoch keeps N malloc'd blocks to the end (the
# rest of python3's objects are freed at exit).
PYLABEL='import ctypes, sys
z = ctypes.CDLL(None)
z.malloc.restype = ctypes.c_void_p
z.slab_epoch_set_label(z.slab_epoch_current(), b"startup")
z.slab_epoch_advance()
z.slab_epoch_set_label(z.slab_epoch_current(), b"work")
n = int(sys.argv[1])
kept = [z.malloc(64) for _ in range(n)]
churn = [str(i) * 3 for i in range(n)]
z.slab_epoch_advance()
z.slab_epoch_set_label(z.slab_epoch_current(), b"after")
print(len(kept))'
"$Z" run --stats-file "$TMP/a.%p.json" PYTHONMALLOC=malloc -- python3 -c "$PYLABEL" 1000 >/dev/null
"$Z" run --stats-file "$TMP/b.%p.json" PYTHONMALLOC=malloc -- python3 -c "$PYLABEL" 200000 >/dev/null
A=$(find "$TMP" -maxdepth 1 -name "a.*.json" | head -n 1)
B=$(find "$TMP" -maxdepth 1 -name "b.*.json" | head -n 1)
if [ -n "$A" ] && [ -n "$B" ]; then
    pass "python3 under zslab run --stats-file wrote JSON snapshots"
    "$Z" show "$A" >"$TMP/show.out" 2>&1
    rc=$?
    WHY="exit $rc: $(head -n 3 "$TMP/show.out")"
    check "zslab show: runs" test $rc = 0
    WHY="$(head -n 1 "$TMP/show.out")"
    apid=${A##*/a.}
    apid=${apid%.json}
    check "zslab show names the snapshot's pid" grep -q "^zslab snapshot of pid $apid " "$TMP/show.out"
    for want in 'small objects' 'size classes, most live bytes first' 'epochs in use' 'startup' 'work' ' ms '; do
        WHY="no '$want' in: $(cat "$TMP/show.out")"
        check "zslab show lists '$want'" grep -q -- "$want" "$TMP/show.out"
    done
    "$Z" diff "$A" "$B" >"$TMP/diff.out" 2>&1
    rc=$?
    WHY="exit $rc: $(head -n 5 "$TMP/diff.out")"
    check "zslab diff: runs" test $rc = 0
    # The bigger run allocated far more: small_allocs grew, and the changes
    # are sorted (the first byte figure changed at least as much as the next).
    WHY="$(cat "$TMP/diff.out")"
    check "zslab diff shows small_allocs growing" grep -Eq '^  small_allocs +[0-9,]+ -> [0-9,]+ +\+' "$TMP/diff.out"
    WHY="$(cat "$TMP/diff.out")"
    check "zslab diff shows live_bytes growing by MiBs" grep -Eq '^  live_bytes .* \+[0-9.]+ MiB' "$TMP/diff.out"
    WHY="$(cat "$TMP/diff.out")"
    check "zslab diff lists size classes" grep -q '^size classes, largest change' "$TMP/diff.out"
    first_epoch=$(awk '/^epochs, largest change/ { getline; a = $0; getline; print a $0; exit }' "$TMP/diff.out")
    WHY="first epoch listed: '$first_epoch'"
    check "zslab diff lists the grown labelled epoch first" grep -q '"work" .* live bytes .*(+' <<<"$first_epoch"
    "$Z" diff "$A" "$A" >"$TMP/diff0.out" 2>&1
    WHY="$(cat "$TMP/diff0.out")"
    check "zslab diff of a snapshot with itself: no change" grep -q '^global figures: no change' "$TMP/diff0.out"
    # Lenient reading: a key added, one removed, a new section.
    python3 - "$A" "$TMP/edited.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d.pop("small_frees")
d["future_counter"] = 12
d["future_section"] = [{"x": 1}]
json.dump(d, open(sys.argv[2], "w"))
EOF
    "$Z" show "$TMP/edited.json" >"$TMP/show-edited.out" 2>&1
    rc=$?
    WHY="exit $rc: $(cat "$TMP/show-edited.out")"
    check "zslab show reads a snapshot with unknown and missing keys" test $rc = 0
    check "zslab show prints a missing figure as -" grep -q 'allocs, - frees' "$TMP/show-edited.out"
    check "zslab show lists unknown figures" grep -q 'future_counter 12' "$TMP/show-edited.out"
    "$Z" diff "$A" "$TMP/edited.json" >"$TMP/diff-edited.out" 2>&1
    WHY="$(cat "$TMP/diff-edited.out")"
    check "zslab diff reports figures that appear or vanish" \
        grep -Eq '^  small_frees +[0-9,]+ -> - ' "$TMP/diff-edited.out"
    echo '{"not": "a snapshot"}' >"$TMP/bad.json"
    "$Z" show "$TMP/bad.json" >/dev/null 2>"$TMP/bad.err"
    rc=$?
    WHY="exit $rc: $(cat "$TMP/bad.err")"
    check "zslab show rejects a file that is not a snapshot" test $rc = 1 -a -s "$TMP/bad.err"
else
    fail "python3 under zslab run --stats-file wrote JSON snapshots" "files: $(ls "$TMP")"
fi

# --- zslab stats PID --------------------------------------------------------
true &
gone=$!
wait $gone
"$Z" stats "$gone" >/dev/null 2>"$TMP/gone.err"
rc=$?
WHY="exit $rc: $(cat "$TMP/gone.err")"
check "zslab stats of a pid that does not exist fails clearly" grep -q "no process" "$TMP/gone.err"

sleep 60 &
plain=$!
BG_PIDS+=("$plain")
"$Z" stats "$plain" >/dev/null 2>"$TMP/plain.err"
rc=$?
WHY="exit $rc: $(cat "$TMP/plain.err")"
check "zslab stats refuses a process not started with a stats signal" \
    test $rc -ne 0 -a -n "$(grep 'not started with ZSLAB_STATS_SIGNAL' "$TMP/plain.err")"
WHY="sleep $plain is gone"
check "that process is left running" kill -0 "$plain"

# The command's side of the exchange, whatever the library does: a stand-in
# program (under zslab run, so libzslab is loaded) that answers the signal
# the way the library is to: temporary file, then rename.
cat >"$TMP/standin.c" <<'CEOF'
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static volatile sig_atomic_t asked;
static void on_signal(int s) { (void)s; asked = 1; }
int main(void) {
    char path[512], tmp[600];
    const char *f = getenv("ZSLAB_STATS_FILE"), *p;
    if (!f || !(p = strstr(f, "%p"))) return 1;
    snprintf(path, sizeof path, "%.*s%d%s", (int)(p - f), f, (int)getpid(), p + 2);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    signal(SIGUSR2, on_signal);
    for (int i = 0; i < 6000; i++) {
        if (asked) {
            asked = 0;
            FILE *o = fopen(tmp, "w");
            fprintf(o, "{\"version\":1,\"pid\":%d,\"small_allocs\":%d,\"live_bytes\":4096,\"classes\":[],\"epochs\":[]}\n",
                    (int)getpid(), 1000 + i);
            fclose(o);
            rename(tmp, path);
        }
        usleep(10000);
    }
    return 0;
}
CEOF
if gcc -O1 -o "$TMP/standin" "$TMP/standin.c" 2>"$TMP/cc.log"; then
    "$Z" run --stats-signal USR2 --stats-file "$TMP/standin.%p.json" -- "$TMP/standin" &
    sp=$!
    BG_PIDS+=("$sp")
    for _ in $(seq 100); do
        grep -q libzslab "/proc/$sp/maps" 2>/dev/null && grep -qz '^ZSLAB_STATS_SIGNAL=' "/proc/$sp/environ" &&
            [ $(( (16#$(awk '/^SigCgt:/ {print $2}' "/proc/$sp/status")) >> 11 & 1 )) = 1 ] && break
        sleep 0.05
    done
    "$Z" stats --timeout 10 "$sp" >"$TMP/standin.out" 2>&1
    rc=$?
    WHY="exit $rc: $(cat "$TMP/standin.out")"
    check "zslab stats PID asks a process that handles the signal and prints its snapshot" \
        grep -q "^zslab snapshot of pid $sp (live, $TMP/standin.$sp.json" "$TMP/standin.out"
    first=$(cat "$TMP/standin.$sp.json" 2>/dev/null)
    "$Z" stats --timeout 10 --raw "$sp" >"$TMP/standin2.out" 2>&1
    WHY="first '$first', then '$(cat "$TMP/standin2.out")'"
    check "zslab stats waits for a new snapshot each time" \
        test -n "$(grep '"small_allocs"' "$TMP/standin2.out")" -a "$(cat "$TMP/standin2.out")" != "$first"
    kill -STOP "$sp"
    "$Z" stats --timeout 0.5 "$sp" >/dev/null 2>"$TMP/standin3.err"
    rc=$?
    kill -CONT "$sp"
    WHY="exit $rc: $(cat "$TMP/standin3.err")"
    check "zslab stats gives up on a process that does not answer" \
        test $rc -ne 0 -a -n "$(grep 'did not write' "$TMP/standin3.err")"
    kill "$sp" 2>/dev/null
else
    fail "stand-in program builds" "$(cat "$TMP/cc.log")"
fi

# A python3 that allocates nothing while it waits (the snapshot must come
# anyway), started through zslab run with a stats signal.
start_live() { # FILE-TEMPLATE READY-FILE -> pid in LIVE_PID
    rm -f "$2"
    "$Z" run --stats-signal USR2 --stats-file "$1" PYTHONMALLOC=malloc -- python3 -c '
import sys, time
data = [bytes(100) for _ in range(5000)]
open(sys.argv[1], "w").write("ready")
time.sleep(120)' "$2" &
    LIVE_PID=$!
    BG_PIDS+=("$LIVE_PID")
    for _ in $(seq 200); do
        [ -s "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
signal_required() {
    if [ "$STATS_SIGNAL_REQUIRED" = 1 ]; then fail "$1" "$2"; else skip "$1" "$2"; fi
}

if ! start_live "$TMP/live.%p.json" "$TMP/ready"; then
    fail "zslab run --stats-signal USR2 -- python3 starts" "no ready file after 10 s"
else
    pid=$LIVE_PID
    WHY="environ: $(tr '\0' '\n' <"/proc/$pid/environ" | grep ZSLAB_)"
    check "zslab run --stats-signal sets ZSLAB_STATS_SIGNAL" grep -qz '^ZSLAB_STATS_SIGNAL=USR2$' "/proc/$pid/environ"
    "$Z" stats --timeout 10 "$pid" >"$TMP/stats.out" 2>"$TMP/stats.err"
    rc=$?
    if [ $rc = 3 ] && grep -q "does not handle" "$TMP/stats.err"; then
        WHY="python3 $pid died"
        check "zslab stats does not signal a process that does not handle it" kill -0 "$pid"
        signal_required "zslab stats PID (live snapshot)" \
            "the library does not handle ZSLAB_STATS_SIGNAL yet ($(cat "$TMP/stats.err"))"
    else
        WHY="exit $rc: $(cat "$TMP/stats.err") $(head -n 3 "$TMP/stats.out")"
        check "zslab stats PID prints a live snapshot" \
            test $rc = 0 -a -n "$(grep "^zslab snapshot of pid $pid (live" "$TMP/stats.out")"
        WHY="$TMP/live.$pid.json: $(head -c 300 "$TMP/live.$pid.json" 2>&1)"
        check "the snapshot file is JSON of that process" \
            python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(d["pid"] != int(sys.argv[2]) or d["small_allocs"] < 5000)' \
            "$TMP/live.$pid.json" "$pid"
        "$Z" stats --raw "$pid" >"$TMP/stats2.out" 2>"$TMP/stats2.err"
        rc=$?
        WHY="exit $rc: $(cat "$TMP/stats2.err")"
        check "zslab stats PID answers again (--raw)" test $rc = 0 -a "$(head -c 1 "$TMP/stats2.out")" = "{"
        WHY="python3 $pid died"
        check "the process keeps running after zslab stats" kill -0 "$pid"
        # Prometheus text when the file name says so.
        if start_live "$TMP/live.%p.prom" "$TMP/ready2"; then
            "$Z" stats --timeout 10 "$LIVE_PID" >"$TMP/prom.out" 2>"$TMP/prom.err"
            rc=$?
            WHY="exit $rc: $(cat "$TMP/prom.err") $(head -n 3 "$TMP/prom.out")"
            check "zslab stats PID with a .prom file prints Prometheus text" \
                test $rc = 0 -a -n "$(grep -m1 '^# TYPE ' "$TMP/prom.out")"
        else
            fail "zslab run --stats-file X.prom -- python3 starts" "no ready file after 10 s"
        fi
    fi
fi

# --- DESTDIR staging, then uninstall ---------------------------------------
STAGE=$TMP/stage
if make -C "$ROOT" install DESTDIR="$STAGE" PREFIX=/usr LDCONFIG=true >"$TMP/stage.log" 2>&1; then
    WHY="$(cd "$STAGE" && find . ! -type d | sort | xargs)"
    check "make install DESTDIR=... PREFIX=/usr stages under DESTDIR" \
        test -L "$STAGE/usr/lib/libzslab.so.$MAJOR" -a -x "$STAGE/usr/bin/zslab" -a -f "$STAGE/usr/lib/pkgconfig/zslab.pc"
    WHY="$(cat "$STAGE/usr/lib/pkgconfig/zslab.pc")"
    check "staged zslab.pc names /usr, not DESTDIR, and has no rpath" \
        test -n "$(grep -x 'prefix=/usr' "$STAGE/usr/lib/pkgconfig/zslab.pc")" -a \
        -z "$(grep -e "$STAGE" -e rpath "$STAGE/usr/lib/pkgconfig/zslab.pc")"
    make -C "$ROOT" uninstall DESTDIR="$STAGE" PREFIX=/usr LDCONFIG=true >/dev/null 2>&1
    left=$(find "$STAGE" ! -type d)
    WHY="left: $left"
    check "make uninstall DESTDIR=... removes the staged files" test -z "$left"
else
    fail "make install DESTDIR=..." "$(tail -n 5 "$TMP/stage.log")"
fi

make -C "$ROOT" uninstall PREFIX="$PREFIX" LDCONFIG=true >"$TMP/uninstall.log" 2>&1
left=$(find "$PREFIX" ! -type d)
WHY="left: $left"
check "make uninstall leaves no file in the prefix" test -z "$left"

echo "test-install: $failures failed"
[ "$failures" = 0 ]
