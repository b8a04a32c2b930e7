#!/usr/bin/env bash
# Memory per retained value (BENCHMARKS.md "Memory"): a release server with its history store
# off (so only what it retains in memory counts) takes DASHBOARDS dashboards of SERIES metrics,
# STEPS updates each, through line protocol; its RSS before and after, per value retained.
#   scripts/bench-retain.sh                      # 50 x 100 x 4096, the issue's measurement
#   DASHBOARDS=1000 STEPS=600 RETAIN=512MiB scripts/bench-retain.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${BENCH_PORT:-3902}"
dashboards="${DASHBOARDS:-50}"
series="${SERIES:-100}"
steps="${STEPS:-4096}"
make --no-print-directory build
cargo build --release --features loadgen --bin ingest_bench --target-dir target/bench

SERVER_FLAGS="--persist false --replay-capacity $steps ${RETAIN:+--retain-memory $RETAIN} ${SERVER_FLAGS:-}"
# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh

rss() { awk '/^VmRSS/ { printf "%d", $2 * 1024 }' "/proc/$server/status"; }
before=$(rss)
./target/bench/release/ingest_bench --server "127.0.0.1:$port" --server-pid "$server" --format lp \
  --dashboards "$dashboards" --series "$series" --steps 64 --steps-per-dashboard "$steps" \
  --concurrency 4 --duration 3600 >/dev/null
sleep 1
after=$(rss)
values=$((dashboards * series * steps))
metrics=$(curl -fs "http://127.0.0.1:$port/metrics")
retained=$(awk '/^livedash_retained_bytes / { printf "%d", $2 }' <<<"$metrics")
retained=${retained:-0}
evicted=$(awk '/^livedash_retained_evictions_total / { print $2 }' <<<"$metrics")
echo "values written       $dashboards dashboards x $series metrics x $steps updates = $values"
echo "RSS                  $((before / 1048576)) MiB -> $((after / 1048576)) MiB"
echo "RSS per value        $(awk -v d=$((after - before)) -v v=$values 'BEGIN { printf "%.1f", d / v }') bytes"
echo "retained (counted)   $((retained / 1048576)) MiB, $(awk -v r="$retained" -v v=$values 'BEGIN { printf "%.1f", r / v }') bytes per value written"
echo "updates evicted      $evicted"
