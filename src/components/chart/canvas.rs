//! Painting on a page's canvas (browser only): sized for the device pixel ratio (plotters
//! draws in backing-store pixels), with the points reduced to a few per pixel column first,
//! and redrawn when what it shows changes.

use super::draw::{draw_chart, draw_rows, ChartAlerts, ChartSpec, Line, Row};
use super::{palette::Palette, DrawStats, Shown};
use crate::client::{
    live_edge::LiveEdge,
    panel_data::{PanelData, PanelLine},
    redraw::{new_key, request_draw, Draw},
    state::DashboardState,
    theme::ThemeState,
    view::ViewState,
};
use crate::model::{
    panel::{colour_rgb, heatmap_cells, status_bands, threshold_colour, PanelKind, PanelSpec},
    series::Point,
};
use crate::protocol::{Format, Millis};
use leptos::prelude::*;
use plotters::style::RGBColor;
use std::{
    rc::Rc,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

/// Where a canvas sits, in CSS pixels: its size, and its left offset in its figure.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CanvasBox {
    pub width: f64,
    pub height: f64,
    pub offset: f64,
}

impl CanvasBox {
    /// Reads it from the page: a layout, if the page changed since the last one.
    pub fn measure(canvas: &web_sys::HtmlCanvasElement) -> CanvasBox {
        CanvasBox {
            width: f64::from(canvas.client_width()),
            height: f64::from(canvas.client_height()),
            offset: f64::from(canvas.offset_left()),
        }
    }
}

/// The box of a canvas, measured when the browser lays it out anew (a `ResizeObserver`, whose
/// callbacks run after layout, so reading there costs nothing): a draw reads it here rather
/// than forcing a layout of a page its update has just changed.
#[derive(Clone, Copy)]
pub struct ObservedBox {
    measured: StoredValue<Option<CanvasBox>>,
    changed: RwSignal<u32>,
}

impl ObservedBox {
    /// Observes `canvas` until the calling component is cleaned up.
    pub fn new(canvas: NodeRef<leptos::html::Canvas>) -> ObservedBox {
        use send_wrapper::SendWrapper;
        use wasm_bindgen::{closure::Closure, JsCast};
        let observed = ObservedBox { measured: StoredValue::new(None), changed: RwSignal::new(0) };
        Effect::new(move |_| {
            let Some(element) = canvas.get() else { return };
            let listener = Closure::<dyn Fn()>::new({
                let element = element.clone();
                move || {
                    let now = CanvasBox::measure(&element);
                    if observed.measured.get_value() != Some(now) {
                        observed.measured.set_value(Some(now));
                        observed.changed.update(|count| *count += 1);
                    }
                }
            });
            let Ok(observer) = web_sys::ResizeObserver::new(listener.as_ref().unchecked_ref()) else { return };
            observer.observe(&element);
            let registration = SendWrapper::new((observer, listener));
            on_cleanup(move || registration.take().0.disconnect());
        });
        observed
    }

    /// The box as last laid out (measured now if the observer has not reported yet).
    pub fn get(&self, canvas: &web_sys::HtmlCanvasElement) -> CanvasBox {
        self.measured.get_value().unwrap_or_else(|| CanvasBox::measure(canvas))
    }

    /// Reruns the calling effect when the box changes (window resized, phone turned, a panel
    /// made full screen): the canvas needs a new resolution.
    pub fn track(&self) {
        self.changed.track();
    }
}

/// A plotters backend on `canvas` of `size`, sized for the device pixel ratio (only when that
/// changed, since resizing clears it), and that ratio and the width in device pixels.
pub fn backend(canvas: &web_sys::HtmlCanvasElement, size: CanvasBox) -> Option<(super::backend::Canvas, f64, usize)> {
    let scale = window().device_pixel_ratio().max(1.0);
    let (css_width, css_height) = (size.width.max(1.0), size.height.max(1.0));
    let (width, height) = ((css_width * scale).round() as u32, (css_height * scale).round() as u32);
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    let backend = super::backend::Canvas::new(canvas.clone())?;
    Some((backend, scale, width as usize))
}

/// Draws each line's points inside `[spec.from, spec.to]` on `canvas`, at most four per pixel
/// column (the ghost lines of `spec` are replaced by `ghosts`, reduced alike). `spec.scale` is
/// replaced by the device's. Returns the points it drew, per line.
pub fn paint<'a>(
    canvas: &web_sys::HtmlCanvasElement,
    size: CanvasBox,
    lines: Vec<(Box<dyn Iterator<Item = &'a Point> + 'a>, RGBColor)>,
    ghosts: Vec<(&'a [Point], RGBColor)>,
    spec: &ChartSpec,
) -> Vec<Vec<Point>> {
    let Some((backend, scale, width)) = backend(canvas, size) else { return Vec::new() };
    let (from, to): (Millis, Millis) = (spec.from, spec.to);
    let reduce = |points| crate::model::decimate::decimate(points, from, to, width);
    let (reduced, colours): (Vec<Vec<Point>>, Vec<RGBColor>) =
        lines.into_iter().map(|(points, colour)| (reduce(points), colour)).unzip();
    let reduced_ghosts: Vec<(Vec<Point>, RGBColor)> =
        ghosts.into_iter().map(|(points, colour)| (reduce(Box::new(points.iter())), colour)).collect();
    let ghost_lines: Vec<Line> =
        reduced_ghosts.iter().map(|(points, colour)| Line { points, colour: *colour }).collect();
    let drawn: Vec<Line> = reduced.iter().zip(colours).map(|(points, colour)| Line { points, colour }).collect();
    if let Err(error) = draw_chart(backend, &drawn, &ChartSpec { scale, ghosts: &ghost_lines, ..*spec }) {
        leptos::logging::warn!("chart draw failed: {error:?}");
    }
    reduced
}

/// Draws rows of coloured spans (status, heatmap) on `canvas`.
pub fn paint_rows(canvas: &web_sys::HtmlCanvasElement, size: CanvasBox, rows: &[Row], spec: &ChartSpec) {
    let Some((backend, scale, _)) = backend(canvas, size) else { return };
    if let Err(error) = draw_rows(backend, rows, &ChartSpec { scale, ..*spec }) {
        leptos::logging::warn!("chart draw failed: {error:?}");
    }
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

/// A threshold's colour for the canvas.
pub fn rgb(text: &str) -> Option<RGBColor> {
    colour_rgb(text).map(|(r, g, b)| RGBColor(r, g, b))
}

/// One chart's canvas and what its drawing depends on.
pub struct CanvasChart {
    pub canvas: NodeRef<leptos::html::Canvas>,
    pub spec: PanelSpec,
    pub data: PanelData,
    /// The series hidden (a legend can isolate or hide some).
    pub hidden: Signal<Vec<String>>,
    /// Counters: drawn as their rate per second.
    pub rate: bool,
    pub format: Format,
    pub axis_unit: Option<String>,
    /// Set after every draw.
    pub stats: RwSignal<DrawStats>,
    /// The points drawn last and their span, for the pointer readout and the CSV export.
    pub shown: StoredValue<Shown>,
    /// A rule being previewed (`RulePreview`): drawn instead of the configured ones.
    pub preview: RwSignal<Option<ChartAlerts>>,
}

/// Redraws the chart (at the next animation frame, with every other chart: `client::redraw`)
/// whenever its data, span, theme, fetched history or the page size changes, as long as the
/// tab is visible.
pub fn draw_on_change(chart: CanvasChart) {
    let state = expect_context::<DashboardState>();
    let edge = expect_context::<LiveEdge>();
    let view = expect_context::<ViewState>();
    let theme = expect_context::<ThemeState>();
    let CanvasChart { canvas, spec, data, hidden, rate, format, axis_unit, stats, shown, preview } = chart;
    // The draw runs at the next animation frame, reading the state of that moment; the chart
    // may have been removed by then. Atomic only because `on_cleanup` wants `Send + Sync`.
    let mounted = Arc::new(AtomicBool::new(true));
    on_cleanup({
        let mounted = mounted.clone();
        move || mounted.store(false, Ordering::Relaxed)
    });
    let thresholds: Vec<(f64, RGBColor)> =
        spec.thresholds.iter().filter_map(|threshold| Some((threshold.value, rgb(&threshold.color)?))).collect();
    let observed = ObservedBox::new(canvas);
    let draw: Draw = Rc::new(move || {
        if !mounted.load(Ordering::Relaxed) || !state.visible.get_untracked() {
            return;
        }
        let Some(canvas) = canvas.get_untracked() else { return };
        let size = observed.get(&canvas);
        let (from, to) = view.shown_untracked(state, edge);
        let palette = Palette::of(theme.0.get_untracked());
        let hidden = hidden.get_untracked();
        let mut lines = data.lines(from, to);
        lines.retain(|line| !hidden.contains(&line.key));
        let lone_metric = (!data.is_query() && lines.len() == 1).then(|| lines[0].key.clone());
        let alerts = match (&preview.get_untracked(), &lone_metric) {
            (Some(previewed), _) => previewed.clone(),
            (None, Some(metric)) => alerts_on(state, metric, rate, to),
            (None, None) => ChartAlerts::default(),
        };
        let chart_spec = ChartSpec {
            from,
            to,
            format,
            axis_unit: axis_unit.as_deref(),
            kind: spec.kind,
            stack: spec.stack,
            thresholds: &thresholds,
            min: spec.min,
            max: spec.max,
            ghosts: &[],
            palette,
            scale: 1.0,
            alerts: &alerts,
        };
        let colour = |line: &PanelLine| if lines.len() == 1 { palette.line } else { palette.series_colour(&line.key) };
        let drawn: Vec<Vec<Point>> = match spec.kind {
            PanelKind::Status => {
                let rows = status_rows(&lines, &spec, palette, to);
                paint_rows(&canvas, size, &rows, &chart_spec);
                lines.iter().map(|line| line.points.clone()).collect()
            }
            PanelKind::Heatmap => {
                let rows = heatmap_rows(&lines, palette, format);
                paint_rows(&canvas, size, &rows, &chart_spec);
                lines.iter().map(|line| line.points.clone()).collect()
            }
            _ => {
                let ghosts = data.ghost_lines();
                let ghost_colour = |line: &PanelLine| {
                    if lines.len() == 1 {
                        palette.text
                    } else {
                        palette.series_colour(&line.key)
                    }
                };
                let ghost_points: Vec<(&[Point], RGBColor)> = ghosts
                    .iter()
                    .filter(|ghost| !hidden.contains(&ghost.key))
                    .map(|ghost| (ghost.points.as_slice(), ghost_colour(ghost)))
                    .collect();
                let painted: Vec<(Box<dyn Iterator<Item = &Point>>, RGBColor)> = lines
                    .iter()
                    .map(|line| (Box::new(line.points.iter()) as Box<dyn Iterator<Item = &Point>>, colour(line)))
                    .collect();
                paint(&canvas, size, painted, ghost_points, &chart_spec)
            }
        };
        let seq = state.position.with_untracked(|position| position.seq);
        let (thresholds, spans) =
            (alerts.levels.len(), alerts.spans.iter().filter(|span| span.to > from && span.from < to).count());
        let points = drawn.iter().map(Vec::len).sum();
        let source = if data.from_history() { "history" } else { "live" };
        stats.update(|stats| {
            *stats = DrawStats { points, source, count: stats.count + 1, seq, edge: to, thresholds, spans }
        });
        let lines = lines.into_iter().zip(drawn).map(|(line, points)| PanelLine { points, ..line }).collect();
        shown.set_value(Shown { lines, from, to, width: size.width, offset: size.offset });
    });
    let key = new_key();
    Effect::new(move |_| {
        // Hidden tab: track nothing else, so updates do not even wake this effect; showing
        // the tab again reruns it once with the latest state.
        if !state.visible.get() || canvas.get().is_none() {
            return;
        }
        theme.0.track();
        view.view.track();
        state.window.track();
        edge.0.track();
        data.track();
        state.alert_log.track();
        preview.track();
        hidden.track();
        state.alerts.track();
        observed.track();
        request_draw(key, draw.clone());
    });
}

/// A status panel's rows: each series' runs of one value, coloured by the thresholds, else 1
/// (up) green, 0 (down) the critical colour, other states a colour each.
fn status_rows(lines: &[PanelLine], spec: &PanelSpec, palette: Palette, to: Millis) -> Vec<Row> {
    let colour = |value: f64| {
        if let Some(colour) = threshold_colour(&spec.thresholds, value).and_then(rgb) {
            return colour;
        }
        if value == 0.0 {
            palette.critical
        } else if value == 1.0 {
            palette.series[1]
        } else {
            palette.series[(value.abs() as usize + 2) % palette.series.len()]
        }
    };
    lines
        .iter()
        .map(|line| Row {
            label: line.legend.clone(),
            spans: status_bands(&line.points, to)
                .into_iter()
                .map(|(from, to, value)| (from, to, colour(value)))
                .collect(),
        })
        .collect()
}

/// A heatmap's rows: each bucket (the series' `le`), its cells shaded from the background to
/// the line colour by how many observations fell in them.
fn heatmap_rows(lines: &[PanelLine], palette: Palette, format: Format) -> Vec<Row> {
    let buckets: Vec<(f64, &[Point])> = lines
        .iter()
        .filter_map(|line| {
            let le = line.labels.get("le")?;
            let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((bound, line.points.as_slice()))
        })
        .collect();
    let (bounds, cells) = heatmap_cells(&buckets);
    let most = cells.iter().map(|cell| cell.count).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let shade = |count: f64| {
        let share = (count / most).clamp(0.0, 1.0);
        let mix = |from: u8, to: u8| (f64::from(from) + (f64::from(to) - f64::from(from)) * share).round() as u8;
        let (b, l) = (palette.background, palette.line);
        RGBColor(mix(b.0, l.0), mix(b.1, l.1), mix(b.2, l.2))
    };
    let reading = crate::model::format::Reading { format, unit: String::new(), rate: false };
    bounds
        .iter()
        .enumerate()
        .map(|(row, bound)| Row {
            label: if bound.is_infinite() { "+Inf".into() } else { format!("≤ {}", reading.show(*bound)) },
            spans: cells
                .iter()
                .filter(|cell| cell.row == row)
                .map(|cell| (cell.from, cell.to, shade(cell.count)))
                .collect(),
        })
        .collect()
}
