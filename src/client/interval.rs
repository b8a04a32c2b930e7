//! `use_interval`: run a closure every so often for as long as the calling owner (a component
//! or an effect run) lives, as the Leptos timer example does. Browser only.

use leptos::prelude::*;
use std::time::Duration;

/// Calls `tick` every `every` until the current owner is cleaned up.
pub fn use_interval(every: Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, every) {
        on_cleanup(move || handle.clear());
    }
}
