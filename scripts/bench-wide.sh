#!/usr/bin/env bash
# More subscribers than one process may hold here (BENCHMARKS.md, issue 27's 30,000): a process
# may open at most 20,000 files on this machine (`ulimit -Hn`, which the session cannot raise),
# so neither one server nor one generator can hold 30,000 sockets. Two instances share a Redis
# (Debian's redis-server on a unix socket, as `BENCH_INSTANCES=2 scripts/bench-streaming.sh`)
# and two generators run at once, each publishing to a dashboard of its own through the first
# instance and subscribing every other subscriber to each instance: a quarter of the sockets
# per generator per instance. Each generator's report says whether its subscribers got every
# update and how late; the servers' and Redis' CPU is read here, over the middle of the run,
# while both generators publish, and divided by the deliveries asked of that span.
#   SUBSCRIBERS=30000 RATE=3 DURATION=30 scripts/bench-wide.sh [loadgen flags...]   (the defaults)
# Exits non-zero when a generator does (`--require-no-loss`: an update some subscriber missed).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
subscribers="${SUBSCRIBERS:-30000}" rate="${RATE:-3}" duration="${DURATION:-30}"
port="${BENCH_PORT:-3920}"
half=$((subscribers / 2))
# The CPU is read over the run less its first 3 and last 5 seconds (below).
((duration >= 9)) || { echo "bench-wide: DURATION must be at least 9 (seconds)" >&2; exit 2; }

if [[ "${BENCH_BUILT:-}" != 1 ]]; then
  make --no-print-directory build
  cargo build --release --features loadgen --bin loadgen --target-dir target/bench
fi
loadgen="${LOADGEN_BIN:-./target/bench/release/loadgen}"
ulimit -n 20000
# Two instances behind one Redis, each holding half the subscribers (past the default bound).
SERVER_FLAGS="${SERVER_FLAGS:-} --max-connections 19000"
# shellcheck source=scripts/bench-instances.sh
source scripts/bench-instances.sh

# Seconds of CPU (user + system) a process has used.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# Each generator from source addresses of its own (127.0.0.N, N apart by 100): two at once on
# one address would share its 28,000 ports.
first=$((RANDOM % 100 + 1))
generators=()
for n in 0 1; do
  "$loadgen" --server "127.0.0.1:$port" --also-subscribe "127.0.0.1:$((port + 1))" --dashboard "wide-$n" \
    --subscribers "$half" --rate "$rate" --duration "$duration" --first-source-address $((first + 100 * n)) "$@" \
    >"$work/generator-$n.txt" 2>"$work/generator-$n.log" &
  generators+=($!)
done
# Both connected, then the span both publish in: a generator publishes for `duration` seconds
# from one second after its own subscribers are connected.
for n in 0 1; do
  until grep -q "connected in" "$work/generator-$n.log"; do
    kill -0 "${generators[$n]}" 2>/dev/null || { cat "$work/generator-$n.log"; exit 1; }
    sleep 0.2
  done
done
span=$((duration - 8))
sleep 3
before=("$(cpu_of "${pids[1]}")" "$(cpu_of "${pids[2]}")" "$(cpu_of "${pids[0]}")")
started="$(date +%s.%N)"
sleep "$span"
after=("$(cpu_of "${pids[1]}")" "$(cpu_of "${pids[2]}")" "$(cpu_of "${pids[0]}")")
ended="$(date +%s.%N)"
rss=("$(awk '/VmRSS/ {print $2}' "/proc/${pids[1]}/status")" "$(awk '/VmRSS/ {print $2}' "/proc/${pids[2]}/status")")
status=0
for generator in "${generators[@]}"; do wait "$generator" || status=1; done

for n in 0 1; do
  echo "== generator $n: dashboard wide-$n, $half subscribers (half on each instance), $rate/s"
  grep "connected in" "$work/generator-$n.log"
  cat "$work/generator-$n.txt"
done
echo
awk -v s="$started" -v e="$ended" \
  -v subscribers="$subscribers" -v rate="$rate" \
  -v a0="${before[0]}" -v b0="${after[0]}" -v a1="${before[1]}" -v b1="${after[1]}" \
  -v ar="${before[2]}" -v br="${after[2]}" -v r0="${rss[0]}" -v r1="${rss[1]}" 'BEGIN {
  span = e - s; deliveries = subscribers * rate * span
  printf "== both generators publishing, %.1f s\n", span
  printf "deliveries asked    %.0f/s (%d subscribers x %s/s)\n", deliveries / span, subscribers, rate
  printf "instance CPU        %.2f s + %.2f s: %.2f + %.2f us per delivery of its own subscribers\n", \
    b0 - a0, b1 - a1, 2e6 * (b0 - a0) / deliveries, 2e6 * (b1 - a1) / deliveries
  printf "both instances      %.2f us per delivery\n", 1e6 * (b0 - a0 + b1 - a1) / deliveries
  printf "redis CPU           %.2f s, %.0f us per published update\n", br - ar, 1e6 * (br - ar) / (2 * rate * span)
  printf "instance RSS        %.1f + %.1f MB\n", r0 / 1024, r1 / 1024
}'
exit "$status"
