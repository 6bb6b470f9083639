#!/usr/bin/env bash
# zslab LD_PRELOAD test runner.
#
# Usage:
#   preload-tests/run.sh [LIB|none] [TEST...]
#
#   LIB   path to the allocator to preload (default: target/release/libzslab.so
#         relative to the repository root, i.e. the parent of this directory).
#   none  run every test WITHOUT LD_PRELOAD (plain glibc malloc); used to prove
#         that the tests themselves are correct.
#   TEST  optional test names (file names without .c) to run; default: all.
#
# Every preload-tests/*.c is compiled with
#   gcc -O2 -g -Wall -Wextra -Werror -pthread -fno-builtin <extra cflags>
# into preload-tests/build/<name> and run as
#   env <test env> LD_PRELOAD=<LIB> timeout -k 10 120 ./build/<name> <args>
# with preload-tests/ as the working directory.
#
# Per-test directives: lines anywhere in the .c file of the exact form
#   // expect: STATUS [stderr "TEXT"]... [stdout "TEXT"]...
#       STATUS is `exit N` or `signal NAME` (NAME like SIGABRT, ABRT or 6).
#       `stderr "TEXT"` / `stdout "TEXT"` require TEXT (a fixed substring, no
#       embedded double quotes) in the captured stream.
#       Default when absent: `// expect: exit 0`.
#   // expect-none: STATUS [stderr "TEXT"]... [stdout "TEXT"]...
#       Used instead of `expect` when running in `none` mode.  When absent,
#       `none` mode uses only the STATUS part of `expect` (the stderr/stdout
#       requirements name zslab's messages, which glibc does not print).
#   // env: NAME=value [NAME2=value2]...
#       Extra environment variables (whitespace separated, no quoting), applied
#       in both modes.  May be repeated.
#   // args: ARG [ARG]...
#       Command-line arguments (whitespace separated, no quoting).
#   // cflags: FLAG [FLAG]...
#       Extra compiler flags.
# Only the first `expect`, `expect-none` and `args` lines count.
#
# The runner exports PRELOAD_TEST_MODE=none|zslab to every test, so a test can
# relax a check where glibc itself deviates from zslab's documented contract
# (e.g. glibc 2.36's pvalloc(0) returns less than a page).
#
# In addition, a test whose expected status is `exit 0` must print a line
# `OK <name>` on stdout (guards against tests that silently stop early).
#
# Output: one line per test, `PASS name (1.23s)` or `FAIL name: reason` followed
# by the last 30 lines of the test's stdout and stderr; then a summary.  The
# exit status is 0 iff every test passed.

set -u

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=$(cd "$script_dir/.." && pwd)
build_dir="$script_dir/build"
timeout_secs=120

lib_arg=${1:-}
if [ $# -gt 0 ]; then shift; fi
if [ -z "$lib_arg" ]; then
    lib_arg="$root_dir/target/release/libzslab.so"
fi

mode=zslab
lib=""
if [ "$lib_arg" = "none" ]; then
    mode=none
else
    if [ ! -f "$lib_arg" ]; then
        echo "run.sh: allocator library not found: $lib_arg" >&2
        echo "run.sh: build it first, or pass 'none' to test against plain glibc" >&2
        exit 2
    fi
    lib=$(cd "$(dirname "$lib_arg")" && pwd)/$(basename "$lib_arg")
fi

mkdir -p "$build_dir" || exit 2
cd "$script_dir" || exit 2

if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=()
    for f in "$script_dir"/*.c; do
        [ -e "$f" ] || continue
        n=$(basename "$f" .c)
        tests+=("$n")
    done
fi

now_ns() { date +%s%N; }

# Print the last 30 lines of a captured stream, indented.
show_tail() {
    local label=$1 file=$2
    if [ -s "$file" ]; then
        echo "    --- $label (last 30 lines) ---"
        tail -n 30 "$file" | sed 's/^/    | /'
    else
        echo "    --- $label: (empty) ---"
    fi
}

# directive FILE NAME -> first value of `// NAME: value`
directive() {
    local file=$1 name=$2 line
    line=$(grep -m1 -E "^// $name:" "$file") || return 1
    line=${line#"// $name:"}
    # trim leading/trailing whitespace
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    printf '%s' "$line"
}

# all values of a repeatable directive, joined by spaces
directive_all() {
    local file=$1 name=$2 line out=""
    while IFS= read -r line; do
        line=${line#"// $name:"}
        out="$out $line"
    done < <(grep -E "^// $name:" "$file")
    printf '%s' "$out"
}

# Parse an expectation string into globals:
#   exp_kind (exit|signal), exp_val (number or signal name w/o SIG),
#   exp_err[] / exp_out[] (required substrings).  Returns 1 on syntax error.
parse_expect() {
    local s=$1 with_streams=$2
    exp_kind=exit exp_val=0 exp_err=() exp_out=()
    s="${s#"${s%%[![:space:]]*}"}"
    if [[ $s =~ ^exit[[:space:]]+([0-9]+)(.*)$ ]]; then
        exp_kind=exit exp_val=${BASH_REMATCH[1]} s=${BASH_REMATCH[2]}
    elif [[ $s =~ ^signal[[:space:]]+([A-Za-z0-9]+)(.*)$ ]]; then
        exp_kind=signal exp_val=${BASH_REMATCH[1]} s=${BASH_REMATCH[2]}
        if [[ $exp_val =~ ^[0-9]+$ ]]; then
            exp_val=$(kill -l "$exp_val" 2>/dev/null) || return 1
        fi
        exp_val=${exp_val#SIG}
        exp_val=${exp_val^^}
    else
        return 1
    fi
    while :; do
        s="${s#"${s%%[![:space:]]*}"}"
        [ -z "$s" ] && break
        if [[ $s =~ ^(stderr|stdout)[[:space:]]+\"([^\"]*)\"(.*)$ ]]; then
            if [ "$with_streams" = 1 ]; then
                if [ "${BASH_REMATCH[1]}" = stderr ]; then
                    exp_err+=("${BASH_REMATCH[2]}")
                else
                    exp_out+=("${BASH_REMATCH[2]}")
                fi
            fi
            s=${BASH_REMATCH[3]}
        else
            return 1
        fi
    done
    return 0
}

pass=0
failed=()
total_start=$(now_ns)

echo "zslab preload tests: mode=$mode${lib:+ lib=$lib}"

for name in "${tests[@]}"; do
    src="$script_dir/$name.c"
    exe="$build_dir/$name"
    out="$build_dir/$name.stdout"
    err="$build_dir/$name.stderr"
    if [ ! -f "$src" ]; then
        echo "FAIL $name: no such test ($src)"
        failed+=("$name")
        continue
    fi

    # ---- expectations
    exp_str=$(directive "$src" expect) || exp_str="exit 0"
    with_streams=1
    if [ "$mode" = none ]; then
        if none_str=$(directive "$src" expect-none); then
            exp_str=$none_str
        else
            with_streams=0
        fi
    fi
    if ! parse_expect "$exp_str" "$with_streams"; then
        echo "FAIL $name: bad expectation syntax: '$exp_str'"
        failed+=("$name")
        continue
    fi
    read -r -a extra_env <<<"$(directive_all "$src" env)"
    read -r -a extra_args <<<"$(directive "$src" args || true)"
    read -r -a extra_cflags <<<"$(directive_all "$src" cflags)"

    # ---- build
    if ! gcc -O2 -g -Wall -Wextra -Werror -pthread -fno-builtin \
            "${extra_cflags[@]}" -o "$exe" "$src" >"$build_dir/$name.cc.log" 2>&1; then
        echo "FAIL $name: compilation failed"
        show_tail "compiler output" "$build_dir/$name.cc.log"
        failed+=("$name")
        continue
    fi

    # ---- run
    if [ "$mode" = none ]; then
        preload=(-u LD_PRELOAD)
    else
        preload=("LD_PRELOAD=$lib")
    fi
    start=$(now_ns)
    {
        env "${preload[@]}" PRELOAD_TEST_MODE="$mode" "${extra_env[@]}" \
            timeout -k 10 "$timeout_secs" "./build/$name" "${extra_args[@]}" \
            >"$out" 2>"$err" </dev/null
        rc=$?
    } 2>/dev/null
    end=$(now_ns)
    ms=$(( (end - start) / 1000000 ))
    secs=$(printf '%d.%02d' $((ms / 1000)) $(((ms % 1000) / 10)))

    # ---- judge
    reason=""
    if [ "$rc" -eq 124 ]; then
        reason="timed out after ${timeout_secs}s (deadlock or livelock?)"
    elif [ "$rc" -gt 128 ] && [ "$rc" -lt $((128 + 65)) ]; then
        got_kind=signal
        got_val=$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))
        got_val=${got_val#SIG}
    else
        got_kind="exit"
        got_val=$rc
    fi
    if [ -z "$reason" ]; then
        if [ "$got_kind" != "$exp_kind" ] || [ "$got_val" != "$exp_val" ]; then
            if [ "$got_kind" = signal ]; then got="killed by SIG$got_val"; else got="exit status $got_val"; fi
            if [ "$exp_kind" = signal ]; then want="SIG$exp_val"; else want="exit status $exp_val"; fi
            reason="$got, expected $want"
        fi
    fi
    if [ -z "$reason" ]; then
        for t in "${exp_err[@]+"${exp_err[@]}"}"; do
            if ! grep -qF -- "$t" "$err"; then
                reason="stderr does not contain \"$t\""
                break
            fi
        done
    fi
    if [ -z "$reason" ]; then
        for t in "${exp_out[@]+"${exp_out[@]}"}"; do
            if ! grep -qF -- "$t" "$out"; then
                reason="stdout does not contain \"$t\""
                break
            fi
        done
    fi
    if [ -z "$reason" ] && [ "$exp_kind" = exit ] && [ "$exp_val" = 0 ]; then
        if ! grep -qx -- "OK $name" "$out"; then
            reason="exited 0 but did not print \"OK $name\""
        fi
    fi

    if [ -z "$reason" ]; then
        echo "PASS $name (${secs}s)"
        pass=$((pass + 1))
    else
        echo "FAIL $name: $reason (${secs}s)"
        show_tail stdout "$out"
        show_tail stderr "$err"
        failed+=("$name")
    fi
done

total_end=$(now_ns)
total_ms=$(( (total_end - total_start) / 1000000 ))
echo
echo "Summary ($mode): ${pass} passed, ${#failed[@]} failed, ${#tests[@]} total" \
     "in $((total_ms / 1000)).$(printf '%02d' $(((total_ms % 1000) / 10)))s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "Failed: ${failed[*]}"
    exit 1
fi
exit 0
