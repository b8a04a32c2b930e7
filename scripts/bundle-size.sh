#!/usr/bin/env bash
# Prints the size of the client bundle a browser downloads (BENCHMARKS.md): the release WASM
# and its JS glue, raw and gzip -9 (what a gzip-serving proxy sends).
set -euo pipefail
pkg="$(cd "$(dirname "$0")/.." && pwd)/target/site/pkg"
total_raw=0
total_gzip=0
for file in "$pkg"/livedash.wasm "$pkg"/livedash.js; do
  raw=$(stat -c %s "$file")
  gzipped=$(gzip -9 -c "$file" | wc -c)
  printf '%-20s %9d B raw %9d B gzip\n' "$(basename "$file")" "$raw" "$gzipped"
  total_raw=$((total_raw + raw))
  total_gzip=$((total_gzip + gzipped))
done
printf '%-20s %9d B raw %9d B gzip\n' total "$total_raw" "$total_gzip"
