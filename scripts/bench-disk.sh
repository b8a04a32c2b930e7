#!/usr/bin/env bash
# Bytes on disk per point, per table (BENCHMARKS.md "Disk"): a release server with its history
# store on takes POINTS points (SERIES metrics, a point a second each; the ingest benchmark's
# values) through line protocol; SQLite's dbstat then gives each table's bytes, per point.
#   scripts/bench-disk.sh                       # a million points
#   LIVEDASH_BIN=/path/to/other/livedash scripts/bench-disk.sh   # another build, same method
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${BENCH_PORT:-3904}"
points="${POINTS:-1000000}"
series="${SERIES:-100}"
make --no-print-directory build
cargo build --release --features loadgen --bin ingest_bench --target-dir target/bench

# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh

./target/bench/release/ingest_bench --server "127.0.0.1:$port" --format lp --series "$series" --steps 50 \
  --steps-per-dashboard $((points / series)) --concurrency 4 --duration 3600 | grep -E "points/s|requests"
# Reading it back through the per-second tier: a metric's whole run at a 10 s step, 300 times
# (the median: single requests vary with the machine's other work).
metric=$(curl -fs "http://127.0.0.1:$port/api/v1/dashboards/ingestbench/snapshot" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["definitions"][0]["name"])')
now=$(($(date +%s) * 1000))
url="http://127.0.0.1:$port/api/v1/dashboards/ingestbench/history?metric=$metric&from=$((now - 90000000))&to=$now&step=10s"
for _ in $(seq 300); do curl -fs -o /dev/null -w '%{time_total}\n' "$url"; done | sort -n |
  awk '{ times[NR] = $1 } END { printf "history read        %.2f ms a request, median (%s, 10 s step, seconds tier)\n", times[int((NR + 1) / 2)] * 1000, "'"$metric"'" }'
# Stopped first, so what it wrote is checkpointed into the file.
kill "$server"
wait "$server" 2>/dev/null || true
trap 'rm -rf "$data"' EXIT
python3 - "$data/bench.sqlite" "$points" <<'PY'
import sqlite3, sys
path, points = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
total = sum(size for _, size in rows)
for name, size in rows:
    if size >= 1 << 16:
        print(f"{name:40} {size / 1048576:8.2f} MiB  {size / points:6.2f} bytes a point")
print(f"{'all':40} {total / 1048576:8.2f} MiB  {total / points:6.2f} bytes a point")
PY
# FURTHER=1: a further POINTS points (the seconds after the first ones) into the same store, by a
# server started again on it; how much the file grew per point (the replay log, the file's
# high-water mark and the tiers together: what a disk fills with as traffic goes on).
if [[ "${FURTHER:-}" == 1 ]]; then
  before=$(stat -c %s "$data/bench.sqlite")
  LEPTOS_SITE_ROOT=target/site RUST_LOG=warn "${LIVEDASH_BIN:-./target/release/livedash}" --addr "127.0.0.1:$port" \
    --simulator false --host-metrics false --data "$data/bench.sqlite" ${SERVER_FLAGS:-} &
  server=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  ./target/bench/release/ingest_bench --server "127.0.0.1:$port" --format lp --series "$series" --steps 50 \
    --steps-per-dashboard $((points / series)) --from-ago $((86000 - points / series - 60)) --concurrency 4 \
    --duration 3600 | grep -E "points/s"
  kill "$server"
  wait "$server" 2>/dev/null || true
  after=$(stat -c %s "$data/bench.sqlite")
  awk -v b="$before" -v a="$after" -v p="$points" \
    'BEGIN { printf "further points      the file grew %.2f MiB: %.2f bytes a point\n", (a - b) / 1048576, (a - b) / p }'
fi
