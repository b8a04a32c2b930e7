#!/usr/bin/env bash
# History reads through the per-second tier, another build beside this one on the same data
# (BENCHMARKS.md "Memory and disk"): BEFORE_BIN writes a store of POINTS points (SERIES
# metrics, the ingest benchmark's values) through line protocol and stops; this build opens a
# copy (converting its rows on open, as an upgrade does) while BEFORE_BIN reopens the original.
# Then ROUNDS rounds alternate READS reads on each, of one metric's whole run at 10 s and 30 s
# steps, over one kept-alive connection; printed: the medians over rounds of the server's CPU
# per read (utime + stime from /proc, steadier than latency on a shared machine) and latency.
#   BEFORE_BIN=/tmp/livedash-f55661c scripts/bench-history-read.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
: "${BEFORE_BIN:?BEFORE_BIN=/path/to/the/other/livedash}"
port="${BENCH_PORT:-3905}"
points="${POINTS:-1000000}"
series="${SERIES:-100}"
make --no-print-directory build
cargo build --release --features loadgen --bin ingest_bench --target-dir target/bench

# shellcheck source=scripts/bench-server.sh
LIVEDASH_BIN="$BEFORE_BIN" source scripts/bench-server.sh
./target/bench/release/ingest_bench --server "127.0.0.1:$port" --format lp --series "$series" --steps 50 \
  --steps-per-dashboard $((points / series)) --concurrency 4 --duration 3600 | grep -E "points/s"
kill "$server"
wait "$server" 2>/dev/null || true
mkdir "$data/now"
cp "$data"/bench.sqlite* "$data/now/"

start() { # binary, port, store
  LEPTOS_SITE_ROOT=target/site RUST_LOG=warn "$1" --addr "127.0.0.1:$2" --simulator false --host-metrics false \
    --data "$3" --max-connections-per-client 100000 &
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$2/healthz" >/dev/null && break; sleep 0.1; done
}
start "$BEFORE_BIN" "$port" "$data/bench.sqlite"
before=$!
start ./target/release/livedash $((port + 1)) "$data/now/bench.sqlite"
now=$!
trap 'kill "$before" "$now" 2>/dev/null; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$data"' EXIT

python3 - "$port" "$before" $((port + 1)) "$now" "${ROUNDS:-8}" "${READS:-1000}" <<'PY'
import http.client, json, os, statistics, sys, time
port_before, pid_before, port_now, pid_now, rounds, reads = map(int, sys.argv[1:])

def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

# One window for every read: both builds must answer the same bytes.
now = int(time.time() * 1000)

def read(port, pid, metric, step):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    url = f"/api/v1/dashboards/ingestbench/history?metric={metric}&from={now - 90_000_000}&to={now}&step={step}"
    latencies, used = [], cpu(pid)
    for _ in range(reads):
        started = time.perf_counter()
        connection.request("GET", url)
        body = connection.getresponse().read()
        latencies.append(time.perf_counter() - started)
    return (cpu(pid) - used) / reads, statistics.median(latencies), body

connection = http.client.HTTPConnection("127.0.0.1", port_before)
connection.request("GET", "/api/v1/dashboards/ingestbench/snapshot")
definitions = json.load(connection.getresponse())["definitions"]
# An integer metric (decimal runs) and a metric of sevenths (XOR runs).
for metric in (definitions[0]["name"], definitions[1]["name"]):
    for step in ("10s", "30s"):
        figures = {"before": [], "now": []}
        for _ in range(rounds):
            answers = []
            for name, port, pid in (("before", port_before, pid_before), ("now", port_now, pid_now)):
                used, latency, body = read(port, pid, metric, step)
                figures[name].append((used, latency))
                answers.append(body)
            assert answers[0] == answers[1], "both builds answer the same"
        line = ", ".join(
            f"{name} {statistics.median(u for u, _ in runs) * 1e6:.0f} us CPU / {statistics.median(l for _, l in runs) * 1e3:.3f} ms"
            for name, runs in figures.items()
        )
        print(f"{metric:18} step {step:4} {line}  ({len(body)} bytes)")
PY
