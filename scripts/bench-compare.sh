#!/usr/bin/env bash
# The fan-out benchmark beside a fixed reference build and other builds, in one run
# (BENCHMARKS.md, "Against a fixed reference"). Comparing each build only with the one before
# let a slow slope go unseen; this keeps one build fixed (344d133, issue 27's reference) in
# every comparison.
#   scripts/bench-compare.sh [loadgen flags...]   (default --subscribers 10000 --rate 10 --duration 15)
#   COMPARE="344d133 HEAD"   the commits beside the working tree (default: the reference and HEAD)
#   ROUNDS=2                 each build this many times, in order then in reverse (A B C C B A):
#                            a machine that drifts over the run weighs on every build alike
# Each commit's server is built once, by its own sources, into target/bench-builds/<commit>
# (a target folder of its own: the build `make build` made is never touched); the working
# tree's is `make build`'s. The bare loopback write (write_floor) runs first and last.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
reference=344d133
read -r -a commits <<<"${COMPARE:-$reference HEAD}"
rounds="${ROUNDS:-2}"
flags=("$@")
[[ ${#flags[@]} -gt 0 ]] || flags=(--subscribers 10000 --rate 10 --duration 15)
builds="$root/target/bench-builds"

# One commit's release server, built from a temporary worktree.
build_commit() {
  local sha out worktree
  sha="$(git rev-parse --short=10 "$1^{commit}")"
  out="$builds/$sha/livedash"
  if [[ ! -x "$out" ]]; then
    worktree="$(mktemp -d)/src"
    git worktree add --detach --force "$worktree" "$sha" >/dev/null
    (cd "$worktree" && LEPTOS_OUTPUT_NAME=livedash CARGO_TARGET_DIR="$builds/target" cargo build --release --no-default-features \
      --features ssr --bin livedash >&2)
    mkdir -p "$builds/$sha"
    cp "$builds/target/release/livedash" "$out"
    git worktree remove --force "$worktree"
  fi
  echo "$out"
}

make --no-print-directory build
cargo build --release --features loadgen --bin loadgen --bin write_floor --target-dir target/bench
names=() bins=()
for commit in "${commits[@]}"; do
  sha="$(git rev-parse --short "$commit^{commit}")"
  if [[ "$sha" == "$commit"* ]]; then names+=("$commit"); else names+=("$commit ($sha)"); fi
  bins+=("$(build_commit "$commit")")
done
names+=("working tree") bins+=("$root/target/release/livedash")

# The loadgen flags as write_floor spells them.
floor_flags=()
for ((i = 0; i < ${#flags[@]}; i++)); do
  case "${flags[$i]}" in
    --subscribers) floor_flags+=(--connections "${flags[$((i + 1))]}"); i=$((i + 1)) ;;
    --rate | --duration) floor_flags+=("${flags[$i]}" "${flags[$((i + 1))]}"); i=$((i + 1)) ;;
  esac
done

ulimit -n 20000
floor() { ./target/bench/release/write_floor "${floor_flags[@]}" | sed -n 's/^writer CPU *//p'; }
summary() {
  # One table row from a loadgen report.
  awk -v name="$1" '
    /^deliveries\/s/ { deliveries = $2 }
    /^fast deliveries/ { missing = $7; sub(/\(/, "", missing) }
    /^latency fast/ { p50 = $5; p99 = $7 }
    /^ingest answer/ { answer = $7 }
    /^server CPU / { cpu = $5 }
    /^server RSS  / { rss = $(NF - 3) }
    END { printf "| %s | %s | %s | %s / %s ms | %s ms | %s µs | %s KB |\n", name, deliveries, missing, p50, p99, answer, cpu, rss }'
}

order=()
for ((round = 0; round < rounds; round++)); do
  if ((round % 2 == 0)); then
    for ((i = 0; i < ${#bins[@]}; i++)); do order+=("$i"); done
  else
    for ((i = ${#bins[@]} - 1; i >= 0; i--)); do order+=("$i"); done
  fi
done

echo "floor before: $(floor)"
rows=()
for i in "${order[@]}"; do
  echo "== ${names[$i]}" >&2
  report="$(LIVEDASH_BIN="${bins[$i]}" LOADGEN_BIN=./target/bench/release/loadgen BENCH_BUILT=1 scripts/bench-streaming.sh "${flags[@]}")"
  echo "$report" >&2
  rows+=("$(summary "${names[$i]}" <<<"$report")")
done
echo "floor after: $(floor)"
echo
echo "| build | deliveries/s | missing | p50 / p99 | ingest answer p99 | server CPU per delivery | RSS per connection |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
