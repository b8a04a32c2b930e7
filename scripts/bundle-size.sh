#!/usr/bin/env bash
# Prints the size of the client bundle a browser downloads (BENCHMARKS.md): raw, gzip -9 (for
# comparison), and the two precompressed files `make build` writes and the server sends: gzip
# by zopfli (over plain HTTP) and brotli (browsers accept br over HTTPS).
# - "first load": what a dashboard's page loads before it hydrates: the main WASM module, its
#   JS glue and the split loader (the split points: `src/components/lazily.rs`).
# - "when used": the split modules (`split_*.wasm`, and the `chunk_*.wasm` they share), each
#   fetched the first time its page or component is used.
# Usage: scripts/bundle-size.sh [PKG_DIR [OUTPUT_NAME]], by default the product's
# target/site/pkg and livedash (scripts/bench-first-load-floor.sh weighs another build).
set -euo pipefail
pkg="${1:-$(cd "$(dirname "$0")/.." && pwd)/target/site/pkg}"
name="${2:-livedash}"
size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
row() { printf '%-44s %9s %9s %11s %9s\n' "$@"; }

# Sums the files given, printing a row for each and one for the total.
table() {
  local label=$1 raw gzipped sent_gzip brotli total_raw=0 total_gzip=0 total_sent_gzip=0 total_br=0
  shift
  for file in "$@"; do
    [ -f "$file" ] || continue
    raw=$(size "$file")
    gzipped=$(gzip -9 -c "$file" | wc -c)
    sent_gzip=$(size "$file.gz")
    brotli=$(size "$file.br")
    row "$(basename "$file")" "$raw" "$gzipped" "$sent_gzip" "$brotli"
    total_raw=$((total_raw + raw)) total_gzip=$((total_gzip + gzipped))
    total_sent_gzip=$((total_sent_gzip + sent_gzip)) total_br=$((total_br + brotli))
  done
  row "$label" "$total_raw" "$total_gzip" "$total_sent_gzip" "$total_br"
  echo
}

row "" raw "gzip -9" "sent gzip" "sent br"
table "first load" "$pkg/$name.wasm" "$pkg/$name.js" "$pkg"/__wasm_split.*.js
shopt -s nullglob
table "when used (all split modules)" "$pkg"/split_*.wasm "$pkg"/chunk_*.wasm
