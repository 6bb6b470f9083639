#!/usr/bin/env bash
# Instructions per 128-byte malloc+free pair, counted by valgrind
# (cachegrind: repeatable on a noisy machine), for zslab and its peers.
# For each allocator and pattern (lifo: malloc then free at once; ring: free
# a random one of 1024 live blocks and malloc its replacement), runs
# bench/pair128 with N = 0 and N = 1 000 000 pairs and prints
# (I_refs(N) - I_refs(0)) / N: the instructions of one pair, the loop's own
# few included. zslab keeps serving under cachegrind (it steps aside only
# for the valgrind tools that replace malloc).
#
# usage: scripts/instr-per-pair.sh [path/to/libzslab.so]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lib=$(cd "$(dirname "${1:-$root/target/release/libzslab.so}")" && pwd)/$(basename "${1:-libzslab.so}")
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/pair128" "$root/bench/pair128.c"
n=1000000
refs() { # refs PRELOAD MODE N
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        env ${1:+LD_PRELOAD=$1} "$tmp/pair128" "$2" "$3" 2>&1 |
        awk '/I *refs:/ { gsub(",", "", $NF); print $NF }' | tail -n 1
}
find_lib() { ldconfig -p | awk -v n="$1" '$1 == n && !f { print $NF; f = 1 }'; } # reads to the end: no SIGPIPE under pipefail
printf '%-10s %10s %10s\n' allocator lifo ring
for a in glibc zslab mimalloc jemalloc tcmalloc; do
    case $a in
        glibc) so="" ;;
        zslab) so=$lib ;;
        mimalloc) so=$(find_lib libmimalloc.so.2) ;;
        jemalloc) so=$(find_lib libjemalloc.so.2) ;;
        tcmalloc) so=$(find_lib libtcmalloc_minimal.so.4) ;;
    esac
    if [ "$a" != glibc ] && [ -z "$so" ]; then
        printf '%-10s %10s %10s\n' "$a" "(not installed)" ""
        continue
    fi
    row=()
    for mode in lifo ring; do
        # valgrind runs env (not traced) then the program: count the program.
        base=$(valgrind --tool=cachegrind --trace-children=yes --cache-sim=no \
            --cachegrind-out-file=/dev/null env ${so:+LD_PRELOAD=$so} "$tmp/pair128" "$mode" 0 2>&1 |
            awk '/I *refs:/ { gsub(",", "", $NF); v = $NF } END { print v }')
        full=$(valgrind --tool=cachegrind --trace-children=yes --cache-sim=no \
            --cachegrind-out-file=/dev/null env ${so:+LD_PRELOAD=$so} "$tmp/pair128" "$mode" "$n" 2>&1 |
            awk '/I *refs:/ { gsub(",", "", $NF); v = $NF } END { print v }')
        row+=("$(python3 -c "print(f'{($full - $base) / $n:.1f}')")")
    done
    printf '%-10s %10s %10s\n' "$a" "${row[0]}" "${row[1]}"
done
