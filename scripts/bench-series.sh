#!/usr/bin/env bash
# Labelled series benchmark (BENCHMARKS.md): a release server with persistence takes
# SERIES labelled series in one dashboard (line protocol with labels=true:
# node_seconds{cpu,mode}), STEPS seconds of each; then the snapshot's size (plain and gzip)
# and the time to answer it, three times, and the server's RSS per series.
#   scripts/bench-series.sh [series (10000)] [steps (60)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${BENCH_PORT:-3905}"
series="${1:-10000}"
steps="${2:-60}"
make --no-print-directory build
SERVER_FLAGS="${SERVER_FLAGS:-} --max-metrics-per-dashboard $((series + 100))"
# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh
rss() { awk '/VmRSS/{print $2}' "/proc/$server/status"; }
before="$(rss)"
python3 - "$port" "$series" "$steps" <<'PY'
import sys, time, urllib.request
port, series, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = int(time.time()) - steps - 60
for step in range(steps):
    lines = "\n".join(
        f"node,cpu={i // 8},mode=m{i % 8} seconds={step * (1 + i % 8) + i} {start + step}" for i in range(series)
    )
    url = f"http://127.0.0.1:{port}/api/v2/write?bucket=big&precision=s&labels=true"
    urllib.request.urlopen(urllib.request.Request(url, data=lines.encode(), method="POST")).read()
PY
after="$(rss)"
snapshot="$data/snapshot.json"
for _ in 1 2 3; do
  curl -s -o "$snapshot" -w "snapshot            %{size_download} bytes in %{time_total} s\n" \
    "http://127.0.0.1:$port/api/v1/dashboards/big/snapshot"
done
echo "snapshot gzip       $(gzip -c "$snapshot" | wc -c) bytes"
echo "server RSS          $((before / 1024)) MB idle, $((after / 1024)) MB with $series series x $steps s: $(((after - before) * 1024 / series)) bytes per series"
