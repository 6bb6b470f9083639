"""Phase workload of small Python objects with clustered survivors.

Run with PYTHONMALLOC=malloc so that every object comes from malloc (the
allocator under test).  PHASES times: build RECORDS small records (a tuple
of an int, a str of 8-200 characters and a list of three floats), keep ~5%
of them in runs of 24-48 consecutive records (interleaved in time with the
garbage), drop the rest, sleep 0.3 s, and read RSS from /proc/self/statm.

    python3 py_phases.py [--twin] [--phases N] [--records N]

--twin never builds the dropped records (it consumes the same random
numbers), giving the kept-only baseline.  Prints one line per phase:
    phase=<i> peak=<bytes> after=<bytes>
(peak: RSS before the drop; after: RSS 0.3 s after it) and at the end
    checksum=<hex>  over the survivors' contents (same in both runs).
"""
import os
import random
import sys
import time
import zlib

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def main():
    args = sys.argv[1:]
    twin = "--twin" in args
    phases = int(args[args.index("--phases") + 1]) if "--phases" in args else 4
    records = int(args[args.index("--records") + 1]) if "--records" in args else 400000
    rnd = random.Random(20251130)
    kept = []
    for ph in range(phases):
        garbage = []
        run_left = 0
        for i in range(records):
            n = rnd.randrange(8, 200)
            if run_left > 0:
                keep = True
                run_left -= 1
            elif rnd.random() < 1.0 / 684:
                keep = True
                run_left = rnd.randrange(24, 49) - 1
            else:
                keep = False
            if keep or not twin:
                rec = (ph * records + i, ("%x." % i) * (n // 4 + 1), [i * 0.5, n * 1.5, ph + 0.25])
                if keep:
                    kept.append(rec)
                else:
                    garbage.append(rec)
        peak = rss()
        del garbage
        time.sleep(0.3)
        after = rss()
        print("phase=%d peak=%d after=%d kept=%d" % (ph, peak, after, len(kept)), flush=True)
    crc = 0
    for rec in kept:
        crc = zlib.crc32(("%d|%s|%r" % rec).encode(), crc)
    print("checksum=%08x" % crc, flush=True)


if __name__ == "__main__":
    main()
