"""Memory return after phases of small Python objects (zslab bench harness).

usage: python3 phase_py.py [phases=6] [min_mb=150] [max_mb=250] [twin=0] [run=32] [every=20] [sleep_ms=300]

Run by scripts/bench.sh with an unmodified interpreter and PYTHONMALLOC=malloc,
so every object is a malloc'd block.  Each phase builds about min_mb..max_mb
MB (a fixed, deterministic size per phase) of small records, each a tuple of
an int, a float and a short string (four small blocks, ~210 bytes with
malloc overhead).  Records come in runs of `run` consecutive records; one run
in `every` (a fixed position in each group, chosen per phase) is kept until
the end of the program, so ~5% of each phase survives, interleaved in time
with the garbage.  At the end of the phase the rest is dropped (the list
holding it is released), the program sleeps sleep_ms and reads its own RSS
from /proc/self/statm.

With twin=1 the program makes the same decisions but builds only the records
it keeps (the "kept-only twin"); its RSS is what an allocator that returned
every dropped page would show.  The harness reports the ratio of the two
runs' RSS after each drop, each under the same allocator.

Prints key=value lines: twin, phases, rss_start_kb, and for every phase i
(1-based): p<i>_records (records built in this run), p<i>_kept_records,
p<i>_est_mb (the phase's nominal size), p<i>_rss_before_kb (just before the
drop), p<i>_rss_after_kb (sleep_ms after it); then kept_records,
rss_final_kb, elapsed_s.  Deterministic (fixed seeds).
"""

import os
import random
import sys
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def rss_kb():
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * PAGE_KB


def record(i):
    return (i + 1000, i * 0.5, "r%07d" % i)


def record_bytes():
    """Approximate malloc'd bytes of one record (8 bytes of malloc header per
    block, rounded up to 16) plus its slot in the phase's list."""
    rec = record(1234567)
    objs = [rec] + list(rec)
    return sum((sys.getsizeof(o) + 8 + 15) // 16 * 16 for o in objs) + 8


def main():
    args = [int(a) for a in sys.argv[1:]]
    defaults = [6, 150, 250, 0, 32, 20, 300]
    phases, min_mb, max_mb, twin, run, every, sleep_ms = args + defaults[len(args):]
    per_rec = record_bytes()
    plan = random.Random(1701)
    kept = []
    out = [f"twin={twin}", f"phases={phases}", f"rss_start_kb={rss_kb()}"]
    print("\n".join(out), flush=True)
    t0 = time.perf_counter()
    base = 0
    for ph in range(1, phases + 1):
        mb = plan.uniform(min_mb, max_mb)
        keep_pos = plan.randrange(every)
        n = int(mb * 1048576 / per_rec)
        nruns = (n + run - 1) // run
        garbage = [] if not twin else None
        built = nkept = 0
        for j in range(nruns):
            lo = base + j * run
            hi = min(base + n, lo + run)
            if j % every == keep_pos:
                kept.extend([record(i) for i in range(lo, hi)])
                nkept += hi - lo
                built += hi - lo
            elif not twin:
                garbage.extend([record(i) for i in range(lo, hi)])
                built += hi - lo
        base += n
        before = rss_kb()
        garbage = None  # the drop
        if sleep_ms:
            time.sleep(sleep_ms / 1000.0)
        after = rss_kb()
        print(f"p{ph}_records={built}\np{ph}_kept_records={nkept}\np{ph}_est_mb={mb:.1f}\n"
              f"p{ph}_rss_before_kb={before}\np{ph}_rss_after_kb={after}", flush=True)
    el = time.perf_counter() - t0
    print(f"kept_records={len(kept)}\nrss_final_kb={rss_kb()}\nelapsed_s={el:.6f}")


if __name__ == "__main__":
    main()
