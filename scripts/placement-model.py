#!/usr/bin/env python3
"""Placement model: pages a phase's survivors pin, by how size classes share pages.

usage: python3 scripts/placement-model.py [records=200000]

A model, not a measurement: it replays the allocation stream of
bench/phase_py.py's records (per record an int and a float, 32-byte blocks,
then a string and a tuple, 64-byte blocks; runs of 32 records, one run in 20
kept, a few stray blocks of either class between runs) into an allocator
that hands out each class's blocks in address order from *chunks* of C
bytes, taken in turn from one stream shared by all classes. It prints the
4 KiB pages holding kept blocks per kept run, for several C:

- C >= 4096: every page serves one size class, as zslab's slabs (and every
  size-class allocator's pages) do: a kept run's 2 KB of 32-byte blocks and
  4 KB of 64-byte blocks sit at random offsets in pages of their own class,
  about 1.5 + 2 = 3.5 pages. zslab measures 3.5 (docs/design.md,
  "Fragmentation-aware placement").
- smaller C: classes share pages in allocation order, so a kept run's
  blocks of both classes lie close together.

The kept-only twin packs the same records into about 1.6 pages per run.
"""
import random
import sys


def pages_per_kept_run(chunk, nrec, run=32, every=20, keep_pos=7, sizes=(32, 32, 64, 64)):
    cur = {}  # class -> (chunk start, bytes used)
    pos = 0   # next chunk of the shared stream
    rnd = random.Random(1)
    pages = set()
    kept_runs = 0

    def alloc(s):
        nonlocal pos
        start, used = cur.get(s, (0, chunk))
        if used + s > chunk:
            start, used = pos, 0
            pos += chunk
        cur[s] = (start, used + s)
        return start + used

    for i in range(nrec):
        if i % run == 0:
            for _ in range(rnd.randrange(12)):  # stray temporaries
                alloc(rnd.choice((32, 64)))
        kept = (i // run) % every == keep_pos
        if kept and i % run == 0:
            kept_runs += 1
        for s in sizes:
            a = alloc(s)
            if kept:
                pages.add(a // 4096)
                pages.add((a + s - 1) // 4096)
    return len(pages) / kept_runs


def main():
    nrec = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    print("chunk bytes  pages per kept run")
    for c in (65536, 4096, 2048, 1024, 512, 256):
        print(f"{c:>11}  {pages_per_kept_run(c, nrec):.2f}")


if __name__ == "__main__":
    main()
