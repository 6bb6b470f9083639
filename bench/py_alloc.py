"""Allocation-heavy Python workload for the zslab benchmark harness.

usage: python3 py_alloc.py [rounds=12] [records=20000]

Run by scripts/bench.sh with PYTHONMALLOC=malloc, so every Python object
(not only large buffers) is allocated with malloc/free and the preloaded
allocator sees the interpreter's real object churn: dicts, lists, tuples,
strings of many sizes, small ints/floats, json encode/decode, sorting,
string building and splitting, object instances, and freeing all of it
between rounds while a small long-lived cache survives.

Deterministic (fixed seed).  Prints key=value lines: rounds, records,
elapsed_s, ops_per_sec (records processed per second), checksum.
"""

import json
import random
import sys
import time


class Item:
    def __init__(self, ident, name, tags, score):
        self.ident = ident
        self.name = name
        self.tags = tags
        self.score = score

    def key(self):
        return (self.score, self.name)


WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
    "xray", "yankee", "zulu",
]


def make_records(rng, n, rnd):
    out = []
    for i in range(n):
        k = rng.randint(1, 8)
        words = [rng.choice(WORDS) for _ in range(k)]
        out.append({
            "id": i + rnd * n,
            "name": "-".join(words) + str(i),
            "tags": words[: rng.randint(0, k)],
            "score": rng.random() * 1000.0,
            "counts": {w: len(w) * i % 97 for w in words},
            "blob": "x" * rng.randint(0, 600),
        })
    return out


def one_round(rng, n, rnd, cache):
    recs = make_records(rng, n, rnd)
    # json round trip: lots of short-lived strings, dicts and lists
    text = json.dumps(recs)
    back = json.loads(text)
    # objects + sorting
    items = [Item(r["id"], r["name"], tuple(r["tags"]), r["score"]) for r in back]
    items.sort(key=Item.key)
    # string building / splitting
    joined = "\n".join(f"{it.ident}:{it.name}:{it.score:.3f}" for it in items)
    fields = [line.split(":") for line in joined.splitlines()]
    # grouping into dicts of lists, sets
    groups = {}
    for it in items:
        for t in it.tags:
            groups.setdefault(t, []).append(it.ident)
    uniq = {name[:6] for _, name, _ in fields}
    # keep a few survivors in a long-lived cache (bounded), drop the rest
    for it in items[:: max(1, n // 200)]:
        cache[it.ident % 5000] = (it.name, it.tags)
    checksum = len(text) + len(joined) + sum(len(v) for v in groups.values()) + len(uniq)
    return checksum


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rng = random.Random(12345)
    cache = {}
    checksum = 0
    t0 = time.perf_counter()
    for rnd in range(rounds):
        checksum = (checksum * 31 + one_round(rng, records, rnd, cache)) % (1 << 61)
    el = time.perf_counter() - t0
    print(f"rounds={rounds}")
    print(f"records={records}")
    print(f"elapsed_s={el:.6f}")
    print(f"ops_per_sec={rounds * records / el:.0f}")
    print(f"checksum={checksum}")


if __name__ == "__main__":
    main()
