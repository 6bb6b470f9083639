"""Allocation-heavy, deterministic Python workload for scripts/test-real-programs.sh.

Run with PYTHONMALLOC=malloc so that every Python object goes through the C
allocator (and therefore through zslab when it is preloaded).  Every line
printed must be identical from run to run (PYTHONHASHSEED=0 is set by the
caller, but nothing here depends on set/dict iteration order of str hashes
anyway: results are sorted or reduced to order-independent checksums).
"""

import collections
import gc
import hashlib
import heapq
import itertools
import json
import queue
import random
import re
import string
import sys
import threading
import weakref


def digest(obj) -> str:
    """Short, stable fingerprint of a value."""
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def out(*parts):
    print(*parts, flush=True)


# ---------------------------------------------------------------------------
# 1. dicts / lists / sets / strings, built and mutated
# ---------------------------------------------------------------------------
def section_containers(rng: random.Random) -> None:
    d: dict[str, list[int]] = {}
    for i in range(200_000):
        d.setdefault(f"key{i % 40_000}", []).append(i * 7 + 3)
    for k in list(d)[::3]:
        del d[k]
    for v in d.values():
        v.extend([x * 31 for x in v])
        v.extend(range(len(v)))
        del v[::4]
    s: set[int] = set()
    for v in d.values():
        s.update(x % 10_007 for x in v)
    s -= {x for x in range(0, 10_007, 3)}

    letters = string.ascii_letters + string.digits
    strings = ["".join(rng.choices(letters, k=rng.randint(1, 48))) for _ in range(60_000)]
    joined = "|".join(strings)
    parts = joined.split("|")
    assert parts == strings
    mutated = [p.upper()[::-1] + p[: len(p) // 2].lower() for p in parts]
    buf = []
    for i, m in enumerate(mutated):
        buf.append(m)
        if i % 1000 == 999:
            buf = ["".join(buf)]
    total = sum(len(x) for x in buf)

    # list churn: insert/pop in the middle, slicing, list-of-lists
    lst = list(range(20_000))
    for i in range(5_000):
        lst.insert((i * 7919) % len(lst), -i)
        lst.pop((i * 104_729) % len(lst))
    grid = [[(r * c) % 97 for c in range(200)] for r in range(500)]
    transposed = list(map(list, zip(*grid)))

    out("containers", len(d), sum(len(v) for v in d.values()), len(s), len(joined),
        total, digest(sorted(mutated)[:200]), sum(lst), digest(transposed[7][:50]))


# ---------------------------------------------------------------------------
# 2. json dumps / loads round trip
# ---------------------------------------------------------------------------
def section_json(rng: random.Random) -> None:
    records = []
    for i in range(25_000):
        records.append({
            "id": i,
            "name": f"user-{rng.randrange(10**6):06d}",
            "score": round(rng.random() * 1000, 3),
            "tags": [rng.choice(["a", "b", "c", "dd", "eee", "ffff"]) for _ in range(rng.randint(0, 6))],
            "nested": {"x": rng.randint(-1000, 1000), "y": [None, True, False, i % 13],
                       "s": "é☃" * (i % 5)},
        })
    text = json.dumps(records)
    back = json.loads(text)
    assert back == records
    pretty = json.dumps(back, indent=2, sort_keys=True, ensure_ascii=False)
    again = json.loads(pretty)
    assert again == records
    small = [json.loads(json.dumps(r, sort_keys=True)) for r in records[:5000]]
    out("json", len(text), len(pretty), hashlib.sha256(pretty.encode()).hexdigest()[:16],
        sum(r["nested"]["x"] for r in small))


# ---------------------------------------------------------------------------
# 3. sorting
# ---------------------------------------------------------------------------
def section_sorting(rng: random.Random) -> None:
    rows = [(rng.randrange(1000), f"{rng.random():.6f}", rng.randrange(10**9)) for _ in range(150_000)]
    by_all = sorted(rows)
    by_key = sorted(rows, key=lambda r: (r[1], -r[0]))
    rows.sort(key=lambda r: r[2], reverse=True)
    words = sorted((f"w{x:x}" for x in range(0, 3_000_000, 37)), key=str.casefold)
    top = heapq.nlargest(25, (r[2] for r in rows))
    merged = list(heapq.merge(by_all[:5000], by_key[:5000]))
    out("sorting", digest(by_all[:50]), digest(by_key[-50:]), digest(rows[:50]), len(words),
        words[1234], top[0], top[-1], len(merged))


# ---------------------------------------------------------------------------
# 4. a small class hierarchy with many instances
# ---------------------------------------------------------------------------
class Shape:
    registry: "weakref.WeakValueDictionary[int, Shape]" = weakref.WeakValueDictionary()
    _next = 0

    def __init__(self, name: str) -> None:
        self.name = name
        self.meta = {"created": Shape._next}
        Shape.registry[Shape._next] = self
        Shape._next += 1

    def area(self) -> float:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{type(self).__name__}:{self.name}:{self.area():.3f}"


class Rect(Shape):
    def __init__(self, name: str, w: float, h: float) -> None:
        super().__init__(name)
        self.w, self.h = w, h

    def area(self) -> float:
        return self.w * self.h


class Square(Rect):
    def __init__(self, name: str, side: float) -> None:
        super().__init__(name, side, side)


class Circle(Shape):
    def __init__(self, name: str, r: float) -> None:
        super().__init__(name)
        self.r = r

    def area(self) -> float:
        return 3.141592653589793 * self.r * self.r


class Point:
    __slots__ = ("x", "y", "tag")

    def __init__(self, x: int, y: int, tag: str) -> None:
        self.x, self.y, self.tag = x, y, tag


class Node:
    """Doubly linked nodes: reference cycles that only the cyclic GC can free."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.prev: "Node | None" = None
        self.next: "Node | None" = None


def section_classes(rng: random.Random) -> None:
    shapes: list[Shape] = []
    for i in range(120_000):
        kind = i % 3
        if kind == 0:
            shapes.append(Rect(f"r{i}", rng.randint(1, 50), rng.randint(1, 50)))
        elif kind == 1:
            shapes.append(Square(f"s{i}", rng.randint(1, 50)))
        else:
            shapes.append(Circle(f"c{i}", rng.randint(1, 30)))
    by_type = collections.defaultdict(list)
    for sh in shapes:
        by_type[type(sh).__name__].append(sh)
    total_area = sum(sh.area() for sh in shapes)
    descr = [sh.describe() for sh in shapes[::97]]
    del shapes[::2]
    by_type.clear()
    alive_after = len(Shape.registry)

    points = [Point(i, -i, f"p{i % 1000}") for i in range(150_000)]
    psum = sum(p.x + p.y + len(p.tag) for p in points)
    del points

    gc.disable()
    head = prev = Node(0)
    for i in range(1, 60_000):
        n = Node(i)
        n.prev, prev.next = prev, n
        prev = n
    chain_sum = 0
    n = head
    while n is not None:
        chain_sum += n.value
        n = n.next
    del head, prev, n
    gc.enable()
    collected = gc.collect() > 0

    out("classes", f"{total_area:.3f}", digest(descr), alive_after, psum, chain_sum, collected)


# ---------------------------------------------------------------------------
# 5. re module and collections.Counter over generated text
# ---------------------------------------------------------------------------
def section_text(rng: random.Random) -> None:
    syll = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "an", "el", "or", "ux"]
    vocab = ["".join(rng.choices(syll, k=rng.randint(1, 4))) for _ in range(3000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    words = rng.choices(vocab, weights=weights, k=250_000)
    lines = []
    for i in range(0, len(words), 12):
        chunk = words[i:i + 12]
        lines.append(f"{i // 12:06d} {' '.join(chunk)}. Contact: {chunk[0]}@{chunk[-1]}.example, "
                     f"tel +1-555-{i % 10000:04d}; date 20{i % 30:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}")
    text = "\n".join(lines)

    counts = collections.Counter(re.findall(r"[a-z]+", text))
    bigrams = collections.Counter(zip(words, words[1:]))
    emails = re.findall(r"\b([a-z]+)@([a-z]+)\.example\b", text)
    dates = re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})")
    years = collections.Counter(m.group("y") for m in dates.finditer(text))
    swapped = dates.sub(lambda m: f"{m['d']}/{m['m']}/{m['y']}", text)
    phones = re.subn(r"\+1-555-(\d{4})", r"<\1>", swapped)[1]
    split_words = re.split(r"[\s.,;:]+", text)
    caps = " ".join(w.capitalize() for w in split_words[:50_000])
    out("text", len(counts), digest(sorted(counts.most_common(15), key=lambda kv: (-kv[1], kv[0]))),
        digest(sorted(bigrams.most_common(10), key=lambda kv: (-kv[1], kv[0]))), len(emails),
        digest(sorted(years.items())), phones, len(split_words), hashlib.sha256(caps.encode()).hexdigest()[:16])


# ---------------------------------------------------------------------------
# 6. threads: independent workers plus a producer/consumer hand-off, so that
#    objects allocated on one thread are freed on another
# ---------------------------------------------------------------------------
def worker(idx: int, results: list) -> None:
    rng = random.Random(1000 + idx)
    d = {}
    for i in range(60_000):
        key = (idx, rng.randrange(5000))
        d[key] = d.get(key, "") + chr(97 + i % 26)
        if i % 5 == 0:
            d.pop((idx, rng.randrange(5000)), None)
    blob = json.dumps(sorted((k[1], v) for k, v in d.items()))
    results[idx] = (len(d), hashlib.sha256(blob.encode()).hexdigest()[:16])


def producer(q: "queue.Queue", n: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        q.put([f"item-{seed}-{i}-{rng.randrange(10**6)}" for _ in range(rng.randint(1, 40))])
    q.put(None)


def consumer(q: "queue.Queue", producers: int, acc: list) -> None:
    done = 0
    total = 0
    chars = 0
    while done < producers:
        item = q.get()
        if item is None:
            done += 1
            continue
        total += len(item)
        chars += sum(len(s) for s in item)
        del item
    acc.append((total, chars))


def section_threads() -> None:
    results: list = [None] * 4
    ts = [threading.Thread(target=worker, args=(i, results)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

    q: "queue.Queue" = queue.Queue(maxsize=256)
    acc: list = []
    cons = [threading.Thread(target=consumer, args=(q, 1, acc)) for _ in range(2)]
    prods = [threading.Thread(target=producer, args=(q, 8000, s)) for s in (7, 8)]
    for t in cons + prods:
        t.start()
    for t in cons + prods:
        t.join()
    # Which consumer got which item is scheduling-dependent; the totals are not.
    out("threads", results, tuple(map(sum, zip(*acc))))


def main() -> int:
    rng = random.Random(20240601)
    section_containers(rng)
    section_json(rng)
    section_sorting(rng)
    section_classes(rng)
    section_text(rng)
    section_threads()
    out("itertools", sum(1 for _ in itertools.combinations(range(60), 3)),
        digest(list(itertools.islice(itertools.permutations("abcdefgh"), 1000, 1010))))
    out("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
