#!/usr/bin/env bash
# Prints the size of the client bundle a browser downloads (BENCHMARKS.md): the release WASM
# and its JS glue, raw, gzip -9 (what the server sends over plain HTTP) and brotli (what it
# sends to browsers that accept br, which they do over HTTPS). `make build` writes both.
set -euo pipefail
pkg="$(cd "$(dirname "$0")/.." && pwd)/target/site/pkg"
size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
total_raw=0 total_gzip=0 total_br=0
for file in "$pkg"/livedash.wasm "$pkg"/livedash.js; do
  raw=$(size "$file")
  gzipped=$(gzip -9 -c "$file" | wc -c)
  brotli=$(size "$file.br")
  printf '%-16s %9d B raw %9d B gzip %9d B brotli\n' "$(basename "$file")" "$raw" "$gzipped" "$brotli"
  total_raw=$((total_raw + raw)) total_gzip=$((total_gzip + gzipped)) total_br=$((total_br + brotli))
done
printf '%-16s %9d B raw %9d B gzip %9d B brotli\n' total "$total_raw" "$total_gzip" "$total_br"
