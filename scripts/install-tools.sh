#!/usr/bin/env bash
# Installs the build toolchain livedash needs, only what is missing or at the wrong version,
# using nothing but the package registries (see ../shared/TOOLCHAIN.md for why each step is so).
#   - wasm32-unknown-unknown target
#   - cargo-leptos 0.3.10 built with `no_downloads` (0.3.11's lockfile needs a newer rustc)
#   - wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock
#   - wasm-opt from the npm package `binaryen` (Debian's binaryen 108 breaks hydration)
#   - rzopfli, a zopfli gzip compressor for the client bundle
#   - brotli (Debian's), which compresses again the files scripts/shorten-imports.py rewrote
# Tools from npm go to .tools/ in the project; cargo tools to ~/.cargo/bin.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
export PATH="$HOME/.cargo/bin:$tools/node_modules/.bin:$PATH"

log() { echo "[install-tools] $*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

leptos_version=0.3.10
if ! cargo leptos --version 2>/dev/null | grep -q "$leptos_version"; then
  # Its own release profile is fat LTO with one codegen unit (17-19 minutes on 2 cores). A
  # build tool that mostly runs cargo, wasm-bindgen and wasm-opt needs none of that:
  # unoptimized, parallel codegen without debug info builds it in 15 minutes instead of 22 at
  # opt-level 1, and costs a release build about 3 s (its brotli precompression, 4.8 s).
  log "installing cargo-leptos $leptos_version"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install cargo-leptos --version "$leptos_version" --locked --features no_downloads
fi

bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$root/Cargo.lock")"
if [ -z "$bindgen_version" ]; then
  echo "Cargo.lock does not pin wasm-bindgen" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version"; then
  log "installing wasm-bindgen-cli $bindgen_version"
  CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
    cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

# Zopfli writes gzip files 4-5% smaller than gzip -9, for the precompressed client bundle.
rzopfli_version=0.1.6
if ! rzopfli --version 2>/dev/null | grep -q "$rzopfli_version"; then
  log "installing rzopfli $rzopfli_version"
  cargo install rzopfli --version "$rzopfli_version" --locked
fi

if ! command -v brotli > /dev/null; then
  log "installing brotli from Debian"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends brotli > /dev/null
fi

binaryen_version=132.0.0
if ! [ -x "$tools/node_modules/.bin/wasm-opt" ] \
  || ! grep -q "\"version\": \"$binaryen_version\"" "$tools/node_modules/binaryen/package.json" 2>/dev/null; then
  log "installing wasm-opt from npm binaryen@$binaryen_version"
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "binaryen@$binaryen_version"
fi
log "tools ready: $(cargo leptos --version), $(wasm-bindgen --version), wasm-opt $(wasm-opt --version), $(rzopfli --version), $(brotli --version)"
