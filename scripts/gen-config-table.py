#!/usr/bin/env python3
"""The README's ZSLAB_* table, generated from the one table in src/config.rs.

    scripts/gen-config-table.py            print the markdown table
    scripts/gen-config-table.py --write    replace the table in README.md
    scripts/gen-config-table.py --check    exit 1 if README.md's table differs

The README keeps the table between the lines `<!-- config-table -->` and
`<!-- /config-table -->`.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rows():
    src = open(os.path.join(ROOT, "src/config.rs")).read()
    i = src.index("config_table! {\n")
    body = src[i:src.index("\n}\n", i)]
    pat = re.compile(
        r'\s*(\w+): (\w+) = [^,]+?, "(ZSLAB_\w+)", "([^"]*)", "([^"]*)",\s*"((?:[^"\\]|\\.)*)";'
    )
    return [m.groups() for m in pat.finditer(body)]


def table():
    out = ["| Variable | Default | Unit | Meaning |", "|---|---|---|---|"]
    for _, _, name, default, unit, meaning in rows():
        unit = unit.replace("|", "\\|")
        meaning = re.sub(r"\b(ZSLAB_\w+)", r"`\1`", meaning.replace("\\\"", '"'))
        d = f"`{default}`" if default and not default.startswith("(") else default
        d = re.sub(r"^`(\w+) \(off\)`$", r"`\1` (off)", d.replace(" (off)`", "` (off)"))
        out.append(f"| `{name}` | {d} | {unit} | {meaning} |")
    return "\n".join(out) + "\n"


def main():
    t = table()
    readme = os.path.join(ROOT, "README.md")
    text = open(readme).read()
    start, end = "<!-- config-table -->\n", "<!-- /config-table -->"
    if "--write" in sys.argv or "--check" in sys.argv:
        i, j = text.index(start) + len(start), text.index(end)
        if "--check" in sys.argv:
            if text[i:j] != t:
                print("README.md's ZSLAB_* table differs from src/config.rs; "
                      "run scripts/gen-config-table.py --write")
                return 1
            return 0
        open(readme, "w").write(text[:i] + t + text[j:])
        return 0
    sys.stdout.write(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
