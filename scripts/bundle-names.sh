#!/usr/bin/env bash
# Where a dashboard's first load is, by function (BENCHMARKS.md, "Client bundle"): builds the
# client as `make build` does (the `wasm-release` profile, v0 symbol names, which put every
# generic's types in its name, relocations kept for the split, the split, wasm-opt -Oz), but
# keeps the function names, then prints `scripts/wasm-sizes.py`'s tables of the main module as
# sent, and its brotli size with the names stripped (within a KB of `scripts/bundle-size.sh`'s,
# which also runs wasm-opt to convergence; compare the data sections too if they differ more:
# BENCHMARKS.md, "No router, no resource").
#
# Writes target/bundle-names/main.wasm (with names: `twiggy top`/`twiggy paths` read it too).
# Its own target dir, so the product's build stays as it is; the first run compiles the
# client's dependencies (about 3 minutes here), later ones only livedash.
# Needs wasm-split-cli, the splitter cargo-leptos runs:
#   cargo install wasm_split_cli_support --version 0.2.3 --features build-binary --locked
# and the brotli command (Debian: apt-get install brotli).
# Usage: scripts/bundle-names.sh [--top N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
out="$root/target/bundle-names"
for tool in wasm-split-cli wasm-bindgen wasm-opt brotli; do
  command -v "$tool" > /dev/null || { echo "missing: $tool (see this script's header)" >&2; exit 1; }
done

RUSTFLAGS="-C symbol-mangling-version=v0 -C link-args=--emit-relocs" CARGO_TARGET_DIR="$out/cargo" \
  cargo build --quiet --lib --target wasm32-unknown-unknown --profile wasm-release \
  --no-default-features --features hydrate --manifest-path "$root/Cargo.toml"
rm -rf "$out/split" "$out/bound" && mkdir -p "$out/split"
wasm-split-cli --target web --out-name livedash "$out/cargo/wasm32-unknown-unknown/wasm-release/livedash.wasm" "$out/split" \
  2>&1 | tee "$out/split.log"
# As `make build`: a data segment wasm-split could not lay out again stays whole in the main module.
if grep -a "Overlong segment" "$out/split.log"; then
  echo "wasm-split kept the split modules' data in the main module: see SPLIT_DATA_ROOM (src/components/lazily.rs)" >&2
  exit 1
fi
wasm-bindgen --target web --out-dir "$out/bound" --out-name livedash --no-typescript --keep-debug "$out/split/livedash.wasm"
optimize=(wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int)
"${optimize[@]}" -g "$out/bound/livedash_bg.wasm" -o "$out/main.wasm"
"${optimize[@]}" --strip-debug "$out/bound/livedash_bg.wasm" -o "$out/main-stripped.wasm"

# As sent: its imports shortened as `make build` shortens them (in a copy beside its glue).
rm -rf "$out/sent" && mkdir -p "$out/sent"
cp "$out/main-stripped.wasm" "$out/sent/livedash.wasm" && cp "$out/bound/livedash.js" "$out/sent/livedash.js"
python3 "$root/scripts/shorten-imports.py" "$out/sent" livedash > /dev/null

python3 "$root/scripts/wasm-sizes.py" "$out/main.wasm" "$@"
echo "the main module as sent: $(stat -c %s "$out/sent/livedash.wasm") B raw," \
  "$(brotli -q 11 -w 24 -c "$out/sent/livedash.wasm" | wc -c) B brotli"
