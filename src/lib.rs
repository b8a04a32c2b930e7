//! livedash: a real-time metrics dashboard, one crate built twice: the server (`ssr`) and the
//! browser client (`hydrate`, WASM).
//!
//! # Layout
//! Data flows `server::sources`/`server::ingest` -> `server::broker` -> `server::stream` ->
//! `client::connection` -> `client::state` -> `components` (docs/architecture.md):
//! - `protocol`: the wire messages of PROTOCOL.md, shared by both builds.
//! - `model`: ring buffers, time series, seq continuity, time buckets, quantiles, formatting,
//!   decimation (pure).
//! - `server` (ssr): one folder per stage: `sources`, `ingest`, `broker` (seq, frames, hubs),
//!   `store` (history), `stream` (feed, WebSocket, SSE, long-polling), `http` (read-only
//!   endpoints, errors), `settings`; wiring and shutdown in `server` itself.
//! - `loaders`: server functions the pages load their first render from.
//! - `client`: the browser's state signals and its live connection (`client::connection`).
//! - `app`: the HTML shell, routes and the `App` component.
//! - `bench` (loadgen): what the benchmark programs in `src/bin` share.
//! - `pages`: one route per file. `components`: one component per file; charts draw through
//!   a function generic over plotters' `DrawingBackend`.

pub mod app;
#[cfg(feature = "loadgen")]
pub mod bench;
pub mod client;
pub mod components;
pub mod loaders;
pub mod model;
pub mod pages;
pub mod protocol;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(test)]
mod testing;

/// The browser entry point: attaches the client to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // At once: what waits for a module is taken over after hydrating (`components::lazily`).
    leptos::mount::hydrate_body(app::App);
}
