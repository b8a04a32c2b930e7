#!/usr/bin/env python3
"""Where a WASM module's bytes are (BENCHMARKS.md, "Client bundle"): function body sizes from
the code section, named from the name section, summed by the crate a name starts with and by
the livedash module it names. The release module carries no names; make one that does:

    wasm-bindgen --target web --out-dir /tmp/names --out-name livedash --no-typescript --keep-debug \\
        target/front/wasm32-unknown-unknown/wasm-release/livedash.wasm
    .tools/node_modules/.bin/wasm-opt -Oz -g --enable-bulk-memory --enable-nontrapping-float-to-int \\
        /tmp/names/livedash_bg.wasm -o /tmp/names/livedash.wasm
    scripts/wasm-sizes.py /tmp/names/livedash.wasm [--top 30]

Generic code is attributed to the generic function's crate (legacy symbol names carry no type
parameters): a view type's build and rebuild count under `tachys`, not under the component.
`scripts/bundle-names.sh` makes the split main module as sent with v0 names, whose generics
carry their types (crate hashes in them are dropped here); the largest functions then say
which view, signal or decoder they are.
"""
import argparse
import collections
import re

from wasm_binary import leb128, read_name


def skip_name(data, at):
    return read_name(data, at)[1]


def functions(data):
    """(body size, name) of every function the module defines."""
    at, imported, sizes, names = 8, 0, [], {}
    while at < len(data):
        section = data[at]
        size, at = leb128(data, at + 1)
        end = at + size
        if section == 2:  # imports: function imports come first in the function index space
            count, p = leb128(data, at)
            for _ in range(count):
                p = skip_name(data, skip_name(data, p))
                kind = data[p]
                p += 1
                if kind == 0:
                    imported += 1
                    _, p = leb128(data, p)
                elif kind == 1:  # table: element type, limits
                    flags, p = leb128(data, p + 1)
                    _, p = leb128(data, p)
                    if flags & 1:
                        _, p = leb128(data, p)
                elif kind == 2:  # memory: limits
                    flags, p = leb128(data, p)
                    _, p = leb128(data, p)
                    if flags & 1:
                        _, p = leb128(data, p)
                elif kind == 3:  # global: type, mutability
                    p += 2
        elif section == 10:
            count, p = leb128(data, at)
            for _ in range(count):
                length, p = leb128(data, p)
                sizes.append(length)
                p += length
        elif section == 0:
            length, p = leb128(data, at)
            if data[p : p + length] == b"name":
                p += length
                while p < end:
                    kind = data[p]
                    length, p = leb128(data, p + 1)
                    if kind == 1:
                        count, q = leb128(data, p)
                        for _ in range(count):
                            index, q = leb128(data, q)
                            length_, q = leb128(data, q)
                            names[index] = data[q : q + length_].decode("utf8", "replace")
                            q += length_
                    p += length
        at = end
    return [(size, names.get(imported + index, f"#{index}")) for index, size in enumerate(sizes)]


# A v0 name's crate disambiguator: `core[c5930c85a12de822]::fmt`.
CRATE_HASH = re.compile(r"\[[0-9a-f]{6,}\]")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    found = functions(open(args.module, "rb").read())
    total = sum(size for size, _ in found)
    by_crate, by_module = collections.Counter(), collections.Counter()
    found = [(size, CRATE_HASH.sub("", name)) for size, name in found]
    for size, name in found:
        by_crate[re.split(r"::|[ <>\[]", re.sub(r"^[<&]*(mut )?", "", name))[0]] += size
        module = re.search(r"livedash::([a-z_]+(?:::[a-z_]+)?)", name)
        if module:
            by_module[module.group(1)] += size
    print(f"code: {total} bytes in {len(found)} functions")
    print("\nby crate (the name's first path segment)")
    for crate, size in by_crate.most_common(args.top):
        print(f"{size:9d} {size * 100 / total:5.1f}%  {crate}")
    print("\nby livedash module named")
    for module, size in by_module.most_common(args.top):
        print(f"{size:9d}  {module}")
    print("\nlargest functions")
    for size, name in sorted(found, reverse=True)[: args.top]:
        print(f"{size:9d}  {name[:180]}")


if __name__ == "__main__":
    main()
