#!/usr/bin/env python3
"""The shape src/node promises (docs/architecture.md "The node"): no circle of
files calling each other's functions, and no file much over 400 lines.

A file "calls" another when it names, followed by "(", a function with
external linkage that the other defines. Fails naming the circle or the file.
Usage: check_node_files.py SRC_NODE_DIR
"""
import glob
import os
import re
import sys

LINE_LIMIT = 420  # "about 400"


def main(root):
    files = sorted(glob.glob(os.path.join(root, "*.c")))
    if not files:
        print(f"check_node_files: no C files in {root}")
        return 1
    text = {f: open(f).read() for f in files}
    defs = {}
    for f, src in text.items():
        for m in re.finditer(r"^(?!static)[a-zA-Z_][\w \*]*?\b([a-z_][a-z0-9_]*)\(\s*[^;]*?\)\s*\{",
                             src, re.M | re.S):
            defs.setdefault(m.group(1), f)
    edges = {f: set() for f in files}
    for f, src in text.items():
        code = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
        for name, where in defs.items():
            if where != f and re.search(r"\b" + name + r"\s*\(", code):
                edges[f].add(where)
    # Tarjan's strongly connected components
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                comps.append(sorted(os.path.basename(c) for c in comp))

    for v in files:
        if v not in index:
            visit(v)
    failed = False
    for comp in comps:
        print(f"check_node_files: files calling each other in a circle: {', '.join(comp)}")
        failed = True
    for f in files + sorted(glob.glob(os.path.join(root, "*.h"))):
        n = sum(1 for _ in open(f))
        if n > LINE_LIMIT:
            print(f"check_node_files: {os.path.basename(f)} has {n} lines (limit {LINE_LIMIT})")
            failed = True
    if not failed:
        print(f"check_node_files: {len(files)} files, {sum(len(e) for e in edges.values())} "
              f"calls between files, no circle, none over {LINE_LIMIT} lines")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
