#!/usr/bin/env bash
# Real-program tests for zslab.
#
# Usage: scripts/test-real-programs.sh [path/to/libzslab.so]
#
# Runs a set of real workloads (CPython, git, the sqlite3 CLI, perl,
# sort/awk/join) twice each: once plain, once with
#     LD_PRELOAD=<lib> ZSLAB_STATS_FILE=<dir>/stats.%p.json
# and requires, for every workload:
#   * the same exit status and byte-identical stdout in both runs, and
#   * statistics files (one per process that exited normally) that, summed,
#     show small_allocs > 0 and small_frees > 0, i.e. zslab really served
#     small allocations itself instead of delegating everything to glibc.
# Prints "PASS <name>" / "FAIL <name>: <why>" per workload, then a summary line
# "real-programs: N passed, N failed", and exits 1 if anything failed (2 on a
# setup error: library missing, tools missing and not installable, ...).
#
# The workload inputs live in scripts/real-programs/.  Missing tools are
# installed with apt-get (sqlite3 normally; git, perl and python3 if absent).
#
# Environment knobs (all optional):
#   ZSLAB_RP_ONLY=name,name   run only these workloads
#                             (python-objects python-stdlib git sqlite3 perl text-tools)
#   ZSLAB_RP_TIMEOUT=secs     per-command time limit (default 300)
#   ZSLAB_RP_KEEP=1           keep the temporary directory (outputs, stderr, stats)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WL="$ROOT/scripts/real-programs"
LIB_ARG=${1:-$ROOT/target/release/libzslab.so}
TIMEOUT=${ZSLAB_RP_TIMEOUT:-300}
ONLY=${ZSLAB_RP_ONLY:-}
ALL_WORKLOADS=(python-objects python-stdlib git sqlite3 perl text-tools)

die() {
    echo "test-real-programs: error: $*" >&2
    exit 2
}

selected=("${ALL_WORKLOADS[@]}")
if [ -n "$ONLY" ]; then
    IFS=', ' read -r -a selected <<<"$ONLY"
    for w in "${selected[@]}"; do
        case " ${ALL_WORKLOADS[*]} " in
        *" $w "*) ;;
        *) die "unknown workload '$w' in ZSLAB_RP_ONLY (known: ${ALL_WORKLOADS[*]})" ;;
        esac
    done
fi

# ---------------------------------------------------------------------------
# A neutral environment: nothing from the caller may leak into the plain run
# (an inherited LD_PRELOAD would make the "plain" run not plain) or make the
# output of the two runs differ.
# ---------------------------------------------------------------------------
unset LD_PRELOAD ZSLAB_STATS_FILE
unset PYTHONPATH PYTHONSTARTUP PYTHONDEVMODE PYTHONWARNINGS PYTHONMALLOCSTATS PYTHONTRACEMALLOC PYTHONINSPECT
unset PERL5OPT PERL5LIB PERLLIB PERL5DB
while read -r v; do unset "$v"; done < <(compgen -e | grep '^GIT_' || true)
export LC_ALL=C TZ=UTC
umask 022

# ---------------------------------------------------------------------------
# Library
# ---------------------------------------------------------------------------
[ -f "$LIB_ARG" ] || die "zslab library not found: $LIB_ARG (build it first: cargo build --release, or pass its path as the first argument)"
LIB=$(cd "$(dirname "$LIB_ARG")" && pwd)/$(basename "$LIB_ARG")   # LD_PRELOAD must not be relative: workloads cd around
case $LIB in
*[[:space:]:]*) die "LD_PRELOAD cannot take a path containing spaces or colons: $LIB" ;;
esac

# ---------------------------------------------------------------------------
# Tools: install what is missing with apt-get
# ---------------------------------------------------------------------------
APT_UPDATED=
apt_install() {
    local sudo=()
    command -v apt-get >/dev/null 2>&1 ||
        die "missing tools ($*) and apt-get is not available: install the packages '$*' by hand"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing tools ($*): run as root or install the packages '$*' by hand"
        sudo=(sudo -n)
    fi
    echo "test-real-programs: installing $* with apt-get" >&2
    if [ -z "$APT_UPDATED" ]; then
        "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed; install the packages '$*' by hand"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed; install the packages by hand"
}

missing=()
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v perl >/dev/null 2>&1 || missing+=(perl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v awk >/dev/null 2>&1 || missing+=(mawk)
for tool in sort join cut uniq tr wc sha256sum timeout env diff; do
    command -v "$tool" >/dev/null 2>&1 || missing+=(coreutils diffutils)
done
if [ ${#missing[@]} -gt 0 ]; then
    # shellcheck disable=SC2207
    missing=($(printf '%s\n' "${missing[@]}" | sort -u))
    apt_install "${missing[@]}"
fi
for tool in sqlite3 git perl python3 awk sort timeout; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool still not found after installing"
done

# The real interpreter binary, not a wrapper such as a pyenv shim (a shell
# script that would run under LD_PRELOAD too and add its own processes).
PYBIN=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))') ||
    die "cannot run python3"
"$PYBIN" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
    die "python3 >= 3.9 is required ($PYBIN is $("$PYBIN" -V 2>&1))"

# ---------------------------------------------------------------------------
# Temporary directory
# ---------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zslab-real-programs.XXXXXX")
cleanup() {
    if [ -n "${ZSLAB_RP_KEEP:-}" ]; then
        echo "test-real-programs: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

# Preflight: the dynamic loader only warns (and goes on without it) when a
# preloaded object cannot be loaded; catch that here with a clear message.
preflight_err=$(env LD_PRELOAD="$LIB" ZSLAB_STATS_FILE="$TMP/preflight.%p.json" /bin/true 2>&1 >/dev/null) ||
    die "running /bin/true with LD_PRELOAD=$LIB failed: $preflight_err"
case $preflight_err in
*"cannot be preloaded"* | *"cannot open shared object"*) die "the loader refused $LIB: $preflight_err" ;;
esac
rm -f "$TMP"/preflight.*.json

# ---------------------------------------------------------------------------
# Helpers used by the workloads
# ---------------------------------------------------------------------------
# RUN is set per run: plain, or with the preload environment.  P runs one
# program of the workload under it; leading VAR=value arguments are passed to
# env, e.g. `P PYTHONMALLOC=malloc "$PYBIN" x.py`.  Helper programs that only
# prepare input or hash output are run without P (plain in both runs).
RUN=()
P() { "${RUN[@]}" "$@"; }

# Stats summary: python WITHOUT the preload.  Prints one line
#   files small_allocs small_frees large_allocs large_frees extra invalid-file...
# where extra is a comma-separated list of optional counters (not part of the
# contract; informational) that are present and non-zero, or "-".
sum_stats() {
    env -u LD_PRELOAD "$PYBIN" -c '
import json, os, sys
d = sys.argv[1]
keys = ("small_allocs", "small_frees", "large_allocs", "large_frees")
optional = ("remote_frees", "double_frees", "invalid_frees")
tot = dict.fromkeys(keys + optional, 0)
n, bad = 0, []
for f in sorted(os.listdir(d)):
    try:
        with open(os.path.join(d, f)) as fh:
            obj = json.load(fh)
        vals = [obj[k] for k in keys]
        if not all(type(v) is int and v >= 0 for v in vals):
            raise ValueError("non-integer or negative counter")
    except Exception as e:
        bad.append(f"{f}({type(e).__name__}: {e})".replace(" ", "_"))
        continue
    n += 1
    for k, v in zip(keys, vals):
        tot[k] += v
    for k in optional:
        if type(obj.get(k)) is int:
            tot[k] += obj[k]
extra = ",".join(f"{k}={tot[k]}" for k in optional if tot[k]) or "-"
print(n, *(tot[k] for k in keys), extra, *bad)
' "$1"
}

# ---------------------------------------------------------------------------
# Workloads.  Each runs in a subshell with `set -euo pipefail`, in an empty
# work directory whose path is the same for both runs, and prints its results
# on stdout.
# ---------------------------------------------------------------------------

# 1. CPython, every object through malloc: containers, json, sorting, classes,
#    re/Counter, threads.
wl_python-objects() {
    P PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$PYBIN" -sB "$WL/py_objects.py"
}

# 2. CPython standard library parsers: xml.etree/minidom, email, csv,
#    html.parser, difflib, pickle, compressors, sqlite3 module, fork pool.
wl_python-stdlib() {
    P PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$PYBIN" -sB "$WL/py_stdlib.py"
}

# 3. git: history with branches, merges, a rebase, a revert and a stash; then
#    log/diff/blame/grep, repack + aggressive gc, fsck, clone over the pack
#    protocol, archive.  git's own subprocesses inherit the preload.
wl_git() {
    mkdir home repo
    export HOME=$PWD/home XDG_CONFIG_HOME=$PWD/home/.config GIT_CONFIG_NOSYSTEM=1
    export GIT_AUTHOR_NAME="Zed Slab" GIT_AUTHOR_EMAIL="zed@example.org"
    export GIT_COMMITTER_NAME="Cee Eye" GIT_COMMITTER_EMAIL="ci@example.org"
    export GIT_PAGER=cat PAGER=cat GIT_TERMINAL_PROMPT=0 GIT_EDITOR=true EDITOR=true
    local t=1700000000
    tick() {
        t=$((t + 3607))
        export GIT_AUTHOR_DATE="@$t +0000" GIT_COMMITTER_DATE="@$t +0000"
    }
    gen() { "$PYBIN" -sB "$WL/gen_tree.py" "$PWD" "$1" "$2"; }
    G() { P git "$@"; }
    commit() {
        G add -A
        tick
        G commit -m "$1"
    }

    cd repo
    G -c init.defaultBranch=main init -q .
    G config gc.auto 0
    G config maintenance.auto false
    G config core.autocrlf false
    G config commit.gpgsign false
    G config tag.gpgsign false
    G config advice.detachedHead false

    echo "== history"
    gen 0 main
    commit "initial import"
    local n m
    for n in $(seq 1 12); do
        gen "$n" main
        commit "main: step $n"
        if [ "$n" -eq 6 ]; then
            tick
            G tag -a v0.1 -m "release 0.1"
            G branch feature
            G branch topic
        fi
    done
    G checkout -q feature
    for m in $(seq 1 10); do
        gen "$m" feature
        commit "feature: step $m"
    done
    G checkout -q main
    for n in $(seq 13 20); do
        gen "$n" main
        commit "main: step $n"
    done
    tick
    G merge --no-ff -X theirs -m "Merge branch feature" feature
    for n in $(seq 21 26); do
        gen "$n" main
        commit "main: step $n"
    done
    G checkout -q topic
    for m in $(seq 1 4); do
        gen "$m" topic
        commit "topic: step $m"
    done
    tick
    G rebase -q -X theirs main
    G checkout -q main
    G merge --ff-only topic
    tick
    G revert --no-edit HEAD
    for n in $(seq 27 30); do
        gen "$n" main
        commit "main: step $n"
    done
    tick
    G tag -a v0.2 -m "release 0.2"

    echo "== stash"
    gen 99 main
    G status --porcelain
    G diff --stat
    tick
    G stash push -q -u -m "work in progress"
    G stash list
    G status --porcelain
    G stash pop -q
    G status --short | wc -l
    tick
    G stash push -q -u
    G stash drop -q

    echo "== inspect"
    G log --all --graph --oneline --decorate
    G log --stat -M --format='%H %an <%ae> %ad %cn %s' --date=iso-strict
    G diff -M --stat v0.1 v0.2
    G diff -M --numstat main~8 main
    G diff v0.1 v0.2 | sha256sum
    G log -p -n 12 --word-diff=plain | sha256sum
    G shortlog -sn --all
    G describe --tags main~3
    G grep -c -e slab -e arena main -- common
    local f
    f=$(G ls-files common | sed -n 1p)
    G blame -M -C "$f" | sha256sum
    G ls-tree -r main | sha256sum
    G ls-files | wc -l
    G rev-list --all | wc -l
    G rev-list --objects --all | wc -l
    G count-objects -v | grep -E '^(count|in-pack|packs):'

    echo "== repack / gc / fsck"
    G repack -a -d -f -q --window=50 --depth=20
    G gc -q --aggressive --prune=now
    G count-objects -v | grep -E '^(count|in-pack|packs):'
    G fsck --full --strict --no-progress
    G cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype) %(objectsize)' | sha256sum
    G archive --format=tar --prefix=zslab/ v0.2 | sha256sum
    G archive --format=tar.gz v0.1 | sha256sum
    G archive --format=zip main | sha256sum

    echo "== clone"
    G clone -q --no-local "$PWD" ../clone
    G -C ../clone log --format=%H%d --all | sha256sum
    G -C ../clone fsck --no-progress
    G -C ../clone status --porcelain --branch
    G -C ../clone ls-files -s | sha256sum
    echo "done"
}

# 4. The sqlite3 CLI: ~150k literal INSERTs + ~240k CTE rows, indexes, joins,
#    window functions, recursive CTEs, JSON, FTS5, updates/deletes, VACUUM,
#    integrity check.
wl_sqlite3() {
    "$PYBIN" -sB "$WL/gen_sql.py" >workload.sql
    P HOME="$PWD" sqlite3 -batch -bail -init /dev/null "$PWD/shop.db" <workload.sql
    echo "done"
}

# 5. perl: hashes of arrays, nested hashes, regexes, sorting, cache churn.
wl_perl() {
    P PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 perl "$WL/perl_hashes.pl"
}

# 6. coreutils sort (threaded, spilling to temp files) / join / cut / uniq /
#    tr and awk associative arrays over a generated 600k-line file.
# shellcheck disable=SC2016  # awk programs are single-quoted on purpose
wl_text-tools() {
    "$PYBIN" -sB "$WL/gen_lines.py" 600000 >lines.txt
    mkdir sorttmp
    P sort -t, -k2,2 -k1,1n -S 8M --parallel=2 -T sorttmp lines.txt >by_key.txt
    sha256sum <by_key.txt
    P sort -t, -k3,3nr -k1,1n --parallel=2 -T sorttmp lines.txt >by_amount.txt
    sha256sum <by_amount.txt
    P awk -F, '
        { n[$2]++; s[$2] += $3; m = split($4, w, " "); for (i = 1; i <= m; i++) c[w[i]]++ }
        END { for (k in n) printf "key %s %d %d\n", k, n[k], s[k]; for (k in c) printf "word %s %d\n", k, c[k] }
    ' lines.txt >agg.txt
    P sort agg.txt >agg.sorted
    sha256sum <agg.sorted
    grep -c '^key ' agg.sorted
    P cut -d, -f2,4 lines.txt | P tr ' ' '\n' | P cut -d, -f2 | P sort -S 4M | P uniq -c | P sort -k1,1nr -k2,2 >words.txt
    sed -n '1,5p' words.txt
    P awk '$1 ~ /^key/ { print $2 "," $3 }' agg.sorted >counts.csv
    P cut -d, -f2,3 lines.txt | P sort -t, -k1,1 -S 8M >amounts.csv
    P join -t, counts.csv amounts.csv | P awk -F, '{ t[$1] += $3 * $2; l++ } END { for (k in t) x += t[k] % 9973; print l, x }'
    P awk -F, '{ line = $2 ":" $3; gsub(/w0/, "W", $4); out = out substr($4, 1, 8); if (NR % 5000 == 0) { print length(out), line; out = "" } }' lines.txt | sha256sum
    echo "done"
}

# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_NAMES=()

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

fail() {
    local name=$1
    shift
    echo "FAIL $name: $*"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
}

show_tail() { # label file
    if [ -s "$2" ]; then
        echo "  --- $1 (last 15 lines) ---"
        tail -n 15 "$2" | sed 's/^/  | /'
    fi
}

run_one() { # name mode
    local name=$1 mode=$2
    local base="$TMP/$name"
    local work="$base/work" stats="$base/stats-$mode"
    rm -rf "$work"
    mkdir -p "$work" "$stats"
    if [ "$mode" = plain ]; then
        RUN=(timeout -k 10 "$TIMEOUT" env -u LD_PRELOAD -u ZSLAB_STATS_FILE)
    else
        RUN=(timeout -k 10 "$TIMEOUT" env LD_PRELOAD="$LIB" ZSLAB_STATS_FILE="$stats/stats.%p.json")
    fi
    local t0 rc
    t0=$(now)
    set +e
    (
        set -euo pipefail
        cd "$work"
        "wl_$name"
    ) >"$base/$mode.out" 2>"$base/$mode.err" </dev/null
    rc=$?
    set -e
    echo "$rc" >"$base/$mode.rc"
    secs "$t0" "$(now)" >"$base/$mode.time"
}

run_workload() {
    local name=$1
    local base="$TMP/$name"
    mkdir -p "$base"
    echo "--- $name"
    run_one "$name" plain
    run_one "$name" zslab
    rm -rf "$base/work"

    local rc_p rc_z t_p t_z
    rc_p=$(cat "$base/plain.rc")
    rc_z=$(cat "$base/zslab.rc")
    t_p=$(cat "$base/plain.time")
    t_z=$(cat "$base/zslab.time")
    echo "  time: plain ${t_p}s, zslab ${t_z}s"

    # Statistics (informational, and checked below).
    local st files sa sf la lf extra rest bad=()
    st=$(sum_stats "$base/stats-zslab") || {
        fail "$name" "could not summarise stats files in $base/stats-zslab"
        return
    }
    read -r files sa sf la lf extra rest <<<"$st" || true
    # shellcheck disable=SC2206
    [ -n "${rest:-}" ] && bad=($rest)
    echo "  zslab stats: $files file(s), small_allocs=$sa small_frees=$sf large_allocs=$la large_frees=$lf"
    # Informational only: counters outside the contract, when zslab reports them.
    [ "$extra" = - ] || echo "  zslab stats (info): ${extra//,/ }"
    case $extra in
    *double_frees=* | *invalid_frees=*)
        echo "  WARNING $name: zslab reported double/invalid frees in a real program (see above)" ;;
    esac

    if [ "$rc_p" -ne 0 ]; then
        fail "$name" "the PLAIN run failed (exit $rc_p): workload or environment problem, not zslab"
        show_tail "plain stderr" "$base/plain.err"
        return
    fi
    if [ ! -s "$base/plain.out" ]; then
        fail "$name" "the plain run printed nothing (workload problem)"
        return
    fi
    if [ "$rc_z" -ne "$rc_p" ]; then
        local why="exit status $rc_z with zslab vs $rc_p plain"
        if [ "$rc_z" -eq 124 ]; then
            why="$why (timed out after ${TIMEOUT}s)"
        elif [ "$rc_z" -gt 128 ]; then
            why="$why (killed by signal $((rc_z - 128)))"
        fi
        fail "$name" "$why"
        show_tail "zslab stderr" "$base/zslab.err"
        show_tail "zslab stdout" "$base/zslab.out"
        return
    fi
    if ! cmp -s "$base/plain.out" "$base/zslab.out"; then
        fail "$name" "stdout differs between the plain and the zslab run"
        echo "  --- diff -u plain zslab (first 60 lines) ---"
        diff -u --label plain --label zslab "$base/plain.out" "$base/zslab.out" | head -n 60 | sed 's/^/  | /' || true
        show_tail "zslab stderr" "$base/zslab.err"
        return
    fi
    if [ "${#bad[@]}" -gt 0 ]; then
        fail "$name" "unreadable/invalid stats file(s): ${bad[*]}"
        return
    fi
    if [ "$files" -eq 0 ]; then
        fail "$name" "no stats file was written (was the library preloaded at all?)"
        show_tail "zslab stderr" "$base/zslab.err"
        return
    fi
    if [ "$sa" -eq 0 ] || [ "$sf" -eq 0 ]; then
        fail "$name" "zslab served no small allocations itself (small_allocs=$sa small_frees=$sf)"
        return
    fi
    echo "PASS $name"
    PASSED=$((PASSED + 1))
    SUMMARY+=("$(printf '%-15s plain %6ss  zslab %6ss  files %4s  small_allocs %12s  large_allocs %10s' \
        "$name" "$t_p" "$t_z" "$files" "$sa" "$la")")
}

SUMMARY=()
echo "zslab real-program tests"
echo "  library: $LIB"
echo "  python:  $PYBIN ($("$PYBIN" -V 2>&1)); git: $(git --version); sqlite3: $(sqlite3 -version | cut -d' ' -f1); perl: $(perl -e 'print $^V')"
T_START=$(now)
for w in "${selected[@]}"; do
    run_workload "$w"
done

echo
echo "== summary"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
[ "$FAILED" -eq 0 ] || echo "  failed: ${FAILED_NAMES[*]}"
echo "  total time: $(secs "$T_START" "$(now)")s"
echo "real-programs: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
