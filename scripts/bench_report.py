#!/usr/bin/env python3
"""Turn a zslab benchmark CSV (written by scripts/bench.sh) into markdown.

usage: scripts/bench_report.py --csv bench/results/bench-STAMP.csv
                               [--meta bench/results/bench-STAMP.meta]
                               [--out FILE]...

Prints the report on stdout and writes it to every --out FILE.

For each (workload, allocator) the median over the successful repetitions
is taken of: wall time, peak RSS, CPU time (user+sys), and each key=value figure the workload
printed (ops_per_sec, rss_last_kb, ...).  Ratios are allocator / baseline
for baseline = glibc and baseline = zslab, so < 1 means "faster" (time) or
"smaller" (RSS) than the baseline.  The geometric-mean row averages a
column's ratios over the workloads where both sides have a value.

A (workload, allocator) cell whose runs all failed shows the failure
("crashed (SIGSEGV)", "failed (exit 3)", "timeout"); one where only some runs
failed shows the median of the good runs followed by "⚠ k/n failed".
"""

import argparse
import csv
import math
import statistics
import sys
from collections import OrderedDict, defaultdict

ALLOC_ORDER = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "zslab"]
WORKLOAD_ORDER = ["mixed_st", "mixed_mt", "prodcons", "larson", "churn_rss",
                  "malloc_large", "python", "sqlite"]
WORKLOAD_DESC = {
    "mixed_st": "1 thread, malloc/free ring of 1000, 16 B..1 KiB",
    "mixed_mt": "as mixed_st, 2 threads",
    "prodcons": "producer mallocs, consumer frees (remote free), 16..512 B",
    "larson": "larson-like: 2 lanes, arrays handed to new threads",
    "churn_rss": "epoch churn: batches freed around pinned objects",
    "malloc_large": "64 KiB..8 MiB, every page touched",
    "python": "python3 PYTHONMALLOC=malloc, dict/json/sort churn",
    "sqlite": "sqlite3 :memory:, 200k INSERTs (20k with --quick) + indexes + queries",
}


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
        self.figs = defaultdict(list)

    def add(self, row):
        st = row.get("status", "")
        self.statuses.append(st)
        if st != "ok":
            return
        try:
            self.wall.append(float(row["wall_s"]))
            self.rss.append(float(row["maxrss_kb"]))
            self.cpu.append(float(row["user_s"]) + float(row["sys_s"]))
        except (KeyError, ValueError):
            return
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


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return out


def build_report(rows, meta):
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
    workloads = ordered(workloads, WORKLOAD_ORDER)
    allocs = ordered(allocs, ALLOC_ORDER)
    reps = max((c.n for c in cells.values()), default=0)

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
            rs = [ratio(w, a, base, which) for w in workloads]
            good = [r for r in rs if r is not None]
            g = geomean(good)
            if g is None:
                cols.append("—")
            elif len(good) < len(workloads):
                cols.append(f"**{fmt_ratio(g)}** ({len(good)}/{len(workloads)})")
            else:
                cols.append(f"**{fmt_ratio(g)}**")
        return [f"**geomean**"] + cols

    header = ["workload"] + allocs

    for which, title, unit, fmt in (
            ("wall", "Wall time", "seconds", fmt_time),
            ("rss", "Peak RSS", "MiB", fmt_mib)):
        out.append(f"### {title} — median {unit} (±: half the min–max range)")
        out.append("")
        out += table(header, [[w] + [value_cell(w, a, which, fmt) for a in allocs]
                              for w in workloads])
        out.append("")
        for base in ("glibc", "zslab"):
            if base not in allocs:
                continue
            better = "faster" if which == "wall" else "smaller"
            out.append(f"**{title} ÷ {base}** (< 1 = {better} than {base})")
            out.append("")
            rows_ = [[w] + [ratio_cell(w, a, base, which) for a in allocs] for w in workloads]
            rows_.append(geo_row(base, which))
            out += table(header, rows_)
            out.append("")

    # CPU time: less sensitive than wall time to the VM taking a vCPU away,
    # but it also counts spinning, so read it next to wall time.
    out.append("### CPU time (user+sys) — median seconds (÷ glibc)")
    out.append("")
    cpu_rows = []
    for w in workloads:
        r = [w]
        for a in allocs:
            v = value_cell(w, a, "cpu", fmt_time)
            rr = ratio(w, a, "glibc", "cpu") if "glibc" in allocs else None
            c = cells.get((w, a))
            if rr is not None and c is not None and c.median("cpu") is not None:
                v = f"{fmt_time(c.median('cpu'))} ({fmt_ratio(rr)})" + c.note()
            r.append(v)
        cpu_rows.append(r)
    for base in ("glibc", "zslab"):
        if base in allocs:
            g = geo_row(base, "cpu")
            g[0] = f"**geomean ÷ {base}**"
            cpu_rows.append(g)
    out += table(header, cpu_rows)
    out.append("")

    # the workloads' own figures
    out.append("### Workload figures — medians as printed by the programs")
    out.append("")
    fig_rows = []
    for w in workloads:
        if any(cells[(w, a)].median("ops_per_sec") is not None for a in allocs if (w, a) in cells):
            label = "records/s" if w == "python" else "ops/s"
            fig_rows.append([f"{w} {label}"] + [
                fmt_count(cells[(w, a)].median("ops_per_sec"))
                if (w, a) in cells and cells[(w, a)].median("ops_per_sec") is not None
                else ((cells[(w, a)].failure_text() if (w, a) in cells and cells[(w, a)].failures
                       else "—"))
                for a in allocs])
    if "churn_rss" in workloads:
        for key, label in (("rss_first_kb", "RSS after cycle 0 (MiB)"),
                           ("rss_last_kb", "RSS after last cycle (MiB)"),
                           ("rss_max_kb", "max sampled RSS (MiB)"),
                           ("rss_drift_kb", "drift last − first (MiB)"),
                           ("epoch_api", "slab_epoch_advance used")):
            r = [f"churn_rss {label}"]
            for a in allocs:
                c = cells.get(("churn_rss", a))
                m = c.median(key) if c else None
                if m is None:
                    r.append(c.failure_text() if c and c.failures else "—")
                elif key == "epoch_api":
                    r.append("yes" if m >= 0.5 else "no")
                else:
                    r.append(f"{m / 1024.0:.2f}")
            fig_rows.append(r)
    if fig_rows:
        out += table(["figure"] + allocs, fig_rows)
        out.append("")

    out.append("Workloads: " + "; ".join(
        f"`{w}` — {WORKLOAD_DESC[w]}" for w in workloads if w in WORKLOAD_DESC) + ".")
    out.append("")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--meta")
    ap.add_argument("--out", action="append", default=[])
    args = ap.parse_args()
    with open(args.csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        sys.exit(f"{args.csv}: no runs recorded")
    report = build_report(rows, read_meta(args.meta))
    sys.stdout.write(report)
    for path in args.out:
        with open(path, "w") as fh:
            fh.write(report)


if __name__ == "__main__":
    main()
