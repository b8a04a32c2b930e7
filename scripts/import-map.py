#!/usr/bin/env python3
"""The map of imports between livedash's parts, and the ones against the flow.

Reads `use crate::...` / `super::` paths in src/ and folds each file into its part (a folder of
server/, or a top-level file or folder of src/). Prints every arrow, the arrows that run
against LAYERS (a part may import only parts on its own layer or below), and the import
circles. Run: scripts/import-map.py [--arrows]
"""
import os, re, sys
from collections import defaultdict

# Bottom first. A part imports only parts on its own layer or a lower one.
LAYERS = [
    ["protocol"],
    ["model"],
    ["server/clock", "server/config", "server/http", "server/cluster"],
    ["server/store"],
    ["server/alerts/eval"],
    ["server/broker"],
    ["server/auth"],
    ["server/sources", "server/ingest", "server/stream", "server/telemetry"],
    ["server/alerts/notify", "server/alerts"],
    ["server/settings"],
    ["server/state"],
    # Server functions: pages and components call them; they read the server's state.
    ["loaders"],
    ["client"],
    ["components"],
    ["pages"],
    ["app"],
    ["server/api"],
    ["server/mod", "server/tools"],
    ["lib", "main", "bin", "bench", "testing"],
]
LEVEL = {part: i for i, layer in enumerate(LAYERS) for part in layer}

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def is_module(*names):
    base = os.path.join(SRC, *names)
    return os.path.isdir(base) or os.path.isfile(base + ".rs")


def part_of(path):
    """The part a module path (list of names under crate) belongs to."""
    if not path:
        return "lib"
    if not is_module(path[0]):
        return "lib"
    if path[0] == "server":
        if len(path) == 1 or not is_module("server", path[1]):
            return "server/mod"
        if path[1] == "alerts" and len(path) > 2 and path[2] in ("eval", "notify"):
            return "server/alerts/" + path[2]
        return "server/" + path[1]
    return path[0]


def module_path(file):
    rel = os.path.relpath(file, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1] if rel[-1] != "main" or len(rel) > 1 else ["main"]
    return rel


def imports(file):
    me = module_path(file)
    text = open(file).read()
    # Only code before the unit tests.
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    out = set()
    paths = []
    # `use` trees, braces expanded; then paths written inline in code.
    for m in re.finditer(r"\buse\s+((?:crate|super)::[^;]+);", text, re.S):
        paths += expand(re.sub(r"\s+", "", m.group(1)))
    rest = re.sub(r"\buse\s+(?:crate|super)::[^;]+;", "", text)
    paths += [m.group(0) for m in re.finditer(r"\b(?:crate|super)(?:::\w+)+", rest)]
    for path in paths:
        # `use super::*` is an inline module's look at its parent file.
        if path == "super::*":
            continue
        head, *names = [n for n in path.split("::") if n and n != "self"]
        names = [head] + names
        if names[0] == "crate":
            target = names[1:]
        else:
            base = me
            while names and names[0] == "super":
                names = names[1:]
                base = base[:-1]
            target = base + names
        out.add(part_of(target))
    return out


def expand(tree):
    """`a::{b::c, d}` -> [`a::b::c`, `a::d`]."""
    i = tree.find("{")
    if i < 0:
        return [tree]
    prefix, inner, depth, parts, start = tree[:i], tree[i + 1:-1], 0, [], 0
    for j, ch in enumerate(inner):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(inner[start:j]); start = j + 1
    parts.append(inner[start:])
    return [x for p in parts if p for x in expand(prefix + p)]


def main():
    arrows = defaultdict(set)
    for root, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".rs"):
                path = os.path.join(root, f)
                src = part_of(module_path(path)) if module_path(path)[:1] != ["bin"] else "bin"
                for dst in imports(path):
                    if dst != src:
                        arrows[src].add(dst)
    edges = sorted((a, b) for a in arrows for b in arrows[a])
    parts = sorted({p for e in edges for p in e})
    against = [(a, b) for a, b in edges if LEVEL.get(b, 99) > LEVEL.get(a, 99)]
    if "--arrows" in sys.argv:
        for a, b in edges:
            print(f"{a} -> {b}{'   AGAINST' if (a, b) in against else ''}")
    # Circles: strongly connected components of more than one part.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in arrows.get(v, ()):
            if w not in index:
                strong(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in parts:
        if v not in index:
            strong(v)
    unknown = [p for p in parts if p not in LEVEL]
    print(f"{len(edges)} arrows between {len(parts)} parts; {len(against)} against the flow; {len(sccs)} circles")
    for a, b in against:
        print(f"  against: {a} -> {b}")
    for c in sccs:
        print(f"  circle: {' <-> '.join(c)}")
    if unknown:
        print(f"  parts on no layer: {unknown}")


main()
