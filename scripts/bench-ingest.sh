#!/usr/bin/env bash
# Ingest benchmark (BENCHMARKS.md): starts a release server with its built-in sources off and
# persistence on (a fresh store in a temporary folder), runs the ingest benchmark beside it,
# prints the report, stops the server.
#   scripts/bench-ingest.sh [ingest_bench flags...]
#   e.g. scripts/bench-ingest.sh --format lp --series 100 --steps 50 --duration 20
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${BENCH_PORT:-3901}"
# The server `make build` makes; the generator apart (see bench-streaming.sh).
make --no-print-directory build
cargo build --release --features loadgen --bin ingest_bench --target-dir target/bench

# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh

./target/bench/release/ingest_bench --server "127.0.0.1:$port" --server-pid "$server" "$@"
echo "store size          $(du -sh "$data" | cut -f1)"
