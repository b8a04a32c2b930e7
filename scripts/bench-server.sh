# Sourced by the benchmark scripts: starts a release server on $port with its built-in sources
# off and a fresh history store in a temporary folder ($data), sets $server to its pid, stops it
# and removes the store on exit, and waits until it answers. Extra server flags: $SERVER_FLAGS.
# Every generated connection comes from 127.0.0.x: the per-client bound is lifted. Another
# build of the server (to compare in one run): $LIVEDASH_BIN.
data="$(mktemp -d)"
bin="${LIVEDASH_BIN:-./target/release/livedash}"
# Builds older than the bound (scripts/bench-compare.sh runs them) do not know its flag.
per_client=()
if "$bin" --help | grep -q -- --max-connections-per-client; then per_client=(--max-connections-per-client 100000); fi
LEPTOS_SITE_ROOT=target/site RUST_LOG=warn "$bin" --addr "127.0.0.1:$port" \
  --simulator false --host-metrics false --data "$data/bench.sqlite" "${per_client[@]}" ${SERVER_FLAGS:-} &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
