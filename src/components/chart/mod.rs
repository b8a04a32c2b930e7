//! A panel's chart over time: a canvas drawn with plotters (lines, areas, stacked areas, bars,
//! status bands or a heatmap, by the panel's kind). A counter's series are drawn as rates.
//!
//! - `draw`: `draw_chart` and `draw_rows` on any plotters `DrawingBackend` (tests use SVG),
//!   with `ChartSpec`.
//! - `axis`: what the time axis says; `geometry`: where the plot area sits (shared with the
//!   readout and the crosshair); `palette`: the theme's colours.
//! - `canvas` (browser): DPR-aware painting, and the redraw when data, span, theme or size
//!   change, at most once per animation frame with every other chart (`client::redraw`). A
//!   live chart keeps its plot in a ring off the page and, moving by whole pixel columns,
//!   shifts it and draws only its last columns (`shift` decides when it can).
//! - `readout`: the values under the crosshair, on every chart of the dashboard at once;
//!   `legend`: the series, last/min/max, click to isolate one, shift-click to hide one.
//! - `zoom`: dragging across a chart zooms every chart to that span.
//!
//! `ChartBody` wires them for a panel: its series come from `client::panel_data`.

mod axis;
#[cfg(feature = "hydrate")]
pub mod backend;
#[cfg(feature = "hydrate")]
pub mod canvas;
pub mod draw;
mod geometry;
mod legend;
pub mod palette;
mod readout;
#[cfg(any(feature = "hydrate", test))]
mod shift;
mod zoom;

pub use axis::clock_time;
pub use draw::{draw_chart, draw_rows, ChartAlerts, ChartSpec, Line, Row};
pub use geometry::{axis_unit, nearest as nearest_point};
pub use palette::Palette;

use crate::client::{
    live_edge::LiveEdge, panel_data::PanelData, panel_data::PanelLine, state::DashboardState, view::ViewState,
};
use crate::components::rule_preview::RulePreview;
use crate::model::{alerts::RuleSubject, format::Reading, panel::PanelSpec};
use crate::protocol::Millis;
use leptos::prelude::*;

/// What the chart drew last, for tests and the curious (the figure's `data-*` attributes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawStats {
    /// Points drawn.
    pub points: usize,
    /// `live` (the stream's memory) or `history` (the history store, with the live edge).
    pub source: &'static str,
    /// Draws so far, and how many of them shifted the picture drawn before and drew only its
    /// last columns (`shift`).
    pub count: u64,
    pub shifted: u64,
    /// The seq and the right edge of the last draw.
    pub edge: Millis,
    pub seq: u64,
    /// Alert threshold lines and firing spans drawn.
    pub thresholds: usize,
    pub spans: usize,
}

/// A chart figure's `data-*` statistics as last written on the page.
#[cfg(feature = "hydrate")]
type StatsAttributes = [(&'static str, String); 8];

#[cfg(feature = "hydrate")]
impl DrawStats {
    /// The figure's `data-*` attributes for these statistics.
    fn attributes(&self) -> StatsAttributes {
        [
            ("data-source", self.source.to_owned()),
            ("data-points", self.points.to_string()),
            ("data-draws", self.count.to_string()),
            ("data-shifted", self.shifted.to_string()),
            ("data-drawn-seq", self.seq.to_string()),
            ("data-edge", self.edge.to_string()),
            ("data-thresholds", self.thresholds.to_string()),
            ("data-firing-spans", self.spans.to_string()),
        ]
    }

    /// Sets on `figure` the attributes that differ from those `written` last, and returns
    /// them. One effect per chart rather than one per attribute: a draw changes several at
    /// once, ten times a second, and each effect run re-subscribes to the statistics.
    fn write(&self, figure: &web_sys::HtmlElement, written: Option<&StatsAttributes>) -> StatsAttributes {
        let now = self.attributes();
        for (index, (name, value)) in now.iter().enumerate() {
            if written.is_none_or(|written| written[index].1 != *value) {
                let _ = figure.set_attribute(name, value); // a figure takes any `data-*` name
            }
        }
        now
    }
}

/// The series last drawn (their points as drawn) and the span they were drawn in: what the
/// readout reads and the CSV export writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shown {
    pub lines: Vec<PanelLine>,
    pub from: Millis,
    pub to: Millis,
    /// The canvas' width and left offset in its figure, CSS pixels, as of the draw: the
    /// crosshair reads them here rather than from the page (reading them there after another
    /// chart's readout changed forces a layout per chart per pointer move).
    pub width: f64,
    pub offset: f64,
}

/// A panel's chart: its canvas, the crosshair's readout, a legend when it has several series,
/// and the rule preview when it shows one metric.
#[component]
pub fn ChartBody(
    spec: PanelSpec,
    data: PanelData,
    reading: Signal<Reading>,
    canvas: NodeRef<leptos::html::Canvas>,
    shown: StoredValue<Shown>,
) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let view = expect_context::<ViewState>();
    // Recomputed at each update, but what reads it wakes only when the series change.
    let keys = Memo::new(move |_| data.keys());
    let hidden = RwSignal::new(Vec::<String>::new());
    let isolated = RwSignal::new(None::<String>);
    let not_drawn = Signal::derive(move || match isolated.get() {
        Some(one) => keys.get().into_iter().filter(|key| *key != one).collect(),
        None => hidden.get(),
    });
    let stats = RwSignal::new(DrawStats {
        points: 0,
        source: "live",
        count: 0,
        shifted: 0,
        seq: 0,
        edge: 0,
        thresholds: 0,
        spans: 0,
    });
    let preview = RwSignal::new(None::<ChartAlerts>);
    // The legend's series and values, kept by the draw; first as the server renders them.
    let summaries = RwSignal::new(match keys.with_untracked(|keys| keys.len() > 1) {
        true => {
            let (from, to) = view.shown_untracked(state, expect_context::<LiveEdge>());
            legend::summarise(&data.lines(from, to), from)
        }
        false => Vec::new(),
    });
    #[cfg(feature = "hydrate")]
    {
        let Reading { format, rate, .. } = reading.get_untracked();
        let axis_unit =
            reading.with_untracked(|reading| axis_unit(reading.format, &reading.axis_unit()).map(str::to_owned));
        canvas::draw_on_change(canvas::CanvasChart {
            canvas,
            spec: spec.clone(),
            data,
            hidden: not_drawn,
            rate,
            format,
            axis_unit,
            stats,
            shown,
            preview,
            summaries,
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = not_drawn;
    let zoom = zoom::Selection::new(shown, reading);
    let pointer = Pointer { view, zoom, stats, shown, reading };
    // A rule over what the chart shows: its one metric, or its query.
    let subject = match (&spec.query, spec.metrics.as_slice()) {
        (Some(query), _) => Some((RuleSubject::Query(query.clone()), spec.id.clone())),
        (None, [metric]) => Some((RuleSubject::Metric(metric.clone()), metric.clone())),
        _ => None,
    };
    let several = Signal::derive(move || keys.with(|keys| keys.len() > 1));
    // The draw statistics as the server renders them; the browser rewrites the ones a draw
    // changed (`DrawStats::write`).
    let first = stats.get_untracked();
    let figure = NodeRef::<leptos::html::Figure>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |written: Option<Option<StatsAttributes>>| {
        let now = stats.get();
        let figure = figure.get()?;
        Some(now.write(&figure, written.flatten().as_ref()))
    });
    let label = spec.title.clone();
    let id = spec.id.clone();
    view! {
        <figure
            class="chart"
            data-testid=format!("chart-{id}")
            data-series-kind=move || if reading.with(|r| r.rate) { "counter" } else { "gauge" }
            data-series=move || keys.with(Vec::len)
            data-drawn=move || keys.with(Vec::len) - not_drawn.with(Vec::len)
            data-range=move || state.window.get().label()
            node_ref=figure
            data-source=first.source
            data-points=first.points
            data-draws=first.count
            data-shifted=first.shifted
            data-drawn-seq=first.seq
            data-edge=first.edge
            data-thresholds=first.thresholds
            data-firing-spans=first.spans
            data-compare=move || data.ghost.with(|ghost| ghost.as_ref().map_or(0, |ghost| ghost.lines.len()))
        >
            <canvas
                node_ref=canvas
                role="img"
                aria-label=format!("Chart of {label}")
                on:pointerdown=zoom.on_down()
                on:pointermove=zoom.on_move()
                on:pointerup=zoom.on_up()
                on:pointerleave=move |_| {
                    zoom.cancel();
                    view.cursor.set(None)
                }
                on:dblclick=move |_| view.go_live()
            ></canvas>
            {pointer.overlay()}
            <Show when=move || several.get()>
                <legend::Legend summaries reading hidden isolated/>
            </Show>
            {subject.map(|(subject, name)| view! { <RulePreview subject name overlay=preview/> })}
        </figure>
    }
}

/// What a chart shows while the pointer is over one of the dashboard's charts: the crosshair
/// with its readout, and the band of a drag. Their code is in a module of its own
/// (`components::lazily`), fetched the first time the pointer is over a chart: a dashboard
/// watched without a pointer (a wall screen) never needs it. Until it has arrived the pointer
/// still moves the crosshair's time and a drag still zooms (`zoom::Selection`'s handlers are
/// in the first load); only the drawing over the chart waits.
#[derive(Clone, Copy)]
struct Pointer {
    view: ViewState,
    zoom: zoom::Selection,
    stats: RwSignal<DrawStats>,
    shown: StoredValue<Shown>,
    reading: Signal<Reading>,
}

impl Pointer {
    fn overlay(self) -> impl IntoView {
        // Once true, stays true: the overlay is made once, when first needed.
        let pointed = Memo::new(move |was: Option<&bool>| {
            was.copied().unwrap_or(false) || self.view.cursor.with(Option::is_some)
        });
        move || pointed.get().then(|| super::lazily::when_loaded(split::overlay(self)))
    }
}

#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use super::{readout::Readout, Pointer};
    use leptos::prelude::*;

    #[leptos::wasm_split::wasm_split(chart_pointer, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn overlay(pointer: Pointer) -> Result<AnyView, leptos::wasm_split::SplitLoaderError> {
        let Pointer { view, zoom, stats, shown, reading } = pointer;
        let readout = Memo::new(move |_| {
            let at = view.cursor.get()?;
            stats.track();
            let offset = shown.with_value(|shown| shown.offset);
            let readout = Readout::at(at, shown, &reading.get())?;
            Some(Readout { x: readout.x + offset, left: readout.left + offset, ..readout })
        });
        Ok(view! {
            <Show when=move || readout.with(Option::is_some)>
                <div
                    class="crosshair"
                    aria-hidden="true"
                    style:left=move || readout.with(|r| r.as_ref().map_or(String::new(), |r| format!("{}px", r.x)))
                ></div>
                <output
                    class="chart-readout"
                    data-testid="chart-readout"
                    style:left=move || readout.with(|r| r.as_ref().map_or(String::new(), |r| format!("{}px", r.left)))
                >
                    {move || readout.with(|r| r.as_ref().map(|r| r.text.clone()).unwrap_or_default())}
                </output>
            </Show>
            {zoom.view()}
        }
        .into_any())
    }
}
