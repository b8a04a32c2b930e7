//! The browser's side of the stream: the reactive state of a dashboard and the connection that
//! keeps it live, and the history it fetches for long time ranges. The state is plain signals
//! and renders the same on the server.

#[cfg(feature = "hydrate")]
pub mod api;
pub mod connection;
pub mod history;
#[cfg(feature = "hydrate")]
pub mod interval;
pub mod live_edge;
pub mod location;
pub mod panel_data;
#[cfg(feature = "hydrate")]
pub mod redeploy;
pub mod redraw;
pub mod state;
pub mod theme;
pub mod view;
pub mod visibility;

/// What a part of the page says when the module with its code cannot be fetched (the split
/// points, `components::lazily`).
pub const NOT_LOADED: &str = "This part of the page could not be loaded: reload the page.";
