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
data="$(mktemp -d)"

cargo build --release --features loadgen --bin ingest_bench --bin livedash

RUST_LOG=warn ./target/release/livedash --addr "127.0.0.1:$port" --simulator false \
  --host-metrics false --data "$data/bench.sqlite" ${SERVER_FLAGS:-} &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done

./target/release/ingest_bench --server "127.0.0.1:$port" --server-pid "$server" "$@"
echo "store size          $(du -sh "$data" | cut -f1)"
