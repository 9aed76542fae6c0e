#!/usr/bin/env python3
"""The shape of the code, checked (issue 23): dependencies between modules run one way, folders keep their
layer order, no source file grows past 600 lines, and libblasnet.so exports no more than its budget.

A module is a .c file with the .h of the same name beside it, or a header alone. Module A depends on module B
when A calls a function that B defines (a non-static function, or a static inline one in B's header), or
when A includes B's header and B has a .c. The code is read as text: comments and strings are blanked, a
function definition is a name followed by its parameters and a brace at file level, and a call is a name
followed by an opening parenthesis inside a function body. Macros are not expanded.

The check fails on:
  - a cycle between modules, or between folders;
  - a dependency of a folder on a folder of the same or a later rank (FOLDER_RANKS);
  - a .c or .h in src/ or bench/ over 600 lines;
  - more exported functions in libblasnet.so (nm -D --defined-only) than EXPORT_BUDGET.
What the codebase holds today beyond those rules is listed in KNOWN, each with the issue part that removes
it; the check fails when one of them grows or a new one appears, and says when one has gone, so that the list
can only shrink.

Usage: scripts/check-deps.py [--lib PATH/libblasnet.so] [--graph]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCANNED = ["src", "bench"]
MAX_LINES = 600
EXPORT_BUDGET = 75

# A folder may depend only on folders of a lower rank. bench/ and src/cli/ are programs on top of the
# library; neither may use the other.
FOLDER_RANKS = {
    "src/base": 0,
    "src/gemm": 1,
    "src/data": 1,
    "src/kernels": 2,
    "src/net": 3,
    "src/dist": 4,
    "src/train": 5,
    "src/cli": 6,
    "bench": 6,
}

# Where a quoted #include is looked for after the including file's own folder, as the build's include path
# has it (src/meson.build).
INCLUDE_PATH = ["src", "src/base", "src/gemm", "src/data", "src/kernels", "src/net", "src/dist", "src/train",
                "src/cli", "bench"]

# Today's exceptions, each to be removed by the part of issue 23 named; the check fails if one grows.
KNOWN = {
    # module cycles, as the sorted list of the modules in one strongly connected component
    "cycles": {},
    # files over MAX_LINES: the most lines allowed until the split
    "long_files": {
    },
    # dependencies of a folder on one of the same or a later rank, and the folder cycles they make
    "rank_edges": {},
    "folder_cycles": {},
    "exports": (EXPORT_BUDGET, "always"),
}

# Functions a module defines in place of the C library's (bench/alloc_count.c counts allocations): a call to
# one of these is a call to the C library, not to that module.
INTERPOSED = {"malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign", "valloc",
              "pvalloc"}

KEYWORDS = {
    "if", "for", "while", "switch", "return", "sizeof", "case", "do", "else", "goto", "typeof", "__typeof__",
    "_Alignof", "alignof", "_Static_assert", "defined", "__attribute__", "__builtin_expect", "_Pragma",
    "__asm__", "asm", "offsetof", "va_arg", "_Generic",
}


def blank_comments_and_strings(text):
    """Comments, string and character literals replaced by spaces (newlines kept, so lines still count)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank_preprocessor(text):
    """Preprocessor lines (with their continuations) blanked, after their #include is noted."""
    lines = text.split("\n")
    out, cont = [], False
    for line in lines:
        if cont or line.lstrip().startswith("#"):
            cont = line.rstrip().endswith("\\")
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


DEF_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(([^;{}()]|\([^;{}()]*\))*\)\s*(__attribute__\s*\(\(.*?\)\)\s*)?\{")
CALL_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def parse(path):
    """(definitions: {name: static?}, calls: set of names, includes: list of quoted includes, lines)."""
    raw = open(path, encoding="utf-8", errors="replace").read()
    includes = re.findall(r'^\s*#\s*include\s+"([^"]+)"', raw, re.M)
    text = blank_preprocessor(blank_comments_and_strings(raw))
    defs, calls = {}, set()
    depth, i = 0, 0
    top_start = 0  # where the current top-level declaration began
    while i < len(text):
        c = text[i]
        if c == "{":
            if depth == 0:
                head = text[top_start:i + 1]
                m = None
                for m in DEF_RE.finditer(head):
                    pass
                if m and m.end() == len(head) and m.group(1) not in KEYWORDS:
                    before = head[:m.start()]
                    if "=" not in before and not re.search(r"\b(struct|union|enum)\s*\w*\s*$", before):
                        defs[m.group(1)] = bool(re.search(r"\bstatic\b", before))
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                top_start = i + 1
        elif c == ";" and depth == 0:
            top_start = i + 1
        elif depth > 0 and (c.isalpha() or c == "_"):
            m = CALL_RE.match(text, i)
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
                if m.group(1) not in KEYWORDS:
                    calls.add(m.group(1))
                i = m.end() - 1
            else:
                j = i
                while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                i = j - 1
        i += 1
    return defs, calls, includes, raw.count("\n") + (0 if raw.endswith("\n") else 1)


def scan():
    files = []
    for top in SCANNED:
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for name in sorted(names):
                if name.endswith((".c", ".h", ".inc")):
                    files.append(os.path.relpath(os.path.join(dirpath, name), ROOT))
    return sorted(files)


def module_of(path):
    return os.path.splitext(path)[0]


def folder_of(module):
    return os.path.dirname(module)


def build_graph(files):
    info = {f: parse(os.path.join(ROOT, f)) for f in files}
    has_c = {module_of(f) for f in files if f.endswith(".c")}
    # who defines what: a non-static function anywhere, or a static inline one in a header
    definers = {}
    for f, (defs, _, _, _) in info.items():
        for name, static in defs.items():
            if name not in INTERPOSED and (not static or f.endswith(".h")):
                definers.setdefault(name, set()).add(module_of(f))
    edges = {}  # (a, b) -> a reason
    for f, (defs, calls, includes, _) in info.items():
        a = module_of(f)
        own = {n for g, (d, _, _, _) in info.items() if module_of(g) == a for n in d}
        included = set()
        for inc in includes:
            target = os.path.normpath(os.path.join(os.path.dirname(f), inc))
            candidates = [target] + [os.path.join(d, inc) for d in INCLUDE_PATH]
            for cand in candidates:
                if cand in info:
                    included.add(module_of(cand))
                    if module_of(cand) != a and module_of(cand) in has_c:
                        edges.setdefault((a, module_of(cand)), f"{f} includes {cand}")
                    break
        for name in calls - own:
            owners = definers.get(name, set()) - {a}
            if len(owners) > 1:
                owners = owners & included or owners
            for b in owners:
                edges.setdefault((a, b), f"{f} calls {name}()")
    return info, edges


def components(nodes, edges):
    """Strongly connected components with more than one node (Tarjan)."""
    adj = {n: [] for n in nodes}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, [])
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(tuple(sorted(comp)))

    sys.setrecursionlimit(10000)
    for v in list(adj):
        if v not in index:
            visit(v)
    return out


def rank_of(folder):
    while folder not in FOLDER_RANKS and folder:
        folder = os.path.dirname(folder)
    return FOLDER_RANKS.get(folder)


def exported_count(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if len(line.split()) == 3 and line.split()[1] == "T")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", help="the built libblasnet.so, for the export count")
    ap.add_argument("--graph", action="store_true", help="print every dependency and why")
    args = ap.parse_args()
    files = scan()
    info, edges = build_graph(files)
    problems, notes = [], []
    if args.graph:
        for (a, b), why in sorted(edges.items()):
            print(f"{a} -> {b}  ({why})")

    modules = {module_of(f) for f in files}
    for comp in components(modules, edges):
        if comp not in KNOWN["cycles"]:
            inside = [f"{a} -> {b} ({edges[(a, b)]})" for (a, b) in sorted(edges) if a in comp and b in comp]
            problems.append("a cycle between modules: " + ", ".join(comp) + "\n    " + "\n    ".join(inside))
    found = set(components(modules, edges))
    for comp, why in KNOWN["cycles"].items():
        if comp not in found:
            notes.append(f"the known cycle {', '.join(comp)} is gone: take it out of KNOWN")

    folder_edges = {}
    for (a, b), why in edges.items():
        fa, fb = folder_of(a), folder_of(b)
        if fa != fb:
            folder_edges.setdefault((fa, fb), why)
            ra, rb = rank_of(fa), rank_of(fb)
            if ra is None or rb is None:
                problems.append(f"{fa} or {fb} has no rank in FOLDER_RANKS ({why})")
            elif rb >= ra and (fa, fb) not in KNOWN["rank_edges"]:
                problems.append(f"{fa} (rank {ra}) depends on {fb} (rank {rb}): {why}")
    for pair in KNOWN["rank_edges"]:
        if pair not in folder_edges:
            notes.append(f"the known edge {pair[0]} -> {pair[1]} is gone: take it out of KNOWN")
    folder_cycles = components({folder_of(m) for m in modules}, folder_edges)
    for comp in folder_cycles:
        if comp not in KNOWN["folder_cycles"]:
            problems.append("a cycle between folders: " + ", ".join(comp))
    for comp in KNOWN["folder_cycles"]:
        if comp not in folder_cycles:
            notes.append(f"the known folder cycle {', '.join(comp)} is gone: take it out of KNOWN")

    for f in files:
        lines = info[f][3]
        if lines <= MAX_LINES:
            continue
        known = KNOWN["long_files"].get(f)
        if not known:
            problems.append(f"{f}: {lines} lines, over {MAX_LINES}")
        elif lines > known[0]:
            problems.append(f"{f}: {lines} lines, grown past the {known[0]} it is allowed until {known[1]}")
    for f in KNOWN["long_files"]:
        if f not in info or info[f][3] <= MAX_LINES:
            notes.append(f"{f} is no longer over {MAX_LINES} lines: take it out of KNOWN")

    if args.lib:
        n = exported_count(args.lib)
        allowed, when = KNOWN["exports"]
        if n > max(EXPORT_BUDGET, allowed):
            problems.append(f"{args.lib} exports {n} functions: the budget is {EXPORT_BUDGET}, {allowed} allowed "
                            f"until {when}")
        elif n < allowed and allowed > EXPORT_BUDGET:
            notes.append(f"{n} exported functions, below the {allowed} allowed: lower KNOWN['exports']")

    print(f"check-deps: {len(files)} files, {len(modules)} modules, {len(edges)} dependencies between modules")
    for note in notes:
        print("note: " + note)
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
