#!/usr/bin/env bash
# zslab benchmark driver: compares glibc, jemalloc, mimalloc, tcmalloc and
# zslab (all via LD_PRELOAD, glibc without preload) on the workloads in
# bench/, interleaving the allocators round-robin within every repetition.
# --baseline adds an earlier zslab build as a sixth allocator, zslab_base, so
# a before/after comparison is measured in the same run.
#
# Results: bench/results/bench-<stamp>.csv (raw, one row per run),
#          bench/results/bench-<stamp>.meta (machine + command),
#          bench/results/bench-<stamp>-data/ (RSS-over-time samples, latency
#          histograms), bench/results/bench-<stamp>-*.png (charts),
#          bench/results/bench-<stamp>.md and bench/results/latest.md (report,
#          also printed on stdout).
# See docs/benchmarks.md for the method.
set -euo pipefail

ORIG_PWD=$(pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ALL_WORKLOADS=(mixed_st mixed_mt prodcons larson churn_rss malloc_large python sqlite
               scaling xmalloc cache_scratch mstress rptest malloc_simple latency
               realloc_calloc randsize_1t randsize_2t medium_replace
               phase_py phase_py_twin phase_c phase_c_twin auto_epoch_off auto_epoch_on)
# --only accepts these group names too
declare -A GROUPS_=(
    [phase_py]="phase_py phase_py_twin"
    [phase_c]="phase_c phase_c_twin"
    [auto_epoch]="auto_epoch_off auto_epoch_on"
    [phases]="phase_py phase_py_twin phase_c phase_c_twin"
)
ALL_ALLOCATORS=(glibc jemalloc mimalloc tcmalloc zslab)
# the earlier zslab build of --baseline; only exists with that option
BASE_ALLOC=zslab_base

usage() {
    cat <<EOF
usage: scripts/bench.sh [options]

  --reps N            repetitions per (workload, allocator) (default 5; --quick: 2)
  --quick             small sizes and 2 reps, for smoke-checking (< 4 min)
  --only LIST         comma-separated workloads (default: all); the groups
                      phase_py, phase_c (each with its kept-only twin),
                      phases (both) and auto_epoch (off and on) also work
                      workloads: ${ALL_WORKLOADS[*]}
  --allocators LIST   comma-separated allocators (default: ${ALL_ALLOCATORS[*]})
  --zslab PATH        zslab shared object (default: target/release/libzslab.so)
  --baseline PATH     a second zslab shared object (an earlier build) run as
                      one more allocator, $BASE_ALLOC, in every workload's
                      rotation with the same environment as zslab; the report
                      adds a "zslab ÷ $BASE_ALLOC" section
  --baseline-label TEXT
                      names the baseline in the report (default: its file name)
  --timeout SEC       per-run timeout (default 180; --quick: 60)
  --no-install        never call apt-get or pip (just skip what is missing)
  --no-charts         do not draw the PNG charts
  --copy-charts DIR   also copy the charts to DIR (e.g. docs/img) as bench-<chart>.png
  --list              print the workload names and exit
  -h, --help          this help

Environment: BENCH_CC (default gcc), BENCH_CFLAGS (default -O2),
BENCH_SIZE_<WORKLOAD>="ARGS" replaces a workload's size arguments (see the
usage line at the top of bench/<program>.c), e.g.
BENCH_SIZE_PHASE_C="4 200 0" (the twin's arguments are then derived).
EOF
}

log() { printf '%s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

REPS=""
QUICK=0
ONLY=""
ALLOC_SEL=""
ZSLAB="target/release/libzslab.so"
ZSLAB_FROM_ARG=0
BASELINE=""
BASELINE_LABEL=""
TIMEOUT=""
INSTALL=1
CHARTS=1
COPY_CHARTS=""
ARGS_STR="scripts/bench.sh${*:+ $*}"

while [ $# -gt 0 ]; do
    case "$1" in
        --reps) [ $# -ge 2 ] || die "--reps needs a value"; REPS=$2; shift 2 ;;
        --reps=*) REPS=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        --only) [ $# -ge 2 ] || die "--only needs a value"; ONLY=$2; shift 2 ;;
        --only=*) ONLY=${1#*=}; shift ;;
        --allocators) [ $# -ge 2 ] || die "--allocators needs a value"; ALLOC_SEL=$2; shift 2 ;;
        --allocators=*) ALLOC_SEL=${1#*=}; shift ;;
        --zslab) [ $# -ge 2 ] || die "--zslab needs a value"; ZSLAB=$2; ZSLAB_FROM_ARG=1; shift 2 ;;
        --zslab=*) ZSLAB=${1#*=}; ZSLAB_FROM_ARG=1; shift ;;
        --baseline) [ $# -ge 2 ] || die "--baseline needs a value"; BASELINE=$2; shift 2 ;;
        --baseline=*) BASELINE=${1#*=}; shift ;;
        --baseline-label) [ $# -ge 2 ] || die "--baseline-label needs a value"; BASELINE_LABEL=$2; shift 2 ;;
        --baseline-label=*) BASELINE_LABEL=${1#*=}; shift ;;
        --timeout) [ $# -ge 2 ] || die "--timeout needs a value"; TIMEOUT=$2; shift 2 ;;
        --timeout=*) TIMEOUT=${1#*=}; shift ;;
        --no-install) INSTALL=0; shift ;;
        --no-charts) CHARTS=0; shift ;;
        --copy-charts) [ $# -ge 2 ] || die "--copy-charts needs a value"; COPY_CHARTS=$2; shift 2 ;;
        --copy-charts=*) COPY_CHARTS=${1#*=}; shift ;;
        --list) printf '%s\n' "${ALL_WORKLOADS[@]}"; exit 0 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

if [ -z "$REPS" ]; then
    if [ "$QUICK" = 1 ]; then REPS=2; else REPS=5; fi
fi
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer (got '$REPS')"
if [ -z "$TIMEOUT" ]; then
    if [ "$QUICK" = 1 ]; then TIMEOUT=60; else TIMEOUT=180; fi
fi
if [ -n "$COPY_CHARTS" ] && [[ "$COPY_CHARTS" != /* ]]; then COPY_CHARTS="$ORIG_PWD/$COPY_CHARTS"; fi
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive integer (got '$TIMEOUT')"

# A relative --zslab path is relative to where the script was invoked; the
# default is relative to the repository root.
if [ "$ZSLAB_FROM_ARG" = 1 ] && [[ "$ZSLAB" != /* ]]; then
    ZSLAB="$ORIG_PWD/$ZSLAB"
elif [[ "$ZSLAB" != /* ]]; then
    ZSLAB="$ROOT/$ZSLAB"
fi
if [ -n "$BASELINE" ]; then
    [[ "$BASELINE" == /* ]] || BASELINE="$ORIG_PWD/$BASELINE"
    # checked now, not skipped later like a missing zslab: the comparison is
    # what was asked for, so a typo must not cost a whole run without it
    [ -f "$BASELINE" ] || die "--baseline: $BASELINE not found"
    [ -n "$BASELINE_LABEL" ] || BASELINE_LABEL=$(basename "$BASELINE")
elif [ -n "$BASELINE_LABEL" ]; then
    die "--baseline-label needs --baseline"
fi

in_list() { # in_list WORD ARRAY...
    local w=$1; shift
    local x
    for x in "$@"; do [ "$x" = "$w" ] && return 0; done
    return 1
}

WORKLOADS=()
if [ -n "$ONLY" ]; then
    IFS=',' read -r -a _sel <<<"$ONLY"
    for g in "${_sel[@]}"; do
        [ -z "$g" ] && continue
        if [ -n "${GROUPS_[$g]:-}" ]; then read -r -a _members <<<"${GROUPS_[$g]}"; else _members=("$g"); fi
        for w in "${_members[@]}"; do
            in_list "$w" "${ALL_WORKLOADS[@]}" || die "unknown workload '$w' (known: ${ALL_WORKLOADS[*]}; groups: ${!GROUPS_[*]})"
            in_list "$w" ${WORKLOADS[@]+"${WORKLOADS[@]}"} || WORKLOADS+=("$w")
        done
    done
    # keep the canonical order (a twin runs right after its workload)
    _ordered=()
    for w in "${ALL_WORKLOADS[@]}"; do
        in_list "$w" "${WORKLOADS[@]}" && _ordered+=("$w")
    done
    WORKLOADS=("${_ordered[@]}")
else
    WORKLOADS=("${ALL_WORKLOADS[@]}")
fi
[ ${#WORKLOADS[@]} -gt 0 ] || die "no workloads selected"

WANT_ALLOCS=()
if [ -n "$ALLOC_SEL" ]; then
    IFS=',' read -r -a _sel <<<"$ALLOC_SEL"
    for a in "${_sel[@]}"; do
        [ -z "$a" ] && continue
        # naming zslab_base is allowed (it is added anyway) but only with --baseline
        if [ "$a" = "$BASE_ALLOC" ]; then
            [ -n "$BASELINE" ] || die "allocator '$BASE_ALLOC' needs --baseline PATH"
            continue
        fi
        in_list "$a" "${ALL_ALLOCATORS[@]}" || die "unknown allocator '$a' (known: ${ALL_ALLOCATORS[*]})"
        in_list "$a" ${WANT_ALLOCS[@]+"${WANT_ALLOCS[@]}"} || WANT_ALLOCS+=("$a")
    done
else
    WANT_ALLOCS=("${ALL_ALLOCATORS[@]}")
fi
# the baseline always joins the rotation, last, whatever --allocators says
if [ -n "$BASELINE" ]; then WANT_ALLOCS+=("$BASE_ALLOC"); fi
[ ${#WANT_ALLOCS[@]} -gt 0 ] || die "no allocators selected"

# ------------------------------------------------------------ dependencies

MULTIARCH=$( (gcc -print-multiarch 2>/dev/null || true) | head -n1)
[ -n "$MULTIARCH" ] || MULTIARCH="$(uname -m)-linux-gnu"

find_lib() { # find_lib SONAME -> prints the path or nothing
    local name=$1 p d
    if command -v ldconfig >/dev/null 2>&1 || [ -x /sbin/ldconfig ]; then
        p=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true) |
            awk -v n="$name" '$1 == n { print $NF; exit }')
        if [ -n "$p" ] && [ -e "$p" ]; then printf '%s\n' "$p"; return 0; fi
    fi
    for d in "/usr/lib/$MULTIARCH" "/lib/$MULTIARCH" /usr/lib64 /lib64 /usr/lib /lib \
             /usr/local/lib "/usr/local/lib/$MULTIARCH"; do
        if [ -e "$d/$name" ]; then printf '%s\n' "$d/$name"; return 0; fi
    done
    return 0
}

lib_soname() {
    case "$1" in
        jemalloc) echo libjemalloc.so.2 ;;
        mimalloc) echo libmimalloc.so.2 ;;
        tcmalloc) echo libtcmalloc_minimal.so.4 ;;
    esac
}
lib_package() {
    case "$1" in
        jemalloc) echo libjemalloc2 ;;
        mimalloc) echo libmimalloc2.0 ;;
        tcmalloc) echo libtcmalloc-minimal4 ;;
    esac
}

apt_install() { # apt_install PKG...  (best effort)
    if [ "$INSTALL" != 1 ]; then
        warn "missing packages ($*), not installing (--no-install)"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        warn "missing packages ($*) and no apt-get here"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            warn "missing packages ($*): not root and no passwordless sudo, skipping install"
            return 0
        fi
    fi
    log "installing: $*"
    if ! DEBIAN_FRONTEND=noninteractive ${sudo[@]+"${sudo[@]}"} apt-get install -y -q "$@" >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive ${sudo[@]+"${sudo[@]}"} apt-get update -q >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive ${sudo[@]+"${sudo[@]}"} apt-get install -y -q "$@" >/dev/null 2>&1 ||
            warn "apt-get install $* failed"
    fi
}

CC=${BENCH_CC:-gcc}
missing=()
command -v "$CC" >/dev/null 2>&1 || missing+=(gcc libc6-dev)
for a in jemalloc mimalloc tcmalloc; do
    in_list "$a" "${WANT_ALLOCS[@]}" || continue
    [ -n "$(find_lib "$(lib_soname "$a")")" ] || missing+=("$(lib_package "$a")")
done
if in_list sqlite "${WORKLOADS[@]}" && ! command -v sqlite3 >/dev/null 2>&1; then
    missing+=(sqlite3)
fi
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
command -v "$CC" >/dev/null 2>&1 || die "no C compiler ($CC) found"

REPORT_PY=$(command -v python3 || true)
[ -n "$REPORT_PY" ] || die "python3 is needed for the report"

# ------------------------------------------------------------------- build

BUILD="$ROOT/bench/build"
RESULTS="$ROOT/bench/results"
mkdir -p "$BUILD" "$RESULTS"
CFLAGS=${BENCH_CFLAGS:--O2}
log "building bench programs ($CC $CFLAGS -pthread)"
for prog in runner mixed prodcons larson churn_rss malloc_large scaling xmalloc cache_scratch \
    mstress rptest malloc_simple latency realloc_calloc randsize medium_replace phase_c steady; do
    # shellcheck disable=SC2086
    "$CC" $CFLAGS -pthread -Wall -o "$BUILD/$prog" "bench/$prog.c" -ldl -lm ||
        die "failed to compile bench/$prog.c"
done
RUNNER="$BUILD/runner"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zslab-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------- allocator setup

declare -A SO=()
ZSLAB_ORIG="" ZSLAB_SHA="" ZSLAB_MTIME=""
BASE_SHA="" BASE_MTIME="" BASE_REV=""
ALLOCS=()
SKIPPED=()

preload_works() { # preload_works SO -> 0 if ld.so accepts it
    local so=$1 err
    err=$(LD_PRELOAD="$so" /bin/true 2>&1 >/dev/null) || return 1
    [ -z "$err" ]
}

for a in "${WANT_ALLOCS[@]}"; do
    case "$a" in
        glibc) SO[$a]=""; ALLOCS+=("$a"); continue ;;
        zslab) p=$ZSLAB
               if [ ! -e "$p" ]; then
                   warn "zslab: $p not found (build it with 'cargo build --release' or pass --zslab PATH); skipping zslab"
                   SKIPPED+=("zslab(not found)"); continue
               fi ;;
        "$BASE_ALLOC") p=$BASELINE ;;
        *) p=$(find_lib "$(lib_soname "$a")")
           if [ -z "$p" ]; then
               warn "$a: $(lib_soname "$a") not found (package $(lib_package "$a")); skipping $a"
               SKIPPED+=("$a(not found)"); continue
           fi ;;
    esac
    if ! preload_works "$p"; then
        [ "$a" != "$BASE_ALLOC" ] || die "--baseline: $p cannot be preloaded (ld.so error)"
        warn "$a: $p cannot be preloaded (ld.so error); skipping $a"
        SKIPPED+=("$a(preload error)"); continue
    fi
    if [ "$a" = zslab ]; then
        # benchmark a private copy: a `cargo build` during the run must not
        # swap the library under test between repetitions
        ZSLAB_ORIG=$p
        ZSLAB_SHA=$(sha256sum "$p" | cut -c1-12)
        ZSLAB_MTIME=$(date -u -r "$p" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?')
        mkdir -p "$TMP/zslab"
        cp "$p" "$TMP/zslab/$(basename "$p")"
        p="$TMP/zslab/$(basename "$p")"
    elif [ "$a" = "$BASE_ALLOC" ]; then
        # a private copy too (same reason), in its own directory: both builds
        # are usually called libzslab.so
        BASE_SHA=$(sha256sum "$p" | cut -d' ' -f1)
        BASE_MTIME=$(date -u -r "$p" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?')
        # the revision of the git tree holding the file, when it lies in one
        # (e.g. a worktree's target/release); a copy elsewhere has none
        if git -C "$(dirname "$p")" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            BASE_REV=$(git -C "$(dirname "$p")" rev-parse --short HEAD 2>/dev/null || true)
        fi
        mkdir -p "$TMP/$BASE_ALLOC"
        cp "$p" "$TMP/$BASE_ALLOC/$(basename "$p")"
        p="$TMP/$BASE_ALLOC/$(basename "$p")"
    fi
    SO[$a]=$p
    ALLOCS+=("$a")
done
[ ${#ALLOCS[@]} -gt 0 ] || die "no usable allocator"
if [ -n "$BASELINE" ] && [ -n "$ZSLAB_SHA" ] && [ "$BASE_SHA" = "$(sha256sum "$ZSLAB_ORIG" | cut -d' ' -f1)" ]; then
    warn "--baseline is the same file as zslab (sha256 $ZSLAB_SHA...): the comparison only measures noise"
fi

# smoke test: a crashing allocator is still benchmarked (its cells say so),
# but say it loudly up front.
for a in "${ALLOCS[@]}"; do
    out=$("$RUNNER" -p "${SO[$a]}" -o /dev/null -E /dev/null -t 30 -- "$BUILD/mixed" 1 10000 100)
    case "$out" in
        status=ok*) ;;
        *) warn "$a fails the smoke test (${out%% *}); its runs will probably be marked as failed" ;;
    esac
done

# --------------------------------------------------------------- workloads

NEEDS_PY=0
for w in python phase_py phase_py_twin; do in_list "$w" "${WORKLOADS[@]}" && NEEDS_PY=1; done
PYBIN=""
if [ "$NEEDS_PY" = 1 ]; then
    # the real interpreter binary (not a pyenv/asdf shim script, which would
    # run a shell under the preloaded allocator too)
    if [ -x /usr/bin/python3 ]; then
        PYBIN=/usr/bin/python3
    else
        PYBIN=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
    fi
    [ -n "$PYBIN" ] || { warn "no python3 interpreter: skipping the python workloads"; }
fi
SQLITE=""
if in_list sqlite "${WORKLOADS[@]}"; then
    SQLITE=$(command -v sqlite3 || true)
    [ -n "$SQLITE" ] || warn "no sqlite3: skipping workload sqlite"
fi

if [ "$QUICK" = 1 ]; then SQL_ROWS=20000; else SQL_ROWS=200000; fi
SQL_FILE="$BUILD/sqlite_${SQL_ROWS}.sql"
if [ -n "$SQLITE" ] && [ ! -s "$SQL_FILE" ]; then
    log "generating $SQL_FILE"
    "$REPORT_PY" bench/gen_sqlite_sql.py "$SQL_ROWS" "$SQL_FILE.tmp"
    mv "$SQL_FILE.tmp" "$SQL_FILE"
fi

NCPU=$(nproc 2>/dev/null || echo 2)
NCPU2=$((2 * NCPU))

# sizes WORKLOAD -> the workload's size arguments for this mode (full or
# --quick); BENCH_SIZE_<WORKLOAD> overrides them.  A twin takes its main
# workload's sizes with the twin flag set.
sizes() {
    local w=$1 var
    var="BENCH_SIZE_$(printf '%s' "$w" | tr '[:lower:]' '[:upper:]')"
    if [ -n "${!var:-}" ]; then printf '%s\n' "${!var}"; return; fi
    if [ "$QUICK" = 1 ]; then
        case "$w" in
            mixed_st|mixed_mt) echo "8000000 1000" ;;
            prodcons)       echo "3000000 1 4096" ;;
            larson)         echo "40 100000 1000" ;;
            churn_rss)      echo "200 20000 2000 100" ;;
            malloc_large)   echo "2000 16" ;;
            python)         echo "1 20000" ;;
            scaling)        echo "$NCPU2 4000000 1000" ;;
            xmalloc)        echo "$NCPU2 40 10000" ;;
            cache_scratch)  echo "$NCPU 40 100000 8" ;;
            mstress)        echo "$NCPU2 10 20000 8192" ;;
            rptest)         echo "$NCPU 300000 2048 16" ;;
            malloc_simple)  echo "6000000 100000" ;;
            latency)        echo "200000 1024" ;;
            realloc_calloc) echo "2 8 4096 40 16384" ;;
            randsize_1t|randsize_2t) echo "2000000 1024" ;;
            medium_replace) echo "200000 64" ;;
            phase_py)       echo "3 15 25 0 32 20 300" ;;
            phase_c)        echo "3 30 0 4 20 300" ;;
            auto_epoch_off|auto_epoch_on) echo "1000000 100000 50" ;;
            *) echo "" ;;
        esac
    else
        case "$w" in
            mixed_st|mixed_mt) echo "100000000 1000" ;;
            prodcons)       echo "30000000 1 4096" ;;
            larson)         echo "400 100000 1000" ;;
            churn_rss)      echo "2000 20000 2000 100" ;;
            malloc_large)   echo "20000 16" ;;
            python)         echo "12 20000" ;;
            scaling)        echo "$NCPU2 24000000 1000" ;;
            xmalloc)        echo "$NCPU2 400 10000" ;;
            cache_scratch)  echo "$NCPU 400 100000 8" ;;
            mstress)        echo "$NCPU2 100 20000 8192" ;;
            rptest)         echo "$NCPU 3000000 2048 16" ;;
            malloc_simple)  echo "40000000 100000" ;;
            latency)        echo "1000000 1024" ;;
            realloc_calloc) echo "20 8 4096 400 16384" ;;
            randsize_1t|randsize_2t) echo "20000000 1024" ;;
            medium_replace) echo "2000000 64" ;;
            phase_py)       echo "6 150 250 0 32 20 300" ;;
            phase_c)        echo "6 300 0 4 20 300" ;;
            auto_epoch_off|auto_epoch_on) echo "8000000 1000000 50" ;;
            *) echo "" ;;
        esac
    fi
}

# twin_sizes MAIN TWIN_INDEX -> MAIN's sizes with argument TWIN_INDEX (1-based) set to 1
twin_sizes() {
    local -a a
    read -r -a a <<<"$(sizes "$1")"
    while [ ${#a[@]} -lt "$2" ]; do a+=(0); done
    a[$(($2 - 1))]=1
    printf '%s\n' "${a[*]}"
}

# allowed WORKLOAD ALLOCATOR -> 0 if the workload runs under that allocator
# (the zslab-only runs include the baseline build, which is zslab too)
allowed() {
    case "$1" in
        auto_epoch_off|auto_epoch_on) [ "$2" = zslab ] || [ "$2" = "$BASE_ALLOC" ] ;;
        *) return 0 ;;
    esac
}

# setup_workload NAME [warmup] -> sets W_CMD (array), W_OPTS (runner
# options), W_SAMPLE (1: record RSS over time), W_DATA (1: the program
# writes a data file to $BENCH_DATA_OUT)
setup_workload() {
    local w=$1 small=${2:-}
    local quick_saved=$QUICK
    local -a S
    [ -n "$small" ] && QUICK=1
    case "$w" in
        phase_py_twin) read -r -a S <<<"$(twin_sizes phase_py 4)" ;;
        phase_c_twin)  read -r -a S <<<"$(twin_sizes phase_c 3)" ;;
        *)             read -r -a S <<<"$(sizes "$w")" ;;
    esac
    W_OPTS=()
    W_SAMPLE=0
    W_DATA=0
    case "$w" in
        mixed_st)     W_CMD=("$BUILD/mixed" 1 "${S[@]}") ;;
        mixed_mt)     W_CMD=("$BUILD/mixed" 2 "${S[@]}") ;;
        prodcons)     W_CMD=("$BUILD/prodcons" "${S[@]}") ;;
        larson)       W_CMD=("$BUILD/larson" 2 "${S[@]}") ;;
        churn_rss)    W_CMD=("$BUILD/churn_rss" "${S[@]}"); W_SAMPLE=1 ;;
        malloc_large) W_CMD=("$BUILD/malloc_large" "${S[@]}") ;;
        python)       W_OPTS=(-e PYTHONMALLOC=malloc)
                      W_CMD=("$PYBIN" -s "$ROOT/bench/py_alloc.py" "${S[@]}") ;;
        sqlite)       W_OPTS=(-i "$SQL_FILE")
                      W_CMD=("$SQLITE" :memory:) ;;
        scaling|xmalloc|cache_scratch|mstress|rptest|malloc_simple|realloc_calloc|medium_replace)
                      W_CMD=("$BUILD/$w" "${S[@]}") ;;
        latency)      W_CMD=("$BUILD/latency" "${S[@]}"); W_DATA=1 ;;
        randsize_1t)  W_CMD=("$BUILD/randsize" 1 "${S[@]}") ;;
        randsize_2t)  W_CMD=("$BUILD/randsize" 2 "${S[@]}") ;;
        phase_py|phase_py_twin)
                      W_OPTS=(-e PYTHONMALLOC=malloc)
                      W_CMD=("$PYBIN" -s "$ROOT/bench/phase_py.py" "${S[@]}"); W_SAMPLE=1 ;;
        phase_c|phase_c_twin)
                      W_CMD=("$BUILD/phase_c" "${S[@]}"); W_SAMPLE=1 ;;
        auto_epoch_off)
                      W_CMD=("$BUILD/steady" "${S[@]}"); W_SAMPLE=1 ;;
        auto_epoch_on)
                      W_OPTS=(-e ZSLAB_EPOCH_MS=50 -e ZSLAB_EPOCH_ALLOCS=100000)
                      W_CMD=("$BUILD/steady" "${S[@]}"); W_SAMPLE=1 ;;
        *) die "internal: unknown workload $w" ;;
    esac
    QUICK=$quick_saved
}

RUN_WORKLOADS=()
for w in "${WORKLOADS[@]}"; do
    case "$w" in
        python|phase_py|phase_py_twin) [ -n "$PYBIN" ] || continue ;;
        sqlite) [ -n "$SQLITE" ] || continue ;;
    esac
    runs_any=0
    for a in "${ALLOCS[@]}"; do allowed "$w" "$a" && runs_any=1; done
    if [ "$runs_any" = 0 ]; then
        warn "$w runs only under zslab, which is not selected: skipping it"
        continue
    fi
    RUN_WORKLOADS+=("$w")
done
[ ${#RUN_WORKLOADS[@]} -gt 0 ] || die "no runnable workloads"

# ------------------------------------------------------------------- meta

STAMP=$(date +%Y%m%d-%H%M%S)
[ ! -e "$RESULTS/bench-$STAMP.csv" ] || STAMP="$STAMP-$$"
CSV="$RESULTS/bench-$STAMP.csv"
META="$RESULTS/bench-$STAMP.meta"
LOGDIR="$RESULTS/bench-$STAMP-logs"
DATADIR="$RESULTS/bench-$STAMP-data"
mkdir -p "$DATADIR"
pkg_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "?"; }
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command=$ARGS_STR"
    echo "reps=$REPS"
    echo "nproc_used=$NCPU"
    echo "quick=$QUICK"
    echo "timeout_s=$TIMEOUT"
    echo "nproc=$(nproc 2>/dev/null || echo '?')"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo '?')"
    echo "kernel=$(uname -sr)"
    # shellcheck disable=SC1091
    echo "os=$( (. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}") || echo '?')"
    echo "glibc=$( (ldd --version 2>/dev/null || true) | head -n1 | awk '{ print $NF }')"
    echo "cc=$("$CC" --version 2>/dev/null | head -n1)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
    echo "workloads=${RUN_WORKLOADS[*]}"
    echo "allocators=${ALLOCS[*]}"
    echo "skipped=${SKIPPED[*]:-}"
    for a in "${ALLOCS[@]}"; do
        case "$a" in
            glibc) echo "alloc.glibc=(no preload) libc6 $(pkg_version libc6)" ;;
            zslab) rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
                   dirty=""
                   if [ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml build.rs 2>/dev/null)" ]; then dirty="+uncommitted changes"; fi
                   echo "alloc.zslab=$ZSLAB_ORIG (git $rev$dirty, built $ZSLAB_MTIME, sha256 $ZSLAB_SHA..., copied before the run)" ;;
            "$BASE_ALLOC")
                   echo "alloc.$a=$BASELINE (label \"$BASELINE_LABEL\"${BASE_REV:+, in a git tree at $BASE_REV}, built $BASE_MTIME, sha256 $BASE_SHA, copied before the run)"
                   # separate keys for the report's comparison section
                   echo "baseline.path=$BASELINE"
                   echo "baseline.label=$BASELINE_LABEL"
                   echo "baseline.sha256=$BASE_SHA" ;;
            *) echo "alloc.$a=${SO[$a]} ($(lib_package "$a") $(pkg_version "$(lib_package "$a")"))" ;;
        esac
    done
    if [ -n "$PYBIN" ]; then echo "python=$PYBIN ($("$PYBIN" --version 2>&1))"; fi
    if [ -n "$SQLITE" ]; then echo "sqlite=$SQLITE ($("$SQLITE" --version 2>/dev/null | awk '{ print $1 }'))"; fi
    for w in "${RUN_WORKLOADS[@]}"; do
        setup_workload "$w"
        echo "cmd.$w=${W_OPTS[*]:+${W_OPTS[*]} -- }${W_CMD[*]#"$ROOT"/}"
    done
} >"$META"

echo "timestamp,rep,slot,workload,allocator,status,wall_s,user_s,sys_s,maxrss_kb,figures" >"$CSV"

log "allocators: ${ALLOCS[*]}${SKIPPED[*]:+   (skipped: ${SKIPPED[*]})}"
log "workloads:  ${RUN_WORKLOADS[*]}"
log "reps: $REPS$([ "$QUICK" = 1 ] && echo ' (quick)')   timeout: ${TIMEOUT}s   raw: ${CSV#"$ROOT"/}"

# ---------------------------------------------------------------- running

# field NAME LINE -> value of NAME=... in a runner status line
field() { local x=" $2 "; x=${x#* "$1"=}; printf '%s' "${x%% *}"; }

# figures FILE -> "k=v;k=v" from the workload's key=value stdout lines
figures() {
    { grep -E '^[A-Za-z_][A-Za-z0-9_]*=[-+0-9.eE]+$' "$1" 2>/dev/null || true; } | paste -sd ';' -
}

declare -A GAVE_UP=()
# width of the allocator column of the progress lines: 9 as always, wider
# only when a longer name (zslab_base) is in the run
AW=9
for a in "${ALLOCS[@]}"; do [ $((${#a} + 1)) -le "$AW" ] || AW=$((${#a} + 1)); done

run_one() { # run_one REP SLOT WORKLOAD ALLOCATOR
    local rep=$1 slot=$2 w=$3 a=$4 line status figs
    local -a extra=()
    setup_workload "$w"
    if [ "$W_SAMPLE" = 1 ]; then extra+=(-s "$DATADIR/$w.$a.rep$rep.rss" -S 50); fi
    if [ "$W_DATA" = 1 ]; then extra+=(-e "BENCH_DATA_OUT=$DATADIR/$w.$a.rep$rep.dat"); fi
    line=$("$RUNNER" -p "${SO[$a]}" -t "$TIMEOUT" -o "$TMP/out" -E "$TMP/err" \
        ${extra[@]+"${extra[@]}"} ${W_OPTS[@]+"${W_OPTS[@]}"} -- "${W_CMD[@]}") || line="status=runner-failed"
    status=$(field status "$line")
    figs=$(figures "$TMP/out")
    printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$(date +%s)" "$rep" "$slot" "$w" "$a" \
        "$status" "$(field wall_s "$line")" "$(field user_s "$line")" "$(field sys_s "$line")" \
        "$(field maxrss_kb "$line")" "$figs" >>"$CSV"
    if [ "$status" != ok ]; then
        mkdir -p "$LOGDIR"
        cp "$TMP/out" "$LOGDIR/$w.$a.rep$rep.stdout" 2>/dev/null || true
        cp "$TMP/err" "$LOGDIR/$w.$a.rep$rep.stderr" 2>/dev/null || true
        if [ "$status" = timeout ]; then GAVE_UP["$w/$a"]=1; fi
    fi
    local fig=""
    case "$figs" in *ops_per_sec=*) fig=" ops/s=$(printf '%s' "${figs#*ops_per_sec=}" | cut -d';' -f1)" ;; esac
    case "$w" in
        churn_rss) fig="$fig rss_last_kb=$(printf '%s' "${figs#*rss_last_kb=}" | cut -d';' -f1)" ;;
        phase_*) case "$figs" in *rss_final_kb=*) fig="$fig rss_final_kb=$(printf '%s' "${figs#*rss_final_kb=}" | cut -d';' -f1)" ;; esac ;;
        auto_epoch_*) case "$figs" in *rss_steady_kb=*) fig="$fig rss_steady_kb=$(printf '%s' "${figs#*rss_steady_kb=}" | cut -d';' -f1)" ;; esac ;;
    esac
    printf '  rep %d/%d  %-15s %-*s %-14s %8ss %8s kB%s\n' "$rep" "$REPS" "$w" "$AW" "$a" "$status" \
        "$(field wall_s "$line")" "$(field maxrss_kb "$line")" "$fig" >&2
}

T_START=$(date +%s)
load1=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$load1" -v n="$(nproc 2>/dev/null || echo 1)" 'BEGIN { exit !(l > 0.5 * n) }'; then
    warn "the machine is busy (load average $load1 on $(nproc) CPUs): results will be noisy"
fi

if [ "$QUICK" != 1 ]; then
    # one small untimed run per workload (glibc) to warm the page cache
    log "warm-up"
    for w in "${RUN_WORKLOADS[@]}"; do
        case "$w" in *_twin|auto_epoch_on) continue ;; esac
        setup_workload "$w" small
        "$RUNNER" -t "$TIMEOUT" -o /dev/null -E /dev/null ${W_OPTS[@]+"${W_OPTS[@]}"} -- "${W_CMD[@]}" >/dev/null || true
    done
fi

NA=${#ALLOCS[@]}
for ((rep = 1; rep <= REPS; rep++)); do
    log "repetition $rep/$REPS"
    for w in "${RUN_WORKLOADS[@]}"; do
        # round-robin over the allocators, starting one further each rep so no
        # allocator always runs first (or right after the same neighbour)
        order=()
        for ((k = 0; k < NA; k++)); do order+=("${ALLOCS[$(((k + rep - 1) % NA))]}"); done
        # the rotation keeps neighbours together (zslab_base comes right after
        # zslab), so the two builds are put in order by hand: zslab first in
        # odd repetitions, zslab_base first in even ones, so that neither
        # always runs just after the other
        if [ -n "$BASELINE" ]; then
            iz=-1 ib=-1
            for ((k = 0; k < NA; k++)); do
                case "${order[$k]}" in zslab) iz=$k ;; "$BASE_ALLOC") ib=$k ;; esac
            done
            if [ "$iz" -ge 0 ] && [ "$ib" -ge 0 ] && [ $((iz < ib)) != $((rep % 2)) ]; then
                order[iz]=$BASE_ALLOC order[ib]=zslab
            fi
        fi
        for ((k = 0; k < NA; k++)); do
            a=${order[$k]}
            allowed "$w" "$a" || continue
            if [ -n "${GAVE_UP["$w/$a"]:-}" ]; then
                log "  rep $rep/$REPS  $w $a: skipped (timed out earlier)"
                continue
            fi
            run_one "$rep" "$k" "$w" "$a"
        done
    done
done

T_END=$(date +%s)
{
    echo "elapsed_s=$((T_END - T_START))"
    echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
} >>"$META"
log "runs finished in $((T_END - T_START)) s"

# ----------------------------------------------------------------- report

REPORT_ARGS=(--csv "$CSV" --meta "$META" --data-dir "$DATADIR"
             --out "$RESULTS/bench-$STAMP.md" --out "$RESULTS/latest.md")
if [ "$CHARTS" = 1 ]; then
    REPORT_ARGS+=(--charts)
    [ "$INSTALL" = 1 ] || REPORT_ARGS+=(--no-install)
    [ -z "$COPY_CHARTS" ] || REPORT_ARGS+=(--copy-charts "$COPY_CHARTS")
fi
"$REPORT_PY" scripts/bench_report.py "${REPORT_ARGS[@]}"
log "report: bench/results/latest.md (also bench/results/bench-$STAMP.md); raw: ${CSV#"$ROOT"/}"
if [ -d "$LOGDIR" ]; then log "logs of failed runs: ${LOGDIR#"$ROOT"/}"; fi
exit 0
