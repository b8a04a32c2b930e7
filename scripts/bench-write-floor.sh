#!/usr/bin/env bash
# The kernel's floor under the streaming benchmark (BENCHMARKS.md): the CPU one small loopback
# write costs the writing process, with a reader process beside it, and nothing else done.
#   scripts/bench-write-floor.sh [write_floor flags...]
#   e.g. scripts/bench-write-floor.sh --connections 10000 --rate 10 --duration 20
set -euo pipefail
cd "$(dirname "$0")/.."
# Built apart from the server (see bench-streaming.sh).
cargo build --release --features loadgen --bin write_floor --target-dir target/bench
ulimit -n 20000
./target/bench/release/write_floor "$@"
