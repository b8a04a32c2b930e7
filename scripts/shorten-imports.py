#!/usr/bin/env python3
"""Shortens the names the client's main WASM module and its JS glue know each other by
(`make build`).

wasm-bindgen names each function the module imports from its glue after the Rust item and a
hash of it (`__wbg_set_textBaseline_ff2e3c5c84684b23`), and writes every name twice: in the
module's import section and as a key of the glue's import object. The 16 hex digits do not
compress, and the two files are compressed apart. This renames each one to a short name (`A`,
`B`, ..., `Aa`, ...) in both files, as a minifier renames a script's locals, and the exports
the glue reads (`wasm.__wbindgen_malloc`) likewise: 7.5 KB of brotli off the first load
(BENCHMARKS.md, "Shorter names, room for the split's data"). The two files are made together,
and nothing else names these (the split modules import only the main module's memory and
table, which keep their names, through the split loader). A file that has a brotli copy beside
it (`cargo leptos build --precompress`) is compressed again.

Run after `cargo leptos build`. A module already renamed (a build that did not rewrite it) is
left as it is. Any key of the import object not found exactly once in the glue stops the
build: a wasm-bindgen that writes its glue otherwise must be looked at, not guessed.

Usage: scripts/shorten-imports.py PKG_DIR NAME  (renames NAME.wasm's and NAME.js's names)
"""

import re
import subprocess
import sys
from pathlib import Path

from wasm_binary import encode_leb128, encode_name, leb128, read_name

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# What wasm-bindgen names its imports; `short_name` never makes one of these.
GENERATED = re.compile(r"__wbg_|__wbindgen_")
KEPT_EXPORTS = {"memory", "__indirect_function_table"}


def export_read(name):
    """How the glue reads the module's export `name`: `wasm.name`."""
    return r"\." + re.escape(name) + r"\b"


def short_name(index):
    """`A`..`Z`, then `Aa`, `Ab`, ...: a capital first, so never a JS keyword."""
    head, index = LETTERS[index % 26], index // 26
    tail = ""
    while index:
        index -= 1
        tail = LETTERS[index % 52] + tail
        index //= 52
    return head + tail


def rename(module, glue_module, glue):
    """The module with the functions it imports from `glue_module` renamed, and with its
    exports that the glue reads as `wasm.name` renamed, and the two maps of names."""
    out, at = bytearray(module[:8]), 8
    imports, exports = {}, {}
    while at < len(module):
        section = module[at]
        size, start = leb128(module, at + 1)
        body, at = module[start : start + size], start + size
        if section == 2:
            body = rename_entries(body, lambda entry: rename_import(entry, glue_module, imports), names=2)
        elif section == 7:
            body = rename_entries(body, lambda entry: rename_export(entry, glue, exports), names=1)
        out += bytes([section]) + encode_leb128(len(body)) + body
    return bytes(out), imports, exports


def rename_entries(body, renamed, names):
    """An import or export section with each entry's names (the module's and the field's, or
    the export's) passed through `renamed`; what follows them kept as it is."""
    count, cursor = leb128(body, 0)
    out = bytearray(encode_leb128(count))
    for _ in range(count):
        entry = []
        for _ in range(names):
            name, cursor = read_name(body, cursor)
            entry.append(name)
        kind_start = cursor
        kind, cursor = body[cursor], cursor + 1
        if kind != 0 and names == 2:  # only functions come from the glue
            raise SystemExit(f"unexpected import kind {kind} of {entry[0]!r}")
        _, cursor = leb128(body, cursor)  # the function's type, or the export's index
        out += b"".join(map(encode_name, renamed(entry))) + body[kind_start:cursor]
    return bytes(out)


def rename_import(entry, glue_module, imports):
    source, field = entry
    if source == glue_module and GENERATED.match(field.decode()):
        field = imports.setdefault(field.decode(), short_name(len(imports))).encode()
    return [source, field]


def rename_export(entry, glue, exports):
    text = entry[0].decode()
    # The memory and table are also read by the split loader, by name.
    if text not in KEPT_EXPORTS and re.search(export_read(text), glue):
        return [exports.setdefault(text, short_name(len(exports))).encode()]
    return entry


def rename_in_glue(glue, imports, exports):
    """The glue with each renamed import's key in its import object renamed, and each
    renamed export's reads (`wasm.name`)."""
    found = {}

    def replace(pattern, renamed, glue):
        def short(match):
            found[match.group(1)] = found.get(match.group(1), 0) + 1
            return renamed[match.group(1)]

        return re.sub(pattern.format("|".join(map(re.escape, renamed))), short, glue) if renamed else glue

    glue = replace(r"(?<=[{{,\s])({})(?=\s*:)", imports, glue)
    glue = replace(r"(?<=\.)({})\b", exports, glue)
    wrong = [key for key in imports if found.get(key) != 1]
    if wrong:
        raise SystemExit(f"{len(wrong)} imports not found once as keys in the glue, e.g. {wrong[0]}")
    left = [key for key in imports if key in glue]
    left += [key for key in exports if re.search(export_read(key), glue)]
    if left:
        raise SystemExit(f"the glue still names {left[0]} after renaming")
    return glue


def main():
    pkg, output_name = Path(sys.argv[1]), sys.argv[2]
    wasm_path, glue_path = pkg / f"{output_name}.wasm", pkg / f"{output_name}.js"
    glue = glue_path.read_text()
    module, imports, exports = rename(wasm_path.read_bytes(), f"./{output_name}_bg.js".encode(), glue)
    if not imports:
        print(f"shorten-imports: {wasm_path} already has short import names")
        return
    for loader in pkg.glob("__wasm_split*.js"):
        named = [export for export in exports if export in loader.read_text()]
        if named:
            raise SystemExit(f"{loader.name} reads the export {named[0]}: it must keep its name")
    glue = rename_in_glue(glue, imports, exports)
    wasm_path.write_bytes(module)
    glue_path.write_text(glue)
    for path in (wasm_path, glue_path):
        compressed = path.with_name(path.name + ".br")
        if compressed.exists():
            subprocess.run(["brotli", "-q", "11", "-w", "24", "-f", "-o", str(compressed), str(path)], check=True)
    print(f"shorten-imports: {len(imports)} imports and {len(exports)} exports renamed in {wasm_path.name} and {glue_path.name}")


if __name__ == "__main__":
    main()
