#!/usr/bin/env python3
"""Turn a zslab benchmark CSV (written by scripts/bench.sh) into markdown.

usage: scripts/bench_report.py --csv bench/results/bench-STAMP.csv
                               [--meta bench/results/bench-STAMP.meta]
                               [--data-dir bench/results/bench-STAMP-data]
                               [--out FILE]... [--baselines glibc,mimalloc]
                               [--charts [--no-install]] [--copy-charts DIR]

Prints the report on stdout and writes it to every --out FILE.

For each (workload, allocator) the median over the successful repetitions
is taken of: wall time, peak RSS, CPU time (user+sys), and each key=value
figure the workload printed (ops_per_sec, rss_last_kb, ...).  Ratios are
allocator / baseline for each baseline (default glibc and mimalloc), so < 1
means "faster" (time) or "smaller" (RSS) than the baseline.  The geometric
mean row averages a column's ratios over the workloads where both sides have
a value.  Auxiliary runs (the phase workloads' kept-only twins and the
zslab-only automatic-epoch pair) are left out of those tables and reported
in their own sections.

--charts draws the PNG charts (scripts/bench_charts.py, which installs
matplotlib with pip if it is missing, or skips the charts with a warning)
into the CSV's directory as <csv name>-<chart>.png and links them from the
report; --copy-charts DIR also copies them to DIR as bench-<chart>.png
(stable names for docs/).  Charts already drawn for this CSV are linked
even without --charts.

A (workload, allocator) cell whose runs all failed shows the failure
("crashed (SIGSEGV)", "failed (exit 3)", "timeout"); one where only some runs
failed shows the median of the good runs followed by "⚠ k/n failed".

A run with `bench.sh --baseline` has a sixth allocator, zslab_base (an
earlier zslab build); it is a column like the others, and a section
"zslab ÷ zslab_base" compares the two builds workload by workload.
"""

import argparse
import csv
import math
import os
import shutil
import statistics
import subprocess
import sys
from collections import OrderedDict, defaultdict

ALLOC_ORDER = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "zslab", "zslab_base"]
# the earlier zslab build of `bench.sh --baseline`
BASE_BUILD = "zslab_base"
WORKLOAD_ORDER = ["mixed_st", "mixed_mt", "prodcons", "larson", "churn_rss",
                  "malloc_large", "python", "sqlite", "scaling", "xmalloc",
                  "cache_scratch", "mstress", "rptest", "malloc_simple", "latency",
                  "realloc_calloc", "randsize_1t", "randsize_2t", "medium_replace",
                  "phase_py", "phase_py_twin", "phase_c", "phase_c_twin",
                  "auto_epoch_off", "auto_epoch_on"]
# runs that only serve another row: not in the time/RSS tables
AUX_WORKLOADS = {"phase_py_twin", "phase_c_twin", "auto_epoch_off", "auto_epoch_on"}
PHASE_WORKLOADS = [("phase_py", "phase_py_twin"), ("phase_c", "phase_c_twin")]
WORKLOAD_DESC = {
    "mixed_st": "1 thread, malloc/free ring of 1000, 16 B..1 KiB",
    "mixed_mt": "as mixed_st, 2 threads",
    "prodcons": "producer mallocs, consumer frees (remote free), 16..512 B",
    "larson": "larson-like: 2 lanes, arrays handed to new threads",
    "churn_rss": "epoch churn: batches freed around pinned objects",
    "malloc_large": "64 KiB..8 MiB, every page touched",
    "python": "python3 PYTHONMALLOC=malloc, dict/json/sort churn",
    "sqlite": "sqlite3 :memory:, 200k INSERTs (20k with --quick) + indexes + queries",
    "scaling": "1..2N threads, own small objects, same work at every count",
    "xmalloc": "2N threads, each frees another thread's batch, all at once",
    "cache_scratch": "objects handed between threads, then written in tight loops",
    "mstress": "short-lived threads: burst, exchange through shared slots, exit",
    "rptest": "N threads, 16 B..1 MiB server mix, 1/16 freed by another thread",
    "malloc_simple": "1 thread, fixed sizes 16..256 B, working sets up to 100 000",
    "latency": "per-call malloc/free latency, 128 B and server mix",
    "realloc_calloc": "realloc chains 16 B..4 MiB (checked), calloc 64 KiB..16 MiB (checked)",
    "randsize_1t": "1024 slots, 4 B..32 KiB inverse-square sizes, 1 thread",
    "randsize_2t": "as randsize_1t, 2 threads",
    "medium_replace": "64 live blocks of 8..512 KiB replaced at random",
    "phase_py": "python3: 6 phases of 150-250 MB small records, 5% kept, RSS after drops",
    "phase_c": "C: 6 phases of ~300 MB in 8 KiB..1 MiB blocks, 5% kept, RSS after drops",
}
LAT_SERIES = [("malloc128", "malloc 128 B"), ("free128", "free 128 B"),
              ("mallocmix", "malloc mix"), ("freemix", "free mix")]
LAT_PCTS = [("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("p9999", "p99.99")]
CHARTS = [  # (name, title) in the order the report shows them
    ("time-ratio", "Wall time ÷ glibc per workload"),
    ("rss-ratio", "Peak RSS ÷ glibc per workload"),
    ("scaling", "Thread scaling"),
    ("latency-cdf", "Latency CDFs"),
    ("rss-churn_rss", "RSS over time: churn_rss"),
    ("rss-phase_py", "RSS over time: phase_py"),
    ("rss-phase_c", "RSS over time: phase_c"),
    ("rss-auto_epoch", "RSS over time: automatic epochs (zslab)"),
]


def parse_figures(s):
    out = {}
    for part in (s or "").split(";"):
        if "=" not in part:
            continue
        k, v = part.split("=", 1)
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def describe_failure(status):
    if status.startswith("signal:"):
        sig = status.split(":", 1)[1]
        if sig.isdigit():
            return f"crashed (signal {sig})"
        return f"crashed (SIG{sig})"
    if status.startswith("exit:"):
        return f"failed (exit {status.split(':', 1)[1]})"
    if status == "timeout":
        return "timeout"
    return status or "failed"


class Cell:
    def __init__(self):
        self.statuses = []
        self.wall = []
        self.rss = []
        self.cpu = []
        self.reps = []  # rep numbers of the successful runs, same order as wall
        self.figs = defaultdict(list)

    def add(self, row):
        st = row.get("status", "")
        self.statuses.append(st)
        if st != "ok":
            return
        try:
            wall = float(row["wall_s"])
            rss = float(row["maxrss_kb"])
            cpu = float(row["user_s"]) + float(row["sys_s"])
        except (KeyError, ValueError):
            return
        self.wall.append(wall)
        self.rss.append(rss)
        self.cpu.append(cpu)
        self.reps.append(row.get("rep", ""))
        for k, v in parse_figures(row.get("figures", "")).items():
            self.figs[k].append(v)

    @property
    def n(self):
        return len(self.statuses)

    @property
    def failures(self):
        return [s for s in self.statuses if s != "ok"]

    def failure_text(self):
        f = self.failures
        # distinct failure kinds, most common first
        kinds = OrderedDict()
        for s in f:
            kinds[s] = kinds.get(s, 0) + 1
        ranked = sorted(kinds, key=lambda k: -kinds[k])
        return ", ".join(describe_failure(k) for k in ranked)

    def median(self, which):
        vals = {"wall": self.wall, "rss": self.rss, "cpu": self.cpu}.get(which)
        if vals is None:
            vals = self.figs.get(which, [])
        return statistics.median(vals) if vals else None

    def spread(self, which):
        """Half the min..max range relative to the median, in %."""
        vals = {"wall": self.wall, "rss": self.rss, "cpu": self.cpu}[which]
        if len(vals) < 2:
            return None
        med = statistics.median(vals)
        if med <= 0:
            return None
        return 50.0 * (max(vals) - min(vals)) / med

    def median_rep(self):
        """The repetition whose wall time is the median one (for charts)."""
        if not self.wall:
            return None
        order = sorted(range(len(self.wall)), key=lambda i: self.wall[i])
        return self.reps[order[(len(order) - 1) // 2]]

    def note(self):
        f = self.failures
        if f and len(f) < self.n:
            return f" ⚠ {len(f)}/{self.n} {self.failure_text()}"
        return ""


def read_meta(path):
    meta = OrderedDict()
    if not path:
        return meta
    try:
        with open(path) as fh:
            for line in fh:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    meta[k] = v
    except OSError:
        pass
    return meta


def ordered(items, order):
    items = list(items)
    known = [x for x in order if x in items]
    return known + sorted(x for x in items if x not in order)


def load(csv_path):
    """-> (cells, workloads, allocs) from a bench CSV."""
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = defaultdict(Cell)
    workloads, allocs = [], []
    for row in rows:
        w, a = row.get("workload", ""), row.get("allocator", "")
        if not w or not a:
            continue
        cells[(w, a)].add(row)
        if w not in workloads:
            workloads.append(w)
        if a not in allocs:
            allocs.append(a)
    return cells, ordered(workloads, WORKLOAD_ORDER), ordered(allocs, ALLOC_ORDER)


def geomean(vals):
    vals = [v for v in vals if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def fmt_time(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def fmt_mib(kb):
    mib = kb / 1024.0
    if mib >= 100:
        return f"{mib:.0f}"
    return f"{mib:.1f}" if mib >= 10 else f"{mib:.2f}"


def fmt_ratio(r):
    return f"{r:.2f}"


def fmt_count(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.0f}"


def fmt_ns(v):
    if v >= 1e6:
        return f"{v / 1e6:.1f} ms"
    if v >= 1e4:
        return f"{v / 1e3:.0f} µs"
    if v >= 1e3:
        return f"{v / 1e3:.1f} µs"
    return f"{v:.0f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return out


def build_report(cells, workloads, allocs, meta, baselines=("glibc", "mimalloc")):
    """The report as markdown; images appear as {{IMG:<chart>}} lines."""
    reps = max((c.n for c in cells.values()), default=0)
    main = [w for w in workloads if w not in AUX_WORKLOADS]
    baselines = [b for b in baselines if b in allocs]

    out = []
    out.append("## zslab benchmark results")
    out.append("")
    if meta:
        out.append(f"- date: {meta.get('date', '?')}")
        out.append(f"- command: `{meta.get('command', '?')}`")
        out.append(f"- machine: {meta.get('nproc', '?')} CPUs, {meta.get('cpu', '?')}, "
                   f"{meta.get('kernel', '?')}, {meta.get('os', '?')}, glibc {meta.get('glibc', '?')}")
        extra = f", {meta['elapsed_s']} s of runs" if "elapsed_s" in meta else ""
        out.append(f"- repetitions: {meta.get('reps', reps)} per cell, allocators interleaved "
                   f"round-robin{' (quick mode)' if meta.get('quick') == '1' else ''}{extra}")
        if "loadavg_start" in meta:
            out.append(f"- load average (1/5/15 min) at start: {meta['loadavg_start']}"
                       + (f", at end: {meta['loadavg_end']}" if "loadavg_end" in meta else ""))
        for a in allocs:
            if f"alloc.{a}" in meta:
                out.append(f"- {a}: {meta[f'alloc.{a}']}")
        if meta.get("skipped"):
            out.append(f"- skipped allocators: {meta['skipped']}")
        for k in ("python", "sqlite"):
            if k in meta:
                out.append(f"- {k}: {meta[k]}")
        out.append("")

    def value_cell(w, a, which, fmt):
        c = cells.get((w, a))
        if c is None or c.n == 0:
            return "—"
        m = c.median(which)
        if m is None:
            return c.failure_text() if c.failures else "—"
        sp = c.spread(which) if which in ("wall", "rss", "cpu") else None
        s = fmt(m)
        if sp is not None:
            s += f" ±{sp:.0f}%"
        return s + c.note()

    def ratio(w, a, base, which):
        ca, cb = cells.get((w, a)), cells.get((w, base))
        if ca is None or cb is None:
            return None
        ma, mb = ca.median(which), cb.median(which)
        if ma is None or mb is None or mb <= 0 or ma <= 0:
            return None
        return ma / mb

    def ratio_cell(w, a, base, which):
        ca = cells.get((w, a))
        if ca is None or ca.n == 0:
            return "—"
        cb = cells.get((w, base))
        r = ratio(w, a, base, which)
        if r is None:
            if ca.median(which) is None and ca.failures:
                return ca.failure_text()
            if cb is not None and cb.median(which) is None and cb.failures:
                return "n/a"  # the baseline itself failed on this workload
            return "—"
        return fmt_ratio(r) + ca.note()

    def geo_row(base, which):
        cols = []
        for a in allocs:
            rs = [ratio(w, a, base, which) for w in main]
            good = [r for r in rs if r is not None]
            g = geomean(good)
            if g is None:
                cols.append("—")
            elif len(good) < len(main):
                cols.append(f"**{fmt_ratio(g)}** ({len(good)}/{len(main)})")
            else:
                cols.append(f"**{fmt_ratio(g)}**")
        return ["**geomean**"] + cols

    def fig(w, a, key):
        c = cells.get((w, a))
        return c.median(key) if c else None

    def fig_cell(w, a, key, fmt):
        c = cells.get((w, a))
        if c is None or c.n == 0:
            return "—"
        m = c.median(key)
        if m is None:
            return c.failure_text() if c.failures else "—"
        return fmt(m) + c.note()

    header = ["workload"] + allocs

    # ------------------------------------------------ zslab ÷ zslab_base
    # first, because a run with --baseline is made for this comparison
    if "zslab" in allocs and BASE_BUILD in allocs and main:
        out += build_comparison(cells, main, allocs, meta, baselines,
                                value_cell, ratio, ratio_cell)
    elif BASE_BUILD in allocs:
        out.append(f"### zslab ÷ {BASE_BUILD}")
        out.append("")
        why = ("zslab did not run" if "zslab" not in allocs
               else "none of the workloads of the time and RSS tables ran")
        out.append(f"No comparison: {why}.")
        out.append("")

    if main:
        for which, title, unit, fmt, chart in (
                ("wall", "Wall time", "seconds", fmt_time, "time-ratio"),
                ("rss", "Peak RSS", "MiB", fmt_mib, "rss-ratio")):
            out.append(f"### {title} — median {unit} (±: half the min–max range)")
            out.append("")
            out += table(header, [[w] + [value_cell(w, a, which, fmt) for a in allocs]
                                  for w in main])
            out.append("")
            for base in baselines:
                better = "faster" if which == "wall" else "smaller"
                out.append(f"**{title} ÷ {base}** (< 1 = {better} than {base})")
                out.append("")
                rows_ = [[w] + [ratio_cell(w, a, base, which) for a in allocs] for w in main]
                rows_.append(geo_row(base, which))
                out += table(header, rows_)
                out.append("")
            out.append("{{IMG:%s}}" % chart)

        # CPU time: less sensitive than wall time to the VM taking a vCPU
        # away, but it also counts spinning, so read it next to wall time.
        cpu_base = baselines[0] if baselines else None
        out.append("### CPU time (user+sys) — median seconds"
                   + (f" (÷ {cpu_base})" if cpu_base else ""))
        out.append("")
        cpu_rows = []
        for w in main:
            r = [w]
            for a in allocs:
                v = value_cell(w, a, "cpu", fmt_time)
                rr = ratio(w, a, cpu_base, "cpu") if cpu_base else None
                c = cells.get((w, a))
                if rr is not None and c is not None and c.median("cpu") is not None:
                    v = f"{fmt_time(c.median('cpu'))} ({fmt_ratio(rr)})" + c.note()
                r.append(v)
            cpu_rows.append(r)
        for base in baselines:
            g = geo_row(base, "cpu")
            g[0] = f"**geomean ÷ {base}**"
            cpu_rows.append(g)
        out += table(header, cpu_rows)
        out.append("")

    # ---------------------------------------------------------- scaling
    if "scaling" in workloads:
        maxt = max((int(fig("scaling", a, "max_threads") or 0) for a in allocs), default=0)
        ncpu = max((int(fig("scaling", a, "ncpu") or 0) for a in allocs), default=0)
        out.append("### Thread scaling — median throughput, M ops/s (all threads)")
        out.append("")
        out.append(f"The same total work at every thread count, on {ncpu or '?'} CPUs; "
                   "ideal is linear up to the CPU count and flat beyond it.")
        out.append("")
        rows_ = []
        for t in range(1, maxt + 1):
            rows_.append([f"{t} thread{'s' if t > 1 else ''}"] + [
                fig_cell("scaling", a, f"tput_t{t}", lambda v: f"{v / 1e6:.1f}")
                for a in allocs])
        rows_.append(["**2 threads ÷ 1**"] + [
            fig_cell("scaling", a, "scaling_2v1", lambda v: f"**{v:.2f}**") for a in allocs])
        if maxt > 2:
            rows_.append([f"{maxt} threads ÷ 1"] + [
                fig_cell("scaling", a, "scaling_maxv1", lambda v: f"{v:.2f}") for a in allocs])
        out += table(["threads"] + allocs, rows_)
        out.append("")
        out.append("{{IMG:scaling}}")

    # ---------------------------------------------------------- latency
    if "latency" in workloads:
        out.append("### Latency — median over repetitions of each percentile, ns")
        out.append("")
        clock = [fig("latency", a, "clock_ns") for a in allocs]
        clock = [c for c in clock if c is not None]
        step = [fig("latency", a, "timer_step_ns") for a in allocs]
        step = [s for s in step if s is not None]
        if clock:
            out.append(f"Timer cost subtracted from every sample: {statistics.median(clock):.0f} ns "
                       f"(median of back-to-back reads){'' if not step else f'; timer resolution about {statistics.median(step):.0f} ns'}. "
                       "0 means below the timer's resolution.")
            out.append("")
        rows_ = []
        for key, label in LAT_SERIES:
            for pk, pl in LAT_PCTS:
                rows_.append([f"{label} {pl}"] + [
                    fig_cell("latency", a, f"{key}_{pk}_ns", fmt_ns) for a in allocs])
        out += table(["series"] + allocs, rows_)
        out.append("")
        out.append("{{IMG:latency-cdf}}")

    # ---------------------------------------------------------- phases
    phase_sections = [(w, t) for w, t in PHASE_WORKLOADS if w in workloads]
    if phase_sections:
        out.append("### Memory return after phases — RSS after each drop ÷ the kept-only twin's")
        out.append("")
        out.append("Each cell: RSS 0.3 s after phase *i*'s drop divided by the twin's RSS at the "
                   "same point (same allocator; 1.00 = every dropped page returned), and in "
                   "parentheses the share of the RSS above the twin's that left at that drop "
                   "(`(before − after) ÷ (before − twin after)`; 100% = all of it), then, after "
                   "*own*, the share of the phase's own droppable growth that left: what left at the "
                   "drop divided by what the phase added to RSS beyond what its kept records added to "
                   "the twin's (`(before − after) ÷ ((before − after of the previous drop) − (twin "
                   "after − twin after of the previous drop))`, the program's start for the first "
                   "phase), which does not count earlier phases' survivors against this drop; shown "
                   "only where the phase added at least half of the RSS above the twin's (an "
                   "allocator that kept the previous phase's pages builds the next one in them). "
                   "Medians over the repetitions.")
        out.append("")
    for w, twin in phase_sections:
        nph = max((int(fig(w, a, "phases") or 0) for a in allocs), default=0)
        if nph == 0:
            continue
        rows_ = []
        for a in allocs:
            c, ct = cells.get((w, a)), cells.get((twin, a))
            if c is None or c.n == 0:
                continue
            r = [a]
            for i in range(1, nph + 1):
                before = fig(w, a, f"p{i}_rss_before_kb")
                after = fig(w, a, f"p{i}_rss_after_kb")
                tw = fig(twin, a, f"p{i}_rss_after_kb")
                if after is None:
                    r.append(c.failure_text() if c.failures else "—")
                elif tw is None or tw <= 0:
                    r.append(f"{fmt_mib(after)} MiB (no twin)")
                else:
                    s = f"{after / tw:.2f}"
                    if before is not None and before - tw > 0:
                        s += f" ({100.0 * (before - after) / (before - tw):.0f}%"
                        prev = "rss_start_kb" if i == 1 else f"p{i - 1}_rss_after_kb"
                        pa, pt = fig(w, a, prev), fig(twin, a, prev)
                        own = None if pa is None or pt is None else (before - pa) - (tw - pt)
                        # Only where the phase itself added most of the RSS
                        # above the twin's: an allocator that kept the last
                        # phase's pages builds this one in them, and what
                        # it adds is no measure of what the phase dropped.
                        if own is not None and own >= 0.5 * (before - tw):
                            s += f"; own {100.0 * (before - after) / own:.0f}%"
                        s += ")"
                    r.append(s)
            tw_last = fig(twin, a, f"p{nph}_rss_after_kb")
            r.append(fmt_mib(tw_last) if tw_last else "—")
            r.append(value_cell(w, a, "rss", fmt_mib))
            rows_.append(r)
        out.append(f"**{w}** — {WORKLOAD_DESC.get(w, '')}")
        out.append("")
        out += table(["allocator"] + [f"phase {i}" for i in range(1, nph + 1)]
                     + ["twin RSS at end, MiB", "peak RSS, MiB"], rows_)
        out.append("")
    if phase_sections:
        for w in ("churn_rss", "phase_py", "phase_c"):
            if w in workloads:
                out.append("{{IMG:rss-%s}}" % w)

    # ---------------------------------------------------------- auto epochs
    if "auto_epoch_off" in workloads or "auto_epoch_on" in workloads:
        out.append("### Automatic epochs without phases (zslab only)")
        out.append("")
        out.append("`steady` (heavy-tailed lifetimes, no phase structure) under zslab without "
                   "automatic epochs and with `ZSLAB_EPOCH_MS=50 ZSLAB_EPOCH_ALLOCS=100000`. "
                   "The claim to check: with epochs, peak and steady RSS stay within 10% of "
                   "the run without.")
        out.append("")
        # the baseline build, when there is one, gets its own table below
        # zslab's (and then a build that did not run gets none)
        builds = ["zslab"]
        if BASE_BUILD in allocs:
            builds = [a for a in ("zslab", BASE_BUILD) if a in allocs]
        for a in builds:
            rows_ = []
            for key, label, fmt in (("rss_peak_kb", "peak RSS (sampled), MiB", fmt_mib),
                                    ("rss", "peak RSS (ru_maxrss), MiB", fmt_mib),
                                    ("rss_steady_kb", "steady RSS (2nd half median), MiB", fmt_mib),
                                    ("ops_per_sec", "ops/s", fmt_count),
                                    ("wall", "wall time, s", fmt_time)):
                off = fig("auto_epoch_off", a, key)
                on = fig("auto_epoch_on", a, key)
                verdict = "—"
                if off and on:
                    rr = on / off
                    verdict = f"{rr:.2f}"
                    if key in ("rss_peak_kb", "rss", "rss_steady_kb"):
                        verdict += " ✓ within 10%" if rr <= 1.10 else " ✗ more than 10% above"
                rows_.append([label, fig_cell("auto_epoch_off", a, key, fmt),
                              fig_cell("auto_epoch_on", a, key, fmt), verdict])
            out += table([a, "no epochs", "epochs every 50 ms / 100k allocs", "with ÷ without"],
                         rows_)
            out.append("")
        out.append("{{IMG:rss-auto_epoch}}")

    # ---------------------------------------------------------- figures
    out.append("### Workload figures — medians as printed by the programs")
    out.append("")
    fig_rows = []
    for w in main:
        if w == "latency":
            continue
        if any(fig(w, a, "ops_per_sec") is not None for a in allocs):
            label = {"python": "records/s", "cache_scratch": "byte writes/s",
                     "scaling": "ops/s, all counts"}.get(w, "ops/s")
            fig_rows.append([f"{w} {label}"] + [
                fig_cell(w, a, "ops_per_sec", fmt_count) for a in allocs])
    extra_figs = [
        ("cache_scratch", "shared_line_pairs", "cache_scratch thread pairs sharing a line",
         lambda v: f"{v:.0f}"),
        ("realloc_calloc", "realloc_moves", "realloc_calloc reallocs that moved",
         lambda v: f"{v:.0f}"),
        ("realloc_calloc", "realloc_s", "realloc_calloc realloc part, s", fmt_time),
        ("realloc_calloc", "calloc_s", "realloc_calloc calloc part, s", fmt_time),
        ("churn_rss", "rss_first_kb", "churn_rss RSS after cycle 0 (MiB)", fmt_mib),
        ("churn_rss", "rss_last_kb", "churn_rss RSS after last cycle (MiB)", fmt_mib),
        ("churn_rss", "rss_max_kb", "churn_rss max sampled RSS (MiB)", fmt_mib),
        ("churn_rss", "rss_drift_kb", "churn_rss drift last − first (MiB)", fmt_mib),
        ("churn_rss", "epoch_api", "churn_rss slab_epoch_advance used",
         lambda v: "yes" if v >= 0.5 else "no"),
    ]
    for w, key, label, fmt in extra_figs:
        if w in workloads:
            fig_rows.append([label] + [fig_cell(w, a, key, fmt) for a in allocs])
    if fig_rows:
        out += table(["figure"] + allocs, fig_rows)
        out.append("")

    descs = [f"`{w}` — {WORKLOAD_DESC[w]}" for w in workloads if w in WORKLOAD_DESC]
    if descs:
        out.append("Workloads: " + "; ".join(descs) + ".")
        out.append("")
    return "\n".join(out) + "\n"


def paired_ratios(ca, cb, which):
    """a ÷ b per repetition, for the repetitions where both succeeded."""
    if ca is None or cb is None:
        return []
    vals = {"wall": (ca.wall, cb.wall), "rss": (ca.rss, cb.rss), "cpu": (ca.cpu, cb.cpu)}[which]
    by_rep = dict(zip(cb.reps, vals[1]))
    return [va / by_rep[r] for r, va in zip(ca.reps, vals[0])
            if r in by_rep and va > 0 and by_rep[r] > 0]


def build_comparison(cells, main, allocs, meta, baselines, value_cell, ratio, ratio_cell):
    """The "zslab ÷ zslab_base" section (a run with bench.sh --baseline)."""
    new, old = "zslab", BASE_BUILD
    label = meta.get("baseline.label", "")
    out = [f"### zslab ÷ {old} — this build against the baseline"
           + (f" ({label})" if label else ""), ""]
    desc = []
    if "baseline.path" in meta:
        desc.append(f"Baseline `{meta['baseline.path']}`"
                    + (f", sha256 `{meta['baseline.sha256']}`" if "baseline.sha256" in meta else "")
                    + ".")
    desc.append(f"Both builds ran in the same repetitions, interleaved with the other allocators "
                f"(and swapping places every other repetition). *ratio*: zslab's median ÷ "
                f"{old}'s (< 1 = this build is faster or smaller); *paired*: the median of the "
                f"per-repetition ratios, with their min–max range in parentheses (a range that "
                f"contains 1.00 means the difference is within this run's noise).")
    out.append(" ".join(desc))
    out.append("")

    def paired_cell(w, which):
        rs = paired_ratios(cells.get((w, new)), cells.get((w, old)), which)
        if not rs:
            return "—", None
        m = statistics.median(rs)
        if len(rs) < 2:
            return fmt_ratio(m), m
        return f"{fmt_ratio(m)} ({fmt_ratio(min(rs))}–{fmt_ratio(max(rs))})", m

    rows_, geo = [], defaultdict(list)
    for w in main:
        pw, pm = paired_cell(w, "wall")
        rows_.append([w, value_cell(w, new, "wall", fmt_time), value_cell(w, old, "wall", fmt_time),
                      ratio_cell(w, new, old, "wall"), pw, ratio_cell(w, new, old, "rss")])
        geo["wall"].append(ratio(w, new, old, "wall"))
        geo["paired"].append(pm)
        geo["rss"].append(ratio(w, new, old, "rss"))

    def geo_cell(vals):
        good = [v for v in vals if v is not None]
        g = geomean(good)
        if g is None:
            return "—"
        return f"**{fmt_ratio(g)}**" + (f" ({len(good)}/{len(main)})" if len(good) < len(main) else "")

    rows_.append(["**geomean**", "", "", geo_cell(geo["wall"]), geo_cell(geo["paired"]),
                  geo_cell(geo["rss"])])
    out += table(["workload", f"{new} wall, s", f"{old} wall, s", "wall ratio",
                  "wall paired (min–max)", "peak RSS ratio"], rows_)
    out.append("")

    # where each build stands against the reference allocators, so the change
    # reads on the scale the rest of the report uses
    for base in [b for b in baselines if b not in (new, old)]:
        parts = []
        for a in (new, old):
            good = [r for r in (ratio(w, a, base, "wall") for w in main) if r is not None]
            g = geomean(good)
            parts.append(f"{a} " + ("—" if g is None else f"**{fmt_ratio(g)}**"
                                    + (f" ({len(good)}/{len(main)})" if len(good) < len(main) else "")))
        out.append(f"- geomean wall time ÷ {base}: " + ", ".join(parts))
    if "mimalloc" not in allocs:
        out.append("- mimalloc did not run: no geomean ÷ mimalloc")
    out.append("")
    return out


def render(report, charts, out_dir):
    """Replace the {{IMG:name}} lines with links relative to out_dir."""
    titles = dict(CHARTS)
    lines = []
    for line in report.split("\n"):
        if line.startswith("{{IMG:") and line.endswith("}}"):
            name = line[6:-2]
            path = charts.get(name)
            if path:
                rel = os.path.relpath(path, out_dir or ".")
                lines.append(f"![{titles.get(name, name)}]({rel})")
                lines.append("")
            continue
        lines.append(line)
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def chart_paths(csv_path):
    d = os.path.dirname(os.path.abspath(csv_path))
    stem = os.path.splitext(os.path.basename(csv_path))[0]
    return {name: os.path.join(d, f"{stem}-{name}.png") for name, _ in CHARTS}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--meta")
    ap.add_argument("--data-dir", help="per-run data (default: <csv without .csv>-data)")
    ap.add_argument("--out", action="append", default=[])
    ap.add_argument("--baselines", default="glibc,mimalloc",
                    help="comma-separated allocators to divide by (default glibc,mimalloc)")
    ap.add_argument("--charts", action="store_true", help="draw the PNG charts")
    ap.add_argument("--no-install", action="store_true",
                    help="with --charts: never pip-install matplotlib")
    ap.add_argument("--copy-charts", metavar="DIR",
                    help="copy the charts to DIR as bench-<chart>.png")
    args = ap.parse_args()
    cells, workloads, allocs = load(args.csv)
    if not cells:
        sys.exit(f"{args.csv}: no runs recorded")
    data_dir = args.data_dir or os.path.splitext(args.csv)[0] + "-data"

    paths = chart_paths(args.csv)
    if args.charts:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_charts.py")
        cmd = [sys.executable, script, "--csv", args.csv, "--data-dir", data_dir]
        if args.no_install:
            cmd.append("--no-install")
        rc = subprocess.call(cmd, stdout=sys.stderr)
        if rc != 0:
            print(f"WARNING: drawing the charts failed (exit {rc}); the report has none",
                  file=sys.stderr)
    charts = {n: p for n, p in paths.items() if os.path.exists(p)}
    if args.copy_charts and charts:
        os.makedirs(args.copy_charts, exist_ok=True)
        for name, p in charts.items():
            shutil.copyfile(p, os.path.join(args.copy_charts, f"bench-{name}.png"))
        print(f"copied {len(charts)} charts to {args.copy_charts}", file=sys.stderr)

    baselines = [b for b in args.baselines.split(",") if b]
    report = build_report(cells, workloads, allocs, read_meta(args.meta), baselines)
    sys.stdout.write(render(report, charts, os.getcwd()))
    for path in args.out:
        with open(path, "w") as fh:
            fh.write(render(report, charts, os.path.dirname(os.path.abspath(path))))


if __name__ == "__main__":
    main()
