//! A metric's chart: a canvas drawn with plotters.
//!
//! - `draw`: `draw_chart` on any plotters `DrawingBackend` (tests use SVG), with `ChartSpec`.
//! - `axis`: what the time axis says; `geometry`: where the plot area sits (shared with the
//!   readout); `palette`: the theme's colours.
//! - `canvas` (browser): DPR-aware painting, and the redraw when data, window, theme or size
//!   change, at most once per animation frame with every other chart (`client::redraw`).
//! - `readout`: the value under the pointer.
//!
//! `MetricChart` wires them: long windows' history comes from `client::history`.

mod axis;
#[cfg(feature = "hydrate")]
pub mod canvas;
pub mod draw;
mod geometry;
pub mod palette;
mod readout;

pub use draw::{draw_chart, ChartAlerts, ChartSpec};
pub use palette::Palette;

use crate::client::{history::use_metric_history, state::DashboardState};
use crate::components::rule_preview::RulePreview;
use crate::model::series::Point;
use crate::protocol::{MetricDefinition, Millis};
use leptos::prelude::*;
use readout::Readout;

/// What the chart drew last, for tests and the curious (the figure's `data-*` attributes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawStats {
    /// Points drawn.
    pub points: usize,
    /// `live` (the stream's memory) or `history` (the history store, with the live edge).
    pub source: &'static str,
    /// Draws so far.
    pub count: u64,
    /// The seq and the right edge of the last draw.
    pub seq: u64,
    pub edge: Millis,
    /// Alert threshold lines and firing spans drawn.
    pub thresholds: usize,
    pub spans: usize,
}

/// The points last drawn and the span they were drawn in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shown {
    pub points: Vec<Point>,
    pub from: Millis,
    pub to: Millis,
}

#[component]
pub fn MetricChart(definition: MetricDefinition) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let MetricDefinition { name, label, unit, format, chart: kind, .. } = definition;
    let history = use_metric_history(state, name.clone());
    let stats =
        RwSignal::new(DrawStats { points: 0, source: "live", count: 0, seq: 0, edge: 0, thresholds: 0, spans: 0 });
    let shown = StoredValue::new(Shown::default());
    let readout = RwSignal::new(None::<Readout>);
    // A rule being previewed, drawn instead of the configured ones while it is.
    let preview = RwSignal::new(None::<ChartAlerts>);
    #[cfg(feature = "hydrate")]
    canvas::draw_on_change(canvas::CanvasChart {
        canvas,
        metric: name.clone(),
        format,
        unit: unit.clone(),
        kind,
        history,
        stats,
        shown,
        preview,
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (kind, history);
    let show_readout = readout::on_pointer(canvas, shown, format, unit.clone(), readout);

    let caption = if unit.is_empty() { label.clone() } else { format!("{label} ({unit})") };
    view! {
        <figure
            class="chart"
            data-testid=format!("chart-{name}")
            data-range=move || state.window.get().label()
            data-source=move || stats.get().source
            data-points=move || stats.get().points
            data-draws=move || stats.get().count
            data-drawn-seq=move || stats.get().seq
            data-edge=move || stats.get().edge
            data-thresholds=move || stats.get().thresholds
            data-firing-spans=move || stats.get().spans
        >
            <figcaption>{caption}</figcaption>
            <canvas
                node_ref=canvas
                role="img"
                aria-label=format!("Chart of {label}")
                on:pointerdown=show_readout.clone()
                on:pointermove=show_readout
                on:pointerleave=move |_| readout.set(None)
            ></canvas>
            <Show when=move || readout.with(Option::is_some)>
                <output
                    class="chart-readout"
                    data-testid="chart-readout"
                    style:left=move || readout.with(|r| r.as_ref().map_or(String::new(), |r| format!("{}px", r.left)))
                >
                    {move || readout.with(|r| r.as_ref().map(|r| r.text.clone()).unwrap_or_default())}
                </output>
            </Show>
            <RulePreview metric=name.clone() overlay=preview/>
        </figure>
    }
}
