#!/usr/bin/env python3
"""Lists C functions longer than a limit (default 70 lines, the brace lines included).

A function is a definition whose body opens with `{` alone at the start of a line and closes with `}` at
the start of a line, as every blasnet source is formatted. Usage: function-lengths.py [--max N] PATH...
Exits 1 when any function is longer than the limit, so the test suite can hold the rule."""
import os
import re
import sys


def functions(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    start = None
    for i, line in enumerate(lines):
        if line == "{" and i > 0:
            name = None
            # the header is the run of non-blank lines above the brace; the name is the word before '('
            j = i - 1
            while j >= 0 and lines[j].strip() and not lines[j].startswith(("}", "#", "/*", " *")):
                j -= 1
            header = " ".join(lines[j + 1:i])
            m = re.search(r"([A-Za-z_]\w*)\s*\(", header)
            name = m.group(1) if m else "?"
            start = (i, name)
        elif line.startswith("}") and start is not None:
            begin, name = start
            yield name, begin + 1, i - begin + 1
            start = None


def main(argv):
    limit = 70
    if len(argv) > 1 and argv[1] == "--max":
        limit = int(argv[2])
        argv = argv[2:]
    long_ones = []
    for root in argv[1:]:
        paths = [root] if os.path.isfile(root) else [
            os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith((".c", ".h", ".inc"))]
        for path in sorted(paths):
            for name, line, length in functions(path):
                if length > limit:
                    long_ones.append((length, f"{path}:{line}: {name} is {length} lines (limit {limit})"))
    for _, text in sorted(long_ones, reverse=True):
        print(text)
    print(f"{len(long_ones)} functions over {limit} lines")
    return 1 if long_ones else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
