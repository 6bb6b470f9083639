"""Deterministically create or mutate a work tree for the git workload.

Usage: gen_tree.py WORKTREE STEP BRANCH

STEP 0 creates the initial tree (a few hundred text files); every later step
modifies ~25 files, adds a few, and (on the main line only) deletes and
renames some.  The same (STEP, BRANCH) always produces the same change, so
two runs of the git workload create byte-identical repositories and hashes.

Layout: src/ is touched by the main line only (edits, adds, deletes,
renames); lib/ only by side branches (edits, adds); common/ by both (edits
only, so merges may conflict on content, which the workload resolves with
`-X theirs`, but never on deletions).

This script runs without LD_PRELOAD: it only prepares input for git.
"""

import os
import random
import sys

WORDS = ("alloc free slab arena page span bin cache thread local remote batch chunk size class "
         "fast path slow path lock atomic fence epoch bump pointer header magic guard canary").split()


def text_lines(rng: random.Random, n: int) -> list[str]:
    return [f"{rng.randrange(10**6):06d} " + " ".join(rng.choices(WORDS, k=rng.randint(3, 14))) for _ in range(n)]


def list_files(root: str, sub: str) -> list[str]:
    base = os.path.join(root, sub)
    found = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for f in sorted(filenames):
            found.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(found)


def write(root: str, rel: str, lines: list[str]) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")


def read(root: str, rel: str) -> list[str]:
    with open(os.path.join(root, rel), encoding="utf-8") as fh:
        return fh.read().splitlines()


def edit(rng: random.Random, lines: list[str]) -> list[str]:
    lines = list(lines)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(3)
        i = rng.randrange(len(lines) + 1)
        if op == 0 or len(lines) < 5:
            lines[i:i] = text_lines(rng, rng.randint(1, 8))
        elif op == 1:
            del lines[i:i + rng.randint(1, 3)]
        else:
            j = min(i, len(lines) - 1)
            lines[j] = lines[j].upper()
    return lines or ["empty"]


def initial(root: str, rng: random.Random) -> None:
    for top, count in (("src", 200), ("lib", 80), ("common", 40)):
        for k in range(count):
            rel = f"{top}/d{k % 8}/s{k % 3}/f{k:03d}.txt"
            write(root, rel, text_lines(rng, rng.randint(10, 120)))
    write(root, "README", ["generated repository for the zslab real-program tests"])


def step(root: str, n: int, branch: str, rng: random.Random) -> None:
    main = branch == "main"
    own = "src" if main else "lib"
    for area, edits in ((own, 18), ("common", 7)):
        files = list_files(root, area)
        for rel in rng.sample(files, min(edits, len(files))):
            write(root, rel, edit(rng, read(root, rel)))
    for a in range(3):
        write(root, f"{own}/new/{branch}-{n:03d}-{a}.txt", text_lines(rng, rng.randint(5, 60)))
    if main:
        files = list_files(root, "src")
        for rel in rng.sample(files, 2):
            os.remove(os.path.join(root, rel))
        files = list_files(root, "src")
        rel = rng.choice(files)
        lines = read(root, rel)
        os.remove(os.path.join(root, rel))
        write(root, f"src/renamed/r{n:03d}-{os.path.basename(rel)}", lines[:-1] + ["renamed"])
        with open(os.path.join(root, "README"), "a", encoding="utf-8") as fh:
            fh.write(f"main step {n}\n")


def main() -> int:
    root, n, branch = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(f"{branch}:{n}")
    if n == 0:
        initial(root, rng)
    else:
        step(root, n, branch, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
