//! Every integration test but the server-rendered pages', one binary: the server links once
//! instead of once per feature file. A module per feature, each opening with the behaviours
//! it covers; `common` holds the rigs (a real server on port 0, real clients, real Redis).
//! `tests/pages.rs` is a binary of its own: see there why.
//!
//! Run one feature with `cargo test --features loadgen --test it -- auth::`.

mod common;

mod alert_delivery;
mod alert_receivers;
mod alerts;
mod auth;
mod auth_cli;
mod config;
mod fallbacks;
mod history;
mod hostile;
mod ingest;
mod limits;
mod line_protocol;
// The benchmark programs are built only with the `loadgen` feature.
#[cfg(feature = "loadgen")]
mod loadgen_smoke;
mod origins;
mod producers;
mod router;
mod scale_out;
mod store_full;
mod throttle;
mod websocket;
