#!/usr/bin/env bash
# How the fan-out grows (BENCHMARKS.md, issue 27's table): the streaming benchmark in each of its
# shapes one after the other, with the same server and generator, and the bare loopback write
# (the floor) before and after. Each run's report is printed whole under a heading.
#   scripts/bench-scale.sh                 (15 s of load a run; DURATION=30 for longer)
# Shapes: 1,000 and 10,000 subscribers on one dashboard at 10/s; ten dashboards of 1,000; one
# dashboard of 9,000 beside ten of 900 at 5/s, and 18,000 on one at 5/s (past the default
# --max-connections, raised here); 10,000 with sign-in on; 10,000 over two instances behind
# Redis (after the same run against one process). 30,000 needs more open files than this
# machine allows a process (`ulimit -Hn`: 20,000), for the server as for the generator:
# scripts/bench-wide.sh runs them over two instances and two generators.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
duration="${DURATION:-15}"

make --no-print-directory build
cargo build --release --features loadgen --bin loadgen --bin write_floor --target-dir target/bench
export LOADGEN_BIN="$root/target/bench/release/loadgen" BENCH_BUILT=1
ulimit -n 20000

floor() {
  echo "== bare loopback write, 10,000 x 10/s"
  ./target/bench/release/write_floor --connections 10000 --rate 10 --duration "$duration"
}
run() {
  local title="$1"
  shift
  echo
  echo "== $title"
  "$@" --duration "$duration"
}

floor
run "1,000 subscribers, one dashboard, 10/s" scripts/bench-streaming.sh --subscribers 1000 --rate 10
run "10,000 subscribers, one dashboard, 10/s" scripts/bench-streaming.sh --subscribers 10000 --rate 10
run "10,000 as ten dashboards of 1,000, each 10/s" scripts/bench-streaming.sh --groups 10x1000 --rate 10
SERVER_FLAGS="--max-connections 19000" \
  run "18,000 as one dashboard of 9,000 beside ten of 900, each 5/s" scripts/bench-streaming.sh --groups 1x9000,10x900 --rate 5
SERVER_FLAGS="--max-connections 19000" \
  run "18,000 on one dashboard, 5/s" scripts/bench-streaming.sh --subscribers 18000 --rate 5
BENCH_AUTH=1 run "10,000, sign-in on" scripts/bench-streaming.sh --subscribers 10000 --rate 10
BENCH_INSTANCES=2 run "10,000: one process, then two instances behind Redis" \
  scripts/bench-streaming.sh --subscribers 10000 --rate 10
echo
# The runs' closed connections hold loopback ports for a minute (TIME_WAIT); the floor's
# 10,000 connections need them.
sleep 60
floor
