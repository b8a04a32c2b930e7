#!/usr/bin/env bash
# Scrape benchmark (BENCHMARKS.md): serves synthetic Prometheus targets (src/bin/
# synthetic_exporter.rs: a counter per cpu and mode, values moving with the clock), starts a
# release server scraping each every second into a dashboard of its own, and after a warm-up
# measures: points persisted per second (livedash_ingested_values_total), the server's CPU
# (cores busy, and per point) and its RSS, and the exporter's CPU (it shares the 2 cores).
#   scripts/bench-scrape.sh [targets (100)] [series per target (1000)] [seconds (30)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${BENCH_PORT:-3902}"
targets="${1:-100}"
series="${2:-1000}"
duration="${3:-30}"
make --no-print-directory build
cargo build --release --features loadgen --bin synthetic_exporter --target-dir target/bench

work="$(mktemp -d)"
./target/bench/release/synthetic_exporter --targets "$targets" --series "$series" >"$work/exporter.out" &
exporter=$!
for _ in $(seq 50); do grep -q "listening on" "$work/exporter.out" 2>/dev/null && break; sleep 0.1; done
address="$(sed -n 's/^listening on //p' "$work/exporter.out")"
config="$work/scrape.toml"
for i in $(seq 0 $((targets - 1))); do
  printf '[[scrape]]\nurl = "http://%s/t/%d/metrics"\ndashboard = "t%d"\n\n' "$address" "$i" "$i" >>"$config"
done
SERVER_FLAGS="${SERVER_FLAGS:-} --config $config"
# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh
trap 'kill "$server" "$exporter" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data" "$work"' EXIT

cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
values() { curl -fs "http://127.0.0.1:$port/metrics" | awk '/^livedash_ingested_values_total /{print $2}'; }
sleep 10 # warm-up: every target scraped a few times, every series known
cpu_before="$(cpu_of "$server")"; values_before="$(values)"; exporter_before="$(cpu_of "$exporter")"
sleep "$duration"
cpu_after="$(cpu_of "$server")"; values_after="$(values)"; exporter_after="$(cpu_of "$exporter")"
rss_kb="$(awk '/VmRSS/{print $2}' "/proc/$server/status")"
down="$(curl -fs "http://127.0.0.1:$port/api/v1/targets" | grep -o '"up":false' | wc -l || true)"
awk -v t="$targets" -v s="$series" -v d="$duration" -v c0="$cpu_before" -v c1="$cpu_after" \
    -v v0="$values_before" -v v1="$values_after" -v rss="$rss_kb" -v down="$down" \
    -v e0="$exporter_before" -v e1="$exporter_after" 'BEGIN {
  points = v1 - v0; cpu = c1 - c0
  printf "targets             %d x %d series, every 1 s (%d down)\n", t, s, down
  printf "points/s            %.0f (of %d offered)\n", points / d, t * s
  printf "server CPU          %.2f cores busy, %.2f us per point\n", cpu / d, cpu * 1e6 / (points > 0 ? points : 1)
  printf "server RSS          %.1f MB\n", rss / 1024
  printf "exporter CPU        %.2f cores busy (the same machine)\n", (e1 - e0) / d
}'
