# Sourced by the benchmark scripts that run two instances of one deployment: starts a Redis
# (Debian's redis-server on a unix socket, persistence off) and two release servers sharing it
# on $port and $port + 1, their own sources off and each with a fresh history store in a
# temporary folder ($work); sets $pids to Redis' pid then the two servers', stops them all and
# removes the folder on exit, and waits until both answer. Extra server flags: $SERVER_FLAGS;
# another build of the server: $LIVEDASH_BIN.
scripts/install-services.sh
work="$(mktemp -d)"
redis-server --port 0 --unixsocket "$work/redis.sock" --save "" --appendonly no --dir "$work" >/dev/null &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [[ -S "$work/redis.sock" ]] && break; sleep 0.1; done
for n in 0 1; do
  LEPTOS_SITE_ROOT=target/site RUST_LOG=warn "${LIVEDASH_BIN:-./target/release/livedash}" \
    --addr "127.0.0.1:$((port + n))" --simulator false --host-metrics false --data "$work/bench-$n.sqlite" \
    --max-connections-per-client 100000 --redis "unix://$work/redis.sock" ${SERVER_FLAGS:-} &
  pids+=($!)
done
for n in 0 1; do
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$((port + n))/healthz" >/dev/null && break; sleep 0.1; done
done
