"""Helpers for scripts/test-real-suites.sh (run WITHOUT zslab preloaded).

Subcommands (every one writes or reads an "outcomes" JSON file):

  py-outcomes LOG JUNIT OUT
      Parse a CPython regrtest run (its console log with the per-module
      progress lines, and its --junit-xml file) into outcomes.
  glib-run --out DIR --jobs N --timeout SECS --exclude FILE [--only NAMES]
           [--preload LIB] [--setenv K=V ...]
      Run GLib's installed tests (/usr/share/installed-tests/glib/*.test),
      N at a time, each in its own empty directory, and write DIR/outcomes.json
      plus DIR/logs/<test>.{out,err}.  With --preload the tests (not this
      runner) get LD_PRELOAD=LIB.
  compare PLAIN ZSLAB
      Compare two outcomes files: prints one line per unit whose outcome
      differs and exits 1 if any does.  Per-case differences inside units with
      the same outcome are printed as notes and do not fail.
  stats DIR
      Sum zslab's ZSLAB_STATS_FILE outputs in DIR; prints
      "files small_allocs small_frees large_allocs large_frees bad_files".

Outcomes file: {"units": {unit: {"outcome": o, "detail": text,
"cases": {case: "ok"|"fail"|"skip"}}}} with o one of pass, fail, skip,
notests, missing.
"""

import concurrent.futures
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

# ---------------------------------------------------------------------------
# CPython regrtest
# ---------------------------------------------------------------------------

# "0:00:01 load avg: 1.93 [ 3/99] test_x passed", or "[ 3/99/1] ..." once
# something failed (the third number counts failures so far)
PROGRESS = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\] (test_\w+) (.*)$")


def classify_regrtest(text):
    """Map regrtest's result text (after the module name) to an outcome."""
    text = text.split(" -- running: ")[0].strip()
    if text.startswith("passed"):
        return "pass", text
    if text.startswith("failed (env changed)"):
        # The module passed but left threads/processes/files behind:
        # regrtest itself reports SUCCESS for it.
        return "pass", "env changed"
    if text.startswith("skipped"):
        return "skip", text
    if text.startswith("ran no tests") or text.startswith("run no tests"):
        return "notests", text
    return "fail", text


def py_outcomes(log, junit, out):
    units = {}
    with open(log, errors="replace") as fh:
        for line in fh:
            m = PROGRESS.search(line.rstrip("\n"))
            if m:
                outcome, detail = classify_regrtest(m.group(2))
                units[m.group(1)] = {"outcome": outcome, "detail": detail, "cases": {}}
    if junit and os.path.exists(junit) and os.path.getsize(junit) > 0:
        try:
            root = ET.parse(junit).getroot()
        except ET.ParseError as e:
            print(f"suites.py: cannot parse {junit}: {e}", file=sys.stderr)
            root = None
        if root is not None:
            for suite in root.iter("testsuite"):
                # module="..." comes from real-suites/regrtest.py; without it,
                # guess from the case id (test.<module>.<Class>.<method>).
                tagged = suite.get("module")
                for tc in suite.iter("testcase"):
                    name = tc.get("name", "")
                    parts = name.split(".")
                    mod = tagged or (parts[1] if len(parts) > 1 and parts[0] == "test" else parts[0])
                    res = "ok"
                    for child in tc:
                        if child.tag in ("failure", "error"):
                            res = "fail"
                            break
                        if child.tag == "skipped":
                            res = "skip"
                    u = units.setdefault(mod, {"outcome": "missing", "detail": "no progress line", "cases": {}})
                    u["cases"][name] = res
    with open(out, "w") as fh:
        json.dump({"units": units}, fh, indent=1, sort_keys=True)


# ---------------------------------------------------------------------------
# GLib installed tests
# ---------------------------------------------------------------------------

GLIB_TESTS = "/usr/share/installed-tests/glib"
GLIB_SEED = "R02S5a51ab00000000000000000000000001"
TAP = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)(?:\s+#\s*(SKIP|TODO)\b.*)?$")


def read_list(path):
    """Names from a file, one per line; '#' starts a comment."""
    names = []
    with open(path) as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line.split()[0])
    return names


def parse_tap(text):
    cases = {}
    for line in text.splitlines():
        m = TAP.match(line)
        if not m:
            continue
        name = m.group(3) or f"#{m.group(2)}"
        if m.group(4) == "SKIP":
            res = "skip"
        elif m.group(1) == "ok" or m.group(4) == "TODO":
            res = "ok"
        else:
            res = "fail"
        key, n = name, 2
        while key in cases:  # the same name twice: keep both
            key = f"{name} [{n}]"
            n += 1
        cases[key] = res
    return cases


def glib_one(name, argv, env, timeout, logdir):
    work = tempfile.mkdtemp(prefix=f"glib-{name}.", dir=env["TMPDIR"])
    out_path = os.path.join(logdir, f"{name}.out")
    err_path = os.path.join(logdir, f"{name}.err")
    t0 = time.monotonic()
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(p.pid, signal.SIGKILL)
            rc = p.wait()
    secs = time.monotonic() - t0
    subprocess.run(["rm", "-rf", work], check=False)
    with open(out_path, errors="replace") as fh:
        cases = parse_tap(fh.read())
    if timed_out:
        outcome, detail = "fail", f"timed out after {timeout}s"
    elif rc == 0:
        outcome, detail = "pass", "exit 0"
        if any(v == "fail" for v in cases.values()):
            outcome, detail = "fail", "exit 0 but TAP 'not ok'"
    elif rc == 77:
        outcome, detail = "skip", "exit 77"
    elif rc < 0:
        outcome, detail = "fail", f"killed by signal {-rc} ({signal.Signals(-rc).name})"
    else:
        outcome, detail = "fail", f"exit {rc}"
    return name, {"outcome": outcome, "detail": detail, "cases": cases, "seconds": round(secs, 2)}


def glib_run(args):
    import argparse
    ap = argparse.ArgumentParser(prog="suites.py glib-run")
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=180)
    ap.add_argument("--exclude", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--preload")
    ap.add_argument("--setenv", action="append", default=[])
    ns = ap.parse_args(args)

    excluded = set(read_list(ns.exclude))
    only = set(filter(None, re.split(r"[,\s]+", ns.only)))
    tests = []
    for fn in sorted(os.listdir(GLIB_TESTS)):
        if not fn.endswith(".test"):
            continue
        name = fn[:-5]
        if name in excluded or (only and name not in only):
            continue
        execline = None
        with open(os.path.join(GLIB_TESTS, fn)) as fh:
            for line in fh:
                if line.startswith("Exec="):
                    execline = line[5:].strip()
        if not execline:
            continue
        # --tap: results per test case; --seed: the same g_test_rand_*
        # sequence (and so the same case names, e.g. /queue/random/seed:N)
        # in both runs.
        tests.append((name, shlex.split(execline) + ["--tap", "--seed=" + GLIB_SEED]))
    if only - {t[0] for t in tests}:
        print(f"suites.py: unknown or excluded GLib tests: {' '.join(sorted(only - {t[0] for t in tests}))}",
              file=sys.stderr)
        return 2

    env = dict(os.environ)
    for kv in ns.setenv:
        k, _, v = kv.partition("=")
        env[k] = v
    env.pop("LD_PRELOAD", None)
    if ns.preload:
        env["LD_PRELOAD"] = ns.preload
    logdir = os.path.join(ns.out, "logs")
    os.makedirs(logdir, exist_ok=True)
    units = {}
    t0 = time.monotonic()
    # Submitted in name order; outcomes do not depend on the order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, ns.jobs)) as ex:
        futs = [ex.submit(glib_one, name, argv, env, ns.timeout, logdir) for name, argv in tests]
        for f in concurrent.futures.as_completed(futs):
            name, res = f.result()
            units[name] = res
    with open(os.path.join(ns.out, "outcomes.json"), "w") as fh:
        json.dump({"units": units, "seconds": round(time.monotonic() - t0, 1)}, fh, indent=1, sort_keys=True)
    return 0


# ---------------------------------------------------------------------------
# Compare
# ---------------------------------------------------------------------------

def compare(plain_path, zslab_path):
    with open(plain_path) as fh:
        plain = json.load(fh)["units"]
    with open(zslab_path) as fh:
        zslab = json.load(fh)["units"]
    diffs = 0
    notes = []
    for unit in sorted(set(plain) | set(zslab)):
        p = plain.get(unit, {"outcome": "missing", "detail": "not run", "cases": {}})
        z = zslab.get(unit, {"outcome": "missing", "detail": "not run", "cases": {}})
        pc, zc = p.get("cases", {}), z.get("cases", {})
        case_diffs = [(c, pc.get(c, "missing"), zc.get(c, "missing"))
                      for c in sorted(set(pc) | set(zc)) if pc.get(c) != zc.get(c)]
        if p["outcome"] != z["outcome"]:
            diffs += 1
            print(f"DIFF {unit}: plain {p['outcome']} ({p['detail']}), zslab {z['outcome']} ({z['detail']})")
            kinds = {}
            for c, a, b in case_diffs:
                kinds.setdefault((a, b), []).append(c)
            # Cases that failed under zslab first, then the rest (e.g. the
            # cases a crash kept from running: "missing").
            order = sorted(kinds, key=lambda k: (k[1] != "fail", -len(kinds[k])))
            for a, b in order:
                cases = kinds[(a, b)]
                shown = 15 if b == "fail" else 3
                print(f"  {len(cases)} case(s) plain {a}, zslab {b}: " + ", ".join(cases[:shown])
                      + (" ..." if len(cases) > shown else ""))
        else:
            if case_diffs:
                notes.append(f"NOTE {unit}: same outcome ({p['outcome']}) but {len(case_diffs)} case(s) differ: "
                             + ", ".join(f"{c} {a}->{b}" for c, a, b in case_diffs[:5]))
            if z.get("detail") == "env changed" and p.get("detail") != "env changed":
                notes.append(f"NOTE {unit}: altered the execution environment under zslab only")
    for n in notes:
        print(n)
    counts = {}
    for u in zslab.values():
        counts[u["outcome"]] = counts.get(u["outcome"], 0) + 1
    ncases = sum(len(u.get("cases", {})) for u in zslab.values())
    print("COUNTS " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())) + f" cases={ncases} differences={diffs}")
    return 1 if diffs else 0


# ---------------------------------------------------------------------------
# zslab statistics files
# ---------------------------------------------------------------------------

def stats(d):
    keys = ("small_allocs", "small_frees", "large_allocs", "large_frees")
    tot = dict.fromkeys(keys, 0)
    n = bad = 0
    for f in os.listdir(d) if os.path.isdir(d) else []:
        try:
            with open(os.path.join(d, f)) as fh:
                obj = json.load(fh)
            vals = [obj[k] for k in keys]
            if not all(type(v) is int and v >= 0 for v in vals):
                raise ValueError(f)
        except Exception:
            bad += 1
            continue
        n += 1
        for k, v in zip(keys, vals):
            tot[k] += v
    print(n, *(tot[k] for k in keys), bad)
    return 0


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "py-outcomes" and len(args) == 3:
        py_outcomes(*args)
        return 0
    if cmd == "glib-run":
        return glib_run(args)
    if cmd == "compare" and len(args) == 2:
        return compare(*args)
    if cmd == "stats" and len(args) == 1:
        return stats(args[0])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
