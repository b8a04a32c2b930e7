#!/usr/bin/env bash
# Streaming benchmark (BENCHMARKS.md): starts a release server with its built-in sources off,
# runs the load generator beside it on the same machine, prints the report, stops the server.
#   scripts/bench-streaming.sh [loadgen flags...]
#   e.g. scripts/bench-streaming.sh --subscribers 10000 --rate 10 --duration 20
# BENCH_PROBE=1: an ingest client outside the generator (scripts/ingest-probe.py, 100 values
# at 10/s while the subscribers are served), its answer times printed. It posts to a dashboard
# of its own (BENCH_PROBE_DASHBOARD, `probe`): to the subscribers' own (`loadgen`) its updates
# are fanned out too, doubling the deliveries (200,000/s at 10,000 x 10/s, past what this
# machine's generator reads: the run itself stops being one).
# BENCH_INSTANCES=2: first the same run against one process, then against two instances
# sharing a Redis (Debian's redis-server on a unix socket, persistence off), half the
# subscribers on each and ingest through the first, with each instance's and Redis' CPU.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${BENCH_PORT:-3900}"

# The server `make build` makes (and `make run` runs); the generator apart, in its own target
# folder, so that building it never replaces or rebuilds that server. LOADGEN_BIN names a
# generator built already (`make bench-smoke` takes the test build's: a smoke run measures
# nothing, and a fourth full compile of the dependencies cost minutes). BENCH_BUILT=1: both
# built already (a script running many rounds; `make build` with nothing to do takes a minute).
[[ "${BENCH_BUILT:-}" == 1 ]] || make --no-print-directory build
loadgen="${LOADGEN_BIN:-}"
if [[ -z "$loadgen" ]]; then
  cargo build --release --features loadgen --bin loadgen --target-dir target/bench
  loadgen=./target/bench/release/loadgen
fi
ulimit -n 20000

# BENCH_AUTH=1: sign-in on (a secret), every subscriber and ingest carrying an admin JWT, so
# the figures include the credential check at upgrade and the lease on every connection.
if [[ "${BENCH_AUTH:-}" == 1 ]]; then
  export LIVEDASH_AUTH_SECRET="bench-secret-bench-secret-bench-secret"
  LOADGEN_TOKEN="$(./target/release/livedash token jwt --sub bench --scope admin --ttl 1h)"
  export LOADGEN_TOKEN
fi

# BENCH_RULES=N: N alert rules on the benchmark's metric (never firing), so every update is
# evaluated N times on the publishing path.
if [[ -n "${BENCH_RULES:-}" ]]; then
  rules="$(mktemp --suffix .toml)"
  for i in $(seq "$BENCH_RULES"); do
    printf '[[alerts]]\nname = "bench_%s"\ndashboard = "loadgen"\nmetric = "sentUs"\ncrit = { above = 1e300 }\n' "$i"
  done > "$rules"
  SERVER_FLAGS="${SERVER_FLAGS:-} --config $rules"
fi

if [[ "${BENCH_INSTANCES:-1}" == 2 ]]; then
  echo "== one process"
  BENCH_INSTANCES=1 BENCH_PORT="$((port + 10))" "$0" "$@"
  echo
  echo "== two instances behind Redis"
  # shellcheck source=scripts/bench-instances.sh
  source scripts/bench-instances.sh
  "$loadgen" --server "127.0.0.1:$port" --server-pid "${pids[1]}" \
    --also-subscribe "127.0.0.1:$((port + 1))" --also-server-pid "${pids[2]}" --redis-pid "${pids[0]}" "$@"
  exit
fi

# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh

probe=""
if [[ "${BENCH_PROBE:-}" == 1 ]]; then
  # The subscribers to wait for and the seconds to post for, from the generator's flags.
  subscribers=100 duration=10 args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
      --subscribers) subscribers="${args[$((i + 1))]}" ;;
      --duration) duration="${args[$((i + 1))]}" ;;
      --groups)
        subscribers=0
        IFS=, read -r -a groups <<<"${args[$((i + 1))]}"
        for group in "${groups[@]}"; do subscribers=$((subscribers + ${group%x*} * ${group#*x})); done
        ;;
    esac
  done
  probe_out="$(mktemp)"
  python3 scripts/ingest-probe.py --server "127.0.0.1:$port" --subscribers "$subscribers" \
    --dashboard "${BENCH_PROBE_DASHBOARD:-probe}" \
    --seconds "$(awk -v d="$duration" 'BEGIN { print (d > 3 ? d - 2 : d) }')" >"$probe_out" &
  probe=$!
fi
"$loadgen" --server "127.0.0.1:$port" --server-pid "$server" "$@"
if [[ -n "$probe" ]]; then
  wait "$probe" || true
  cat "$probe_out"
  rm -f "$probe_out"
fi
