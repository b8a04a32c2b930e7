#!/usr/bin/env bash
# Prints the size of the client bundle a browser downloads (BENCHMARKS.md): the release WASM
# and its JS glue, raw, gzip -9 (for comparison), and the two precompressed files `make build`
# writes and the server sends: gzip by zopfli (over plain HTTP) and brotli (browsers accept br
# over HTTPS).
set -euo pipefail
pkg="$(cd "$(dirname "$0")/.." && pwd)/target/site/pkg"
size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
total_raw=0 total_gzip=0 total_sent_gzip=0 total_br=0
printf '%-14s %9s %9s %13s %9s\n' "" raw "gzip -9" "sent gzip" "sent br"
for file in "$pkg"/livedash.wasm "$pkg"/livedash.js; do
  raw=$(size "$file")
  gzipped=$(gzip -9 -c "$file" | wc -c)
  sent_gzip=$(size "$file.gz")
  brotli=$(size "$file.br")
  printf '%-14s %9d %9d %13d %9d\n' "$(basename "$file")" "$raw" "$gzipped" "$sent_gzip" "$brotli"
  total_raw=$((total_raw + raw)) total_gzip=$((total_gzip + gzipped))
  total_sent_gzip=$((total_sent_gzip + sent_gzip)) total_br=$((total_br + brotli))
done
printf '%-14s %9d %9d %13d %9d\n' total "$total_raw" "$total_gzip" "$total_sent_gzip" "$total_br"
