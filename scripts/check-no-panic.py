#!/usr/bin/env python3
"""Prove that no panic entry point is reachable from zslab's allocation
functions (the glibc malloc API it exports, and its pthread_create wrapper)
in the release library. malloc_stats, malloc_info and the slab_* C API
format text and log through `tracing`, whose own code has assertions; they
are not allocation paths and are not checked.

A panic inside malloc would run std's panic hook, which formats a message
and may allocate: zslab's allocation paths must be panic-free by
construction (masked indices, checked invariants). This script disassembles
libzslab.so with objdump, builds the static call graph (direct calls and
jumps, including tail calls), walks it from every exported allocation
function, and fails if any function whose name marks a panic (core's
panicking module, bounds/overflow/unwrap failures, std's panic machinery)
is reachable. Indirect calls (function pointers, vtables) cannot be followed
statically; the script lists the reachable functions that make them, so a
reviewer can see each one (zslab's allocation paths make none).

usage: scripts/check-no-panic.py target/release/libzslab.so [--roots a,b,...]
"""
import re
import subprocess
import sys
from collections import deque

ALLOC_ROOTS = [  # the exported functions checked by default
    "malloc", "free", "cfree", "calloc", "realloc", "reallocarray",
    "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
    "malloc_usable_size", "malloc_trim", "mallopt", "mallinfo", "mallinfo2",
    "pthread_create",
]

PANIC = re.compile(
    r"(core::panicking|std::panicking|panic_bounds_check|panic_fmt|"
    r"rust_begin_unwind|__rust_start_panic|rust_panic|unwrap_failed|"
    r"expect_failed|slice_index_.*fail|slice_end_index|slice_start_index|"
    r"str_index|slice_error_fail|panic_const|assert_failed|"
    r"panic_already_borrowed|panic_already_mutably_borrowed|"
    r"core::option::unwrap|core::result::unwrap|handle_alloc_error|"
    r"capacity_overflow|begin_panic)"
)

FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
BRANCH = re.compile(r"\b(call|jmp|j[a-z]{1,3})\s+[0-9a-f]+ <([^>+]+)(\+0x[0-9a-f]+)?>")
INDIRECT = re.compile(r"\bcall\s+\*(?!0x[0-9a-f]+\(%rip\))")
# A GOT entry loaded into a register (then called through it).
GOTLOAD = re.compile(r"\bmov\s+0x[0-9a-f]+\(%rip\),(%\w+)\s+# [0-9a-f]+ <([^@>+]+)@")
REGCALL = re.compile(r"\b(call|jmp)\s+\*(%\w+)\s*$")
# A call through the GOT names its target in objdump's comment.
GOT = re.compile(r"\b(call|jmp)\s+\*0x[0-9a-f]+\(%rip\)\s+# [0-9a-f]+ <([^@>+]+)")


def exported(lib):
    """Exported function name -> address (aliases share an address)."""
    out = subprocess.run(["nm", "-D", "--defined-only", lib],
                         check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TtWi":
            syms[parts[2]] = int(parts[0], 16)
    return syms


def graph(lib):
    out = subprocess.run(
        ["objdump", "-d", "-C", "--no-show-raw-insn", lib],
        check=True, capture_output=True, text=True,
    ).stdout
    edges, indirect, at = {}, set(), {}
    cur = None
    regs = {}
    for line in out.splitlines():
        m = FUNC.match(line)
        if m:
            cur = m.group(2)
            regs = {}
            at[int(m.group(1), 16)] = cur
            edges.setdefault(cur, set())
            continue
        if cur is None:
            continue
        g = GOTLOAD.search(line)
        if g:
            regs[g.group(1)] = g.group(2)
            continue
        rc = REGCALL.search(line)
        if rc and rc.group(2) in regs:
            edges[cur].add(regs[rc.group(2)])
            continue
        b = BRANCH.search(line)
        if b:
            tgt = b.group(2)
            if tgt.endswith("@plt"):
                tgt = tgt[:-4]
            if tgt != cur:
                edges[cur].add(tgt)
        elif GOT.search(line):
            edges[cur].add(GOT.search(line).group(2))
        elif INDIRECT.search(line):
            indirect.add(cur)
    return edges, indirect, at


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    lib = args[0]
    roots = ALLOC_ROOTS
    if "--roots" in args:
        roots = args[args.index("--roots") + 1].split(",")
    edges, indirect, at = graph(lib)
    syms = exported(lib)
    missing = [r for r in roots if r not in syms or syms[r] not in at]
    if missing:
        print(f"error: exported functions not found in {lib}: {missing}")
        return 2
    roots = sorted({at[syms[r]] for r in roots})
    parent = {r: None for r in roots}
    q = deque(roots)
    while q:
        f = q.popleft()
        for t in edges.get(f, ()):
            if t not in parent:
                parent[t] = f
                q.append(t)
    bad = sorted(f for f in parent if PANIC.search(f))
    ind = sorted(f for f in parent if f in indirect)
    print(f"{len(parent)} functions reachable from {len(roots)} allocation entry points")
    if ind:
        print("functions making indirect calls (not followed):")
        for f in ind:
            print(f"  {f}")
    if bad:
        print("FAIL: panic entry points reachable:")
        for f in bad:
            path, x = [], f
            while x is not None:
                path.append(x)
                x = parent[x]
            print("  " + " <- ".join(path))
        return 1
    print("PASS: no panic entry point is reachable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
