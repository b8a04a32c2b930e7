# livedash: `make run` serves the app, `make test` runs every test. Both install what they
# need (see scripts/), so they work from a fresh clone.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/.tools/node_modules/.bin:$(PATH)
export LEPTOS_SITE_ROOT ?= target/site

.PHONY: run dev build test lint test-rust test-e2e bench-smoke bench-redraw bench-panels tools e2e-deps python-deps services check

## Build a release and serve http://127.0.0.1:3000 (LEPTOS_SITE_ADDR changes it).
run: build
	./target/release/livedash

## Rebuild and reload on every change.
dev: tools
	@# The server prefers a precompressed file to its source: stale ones would hide the rebuilds.
	rm -f $(LEPTOS_SITE_ROOT)/pkg/*.gz $(LEPTOS_SITE_ROOT)/pkg/*.br
	cargo leptos watch --split

## Release build of the server and the WASM client, its files precompressed (brotli and gzip)
## for the server to send to browsers that accept them. `--split` puts the code behind
## the split points' code (`src/components/lazily.rs`) in modules of their own, fetched when first used.
build: tools
	mkdir -p target && set -o pipefail && cargo leptos build --release --precompress --split 2>&1 | tee target/leptos-build.log
	@# wasm-split leaves a data segment it cannot lay out again in the main module, whole.
	@! grep -a "Overlong segment" target/leptos-build.log || \
	  { echo "wasm-split kept the split modules' data in the first load: see SPLIT_DATA_ROOM (src/components/lazily.rs)" >&2; exit 1; }
	@# The main module's imports and exports renamed short in it and its glue (compressed again).
	python3 scripts/shorten-imports.py $(LEPTOS_SITE_ROOT)/pkg livedash
	@# cargo-leptos' gzip is 20% larger than zopfli's, and browsers take only gzip over plain HTTP.
	rzopfli --log-level WARN -f $(LEPTOS_SITE_ROOT)/pkg/*.wasm $(LEPTOS_SITE_ROOT)/pkg/*.js $(LEPTOS_SITE_ROOT)/pkg/livedash.css

## Every test: formatting and lints, unit and integration (real sockets), then browser tests
## on the release build.
test: lint test-rust test-e2e

## Formatting (rustfmt.toml) and clippy on both builds, warnings as errors.
lint: tools
	cargo fmt --check
	cargo clippy --all-targets --features loadgen -- -D warnings
	cargo clippy --features hydrate --lib --target wasm32-unknown-unknown -- -D warnings

test-rust: tools python-deps services
	cargo test --features loadgen

## The browser tests run after a tiny benchmark run: a benchmark must leave the release server
## `make build` made as it was, pages that hydrate included.
test-e2e: build e2e-deps services bench-smoke
	cd end2end && npx playwright test

## The load generator from the test build (`cargo test` builds it: no compile after test-rust).
bench-smoke: build
	cargo test --features loadgen --no-run
	LOADGEN_BIN=target/debug/loadgen scripts/bench-streaming.sh --subscribers 5 --rate 20 --duration 1 --require-no-loss
	LOADGEN_BIN=target/debug/loadgen BENCH_BUILT=1 SUBSCRIBERS=8 RATE=5 DURATION=9 scripts/bench-wide.sh --require-no-loss

## Chart redraw benchmark in headless chromium, and the client bundle size (BENCHMARKS.md).
bench-redraw: build e2e-deps
	cd end2end && REDRAW_BENCH=1 npx playwright test redraw_bench --reporter=line
	@scripts/bundle-size.sh

## Panels in headless chromium: 12 panels x 10 series at 10 updates/s for ten minutes (CPU,
## memory), then the crosshair and zoom (BENCHMARKS.md "Panels"; PANELS_BENCH_SECONDS shortens).
bench-panels: build e2e-deps
	cd end2end && PANELS_BENCH=1 npx playwright test panels_bench --reporter=line

## Fast type checks of both builds while iterating.
check:
	cargo check --features ssr --tests
	cargo check --features hydrate --lib --target wasm32-unknown-unknown

tools:
	@scripts/install-tools.sh

e2e-deps:
	@scripts/install-e2e-deps.sh

python-deps:
	@scripts/install-python-deps.sh

services:
	@scripts/install-services.sh
