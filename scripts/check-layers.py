#!/usr/bin/env python3
"""Check that src/ keeps the layer order docs/design.md promises: a module
uses only modules of lower layers (or its own). Reads the order from the
table in docs/design.md (the `| Layer | Modules | Owns |` table, lowest
first), collects every `crate::x` path and `use crate::{x, y}` group in each
module's files (unit tests at the crate root, src/tests.rs, are exempt),
and reports each use of a module that is not below.

usage: scripts/check-layers.py [--print]
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def layers():
    text = open(os.path.join(ROOT, "docs/design.md")).read()
    order = {}
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", text, re.M)
    for n, mods in rows:
        for m in re.findall(r"`(\w+)`", mods):
            order[m] = int(n)
    return order


def uses():
    out = {}
    src = os.path.join(ROOT, "src")
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            mod = rel[0]
            if mod in ("lib", "main", "tests", "proptests"):
                continue
            text = open(os.path.join(dirpath, f)).read()
            deps = set(re.findall(r"crate::(\w+)", text))
            for group in re.findall(r"crate::\{([^}]*)\}", text, re.S):
                deps.update(re.findall(r"(?:^|[,\s])(\w+)", group))
            out.setdefault(mod, set()).update(d for d in deps if d != mod)
    return out


def main():
    order = layers()
    bad = []
    for mod, deps in sorted(uses().items()):
        if mod not in order:
            bad.append(f"{mod}: not in the layer table of docs/design.md")
            continue
        for d in sorted(deps):
            if d in order and order[d] >= order[mod] and d != mod:
                bad.append(f"{mod} (layer {order[mod]}) uses {d} (layer {order[d]})")
        if "--print" in sys.argv:
            print(mod, order[mod], sorted(d for d in deps if d in order))
    for b in bad:
        print(b)
    print("layers: OK" if not bad else f"layers: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
