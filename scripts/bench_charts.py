#!/usr/bin/env python3
"""Draw the charts of a zslab benchmark run (PNG, matplotlib).

usage: scripts/bench_charts.py --csv bench/results/bench-STAMP.csv
                               [--data-dir bench/results/bench-STAMP-data]
                               [--out-dir DIR] [--no-install]

Writes <out-dir>/<csv name>-<chart>.png (out-dir defaults to the CSV's
directory) for the charts whose data the run has:

  time-ratio      median wall time ÷ glibc's, per workload and allocator
  rss-ratio       median peak RSS ÷ glibc's, per workload and allocator
  scaling         throughput against thread count (workload `scaling`)
  latency-cdf     CDF and tail (1 − CDF) of malloc/free latency, 128 B and
                  mixed sizes (workload `latency`, all repetitions pooled)
  rss-churn_rss, rss-phase_py, rss-phase_c
                  RSS over time (sampled every 50 ms by bench/runner), the
                  repetition with the median wall time of each allocator;
                  the kept-only twins dashed
  rss-auto_epoch  zslab's RSS over time without and with automatic epochs
                  (and zslab_base's, the earlier build of bench.sh --baseline)

matplotlib is imported if present; otherwise it is installed with
`python3 -m pip install --quiet matplotlib` (unless --no-install).  If that
fails the script prints a warning and exits 0 without charts.
"""

import argparse
import math
import os
import subprocess
import sys
from collections import defaultdict

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report as br  # noqa: E402

COLORS = {"glibc": "#4c72b0", "jemalloc": "#dd8452", "mimalloc": "#55a868",
          "tcmalloc": "#c44e52", "zslab": "#8172b3",
          # a paler zslab: the earlier build of bench.sh --baseline
          br.BASE_BUILD: "#c0b5e0"}


def warn(msg):
    print(f"WARNING: {msg}", file=sys.stderr)


def get_matplotlib(no_install):
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        pass
    if no_install or os.environ.get("BENCH_CHARTS_INSTALLED"):
        warn("matplotlib is not installed: no charts")
        return False
    print("installing matplotlib (python3 -m pip install --quiet matplotlib)", file=sys.stderr)
    rc = subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"],
                         stdout=sys.stderr)
    if rc != 0:
        warn("pip could not install matplotlib: no charts "
             "(install it by hand, e.g. `apt-get install python3-matplotlib`, and rerun "
             "scripts/bench_report.py --charts)")
        return False
    # restart so the new package is found on a fresh sys.path
    os.environ["BENCH_CHARTS_INSTALLED"] = "1"
    os.execv(sys.executable, [sys.executable] + sys.argv)
    return False  # not reached


def color(a):
    return COLORS.get(a, None)


def read_series(path):
    t, v = [], []
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 2:
                    t.append(float(parts[0]))
                    v.append(float(parts[1]) / 1024.0)
    except OSError:
        return None
    return (t, v) if t else None


def ratio_chart(plt, cells, workloads, allocs, which, title, xlabel, path):
    """Horizontal bars of median(which) ÷ glibc's, log scale centred on 1."""
    main = [w for w in workloads if w not in br.AUX_WORKLOADS]
    if "glibc" not in allocs or not main:
        return False
    others = [a for a in allocs if a != "glibc"]
    rows = []
    for w in main:
        base = cells.get((w, "glibc"))
        mb = base.median(which) if base else None
        vals = {}
        for a in others:
            c = cells.get((w, a))
            m = c.median(which) if c else None
            if m and mb:
                vals[a] = m / mb
        rows.append((w, vals))
    allv = [v for _, vals in rows for v in vals.values()]
    if not allv or not others:
        return False
    n = len(others)
    h = 0.8 / n
    fig, ax = plt.subplots(figsize=(9, 0.32 * n * len(rows) + 1.6))
    for j, a in enumerate(others):
        ys, xs = [], []
        for i, (w, vals) in enumerate(rows):
            if a in vals:
                ys.append(i + (j - (n - 1) / 2) * h)
                xs.append(vals[a])
        # bars grow from 1 (the baseline) to the ratio
        ax.barh(ys, [x - 1.0 for x in xs], left=1.0, height=h, color=color(a), label=a)
    ax.set_xscale("log")
    span = max(max(abs(math.log2(v)) for v in allv) * 1.1, math.log2(1.25))
    ax.set_xlim(2 ** -span, 2 ** span)
    ticks = [2.0 ** k for k in range(-int(span), int(span) + 1)]
    if span < 2:
        ticks = sorted(set(ticks) | {0.67, 0.8, 1.25, 1.5})
    ticks = [t for t in ticks if 2 ** -span <= t <= 2 ** span]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([w for w, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def scaling_chart(plt, cells, allocs, path):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    ncpu = maxt_all = 0
    for a in allocs:
        c = cells.get(("scaling", a))
        if c is None:
            continue
        maxt = int(c.median("max_threads") or 0)
        maxt_all = max(maxt_all, maxt)
        ncpu = max(ncpu, int(c.median("ncpu") or 0))
        xs, ys = [], []
        for t in range(1, maxt + 1):
            v = c.median(f"tput_t{t}")
            if v:
                xs.append(t)
                ys.append(v / 1e6)
        if xs:
            ax.plot(xs, ys, marker="o", color=color(a), label=a)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    if ncpu:
        ax.axvline(ncpu, color="grey", linestyle=":", linewidth=1)
        ax.text(ncpu, ax.get_ylim()[1] * 0.98, f" {ncpu} CPUs", va="top", fontsize=8,
                color="grey")
    ax.set_xticks(range(1, max(maxt_all, 1) + 1))
    ax.set_xlabel("threads")
    ax.set_ylabel("M ops/s (all threads)")
    ax.set_title("Thread scaling (same total work at every count)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def latency_chart(plt, cells, allocs, data_dir, path):
    # hist[(series, alloc)][ns] = count, pooled over repetitions
    hist = defaultdict(lambda: defaultdict(int))
    for a in allocs:
        c = cells.get(("latency", a))
        if c is None:
            continue
        for rep in c.reps:
            p = os.path.join(data_dir, f"latency.{a}.rep{rep}.dat")
            try:
                with open(p) as fh:
                    for line in fh:
                        parts = line.split()
                        if len(parts) == 3:
                            hist[(parts[0], a)][float(parts[1])] += int(parts[2])
            except OSError:
                continue
    if not hist:
        return False
    series = br.LAT_SERIES
    fig, axes = plt.subplots(2, len(series), figsize=(4 * len(series), 7.5), squeeze=False)
    floor = 1.0  # log axis: samples below 1 ns (below timer resolution) are drawn at 1 ns
    for k, (key, label) in enumerate(series):
        top, bot = axes[0][k], axes[1][k]
        body_max = floor  # the CDF panel shows up to the largest p99.9
        for a in allocs:
            h = hist.get((key, a))
            if not h:
                continue
            xs = sorted(h)
            total = float(sum(h.values()))
            cum, cx, cy, ty = 0, [], [], []
            for x in xs:
                cum += h[x]
                cx.append(max(x, floor))
                cy.append(cum / total)
                ty.append(max(1.0 - cum / total, 0.5 / total))
                if cum / total < 0.999:
                    body_max = max(body_max, x)
            top.step(cx, cy, where="post", color=color(a), label=a)
            bot.step(cx, ty, where="post", color=color(a), label=a)
        top.set_xscale("log")
        top.set_xlim(left=max(floor, top.get_xlim()[0]), right=body_max * 3)
        top.set_title(label + " (up to p99.9)")
        top.set_ylim(0, 1.0)
        top.grid(alpha=0.3, which="both")
        bot.set_xscale("log")
        bot.set_yscale("log")
        bot.grid(alpha=0.3, which="both")
        bot.set_xlabel("latency, ns (timer cost subtracted)")
        for q, name in ((1e-2, "p99"), (1e-3, "p99.9"), (1e-4, "p99.99")):
            bot.axhline(q, color="grey", linestyle=":", linewidth=0.8)
            bot.text(0.99, q, name, fontsize=7, color="grey", va="bottom", ha="right",
                     transform=bot.get_yaxis_transform())
        if k == 0:
            top.set_ylabel("fraction of calls ≤ x (CDF)")
            bot.set_ylabel("fraction of calls > x (tail)")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle("malloc/free latency per call")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def rss_chart(plt, cells, allocs, data_dir, w, twin, path, title):
    fig, ax = plt.subplots(figsize=(9, 4.8))
    drawn = False
    for a in allocs:
        for wl, style in ((w, "-"), (twin, "--")):
            if wl is None:
                continue
            c = cells.get((wl, a))
            if c is None:
                continue
            rep = c.median_rep()
            if rep is None:
                continue
            s = read_series(os.path.join(data_dir, f"{wl}.{a}.rep{rep}.rss"))
            if not s:
                continue
            label = a if wl == w else f"{a} (kept-only twin)"
            ax.plot(s[0], s[1], style, color=color(a), label=label, linewidth=1.2)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("RSS, MiB")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def auto_epoch_chart(plt, cells, data_dir, path):
    fig, ax = plt.subplots(figsize=(9, 4.5))
    drawn = False
    # zslab, and the baseline build when the run has one (its "on" line grey
    # rather than black, so the two builds stay apart)
    for a, on_color in (("zslab", "#222222"), (br.BASE_BUILD, "#888888")):
        for wl, label, style in (("auto_epoch_off", f"{a}, no epochs", "-"),
                                 ("auto_epoch_on",
                                  f"{a}, ZSLAB_EPOCH_MS=50 ZSLAB_EPOCH_ALLOCS=100000", "--")):
            c = cells.get((wl, a))
            if c is None:
                continue
            rep = c.median_rep()
            s = read_series(os.path.join(data_dir, f"{wl}.{a}.rep{rep}.rss")) if rep else None
            if not s:
                continue
            ax.plot(s[0], s[1], style, color=COLORS[a] if wl.endswith("off") else on_color,
                    label=label, linewidth=1.2)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("RSS, MiB")
    ax.set_title("steady (heavy-tailed lifetimes, no phases): automatic epochs")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--data-dir")
    ap.add_argument("--out-dir")
    ap.add_argument("--no-install", action="store_true")
    args = ap.parse_args()
    if not get_matplotlib(args.no_install):
        return 0
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells, workloads, allocs = br.load(args.csv)
    data_dir = args.data_dir or os.path.splitext(args.csv)[0] + "-data"
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.csv))
    stem = os.path.splitext(os.path.basename(args.csv))[0]

    def out(name):
        return os.path.join(out_dir, f"{stem}-{name}.png")

    made = []

    def attempt(name, fn):
        """fn(path) draws one chart and returns whether it had data."""
        try:
            if fn(out(name)):
                made.append(name)
        except Exception as e:  # a broken chart must not cost the report
            warn(f"chart {name} failed: {e!r}")

    attempt("time-ratio", lambda path: ratio_chart(
        plt, cells, workloads, allocs, "wall", "Wall time ÷ glibc (median; < 1 = faster)",
        "ratio to glibc (log scale)", path))
    attempt("rss-ratio", lambda path: ratio_chart(
        plt, cells, workloads, allocs, "rss", "Peak RSS ÷ glibc (median; < 1 = smaller)",
        "ratio to glibc (log scale)", path))
    if "scaling" in workloads:
        attempt("scaling", lambda path: scaling_chart(plt, cells, allocs, path))
    if "latency" in workloads:
        attempt("latency-cdf", lambda path: latency_chart(plt, cells, allocs, data_dir, path))
    for w, twin, title in (("churn_rss", None, "churn_rss: RSS over time"),
                           ("phase_py", "phase_py_twin",
                            "phase_py: RSS over time (phases of small Python records)"),
                           ("phase_c", "phase_c_twin",
                            "phase_c: RSS over time (phases of 8 KiB-1 MiB blocks)")):
        if w in workloads:
            tw = twin if twin in workloads else None
            attempt(f"rss-{w}", lambda path, w=w, tw=tw, title=title: rss_chart(
                plt, cells, allocs, data_dir, w, tw, path, title))
    if "auto_epoch_off" in workloads or "auto_epoch_on" in workloads:
        attempt("rss-auto_epoch", lambda path: auto_epoch_chart(plt, cells, data_dir, path))
    print(f"charts: {', '.join(made) if made else 'none'} ({out_dir}/{stem}-*.png)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
