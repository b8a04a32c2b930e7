#!/usr/bin/env bash
# Weighs the first load's floor (BENCHMARKS.md, "Client bundle"): benches/first-load-floor, the
# smallest leptos 0.8 client doing what a dashboard's first load does, built as `make build`
# builds the product (the same lockfile, profile, split build and precompression), then
# printed by scripts/bundle-size.sh beside the product's own first load (run `make build`
# first for that). Its own target dir, so the product's build stays as it is; the first run
# compiles the client's dependencies (about 3 minutes here).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
floor="$root/benches/first-load-floor"
# The product's versions of every crate the two share.
cp "$root/Cargo.lock" "$floor/Cargo.lock"
(cd "$floor" && CARGO_TARGET_DIR="$root/target/first-load-floor" \
  cargo leptos build --release --precompress --split --frontend-only)
# Its imports shortened as `make build` shortens the product's.
pkg="$root/target/first-load-floor/site/pkg"
python3 "$root/scripts/shorten-imports.py" "$pkg" floor
echo "the floor ($floor):"
"$root/scripts/bundle-size.sh" "$pkg" floor
if [ -f "$root/target/site/pkg/livedash.wasm" ]; then
  echo "the product (target/site, the last \`make build\`):"
  "$root/scripts/bundle-size.sh"
fi
