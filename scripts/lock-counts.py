#!/usr/bin/env python3
"""Shared-lock acquisitions per workload, against the allocations a span holds.

Runs each benchmark workload once under zslab (quick sizes; the programs
from bench/, built into bench/build by scripts/bench.sh, or built here if
missing) with ZSLAB_STATS_FILE, and prints, for every lock shared between
threads (the lock_* statistics), how often it was taken per *span fill*:

    span fills = sum over classes of allocs / objects per span  + huge allocs

i.e. how many times the workload's allocations could have used up a whole
span. Also shown: the spans heaps took (from the caches, the region, or
adopted orphans), and the class-pool lock per span taken: a workload whose
threads live for a few thousand allocations uses each span for a fraction
of its capacity, so its locks are better counted per span than per fill. A ratio at or below ~1 means the lock is taken at most about once per
span's worth of allocations (per thread: the fills are counted over all
threads), which is what keeps it off the fast path however many threads
run. docs/design.md ("Scaling") explains each lock; docs/benchmarks.md has
a run's table.

usage: scripts/lock-counts.py [path/to/libzslab.so] [--markdown]
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "bench", "build")
NCPU = os.cpu_count() or 2
N2 = 2 * NCPU

PROGRAMS = ["mixed", "prodcons", "larson", "xmalloc", "mstress", "rptest",
            "malloc_simple", "randsize", "medium_replace", "malloc_large",
            "scaling", "realloc_calloc", "cache_scratch"]

WORKLOADS = [
    ("mixed_st", ["mixed", "1", "8000000", "1000"]),
    ("mixed_mt", ["mixed", "2", "8000000", "1000"]),
    ("prodcons", ["prodcons", "3000000", "1", "4096"]),
    ("larson", ["larson", "2", "40", "100000", "1000"]),
    ("xmalloc", ["xmalloc", str(N2), "40", "10000"]),
    ("mstress", ["mstress", str(N2), "10", "20000", "8192"]),
    ("rptest", ["rptest", str(NCPU), "300000", "2048", "16"]),
    ("scaling", ["scaling", str(N2), "4000000", "1000"]),
    ("cache_scratch", ["cache_scratch", str(NCPU), "40", "100000", "8"]),
    ("malloc_simple", ["malloc_simple", "6000000", "100000"]),
    ("randsize_2t", ["randsize", "2", "2000000", "1024"]),
    ("realloc_calloc", ["realloc_calloc", "2", "8", "4096", "40", "16384"]),
    ("medium_replace", ["medium_replace", "200000", "64"]),
    ("malloc_large", ["malloc_large", "2000", "16"]),
]


def build():
    os.makedirs(BUILD, exist_ok=True)
    for p in PROGRAMS:
        exe = os.path.join(BUILD, p)
        src = os.path.join(ROOT, "bench", p + ".c")
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
            subprocess.run(["gcc", "-O2", "-pthread", "-Wall", "-o", exe, src, "-ldl", "-lm"],
                           check=True)


def span_fills(s):
    fills = 0.0
    for c in s["classes"]:
        per_span = max(1, c["span_bytes"] // max(1, c["object_size"]))
        fills += c["allocs"] / per_span
    return fills + s.get("huge_allocs", 0)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    lib = os.path.abspath(args[0] if args else os.path.join(ROOT, "target/release/libzslab.so"))
    if not os.path.exists(lib):
        sys.exit(f"lock-counts: {lib} not found (cargo build --release)")
    build()
    rows = []
    locks = None
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in WORKLOADS:
            out = os.path.join(tmp, name + ".json")
            env = {k: v for k, v in os.environ.items() if not k.startswith("ZSLAB_")}
            env.update(LD_PRELOAD=lib, ZSLAB_STATS_FILE=out)
            argv = [os.path.join(BUILD, cmd[0])] + cmd[1:]
            r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, timeout=600)
            if r.returncode != 0:
                sys.exit(f"lock-counts: {name} failed ({r.returncode}): {r.stderr[-500:]}")
            with open(out) as f:
                s = json.load(f)
            if locks is None:
                locks = [k for k in s if k.startswith("lock_")]
            fills = span_fills(s)
            allocs = s["small_allocs"] + s["medium_allocs"] + s["huge_allocs"]
            ratios = [s[k] / fills if fills else 0.0 for k in locks]
            if fills >= 100:  # a few hundred allocations say nothing
                worst = max([worst] + ratios)
            taken = (s["cache_hits"] + s["cache_misses"] + s["adopted_slabs"]
                     + s["recycled_slabs"])
            per_span = s["lock_class_pools"] / taken if taken else 0.0
            rows.append((name, s["threads"], allocs, fills, [s[k] for k in locks], ratios,
                         taken, per_span))
    names = [k[len("lock_"):] for k in locks]
    if markdown:
        print("| workload | threads | allocations | span fills | "
              + " | ".join(f"`{n}` (per fill)" for n in names)
              + " | spans taken | `class_pools` per span |")
        print("|---|---:|---:|---:|" + "---:|" * len(names) + "---:|---:|")
        for name, th, allocs, fills, counts, ratios, taken, per_span in rows:
            cells = " | ".join(f"{c} ({r:.2f})" for c, r in zip(counts, ratios))
            print(f"| {name} | {th} | {allocs} | {fills:.0f} | {cells} | {taken} | {per_span:.2f} |")
    else:
        print(f"{'workload':16} {'threads':>7} {'allocs':>11} {'fills':>9}  "
              + "  ".join(f"{n:>18}" for n in names) + f"  {'spans':>7} {'pools/span':>10}")
        for name, th, allocs, fills, counts, ratios, taken, per_span in rows:
            print(f"{name:16} {th:7} {allocs:11} {fills:9.0f}  "
                  + "  ".join(f"{c:>9} ({r:5.2f})" for c, r in zip(counts, ratios))
                  + f"  {taken:7} {per_span:10.2f}")
    print(f"\nhighest acquisitions per span fill (workloads of 100 fills or more): {worst:.2f}")


if __name__ == "__main__":
    main()
