//! A series' chart, or a family's (a line per series, a legend): a canvas drawn with plotters.
//! A counter's chart draws its rate per second.
//!
//! - `draw`: `draw_chart` on any plotters `DrawingBackend` (tests use SVG), with `ChartSpec`.
//! - `axis`: what the time axis says; `geometry`: where the plot area sits (shared with the
//!   readout); `palette`: the theme's colours.
//! - `canvas` (browser): DPR-aware painting, and the redraw when data, window, theme or size
//!   change, at most once per animation frame with every other chart (`client::redraw`).
//! - `readout`: the values under the pointer; `legend`: a family's series, last/min/max,
//!   click to isolate one, shift-click to hide one.
//!
//! `SeriesChart` wires them: long windows come from `client::history`.

mod axis;
#[cfg(feature = "hydrate")]
pub mod canvas;
pub mod draw;
mod geometry;
mod legend;
pub mod palette;
mod readout;

pub use draw::{draw_chart, ChartAlerts, ChartSpec, Line};
pub use palette::Palette;

use crate::client::{history::use_history, state::DashboardState};
use crate::components::rule_preview::RulePreview;
use crate::model::{
    family::{legend_labels, ChartGroup},
    format::Reading,
    series::Point,
};
use crate::protocol::{MetricDefinition, Millis, SeriesKind};
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

/// The points last drawn, per series, and the span they were drawn in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shown {
    pub lines: Vec<(String, Vec<Point>)>,
    pub from: Millis,
    pub to: Millis,
}

/// A chart of one series, or of a family's series with a legend.
#[component]
pub fn SeriesChart(group: ChartGroup) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let ChartGroup { key, caption, members } = group;
    let lone = members.len() == 1;
    let MetricDefinition { name: first, unit, format, chart: kind, kind: series_kind, .. } = members[0].clone();
    // A counter is drawn as its rate: its values and axis say so.
    let rate = series_kind == SeriesKind::Counter;
    let reading = Reading { format, unit, rate };
    let unit = reading.axis_unit();
    let metrics: Vec<String> = members.iter().map(|member| member.name.clone()).collect();
    let legends = legend_labels(&members);
    // Long windows come from the history store.
    let history = use_history(state, metrics.clone(), rate);
    let hidden = RwSignal::new(Vec::<String>::new());
    let isolated = RwSignal::new(None::<String>);
    let drawn = Signal::derive({
        let metrics = metrics.clone();
        move || match isolated.get() {
            Some(name) => vec![name],
            None => hidden.with(|hidden| metrics.iter().filter(|name| !hidden.contains(name)).cloned().collect()),
        }
    });
    let stats =
        RwSignal::new(DrawStats { points: 0, source: "live", count: 0, seq: 0, edge: 0, thresholds: 0, spans: 0 });
    let shown = StoredValue::new(Shown::default());
    let readout = RwSignal::new(None::<Readout>);
    // A rule being previewed, drawn instead of the configured ones while it is.
    let preview = RwSignal::new(None::<ChartAlerts>);
    #[cfg(feature = "hydrate")]
    canvas::draw_on_change(canvas::CanvasChart {
        canvas,
        metrics: metrics.clone(),
        drawn,
        rate,
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
    let names: Vec<(String, String)> = metrics.iter().cloned().zip(legends.iter().cloned()).collect();
    let show_readout = readout::on_pointer(canvas, shown, reading.clone(), names, readout);

    let caption = if unit.is_empty() { caption } else { format!("{caption} ({unit})") };
    let label = caption.clone();
    view! {
        <figure
            class="chart"
            data-testid=format!("chart-{key}")
            data-kind=if rate { "counter" } else { "gauge" }
            data-series=members.len()
            data-drawn=move || drawn.with(Vec::len)
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
            {(!lone).then(|| view! { <legend::Legend metrics legends reading hidden isolated/> })}
            {lone.then(|| view! { <RulePreview metric=first overlay=preview/> })}
        </figure>
    }
}
