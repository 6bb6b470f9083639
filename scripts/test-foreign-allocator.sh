#!/usr/bin/env bash
# Programs linked against another allocator (jemalloc) run correctly under
# zslab.
#
# Usage: scripts/test-foreign-allocator.sh [path/to/libzslab.so]
#
# Installs what it needs with apt-get when missing: libjemalloc-dev,
# redis-server, redis-tools (Debian's redis links libjemalloc).  Checks:
#
#   jemalloc-mix     scripts/foreign-allocator/jemalloc_mix.c, built with
#                    -ljemalloc: the standard API (malloc, calloc, realloc,
#                    posix_memalign, aligned_alloc, memalign, valloc,
#                    malloc_usable_size, free; three threads) mixed with
#                    jemalloc's own API (mallocx, rallocx, xallocx, sallocx,
#                    nallocx, dallocx, sdallocx, mallctl).  Plain (jemalloc
#                    serves malloc) and under zslab (zslab must serve it):
#                    exit 0 and identical stdout.
#   redis-start      redis-server under zslab on a loopback port starts,
#                    answers PING, and really runs zslab (libzslab.so in
#                    its maps).
#   redis-session    a scripted redis-cli session (scripts/foreign-allocator/
#                    redis_session.py: ~4000 commands over a few thousand
#                    keys: strings up to ~1 MB, lists, hashes, sets, sorted
#                    sets, then FLUSHALL) gives byte-identical replies under
#                    zslab and plain; INFO memory answers.
#   redis-benchmark  redis-benchmark -q -n 20000 against the zslab server
#                    (the client under zslab too) completes every test.
#   redis-shutdown   SHUTDOWN NOSAVE: the zslab server exits 0, wrote
#                    zslab's exit statistics, logged no crash and printed
#                    no zslab diagnostic.
#
# Prints PASS/FAIL per check and "foreign-allocator: N passed, N failed";
# exits 1 if anything failed, 2 on a setup error.
# ZSLAB_FA_KEEP=1 keeps the temporary directory (logs, outputs).

set -u

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=$(cd "$script_dir/.." && pwd)
fa_dir=$script_dir/foreign-allocator
lib=${1:-$root_dir/target/release/libzslab.so}
die() { echo "test-foreign-allocator.sh: $*" >&2; exit 2; }
[ -f "$lib" ] || die "library not found: $lib (cargo build --release)"
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")

unset LD_PRELOAD
while read -r v; do unset "$v"; done < <(compgen -e | grep '^ZSLAB_' || true)
export LC_ALL=C

# ------------------------------------------------------------------ tools
missing=()
[ -f /usr/include/jemalloc/jemalloc.h ] || missing+=(libjemalloc-dev)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
{ command -v redis-cli >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; } ||
    missing+=(redis-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    echo "test-foreign-allocator.sh: installing ${missing[*]} with apt-get" >&2
    "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi
for t in redis-server redis-cli redis-benchmark python3 gcc timeout cmp; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zslab-fa.XXXXXX") || exit 2
servers=()
cleanup() {
    local pid
    for pid in "${servers[@]+"${servers[@]}"}"; do
        kill "$pid" 2>/dev/null
    done
    if [ -n "${ZSLAB_FA_KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

pass=0
fail=0
failed=()
ok() { echo "PASS $1${2:+ ($2)}"; pass=$((pass + 1)); }
bad() {
    echo "FAIL $1: $2"
    fail=$((fail + 1))
    failed+=("$1")
    local f
    for f in "${@:3}"; do
        [ -s "$f" ] || continue
        echo "    --- $(basename "$f") (last 25 lines) ---"
        tail -n 25 "$f" | cut -c1-200 | sed 's/^/    | /'
    done
}
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1fs", b - a }'; }

# ------------------------------------------------------------------ jemalloc-mix
t0=$(now_s)
if ! gcc -O2 -Wall -Wextra -Werror -pthread -o "$tmp/jemalloc_mix" "$fa_dir/jemalloc_mix.c" \
        -ljemalloc >"$tmp/mix.cc.log" 2>&1; then
    bad jemalloc-mix "cannot build jemalloc_mix.c with -ljemalloc" "$tmp/mix.cc.log"
else
    timeout -k 10 300 "$tmp/jemalloc_mix" >"$tmp/mix.plain.out" 2>"$tmp/mix.plain.err"
    rc_plain=$?
    env LD_PRELOAD="$lib" timeout -k 10 300 "$tmp/jemalloc_mix" >"$tmp/mix.zslab.out" \
        2>"$tmp/mix.zslab.err"
    rc_zslab=$?
    if [ "$rc_plain" -ne 0 ]; then
        bad jemalloc-mix "the plain run failed (status $rc_plain)" "$tmp/mix.plain.err"
    elif ! grep -q "malloc from .*libjemalloc" "$tmp/mix.plain.err"; then
        bad jemalloc-mix "the plain run's malloc is not jemalloc's" "$tmp/mix.plain.err"
    elif [ "$rc_zslab" -ne 0 ]; then
        bad jemalloc-mix "the run under zslab failed (status $rc_zslab$([ "$rc_zslab" -gt 128 ] && echo ", signal $((rc_zslab - 128))"))" \
            "$tmp/mix.zslab.out" "$tmp/mix.zslab.err"
    elif ! grep -q "malloc from .*libzslab" "$tmp/mix.zslab.err"; then
        bad jemalloc-mix "under zslab, malloc was not zslab's" "$tmp/mix.zslab.err"
    elif ! cmp -s "$tmp/mix.plain.out" "$tmp/mix.zslab.out"; then
        diff "$tmp/mix.plain.out" "$tmp/mix.zslab.out" >"$tmp/mix.diff"
        bad jemalloc-mix "output differs from the plain run" "$tmp/mix.diff"
    else
        ok jemalloc-mix "$(wc -l <"$tmp/mix.zslab.out") identical lines; $(elapsed "$t0")"
    fi
fi

# ------------------------------------------------------------------ redis
python3 "$fa_dir/redis_session.py" >"$tmp/session.txt" || die "redis_session.py failed"

port_base=$((20000 + ($$ % 20000)))
# start_server NAME PRELOAD(0|1): sets server_pid, server_port; 0 if PING answers.
start_server() {
    local name=$1 preload=$2 try port
    local dir="$tmp/$name"
    mkdir -p "$dir"
    for try in 0 1 2 3 4; do
        port=$((port_base + try * 7 + (preload ? 3 : 0)))
        : >"$dir/log"
        local envs=()
        [ "$preload" = 1 ] && envs=(LD_PRELOAD="$lib" ZSLAB_STATS_FILE="$dir/zslab.%p.json")
        env "${envs[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --dir "$dir" --logfile "$dir/log" --daemonize no \
            >"$dir/stdout" 2>"$dir/stderr" &
        server_pid=$!
        server_port=$port
        servers+=("$server_pid")
        local i
        for i in $(seq 1 100); do
            if ! kill -0 "$server_pid" 2>/dev/null; then
                break
            fi
            if [ "$(timeout 5 redis-cli -p "$port" PING 2>/dev/null)" = PONG ]; then
                return 0
            fi
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            kill "$server_pid" 2>/dev/null
            wait "$server_pid" 2>/dev/null
            return 1
        fi
        wait "$server_pid" 2>/dev/null
        server_rc=$?
        grep -q "Address already in use" "$dir/log" || return 1
    done
    return 1
}

cli() { # PRELOAD PORT ARGS... (stdin passed through)
    local preload=$1 port=$2
    shift 2
    if [ "$preload" = 1 ]; then
        env LD_PRELOAD="$lib" timeout -k 10 120 redis-cli -p "$port" "$@"
    else
        timeout -k 10 120 redis-cli -p "$port" "$@"
    fi
}

# The plain reference run.
plain_ok=0
server_rc=0
if start_server plain 0 2>/dev/null; then
    plain_pid=$server_pid plain_port=$server_port
    if cli 0 "$plain_port" <"$tmp/session.txt" >"$tmp/session.plain" 2>"$tmp/session.plain.err"; then
        plain_ok=1
    fi
    cli 0 "$plain_port" SHUTDOWN NOSAVE >/dev/null 2>&1
    wait "$plain_pid" 2>/dev/null
else
    echo "test-foreign-allocator.sh: the plain redis-server did not start" >&2
    tail -n 20 "$tmp/plain/log" >&2
fi

t0=$(now_s)
server_rc=0
if ! start_server zslab 1 2>/dev/null; then
    why="did not answer PING"
    [ "$server_rc" -gt 128 ] && why="died at start-up with signal $((server_rc - 128)) (status $server_rc)"
    grep -q "crashed by signal" "$tmp/zslab/log" && why="$why; $(grep -m1 "crashed by signal" "$tmp/zslab/log" | sed 's/^.*# //')"
    grep -A3 "STACK TRACE" "$tmp/zslab/log" | grep -m1 "EIP:" -A1 | tail -n1 >"$tmp/eip" 2>/dev/null
    [ -s "$tmp/eip" ] && why="$why at $(cat "$tmp/eip")"
    sed -n '/crashed by signal/,/REGISTERS/p' "$tmp/zslab/log" >"$tmp/crash"
    [ -s "$tmp/crash" ] || cp "$tmp/zslab/log" "$tmp/crash"
    bad redis-start "redis-server under zslab $why" "$tmp/crash" "$tmp/zslab/stderr"
    for c in redis-session redis-benchmark redis-shutdown; do
        bad "$c" "not run: the server under zslab did not start"
    done
else
    zpid=$server_pid zport=$server_port
    if grep -q libzslab "/proc/$zpid/maps" 2>/dev/null; then
        ok redis-start "port $zport, pid $zpid; $(elapsed "$t0")"
    else
        bad redis-start "libzslab.so is not mapped in the server (LD_PRELOAD ignored?)"
    fi

    # session
    t0=$(now_s)
    if ! cli 1 "$zport" <"$tmp/session.txt" >"$tmp/session.zslab" 2>"$tmp/session.zslab.err"; then
        bad redis-session "redis-cli failed" "$tmp/session.zslab.err" "$tmp/zslab/log"
    elif [ "$plain_ok" != 1 ]; then
        bad redis-session "no plain reference output to compare with" "$tmp/session.plain.err"
    elif ! cmp -s "$tmp/session.plain" "$tmp/session.zslab"; then
        diff "$tmp/session.plain" "$tmp/session.zslab" | cut -c1-200 >"$tmp/session.diff"
        bad redis-session "replies differ from the plain run" "$tmp/session.diff"
    else
        cli 1 "$zport" INFO memory >"$tmp/info" 2>&1
        if ! grep -q "^used_memory:" "$tmp/info"; then
            bad redis-session "INFO memory did not answer" "$tmp/info"
        else
            ok redis-session "$(wc -l <"$tmp/session.txt") commands, $(wc -l <"$tmp/session.zslab") identical reply lines; INFO memory: $(grep -E '^(used_memory_human|used_memory_rss_human|mem_allocator):' "$tmp/info" | tr -d '\r' | tr '\n' ' ')$(elapsed "$t0")"
        fi
    fi

    # benchmark
    t0=$(now_s)
    env LD_PRELOAD="$lib" timeout -k 10 300 redis-benchmark -q -n 20000 -p "$zport" \
        >"$tmp/bench.raw" 2>"$tmp/bench.err"
    brc=$?
    tr '\r' '\n' <"$tmp/bench.raw" | grep "requests per second" >"$tmp/bench.out"
    nb=$(wc -l <"$tmp/bench.out")
    if [ "$brc" -ne 0 ]; then
        bad redis-benchmark "redis-benchmark exited with status $brc" "$tmp/bench.out" "$tmp/bench.err" "$tmp/zslab/log"
    elif [ "$nb" -lt 15 ] || ! grep -q "^SET:" "$tmp/bench.out" || ! grep -q "^GET:" "$tmp/bench.out"; then
        bad redis-benchmark "only $nb tests reported" "$tmp/bench.raw"
    else
        ok redis-benchmark "$nb tests; $(grep -E '^(SET|GET):' "$tmp/bench.out" | sed 's/, p50.*//' | tr '\n' ' ')$(elapsed "$t0")"
    fi

    # shutdown
    cli 1 "$zport" SHUTDOWN NOSAVE >/dev/null 2>&1
    src=124
    for i in $(seq 1 100); do
        kill -0 "$zpid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$zpid" 2>/dev/null; then
        bad redis-shutdown "the server did not exit after SHUTDOWN NOSAVE"
    else
        wait "$zpid" 2>/dev/null
        src=$?
        if [ "$src" -ne 0 ]; then
            bad redis-shutdown "the server exited with status $src" "$tmp/zslab/log" "$tmp/zslab/stderr"
        elif grep -q "crashed by signal" "$tmp/zslab/log"; then
            bad redis-shutdown "the server logged a crash" "$tmp/zslab/log"
        elif grep -q "zslab:" "$tmp/zslab/stderr" "$tmp/zslab/stdout"; then
            bad redis-shutdown "zslab printed a diagnostic" "$tmp/zslab/stderr"
        elif ! ls "$tmp/zslab"/zslab.*.json >/dev/null 2>&1; then
            bad redis-shutdown "no zslab statistics file was written at exit"
        else
            ok redis-shutdown "exit status 0"
        fi
    fi
fi

echo "foreign-allocator: $pass passed, $fail failed"
if [ "$fail" -gt 0 ]; then
    echo "Failed: ${failed[*]}"
    exit 1
fi
exit 0
