//! The right edge of a dashboard's charts, moving with time: between two updates the charts
//! scroll at the pace of the clock instead of jumping once per update. The edge is the newest
//! update's server time plus the browser time elapsed since it arrived (at most `MAX_AHEAD_MS`,
//! so a source that falls silent does not scroll its data out of sight), never moving back, and
//! advancing in steps of the time one pixel column spans (at least a tenth of a second), so a
//! chart redraws only when its picture moves: ten times a second for 30 s, twice a second for
//! 5 min.

use super::state::DashboardState;
use crate::model::time::bucket_start;
use crate::protocol::Millis;
use leptos::prelude::*;

/// How far the edge may run ahead of the newest update.
pub const MAX_AHEAD_MS: Millis = 5_000;

/// Pixel columns a chart is assumed to span when choosing the edge's step.
const COLUMNS: Millis = 600;

/// The edge moves at most ten times a second: each move redraws every chart, and a dashboard
/// of a dozen charts drawn twenty times a second took a whole core (BENCHMARKS.md "Panels").
const LEAST_STEP_MS: Millis = 100;

/// The edge for a window of `window_ms`: `newest` (server time of the newest update) plus
/// `elapsed` browser ms since it arrived (capped), in whole steps of one column's time, and
/// never before `previous` unless the newest update moved back a long way (a new epoch).
pub fn edge_at(newest: Millis, elapsed: Millis, previous: Millis, window_ms: Millis) -> Millis {
    let step = (window_ms / COLUMNS).max(LEAST_STEP_MS);
    let ahead = elapsed.clamp(0, MAX_AHEAD_MS);
    let candidate = newest + bucket_start(ahead, step);
    if candidate < previous && previous - candidate < window_ms / 10 {
        previous
    } else {
        candidate
    }
}

/// Provides the edge of `state`'s charts (a `LiveEdge` in context) and keeps it moving while
/// the calling component lives.
pub fn provide_live_edge(state: DashboardState) -> LiveEdge {
    let edge = LiveEdge(RwSignal::new(state.updated_at.get_untracked()));
    provide_context(edge);
    #[cfg(feature = "hydrate")]
    {
        // Browser time at which the newest update arrived.
        let arrived = StoredValue::new(js_sys::Date::now());
        let advance = move || {
            let window_ms = state.window.get_untracked().millis();
            let elapsed = (js_sys::Date::now() - arrived.get_value()) as Millis;
            let next = edge_at(state.updated_at.get_untracked(), elapsed, edge.0.get_untracked(), window_ms);
            if next != edge.0.get_untracked() {
                edge.0.set(next);
            }
        };
        Effect::new(move |_| {
            state.updated_at.track();
            arrived.set_value(js_sys::Date::now());
            advance();
        });
        use super::interval::use_interval;
        // Ticks at the pace of one step of the chosen window; hidden tabs do not tick.
        Effect::new(move |_| {
            let step = (state.window.get().millis() / COLUMNS).max(LEAST_STEP_MS);
            let tick = move || {
                if state.visible.get_untracked() {
                    advance();
                }
            };
            use_interval(std::time::Duration::from_millis(step as u64), tick);
        });
    }
    edge
}

/// Server time at the right edge of the dashboard's charts.
#[derive(Clone, Copy)]
pub struct LiveEdge(pub RwSignal<Millis>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edge_moves_with_time_in_whole_columns_and_never_back() {
        let window = 30_000; // 50 ms per column
        assert_eq!(edge_at(10_000, 0, 0, window), 10_000);
        assert_eq!(edge_at(10_000, 120, 10_000, window), 10_100, "whole columns only");
        assert_eq!(edge_at(10_000, 60_000, 10_000, window), 15_000, "at most 5 s ahead");
        // An update that arrives late (its time behind the running edge) does not pull it back.
        assert_eq!(edge_at(10_900, 0, 11_000, window), 11_000);
        // A new epoch whose time is far behind starts over.
        assert_eq!(edge_at(1_000, 0, 50_000, window), 1_000);
        assert_eq!(edge_at(0, 1_000_000, 0, 30 * 86_400_000), 0, "long windows move in long steps");
    }
}
