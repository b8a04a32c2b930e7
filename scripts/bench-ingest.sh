#!/usr/bin/env bash
# Ingest benchmark (BENCHMARKS.md): starts a release server with its built-in sources off and
# persistence on (a fresh store in a temporary folder), runs the ingest benchmark beside it,
# prints the report, stops the server.
#   scripts/bench-ingest.sh [ingest_bench flags...]
#   e.g. scripts/bench-ingest.sh --format lp --series 100 --steps 50 --duration 20
# BENCH_REDIS=1: the server is one instance of a deployment (`--redis`, Debian's redis-server
# on a unix socket, persistence off); Redis' CPU time is printed too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${BENCH_PORT:-3901}"
# The server `make build` makes; the generator apart (see bench-streaming.sh). BENCH_BUILT=1:
# both built already (runs of several builds one after the other, LIVEDASH_BIN naming each).
if [[ "${BENCH_BUILT:-}" != 1 ]]; then
  make --no-print-directory build
  cargo build --release --features loadgen --bin ingest_bench --target-dir target/bench
fi

if [[ "${BENCH_REDIS:-}" == 1 ]]; then
  scripts/install-services.sh
  redis_dir="$(mktemp -d)"
  redis-server --port 0 --unixsocket "$redis_dir/redis.sock" --save "" --appendonly no --dir "$redis_dir" >/dev/null &
  redis=$!
  for _ in $(seq 50); do [[ -S "$redis_dir/redis.sock" ]] && break; sleep 0.1; done
  SERVER_FLAGS="${SERVER_FLAGS:-} --redis unix://$redis_dir/redis.sock"
fi
# Seconds of CPU (user + system) a process has used.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh
if [[ -n "${redis:-}" ]]; then
  trap 'kill "$server" "$redis" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data" "$redis_dir"' EXIT
  redis_before="$(cpu_of "$redis")"
fi

./target/bench/release/ingest_bench --server "127.0.0.1:$port" --server-pid "$server" "$@"
if [[ -n "${redis:-}" ]]; then
  awk -v a="$redis_before" -v b="$(cpu_of "$redis")" 'BEGIN { printf "redis CPU           %.2f s\n", b - a }'
fi
echo "store size          $(du -sh "$data" | cut -f1)"
