//! Painting on a page's canvas (browser only): sized for the device pixel ratio (plotters
//! draws in backing-store pixels), with the points reduced to a few per pixel column first,
//! and redrawn when what it shows changes.

use super::draw::{draw_chart, ChartAlerts, ChartSpec, Line};
use super::geometry::axis_unit;
use super::{palette::Palette, DrawStats, Shown};
use crate::client::{
    history::{with_live_edge, FetchedHistory},
    live_edge::LiveEdge,
    redraw::{new_key, request_draw, Draw},
    state::DashboardState,
    theme::ThemeState,
};
use crate::model::{counter::rates, ring::Ring, series::Point};
use crate::protocol::{ChartKind, Format, Millis};
use leptos::prelude::*;
use plotters::style::RGBColor;
use std::{
    rc::Rc,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

/// Sizes `canvas` for the device pixel ratio (only when that changed, since resizing clears
/// it) and draws each line's points inside `[spec.from, spec.to]`, at most four per pixel
/// column. `spec.scale` is replaced by the device's. Returns the points it drew, per line.
pub fn paint<'a>(
    canvas: &web_sys::HtmlCanvasElement,
    lines: Vec<(Box<dyn Iterator<Item = &'a Point> + 'a>, RGBColor)>,
    spec: &ChartSpec,
) -> Vec<Vec<Point>> {
    let scale = window().device_pixel_ratio().max(1.0);
    let css_width = f64::from(canvas.client_width().max(1));
    let css_height = f64::from(canvas.client_height().max(1));
    let (width, height) = ((css_width * scale).round() as u32, (css_height * scale).round() as u32);
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    let Some(backend) = plotters_canvas::CanvasBackend::with_canvas_object(canvas.clone()) else {
        return Vec::new();
    };
    let (from, to): (Millis, Millis) = (spec.from, spec.to);
    let (reduced, colours): (Vec<Vec<Point>>, Vec<RGBColor>) = lines
        .into_iter()
        .map(|(points, colour)| (crate::model::decimate::decimate(points, from, to, width as usize), colour))
        .unzip();
    let drawn: Vec<Line> = reduced.iter().zip(colours).map(|(points, colour)| Line { points, colour }).collect();
    if let Err(error) = draw_chart(backend, &drawn, &ChartSpec { scale, ..*spec }) {
        leptos::logging::warn!("chart draw failed: {error:?}");
    }
    reduced
}

/// What the dashboard's alert rules on `metric` draw: their levels, and where they fired up to
/// `to`. A counter's chart shows its rate: only rules on the rate (`rate = true`) draw on it.
fn alerts_on(state: DashboardState, metric: &str, rate: bool, to: Millis) -> ChartAlerts {
    let levels = state.rules.with_value(|rules| {
        rules.iter().filter(|rule| rule.metric == metric && rule.rate == rate).flat_map(|rule| rule.levels()).collect()
    });
    let spans = state.alert_log.with_untracked(|log| {
        state.alerts.with_untracked(|active| crate::model::alerts::firing_spans(log, active, metric, to))
    });
    ChartAlerts { levels, spans }
}

/// One chart's canvas and what its drawing depends on.
pub struct CanvasChart {
    pub canvas: NodeRef<leptos::html::Canvas>,
    /// Its series, in legend order.
    pub metrics: Vec<String>,
    /// The series drawn (a legend can isolate or hide some).
    pub drawn: Signal<Vec<String>>,
    /// Counters: drawn as their rate per second.
    pub rate: bool,
    pub format: Format,
    pub unit: String,
    pub kind: ChartKind,
    /// The history of the chart's series over a long window.
    pub history: ReadSignal<Option<FetchedHistory>>,
    /// Set after every draw.
    pub stats: RwSignal<DrawStats>,
    /// The points drawn last and their span, for the pointer readout.
    pub shown: StoredValue<Shown>,
    /// A rule being previewed (`RulePreview`): drawn instead of the configured ones.
    pub preview: RwSignal<Option<ChartAlerts>>,
}

/// Redraws the chart (at the next animation frame, with every other chart: `client::redraw`)
/// whenever its data, window, live edge, theme, fetched history or the page size changes, as
/// long as the tab is visible.
pub fn draw_on_change(chart: CanvasChart) {
    let state = expect_context::<DashboardState>();
    let edge = expect_context::<LiveEdge>();
    let theme = expect_context::<ThemeState>();
    let CanvasChart { canvas, metrics, drawn, rate, format, unit, kind, history, stats, shown, preview } = chart;
    let axis_unit = axis_unit(format, &unit).map(str::to_owned);
    // The draw runs at the next animation frame, reading the state of that moment; the chart
    // may have been removed by then. Atomic only because `on_cleanup` wants `Send + Sync`.
    let mounted = Arc::new(AtomicBool::new(true));
    on_cleanup({
        let mounted = mounted.clone();
        move || mounted.store(false, Ordering::Relaxed)
    });
    let draw: Draw = Rc::new(move || {
        if !mounted.load(Ordering::Relaxed) || !state.visible.get_untracked() {
            return;
        }
        let Some(canvas) = canvas.get_untracked() else { return };
        let window = state.window.get_untracked();
        let to = edge.0.get_untracked();
        let from = to - window.millis();
        let palette = Palette::of(theme.0.get_untracked());
        let lone = metrics.len() == 1;
        let alerts = match (&preview.get_untracked(), lone) {
            (Some(previewed), _) => previewed.clone(),
            (None, true) => alerts_on(state, &metrics[0], rate, to),
            (None, false) => ChartAlerts::default(),
        };
        let spec =
            ChartSpec { from, to, format, axis_unit: axis_unit.as_deref(), kind, palette, scale: 1.0, alerts: &alerts };
        let names = drawn.get_untracked();
        let (lines, source) = state.series.with_untracked(|series| {
            let empty = Ring::with_capacity(1);
            history.with_untracked(|history| {
                let fetched =
                    history.as_ref().filter(|fetched| window.history_step().is_some() && fetched.window == window);
                // Each line's points: history joined with the live edge over a long window, else
                // the stream's memory (borrowed); a counter's as rates.
                let owned: Vec<Option<Vec<Point>>> = names
                    .iter()
                    .map(|name| {
                        let live = series.get(name).unwrap_or(&empty);
                        // A counter's history comes as rates already (the server's, reset-safe).
                        let live_rates = rate.then(|| rates(live.iter()));
                        let stored = fetched.and_then(|fetched| Some((fetched.points(name)?, fetched.step_ms)));
                        match (stored, live_rates) {
                            (Some((points, step_ms)), Some(rated)) => {
                                Some(with_live_edge(points, step_ms, rated.iter()))
                            }
                            (Some((points, step_ms)), None) => Some(with_live_edge(points, step_ms, live.iter())),
                            (None, rated) => rated,
                        }
                    })
                    .collect();
                let colour = |name: &str| if lone { palette.line } else { palette.series_colour(name) };
                let lines: Vec<(Box<dyn Iterator<Item = &Point> + '_>, RGBColor)> = names
                    .iter()
                    .zip(&owned)
                    .map(|(name, owned)| {
                        let points: Box<dyn Iterator<Item = &Point>> = match owned {
                            Some(points) => Box::new(points.iter()),
                            None => Box::new(series.get(name).unwrap_or(&empty).iter()),
                        };
                        (points, colour(name))
                    })
                    .collect();
                let painted = paint(&canvas, lines, &spec);
                (painted, if fetched.is_some() { "history" } else { "live" })
            })
        });
        let seq = state.position.with_untracked(|position| position.seq);
        let (thresholds, spans) =
            (alerts.levels.len(), alerts.spans.iter().filter(|span| span.to > from && span.from < to).count());
        let points = lines.iter().map(Vec::len).sum();
        stats.update(|stats| {
            *stats = DrawStats { points, source, count: stats.count + 1, seq, edge: to, thresholds, spans }
        });
        shown.set_value(Shown { lines: names.into_iter().zip(lines).collect(), from, to });
    });
    // A new size (window resized, phone turned) needs a new canvas resolution.
    let resized = RwSignal::new(0u32);
    let listener = window_event_listener(leptos::ev::resize, move |_| resized.update(|count| *count += 1));
    on_cleanup(move || listener.remove());
    let key = new_key();
    Effect::new(move |_| {
        // Hidden tab: track nothing else, so updates do not even wake this effect; showing
        // the tab again reruns it once with the latest state.
        if !state.visible.get() || canvas.get().is_none() {
            return;
        }
        theme.0.track();
        state.window.track();
        edge.0.track();
        state.series.track();
        history.track();
        state.alert_log.track();
        preview.track();
        drawn.track();
        state.alerts.track();
        resized.track();
        request_draw(key, draw.clone());
    });
}
