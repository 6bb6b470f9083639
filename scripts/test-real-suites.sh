#!/usr/bin/env bash
# Real projects' own test suites under zslab.
#
# Usage: scripts/test-real-suites.sh [path/to/libzslab.so]
#
# Runs two upstream test suites, as Debian ships them, twice each: once plain
# and once with LD_PRELOAD=<lib>, and requires the same outcome for every
# unit in both runs:
#
#   cpython   CPython's regression tests (Debian's libpython3.11-testsuite, run
#             by /usr/bin/python3.11 -m test) with PYTHONMALLOC=malloc, so every
#             Python object comes from malloc.  ~100 allocation-heavy modules
#             (scripts/real-suites/cpython-tests.txt, minus the test cases in
#             cpython-ignore.txt), each in its own worker process; a unit is a
#             module, its outcome pass / fail / skip / ran-no-tests.
#   glib      GLib's installed tests (libglib2.0-tests: GHashTable, GVariant,
#             GSequence, GObject signals and properties, main loops, threads,
#             GSubprocess, GDBus, ...) with G_SLICE=always-malloc, so GLib's
#             slice allocations also go through malloc.  Every test program
#             in /usr/share/installed-tests/glib except those listed in
#             scripts/real-suites/glib-exclude.txt (with the reason); a unit is
#             a test program, its outcome from the exit status (0 pass, 77
#             skip, anything else fail) and its TAP lines.
#
# Per-case results (CPython's junit XML, GLib's TAP) are compared too; a
# case-level difference inside units with the same outcome is printed as a
# NOTE and does not fail.  The zslab run must also show (ZSLAB_STATS_FILE)
# that zslab itself served small allocations.
#
# Prints "PASS <suite> ..." or "FAIL <suite>: ..." per suite with timings;
# for every unit whose outcome differs, its output, any "zslab:" messages and
# a verbose re-run of that unit under zslab.  Ends with
# "real-suites: N passed, N failed"; exits 1 if a suite failed, 2 on a setup
# error.  Missing packages (python3.11, libpython3.11-testsuite,
# libglib2.0-tests) are installed with apt-get.
#
# Environment knobs (all optional):
#   ZSLAB_RS_ONLY=cpython,glib    run only these suites
#   ZSLAB_RS_JOBS=N               units run in parallel (default: cores, min 2)
#   ZSLAB_RS_PY_TESTS="test_a ..." CPython modules instead of cpython-tests.txt
#   ZSLAB_RS_GLIB_TESTS="a,b"     GLib test programs instead of all (minus excluded)
#   ZSLAB_RS_RERUN=0              no verbose re-run of differing units
#   ZSLAB_RS_ZSLAB_ENV="ZSLAB_X=v ..."  extra zslab settings for the zslab run
#                                 only, e.g. "ZSLAB_EPOCH_MS=1 ZSLAB_CACHE_SLABS=0"
#   ZSLAB_RS_KEEP=1               keep the temporary directory (logs, outcomes)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RS="$ROOT/scripts/real-suites"
LIB_ARG=${1:-$ROOT/target/release/libzslab.so}
ONLY=${ZSLAB_RS_ONLY:-}
ALL_SUITES=(cpython glib)
NCPU=$(nproc 2>/dev/null || echo 2)
JOBS=${ZSLAB_RS_JOBS:-$((NCPU < 2 ? 2 : NCPU))}
RERUN=${ZSLAB_RS_RERUN:-1}
PY=/usr/bin/python3.11
PY_MODULE_TIMEOUT=600 # regrtest --timeout: one module (the longest takes ~80 s)
PY_RUN_TIMEOUT=1500   # one whole regrtest run
GLIB_TEST_TIMEOUT=240 # one GLib test program (the longest takes ~11 s)
GLIB_RUN_TIMEOUT=1200 # one whole GLib run

die() {
    echo "test-real-suites: error: $*" >&2
    exit 2
}

selected=("${ALL_SUITES[@]}")
if [ -n "$ONLY" ]; then
    IFS=', ' read -r -a selected <<<"$ONLY"
    for s in "${selected[@]}"; do
        case " ${ALL_SUITES[*]} " in
        *" $s "*) ;;
        *) die "unknown suite '$s' in ZSLAB_RS_ONLY (known: ${ALL_SUITES[*]})" ;;
        esac
    done
fi
case $JOBS in '' | *[!0-9]* | 0) die "ZSLAB_RS_JOBS must be a positive integer" ;; esac
read -r -a ZENV <<<"${ZSLAB_RS_ZSLAB_ENV:-}"
for kv in "${ZENV[@]}"; do
    [[ $kv =~ ^ZSLAB_[A-Z_]+=[^[:space:]]*$ ]] || die "ZSLAB_RS_ZSLAB_ENV: '$kv' is not ZSLAB_NAME=value"
done

# ---------------------------------------------------------------------------
# Library
# ---------------------------------------------------------------------------
[ -f "$LIB_ARG" ] || die "zslab library not found: $LIB_ARG (build it first: cargo build --release, or pass its path as the first argument)"
LIB=$(cd "$(dirname "$LIB_ARG")" && pwd)/$(basename "$LIB_ARG") # absolute: the suites cd around
case $LIB in
*[[:space:]:]*) die "LD_PRELOAD cannot take a path containing spaces or colons: $LIB" ;;
esac

# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------
apt_install() {
    local sudo=()
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages ($*) and apt-get is not available: install them by hand"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing packages ($*): run as root or install them by hand"
        sudo=(sudo -n)
    fi
    echo "test-real-suites: installing $* with apt-get" >&2
    "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed; install the packages '$*' by hand"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed; install the packages by hand"
}

want() { case " ${selected[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

missing=()
# python3.11 runs both helpers; the machine's default python3 may be another
# build (pyenv), which the Debian test suite does not belong to.
[ -x "$PY" ] || missing+=(python3.11)
want cpython && { [ -f /usr/lib/python3.11/test/libregrtest/main.py ] || missing+=(python3.11 libpython3.11-testsuite); }
want glib && { [ -d /usr/share/installed-tests/glib ] || missing+=(libglib2.0-tests); }
command -v timeout >/dev/null 2>&1 || missing+=(coreutils)
if [ ${#missing[@]} -gt 0 ]; then
    # shellcheck disable=SC2207
    missing=($(printf '%s\n' "${missing[@]}" | sort -u))
    apt_install "${missing[@]}"
fi
[ -x "$PY" ] || die "$PY still not found after installing"
if want cpython; then
    [ -f /usr/lib/python3.11/test/libregrtest/main.py ] || die "CPython's test suite still missing after installing"
fi
if want glib; then
    [ -d /usr/share/installed-tests/glib ] || die "GLib's installed tests still missing after installing"
fi

# ---------------------------------------------------------------------------
# Temporary directory and a neutral environment: the runs see only these
# variables (plus LD_PRELOAD in the zslab run), nothing from the caller.
# ---------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zslab-real-suites.XXXXXX")
cleanup() {
    if [ -n "${ZSLAB_RS_KEEP:-}" ]; then
        echo "test-real-suites: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

base_env() { # dir: prints env(1) arguments for a run rooted at dir
    printf '%s\n' -i \
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "HOME=$1/home" "TMPDIR=$1/tmp" "XDG_RUNTIME_DIR=$1/run" \
        "LANG=C.UTF-8" "LC_ALL=C.UTF-8" "TERM=dumb" \
        "PYTHONDONTWRITEBYTECODE=1" \
        "ZSLAB_STATS_FILE=$1/stats/stats.%p.json"
}
prep_dir() { # dir
    rm -rf "$1"
    mkdir -p "$1/home" "$1/tmp" "$1/run" "$1/stats"
    chmod 700 "$1/run"
}

# Preflight: the dynamic loader only warns (and goes on without it) when a
# preloaded object cannot be loaded; catch that here with a clear message.
preflight_err=$(env LD_PRELOAD="$LIB" ZSLAB_STATS_FILE="$TMP/preflight.%p.json" /bin/true 2>&1 >/dev/null) ||
    die "running /bin/true with LD_PRELOAD=$LIB failed: $preflight_err"
case $preflight_err in
*"cannot be preloaded"* | *"cannot open shared object"*) die "the loader refused $LIB: $preflight_err" ;;
esac
rm -f "$TMP"/preflight.*.json

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_NAMES=()
SUMMARY=()

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
helper() { env -u LD_PRELOAD "$PY" -I "$RS/suites.py" "$@"; }

fail() {
    local name=$1
    shift
    echo "FAIL $name: $*"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
}

indent() { sed 's/^/  | /'; }

# Stats of the zslab run: sets ST_FILES ST_SA ST_SF ST_LA ST_LF ST_BAD.
read_stats() {
    read -r ST_FILES ST_SA ST_SF ST_LA ST_LF ST_BAD <<<"$(helper stats "$1")"
}

zslab_messages() { # files...: zslab's own diagnostics in the outputs
    grep -h -a '^zslab:' "$@" 2>/dev/null | sort | uniq -c | sort -rn | head -n 20 || true
}

# ---------------------------------------------------------------------------
# CPython
# ---------------------------------------------------------------------------
py_modules() {
    if [ -n "${ZSLAB_RS_PY_TESTS:-}" ]; then
        tr ', ' '\n\n' <<<"$ZSLAB_RS_PY_TESTS" | grep .
    else
        sed 's/#.*//' "$RS/cpython-tests.txt" | awk 'NF { print $1 }'
    fi
}
py_ignores() { sed 's/#.*//' "$RS/cpython-ignore.txt" | awk 'NF { print "-i"; print $1 }'; }

run_cpython_once() { # mode dir
    local mode=$1 dir=$2 envargs mods ign pre=()
    prep_dir "$dir"
    mapfile -t envargs < <(base_env "$dir")
    mapfile -t mods < <(py_modules)
    mapfile -t ign < <(py_ignores)
    [ "$mode" = zslab ] && pre=("LD_PRELOAD=$LIB" "${ZENV[@]}")
    local t0 rc
    t0=$(now)
    set +e
    (cd "$dir/tmp" && exec timeout -k 30 "$PY_RUN_TIMEOUT" env "${envargs[@]}" "${pre[@]}" PYTHONMALLOC=malloc \
        "$PY" "$RS/regrtest.py" -j"$JOBS" --timeout "$PY_MODULE_TIMEOUT" --junit-xml "$dir/junit.xml" \
        "${ign[@]}" "${mods[@]}") >"$dir/log" 2>&1 </dev/null
    rc=$?
    set -e
    echo "$rc" >"$dir/rc"
    secs "$t0" "$(now)" >"$dir/time"
    helper py-outcomes "$dir/log" "$dir/junit.xml" "$dir/outcomes.json"
}

py_module_block() { # log module: the module's result line and the output regrtest printed after it
    awk -v m="$2" '
        /\[ *[0-9]+\/[0-9]+(\/[0-9]+)?\] test_/ { on = ($0 ~ ("\\] " m " ")) ; if (on) { print; n = 0; next } }
        on && n < 120 { print; n++ }
    ' "$1"
}

suite_cpython() {
    local name=cpython base="$TMP/cpython"
    mkdir -p "$base"
    local nmods
    nmods=$(py_modules | wc -l)
    echo "--- $name: $nmods modules of CPython $("$PY" -c 'import sys; print(sys.version.split()[0])') regrtest, -j$JOBS, PYTHONMALLOC=malloc"
    run_cpython_once plain "$base/plain"
    run_cpython_once zslab "$base/zslab"
    local t_p t_z rc_p rc_z
    t_p=$(cat "$base/plain/time")
    t_z=$(cat "$base/zslab/time")
    rc_p=$(cat "$base/plain/rc")
    rc_z=$(cat "$base/zslab/rc")
    echo "  time: plain ${t_p}s (regrtest exit $rc_p), zslab ${t_z}s (regrtest exit $rc_z)"
    read_stats "$base/zslab/stats"
    echo "  zslab stats: $ST_FILES file(s), small_allocs=$ST_SA small_frees=$ST_SF large_allocs=$ST_LA large_frees=$ST_LF"

    local cmp crc
    set +e
    cmp=$(helper compare "$base/plain/outcomes.json" "$base/zslab/outcomes.json")
    crc=$?
    set -e
    echo "$cmp" | grep -v '^COUNTS' | indent || true
    local counts
    counts=$(echo "$cmp" | sed -n 's/^COUNTS //p')
    echo "  zslab outcomes: $counts"

    # The plain run must have run every module (an incomplete plain run means
    # a broken environment, not a zslab problem).
    local nplain pfail
    nplain=$(helper_count "$base/plain/outcomes.json" all)
    pfail=$(helper_count "$base/plain/outcomes.json" fail)
    if [ "$nplain" -ne "$nmods" ] || [ "$rc_p" -eq 124 ] || [ "$rc_p" -ge 128 ]; then
        fail "$name" "the PLAIN run reported $nplain of $nmods modules (regrtest exit $rc_p): environment problem, not zslab"
        tail -n 30 "$base/plain/log" | indent
        return
    fi
    [ "$pfail" -eq 0 ] || echo "  WARNING: $pfail module(s) fail even without zslab (see cpython-tests.txt to exclude them)"

    if [ "$crc" -ne 0 ]; then
        local diffmods m
        mapfile -t diffmods < <(echo "$cmp" | sed -n 's/^DIFF \([^:]*\):.*/\1/p')
        fail "$name" "${#diffmods[@]} module(s) with a different outcome under zslab: ${diffmods[*]}"
        local msgs
        msgs=$(zslab_messages "$base/zslab/log")
        [ -z "$msgs" ] || { echo "  --- zslab messages in the zslab run ---"; echo "$msgs" | indent; }
        for m in "${diffmods[@]}"; do
            echo "  --- $m: zslab run output (regrtest prints a failing module's output) ---"
            py_module_block "$base/zslab/log" "$m" | tail -n 80 | indent
            if [ "$RERUN" = 1 ]; then
                local rdir="$base/rerun-$m" envargs ign rrc
                prep_dir "$rdir"
                mapfile -t envargs < <(base_env "$rdir")
                mapfile -t ign < <(py_ignores)
                set +e
                (cd "$rdir/tmp" && exec timeout -k 30 "$PY_MODULE_TIMEOUT" env "${envargs[@]}" LD_PRELOAD="$LIB" "${ZENV[@]}" PYTHONMALLOC=malloc \
                    "$PY" -m test -v --timeout "$PY_MODULE_TIMEOUT" "${ign[@]}" "$m") >"$rdir/log" 2>&1 </dev/null
                rrc=$?
                set -e
                echo "  --- $m: re-run alone under zslab, verbose: regrtest exit $rrc ($(grep -a -m1 '^Tests result' "$rdir/log" || echo 'no result line')); failing tests and last lines ---"
                grep -a -E '^(FAIL|ERROR):|^Fatal Python error|^zslab:|Segmentation|Aborted' "$rdir/log" | head -n 20 | indent || true
                tail -n 40 "$rdir/log" | indent
            fi
        done
        return
    fi
    if [ "$ST_FILES" -eq 0 ] || [ "$ST_SA" -eq 0 ] || [ "$ST_SF" -eq 0 ]; then
        fail "$name" "zslab served no small allocations (stats files=$ST_FILES small_allocs=$ST_SA small_frees=$ST_SF): was it preloaded?"
        return
    fi
    echo "PASS $name ($counts; plain ${t_p}s, zslab ${t_z}s)"
    PASSED=$((PASSED + 1))
    SUMMARY+=("$(printf '%-8s plain %6ss  zslab %6ss  %s' "$name" "$t_p" "$t_z" "$counts")")
}

helper_count() { # outcomes.json what(all|fail|...)
    "$PY" -I -c '
import json, sys
u = json.load(open(sys.argv[1]))["units"]
w = sys.argv[2]
print(len(u) if w == "all" else sum(1 for v in u.values() if v["outcome"] == w))
' "$1" "$2"
}

# ---------------------------------------------------------------------------
# GLib
# ---------------------------------------------------------------------------
run_glib_once() { # mode dir [only]
    local mode=$1 dir=$2 only=${3:-${ZSLAB_RS_GLIB_TESTS:-}} envargs pre=()
    prep_dir "$dir"
    mapfile -t envargs < <(base_env "$dir")
    if [ "$mode" = zslab ]; then
        pre=(--preload "$LIB")
        for kv in "${ZENV[@]}"; do pre+=(--setenv "$kv"); done
    fi
    local t0 rc
    t0=$(now)
    set +e
    timeout -k 30 "$GLIB_RUN_TIMEOUT" env "${envargs[@]}" "$PY" -I "$RS/suites.py" glib-run \
        --out "$dir" --jobs "$JOBS" --timeout "$GLIB_TEST_TIMEOUT" \
        --exclude "$RS/glib-exclude.txt" --only "$only" "${pre[@]}" \
        --setenv G_SLICE=always-malloc >"$dir/log" 2>&1 </dev/null
    rc=$?
    set -e
    echo "$rc" >"$dir/rc"
    secs "$t0" "$(now)" >"$dir/time"
}

suite_glib() {
    local name=glib base="$TMP/glib"
    mkdir -p "$base"
    echo "--- $name: GLib $(dpkg-query -W -f '${Version}' libglib2.0-tests 2>/dev/null || echo '?') installed tests, $JOBS at a time, G_SLICE=always-malloc"
    run_glib_once plain "$base/plain"
    run_glib_once zslab "$base/zslab"
    local t_p t_z rc_p rc_z
    t_p=$(cat "$base/plain/time")
    t_z=$(cat "$base/zslab/time")
    rc_p=$(cat "$base/plain/rc")
    rc_z=$(cat "$base/zslab/rc")
    echo "  time: plain ${t_p}s, zslab ${t_z}s"
    if [ "$rc_p" -ne 0 ] || [ ! -s "$base/plain/outcomes.json" ]; then
        fail "$name" "the PLAIN runner failed (exit $rc_p): environment problem, not zslab"
        tail -n 20 "$base/plain/log" | indent
        return
    fi
    if [ "$rc_z" -ne 0 ] || [ ! -s "$base/zslab/outcomes.json" ]; then
        fail "$name" "the runner of the zslab run failed (exit $rc_z)"
        tail -n 20 "$base/zslab/log" | indent
        return
    fi
    read_stats "$base/zslab/stats"
    echo "  zslab stats: $ST_FILES file(s), small_allocs=$ST_SA small_frees=$ST_SF large_allocs=$ST_LA large_frees=$ST_LF"

    local cmp crc
    set +e
    cmp=$(helper compare "$base/plain/outcomes.json" "$base/zslab/outcomes.json")
    crc=$?
    set -e
    echo "$cmp" | grep -v '^COUNTS' | indent || true
    local counts pfail
    counts=$(echo "$cmp" | sed -n 's/^COUNTS //p')
    echo "  zslab outcomes: $counts"
    pfail=$(helper_count "$base/plain/outcomes.json" fail)
    [ "$pfail" -eq 0 ] || echo "  WARNING: $pfail test program(s) fail even without zslab (see glib-exclude.txt to exclude them)"

    if [ "$crc" -ne 0 ]; then
        local difftests t
        mapfile -t difftests < <(echo "$cmp" | sed -n 's/^DIFF \([^:]*\):.*/\1/p')
        fail "$name" "${#difftests[@]} test program(s) with a different outcome under zslab: ${difftests[*]}"
        for t in "${difftests[@]}"; do
            local lo="$base/zslab/logs/$t"
            echo "  --- $t: zslab run: TAP failures and the last lines of stderr ---"
            grep -a -E '^(not ok|Bail out)' "$lo.out" 2>/dev/null | head -n 10 | indent || true
            zslab_messages "$lo.out" "$lo.err" | indent
            tail -n 25 "$lo.err" 2>/dev/null | indent || true
            if [ "$RERUN" = 1 ]; then
                run_glib_once zslab "$base/rerun-$t" "$t"
                local again
                again=$("$PY" -I -c '
import json, sys
u = json.load(open(sys.argv[1]))["units"][sys.argv[2]]
print(u["outcome"], "(" + u["detail"] + ")")' "$base/rerun-$t/outcomes.json" "$t" 2>/dev/null || echo "? (re-run failed)")
                echo "  --- $t: re-run alone under zslab: $again ---"
                grep -a -E '^(not ok|Bail out)' "$base/rerun-$t/logs/$t.out" 2>/dev/null | head -n 10 | indent || true
                tail -n 15 "$base/rerun-$t/logs/$t.err" 2>/dev/null | indent || true
            fi
        done
        return
    fi
    if [ "$ST_FILES" -eq 0 ] || [ "$ST_SA" -eq 0 ] || [ "$ST_SF" -eq 0 ]; then
        fail "$name" "zslab served no small allocations (stats files=$ST_FILES small_allocs=$ST_SA small_frees=$ST_SF): was it preloaded?"
        return
    fi
    echo "PASS $name ($counts; plain ${t_p}s, zslab ${t_z}s)"
    PASSED=$((PASSED + 1))
    SUMMARY+=("$(printf '%-8s plain %6ss  zslab %6ss  %s' "$name" "$t_p" "$t_z" "$counts")")
}

# ---------------------------------------------------------------------------
echo "zslab real test suites"
echo "  library: $LIB"
echo "  python:  $PY ($("$PY" -V 2>&1)); jobs: $JOBS"
[ ${#ZENV[@]} -eq 0 ] || echo "  zslab run settings: ${ZENV[*]}"
T_START=$(now)
for s in "${selected[@]}"; do
    "suite_$s"
done

echo
echo "== summary"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
[ "$FAILED" -eq 0 ] || echo "  failed: ${FAILED_NAMES[*]}"
echo "  total time: $(secs "$T_START" "$(now)")s"
echo "real-suites: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
