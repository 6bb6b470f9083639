#!/usr/bin/env bash
# zslab's statistics leaving a running process (src/report.rs), checked
# with real programs and real consumers:
#
#   signal-json      a python3 (the real interpreter, not a version manager's
#                    shim) started with ZSLAB_STATS_SIGNAL=USR2 and
#                    ZSLAB_STATS_FILE=<tmp>/s.%p.json: SIGUSR2 makes it write
#                    s.<pid>.json while it keeps running; the file is JSON
#                    with its "pid" and "small_allocs"; a second signal
#                    writes a newer snapshot;
#   signal-prom      the same with a .prom file: Prometheus text exposition
#                    that `promtool check metrics` (Debian's prometheus)
#                    accepts, with zslab_small_allocs_total;
#   interval         ZSLAB_STATS_INTERVAL=200: the file is replaced (new
#                    inode and mtime) several times a second while the
#                    program idles, and holds the program's pid;
#   interval-at-exit programs that end during 2 ms interval snapshots:
#                    no write failure, complete files, no temporaries;
#   node-exporter    a real prometheus-node-exporter on a loopback port with
#                    --collector.textfile.directory=<dir>, and a python3 that
#                    writes <dir>/zslab.prom every 200 ms: its /metrics
#                    (curl) serves zslab_small_allocs_total with the
#                    textfile collector reporting no scrape error, and the
#                    value follows the program between two scrapes;
#   leaks            ZSLAB_LEAKS=1 on a C program that leaks in an epoch
#                    labelled "leaky-phase" and in an epoch domain labelled
#                    "leaky-request": the report on stderr names both labels
#                    with their object counts;
#   sigterm          a program killed by SIGTERM (left at its default action)
#                    still leaves its ZSLAB_STATS_FILE, and still dies of
#                    SIGTERM, also where zslab's background thread does not
#                    run (ZSLAB_BACKGROUND=off; a fork child, also one
#                    signalled before its fork handlers ran);
#                    one that handles SIGTERM itself keeps its own
#                    handler (and writes the file at its normal exit); and
#                    with ZSLAB_STATS, ZSLAB_STATS_FILE or ZSLAB_LEAKS set,
#                    python3 sees its signals as it does without zslab
#                    (SIGINT raises KeyboardInterrupt, getsignal(SIGTERM) is
#                    SIG_DFL, saved handlers can be restored);
#   write-failure    ZSLAB_STATS_FILE=/nonexistent/x.json: one warning with
#                    the path and the reason, the program's exit status is
#                    unchanged; the same for a live snapshot on the signal.
#
# Installs what is missing with apt-get: prometheus (promtool),
# prometheus-node-exporter, curl.
#
# Usage: scripts/test-observability.sh [path/to/libzslab.so]
# Prints PASS/FAIL per check and "observability: N passed, N failed"; exits
# 1 if anything failed, 2 on a setup error. ZSLAB_OBS_KEEP=1 keeps the
# temporary directory. Takes about 15 s.

set -u

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=$(cd "$script_dir/.." && pwd)
lib=${1:-$root_dir/target/release/libzslab.so}
[ -f "$lib" ] || { echo "test-observability.sh: library not found: $lib (cargo build --release)" >&2; exit 2; }
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")

die() { echo "test-observability.sh: $*" >&2; exit 2; }

# ---------------------------------------------------------------- tools
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v gcc >/dev/null 2>&1 || die "gcc is needed"
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get"
    echo "test-observability.sh: installing ${missing[*]} with apt-get" >&2
    "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi
command -v promtool >/dev/null 2>&1 || die "promtool not found after installing prometheus"
node_exporter=$(command -v prometheus-node-exporter) || die "prometheus-node-exporter not found"

# The real interpreter: a version manager's shim (a shell script) would run
# a chain of processes under zslab, each with its own statistics file.
py=$(env -u LD_PRELOAD python3 -c 'import sys, os; print(os.path.realpath(sys.executable))') ||
    die "python3 not found"
[ -x "$py" ] || die "python3 resolves to $py, which is not executable"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zslab-obs.XXXXXX") || die "mktemp failed"
bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]+"${bg_pids[@]}"}"; do kill "$p" 2>/dev/null; done
    for p in "${bg_pids[@]+"${bg_pids[@]}"}"; do wait "$p" 2>/dev/null; done
    if [ "${ZSLAB_OBS_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Every ZSLAB_* variable inherited from the caller is removed.
zslab_unset=()
for v in $(env | sed -n 's/^\(ZSLAB_[A-Za-z0-9_]*\)=.*/\1/p'); do zslab_unset+=(-u "$v"); done

pass=0
fail=0
failed=()
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() {
    echo "FAIL $1${2:+: $2}"
    fail=$((fail + 1))
    failed+=("$1")
    if [ -n "${3:-}" ] && [ -f "$3" ]; then sed 's/^/    | /' "$3" | tail -n 20; fi
}
# check NAME STATUS [DETAIL] [FILE-TO-SHOW]
check() { if [ "$2" -eq 0 ]; then ok "$1"; else bad "$1" "${3:-}" "${4:-}"; fi; }

# wait_for PATH SECONDS: until PATH exists and is not empty.
wait_for() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
# inode_mtime PATH: "inode mtime_ns" (empty when missing).
inode_mtime() { stat -c '%i %.9Y' "$1" 2>/dev/null; }

# A python3 that allocates, says it is ready, and idles (allocating a
# little now and then) until killed. start_py NAME [VAR=value...]: pid in
# PY_PID, stderr in $tmp/NAME.err.
start_py() {
    local name=$1
    shift
    rm -f "$tmp/$name.ready"
    env "${zslab_unset[@]}" LD_PRELOAD="$lib" PYTHONMALLOC=malloc "$@" "$py" -c '
import sys, time
data = [str(i) * 3 for i in range(20000)]
open(sys.argv[1], "w").write("ready")
while True:
    data.append([0] * 10)
    time.sleep(0.05)' "$tmp/$name.ready" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    PY_PID=$!
    bg_pids+=("$PY_PID")
    wait_for "$tmp/$name.ready" 10
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

echo "zslab observability checks: lib=$lib, python3=$py"
start=$(date +%s%N)

# ------------------------------------------------------------ signal-json
if start_py sigjson ZSLAB_STATS_SIGNAL=USR2 "ZSLAB_STATS_FILE=$tmp/s.%p.json"; then
    pid=$PY_PID
    f=$tmp/s.$pid.json
    check "signal-json: no snapshot before the signal" "$([ ! -e "$f" ]; echo $?)"
    kill -USR2 "$pid"
    wait_for "$f" 5
    check "signal-json: SIGUSR2 writes s.<pid>.json" "$([ -s "$f" ]; echo $?)" "files: $(ls "$tmp" | tr '\n' ' ')"
    env -u LD_PRELOAD "$py" - "$f" "$pid" >"$tmp/sigjson.py.log" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["pid"] == int(sys.argv[2]), ("pid", d["pid"], sys.argv[2])
assert d["small_allocs"] > 1000, ("small_allocs", d["small_allocs"])
print("ok", d["small_allocs"])
EOF
    check "signal-json: the snapshot is JSON with its pid and small_allocs" "$?" "" "$tmp/sigjson.py.log"
    check "signal-json: the process keeps running after the signal" "$(kill -0 "$pid" 2>/dev/null; echo $?)" \
        "" "$tmp/sigjson.err"
    first=$(inode_mtime "$f")
    sleep 0.3
    kill -USR2 "$pid"
    for _ in $(seq 100); do [ "$(inode_mtime "$f")" != "$first" ] && break; sleep 0.05; done
    check "signal-json: a second signal replaces the snapshot" "$([ "$(inode_mtime "$f")" != "$first" ]; echo $?)"
    check "signal-json: no temporary file left next to it" \
        "$([ -z "$(find "$tmp" -maxdepth 1 -name 's.*.json.tmp*')" ]; echo $?)" "$(ls "$tmp")"
    check "signal-json: nothing from zslab on stderr" "$(! grep -q zslab "$tmp/sigjson.err"; echo $?)" \
        "" "$tmp/sigjson.err"
    stop "$pid"
else
    bad "signal-json: python3 starts under zslab" "no ready file after 10 s" "$tmp/sigjson.err"
fi

# ------------------------------------------------------------ signal-prom
if start_py sigprom ZSLAB_STATS_SIGNAL=SIGUSR2 "ZSLAB_STATS_FILE=$tmp/s.%p.prom"; then
    pid=$PY_PID
    f=$tmp/s.$pid.prom
    kill -USR2 "$pid"
    wait_for "$f" 5
    check "signal-prom: SIGUSR2 writes s.<pid>.prom" "$([ -s "$f" ]; echo $?)"
    promtool check metrics <"$f" >"$tmp/promtool.log" 2>&1
    check "signal-prom: promtool check metrics accepts it" "$?" "" "$tmp/promtool.log"
    check "signal-prom: zslab_small_allocs_total is a counter with a value" \
        "$(grep -qx '# TYPE zslab_small_allocs_total counter' "$f" && grep -qE '^zslab_small_allocs_total [0-9]+$' "$f"; echo $?)" \
        "" "$f"
    check "signal-prom: zslab_info carries the version" \
        "$(grep -qE '^zslab_info\{version="[0-9]+\.[0-9]+\.[0-9]+[^"]*"\} 1$' "$f"; echo $?)" "" "$f"
    stop "$pid"
else
    bad "signal-prom: python3 starts under zslab" "no ready file after 10 s" "$tmp/sigprom.err"
fi

# --------------------------------------------------------------- interval
if start_py ival ZSLAB_STATS_INTERVAL=200 "ZSLAB_STATS_FILE=$tmp/i.%p.json"; then
    pid=$PY_PID
    f=$tmp/i.$pid.json
    wait_for "$f" 5
    seen=()
    t_end=$(($(date +%s%N) + 1500000000))
    while [ "$(date +%s%N)" -lt "$t_end" ]; do
        v=$(inode_mtime "$f")
        if [ -n "$v" ] && { [ ${#seen[@]} = 0 ] || [ "${seen[-1]}" != "$v" ]; }; then seen+=("$v"); fi
        sleep 0.02
    done
    check "interval: ZSLAB_STATS_INTERVAL=200 replaces the file >= 4 times in 1.5 s" \
        "$([ ${#seen[@]} -ge 4 ]; echo $?)" "${#seen[@]} versions seen: ${seen[*]}"
    check "interval: the file holds the program's pid" \
        "$(env -u LD_PRELOAD "$py" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["pid"] != int(sys.argv[2]))' "$f" "$pid"; echo $?)"
    stop "$pid"
else
    bad "interval: python3 starts under zslab" "no ready file after 10 s" "$tmp/ival.err"
fi

# ------------------------------------------------------- interval-at-exit
# Programs that end while the background thread writes an interval
# snapshot: the exit report must not collide with it (one temporary name
# made the second rename fail: "cannot write ... No such file or
# directory"), and nothing half-written may stay behind.
iae_warn=0 iae_bad=0
for i in $(seq 1 12); do
    env "${zslab_unset[@]}" LD_PRELOAD="$lib" PYTHONMALLOC=malloc ZSLAB_STATS_INTERVAL=2 \
        "ZSLAB_STATS_FILE=$tmp/iae$i.json" "$py" -c '
import time
t = time.time() + 0.2
while time.time() < t:
    x = [str(k) for k in range(2000)]' 2>"$tmp/iae$i.err"
    grep -q "cannot write" "$tmp/iae$i.err" && iae_warn=$((iae_warn + 1))
    env -u LD_PRELOAD "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/iae$i.json" 2>/dev/null ||
        iae_bad=$((iae_bad + 1))
done
check "interval-at-exit: 12 programs ending during 2 ms interval snapshots: no write failure, every file complete JSON, no temporary left" \
    "$([ $iae_warn = 0 ] && [ $iae_bad = 0 ] && [ -z "$(find "$tmp" -maxdepth 1 -name 'iae*.tmp*')" ]; echo $?)" \
    "$iae_warn runs warned, $iae_bad files unreadable; $(ls "$tmp" | grep -c 'iae.*tmp') temporaries" "$tmp/iae1.err"

# ---------------------------------------------------------- node-exporter
textdir=$tmp/textfile
mkdir -p "$textdir"
port=$(env -u LD_PRELOAD "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$node_exporter" --web.listen-address="127.0.0.1:$port" --collector.textfile.directory="$textdir" \
    >"$tmp/node-exporter.log" 2>&1 &
ne_pid=$!
bg_pids+=("$ne_pid")
up=1
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/metrics" -o /dev/null && { up=0; break; }
    kill -0 "$ne_pid" 2>/dev/null || break
    sleep 0.1
done
check "node-exporter: prometheus-node-exporter serves /metrics on 127.0.0.1:$port" "$up" "" "$tmp/node-exporter.log"
if [ "$up" = 0 ] && start_py nodeexp ZSLAB_STATS_INTERVAL=200 "ZSLAB_STATS_FILE=$textdir/zslab.prom"; then
    pid=$PY_PID
    wait_for "$textdir/zslab.prom" 5
    curl -sf "http://127.0.0.1:$port/metrics" -o "$tmp/metrics1.txt"
    v1=$(sed -n 's/^zslab_small_allocs_total \([0-9.e+]*\)$/\1/p' "$tmp/metrics1.txt")
    check "node-exporter: /metrics serves zslab_small_allocs_total from the program's zslab.prom" \
        "$([ -n "$v1" ]; echo $?)" "$(grep -c '^zslab' "$tmp/metrics1.txt") zslab lines" "$tmp/node-exporter.log"
    check "node-exporter: the textfile collector reports no scrape error" \
        "$(grep -qx 'node_textfile_scrape_error 0' "$tmp/metrics1.txt"; echo $?)" \
        "$(grep node_textfile_scrape_error "$tmp/metrics1.txt")" "$tmp/node-exporter.log"
    check "node-exporter: per-class and per-epoch metrics have labels" \
        "$(grep -qE '^zslab_class_allocs_total\{class="[0-9]+",size="[0-9]+"\} ' "$tmp/metrics1.txt" \
           && grep -qE '^zslab_epoch_live_objects\{.*state="active"' "$tmp/metrics1.txt"; echo $?)"
    sleep 1
    curl -sf "http://127.0.0.1:$port/metrics" -o "$tmp/metrics2.txt"
    v2=$(sed -n 's/^zslab_small_allocs_total \([0-9.e+]*\)$/\1/p' "$tmp/metrics2.txt")
    check "node-exporter: the value follows the running program (grows between scrapes 1 s apart)" \
        "$(env -u LD_PRELOAD "$py" -c 'import sys; sys.exit(not float(sys.argv[2]) > float(sys.argv[1]))' "${v1:-0}" "${v2:-0}"; echo $?)" \
        "$v1 -> $v2"
    stop "$pid"
elif [ "$up" = 0 ]; then
    bad "node-exporter: python3 starts under zslab" "no ready file after 10 s" "$tmp/nodeexp.err"
fi
stop "$ne_pid"

# ------------------------------------------------------------------ leaks
cat >"$tmp/leaky.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "zslab.h"

static void *volatile sink;

int main(void)
{
    __typeof__(slab_epoch_advance) *advance = (__typeof__(advance))dlsym(RTLD_DEFAULT, "slab_epoch_advance");
    __typeof__(slab_epoch_set_label) *label = (__typeof__(label))dlsym(RTLD_DEFAULT, "slab_epoch_set_label");
    __typeof__(slab_domain_enter) *enter = (__typeof__(enter))dlsym(RTLD_DEFAULT, "slab_domain_enter");
    __typeof__(slab_domain_exit) *leave = (__typeof__(leave))dlsym(RTLD_DEFAULT, "slab_domain_exit");
    if (!advance || !label || !enter || !leave) {
        fprintf(stderr, "zslab API not found\n");
        return 3;
    }
    puts("leaking");
    fflush(stdout);
    label(advance(), "leaky-phase");
    for (int i = 0; i < 1234; i++)
        memset(sink = malloc(200), 1, 200);
    advance();
    if (!enter("leaky-request"))
        return 4;
    for (int i = 0; i < 567; i++)
        memset(sink = malloc(3000), 2, 3000);
    leave();
    return 0;
}
EOF
if gcc -O1 -Wall -I"$root_dir/include" -o "$tmp/leaky" "$tmp/leaky.c" -ldl 2>"$tmp/leaky.cc.log"; then
    env "${zslab_unset[@]}" LD_PRELOAD="$lib" ZSLAB_LEAKS=1 "$tmp/leaky" >"$tmp/leaky.out" 2>"$tmp/leaky.err"
    rc=$?
    check "leaks: ZSLAB_LEAKS=1 prints the live-memory report at exit" \
        "$([ $rc = 0 ] && grep -q '^zslab: live memory at exit (pid [0-9]*)' "$tmp/leaky.err"; echo $?)" \
        "exit $rc" "$tmp/leaky.err"
    check "leaks: the report names the epoch label leaky-phase with its 1234 objects" \
        "$(grep -qE 'in 1234 objects .*label leaky-phase$' "$tmp/leaky.err"; echo $?)" "" "$tmp/leaky.err"
    check "leaks: the report names the domain label leaky-request with its 567 objects" \
        "$(grep -qE 'in 567 objects .*label leaky-request$' "$tmp/leaky.err"; echo $?)" "" "$tmp/leaky.err"
    env "${zslab_unset[@]}" LD_PRELOAD="$lib" "$tmp/leaky" >/dev/null 2>"$tmp/leaky-off.err"
    check "leaks: no report without ZSLAB_LEAKS" "$(! grep -q 'live memory' "$tmp/leaky-off.err"; echo $?)" \
        "" "$tmp/leaky-off.err"
else
    bad "leaks: the C program builds" "" "$tmp/leaky.cc.log"
fi

# ---------------------------------------------------------------- sigterm
if start_py term "ZSLAB_STATS_FILE=$tmp/t.%p.json"; then
    pid=$PY_PID
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null
    rc=$?
    check "sigterm: a program killed by SIGTERM still dies of SIGTERM (status 143)" \
        "$([ $rc = 143 ]; echo $?)" "exit status $rc" "$tmp/term.err"
    check "sigterm: ... and leaves its ZSLAB_STATS_FILE (JSON with its pid)" \
        "$(env -u LD_PRELOAD "$py" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["pid"] != int(sys.argv[2]))' "$tmp/t.$pid.json" "$pid" 2>/dev/null; echo $?)" \
        "files: $(ls "$tmp" | grep '^t\.' | tr '\n' ' ')" "$tmp/term.err"
else
    bad "sigterm: python3 starts under zslab" "no ready file after 10 s" "$tmp/term.err"
fi
# The exit report on SIGTERM must also work where the background thread
# does not run: with ZSLAB_BACKGROUND=off, and in a fork child (the thread
# does not survive fork). A SIGTERM that is caught but never acted upon
# leaves a process that only SIGKILL ends.
env "${zslab_unset[@]}" LD_PRELOAD="$lib" ZSLAB_BACKGROUND=off "ZSLAB_STATS_FILE=$tmp/bgoff.%p.json" \
    sleep 30 >/dev/null 2>"$tmp/bgoff.err" &
pid=$!
bg_pids+=("$pid")
sleep 0.5
kill -TERM "$pid"
for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    bad "sigterm: with ZSLAB_BACKGROUND=off, SIGTERM still ends the program and leaves its file" \
        "still running 3 s after SIGTERM (killed with SIGKILL)" "$tmp/bgoff.err"
else
    wait "$pid" 2>/dev/null
    rc=$?
    check "sigterm: with ZSLAB_BACKGROUND=off, SIGTERM still ends the program and leaves its file" \
        "$([ $rc = 143 ] && [ -s "$tmp/bgoff.$pid.json" ]; echo $?)" "exit status $rc" "$tmp/bgoff.err"
fi
env "${zslab_unset[@]}" LD_PRELOAD="$lib" PYTHONMALLOC=malloc "ZSLAB_STATS_FILE=$tmp/fk.%p.json" "$py" -c '
import os, signal, sys, time
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
time.sleep(0.5)
os.kill(pid, signal.SIGTERM)
t0 = time.time()
while time.time() - t0 < 3:
    r, st = os.waitpid(pid, os.WNOHANG)
    if r:
        print("child", pid, "status", st)
        sys.exit(0)
    time.sleep(0.05)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
print("child", pid, "survived SIGTERM")' >"$tmp/forkterm.out" 2>"$tmp/forkterm.err"
read -r _ cpid _ cst <"$tmp/forkterm.out"
check "sigterm: a fork child (no background thread) still dies of SIGTERM and leaves its file" \
    "$([ "$cst" = 15 ] && [ -s "$tmp/fk.$cpid.json" ]; echo $?)" "$(cat "$tmp/forkterm.out")" "$tmp/forkterm.err"

# A signal can reach a fork child before its fork handlers ran, while it
# still holds the parent's state (the parent runs the background thread,
# the child does not). A raw fork system call runs no fork handler at all:
# its child is in that state for good. CPython's forkserver workers met
# it: a worker told to terminate right after its fork ran on.
cat >"$tmp/rawfork.c" <<'EOF'
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(void)
{
    usleep(200000); /* the background thread is up (a statistics file) */
    pid_t pid = (pid_t)syscall(SYS_fork);
    if (pid == 0) {
        kill(getpid(), SIGTERM);
        sleep(3);
        _exit(7);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child %d status %d\n", (int)pid, WIFSIGNALED(st) ? WTERMSIG(st) : 100 + WEXITSTATUS(st));
    return 0;
}
EOF
if gcc -O1 -Wall -o "$tmp/rawfork" "$tmp/rawfork.c" 2>"$tmp/rawfork.cc.log"; then
    env "${zslab_unset[@]}" LD_PRELOAD="$lib" "ZSLAB_STATS_FILE=$tmp/rf.%p.json" \
        "$tmp/rawfork" >"$tmp/rawfork.out" 2>"$tmp/rawfork.err"
    read -r _ cpid _ cst <"$tmp/rawfork.out"
    check "sigterm: a child signalled before its fork handlers ran dies of SIGTERM and leaves its file" \
        "$([ "$cst" = 15 ] && [ -s "$tmp/rf.$cpid.json" ]; echo $?)" "$(cat "$tmp/rawfork.out")" "$tmp/rawfork.err"
else
    bad "sigterm: the raw-fork program builds" "" "$tmp/rawfork.cc.log"
fi

rm -f "$tmp/own.ready"
env "${zslab_unset[@]}" LD_PRELOAD="$lib" PYTHONMALLOC=malloc "ZSLAB_STATS_FILE=$tmp/own.%p.json" "$py" -c '
import signal, sys, time
def on_term(sig, frame):
    print("handled SIGTERM", flush=True)
    sys.exit(7)
signal.signal(signal.SIGTERM, on_term)
open(sys.argv[1], "w").write("ready")
while True:
    time.sleep(0.05)' "$tmp/own.ready" >"$tmp/own.out" 2>"$tmp/own.err" &
pid=$!
bg_pids+=("$pid")
if wait_for "$tmp/own.ready" 10; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null
    rc=$?
    check "sigterm: a program with its own SIGTERM handler keeps it (exit 7) and writes the file at exit" \
        "$([ $rc = 7 ] && grep -q 'handled SIGTERM' "$tmp/own.out" && [ -s "$tmp/own.$pid.json" ]; echo $?)" \
        "exit status $rc" "$tmp/own.err"
else
    bad "sigterm: python3 with a SIGTERM handler starts" "no ready file after 10 s" "$tmp/own.err"
fi

# The exit report's signal handlers must not change what the program sees:
# python3 installs its KeyboardInterrupt handler only when SIGINT is at its
# default action, and code that saves and restores a handler
# (signal.signal(sig, signal.getsignal(sig))) fails on one it cannot name.
cat >"$tmp/sigvis.py" <<'EOF'
import os, signal, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    h = signal.getsignal(s)
    kind = {signal.SIG_DFL: "SIG_DFL", signal.SIG_IGN: "SIG_IGN", None: "foreign"}.get(h, "python")
    print(signal.Signals(s).name, kind)
    signal.signal(s, h)  # save and restore, as multiprocessing and pty code do
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(2)
    print("no KeyboardInterrupt")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
EOF
# sigvis_ok RUN: the run saw python3's own SIGINT handler and SIGTERM at its
# default, restored every handler and got its KeyboardInterrupt.
sigvis_ok() {
    [ "$(cat "$tmp/$1.rc")" = 0 ] && grep -qx 'SIGINT python' "$tmp/$1.out" &&
        grep -qx 'SIGTERM SIG_DFL' "$tmp/$1.out" && grep -qx KeyboardInterrupt "$tmp/$1.out"
}
# (--default-signal: a shell runs background jobs with SIGINT and SIGQUIT
# ignored, and nohup ignores SIGHUP; python3 must start with them at their
# default actions, as from a terminal.)
env --default-signal=INT,QUIT,HUP,TERM "${zslab_unset[@]}" -u LD_PRELOAD "$py" "$tmp/sigvis.py" \
    >"$tmp/sigvis0.out" 2>"$tmp/sigvis0.err"
echo $? >"$tmp/sigvis0.rc"
if ! sigvis_ok sigvis0; then
    bad "sigterm: baseline: python3 without zslab sees its own signal handlers" \
        "$(tr '\n' ';' <"$tmp/sigvis0.out")" "$tmp/sigvis0.err"
else
    i=0
    for v in ZSLAB_STATS_FILE="$tmp/k.%p.json" ZSLAB_STATS=1 ZSLAB_LEAKS=1; do
        i=$((i + 1))
        env --default-signal=INT,QUIT,HUP,TERM "${zslab_unset[@]}" LD_PRELOAD="$lib" "$v" "$py" "$tmp/sigvis.py" \
            >"$tmp/sigvis$i.out" 2>"$tmp/sigvis$i.err"
        echo $? >"$tmp/sigvis$i.rc"
        check "sigterm: with ${v%%=*} set, python3 sees its signals as without zslab (SIGINT raises KeyboardInterrupt, handlers can be saved and restored)" \
            "$(sigvis_ok "sigvis$i"; echo $?)" \
            "exit $(cat "$tmp/sigvis$i.rc"); $(tr '\n' ';' <"$tmp/sigvis$i.out") $(grep -m1 Error "$tmp/sigvis$i.err")"
    done
fi

# ---------------------------------------------------------- write-failure
env "${zslab_unset[@]}" LD_PRELOAD="$lib" ZSLAB_STATS_FILE=/nonexistent/x.json "$py" -c 'import sys; sys.exit(5)' \
    >/dev/null 2>"$tmp/wf.err"
rc=$?
check "write-failure: the exit status is the program's own (5)" "$([ $rc = 5 ]; echo $?)" "exit $rc" "$tmp/wf.err"
check "write-failure: one warning with the path and the reason" \
    "$(grep -qxF 'zslab: warning: cannot write the statistics file /nonexistent/x.json: No such file or directory' "$tmp/wf.err" \
       && [ "$(grep -c zslab "$tmp/wf.err")" = 1 ]; echo $?)" "" "$tmp/wf.err"
chmod 555 "$textdir"
if [ "$(id -u)" != 0 ]; then
    env "${zslab_unset[@]}" LD_PRELOAD="$lib" "ZSLAB_STATS_FILE=$textdir/ro.json" "$py" -c 'pass' 2>"$tmp/wf2.err"
    check "write-failure: a directory without write permission: path and 'Permission denied'" \
        "$(grep -qxF "zslab: warning: cannot write the statistics file $textdir/ro.json: Permission denied" "$tmp/wf2.err"; echo $?)" \
        "" "$tmp/wf2.err"
fi
chmod 755 "$textdir"
if start_py wflive ZSLAB_STATS_SIGNAL=USR2 ZSLAB_STATS_FILE=/nonexistent/live.json; then
    pid=$PY_PID
    kill -USR2 "$pid"
    for _ in $(seq 100); do grep -q 'cannot write' "$tmp/wflive.err" && break; sleep 0.05; done
    check "write-failure: a live snapshot that cannot be written says so, the program runs on" \
        "$(grep -qxF 'zslab: warning: cannot write the statistics file /nonexistent/live.json: No such file or directory' "$tmp/wflive.err" \
           && kill -0 "$pid" 2>/dev/null; echo $?)" "" "$tmp/wflive.err"
    stop "$pid"
else
    bad "write-failure: python3 starts under zslab" "no ready file after 10 s" "$tmp/wflive.err"
fi

end=$(date +%s%N)
ms=$(((end - start) / 1000000))
echo
echo "observability: $pass passed, $fail failed in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
if [ "$fail" -gt 0 ]; then
    echo "Failed:"
    printf '  %s\n' "${failed[@]}"
    exit 1
fi
exit 0
