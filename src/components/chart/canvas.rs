//! Painting on a page's canvas (browser only): sized for the device pixel ratio (plotters
//! draws in backing-store pixels), with the points reduced to a few per pixel column first,
//! and redrawn when what it shows changes. A live chart moves by whole pixel columns and keeps
//! its plot in a ring off the page (`Shifting`), so most redraws draw only its last columns; a
//! zoomed chart is drawn again only when its picture would change (`Reuse`), and keeps the live
//! one aside, so that a return to live moves it rather than drawing every line again.

use super::axis::TimeAxis;
use super::draw::{
    draw_chart, draw_data, draw_frame, draw_placed, draw_rows, ChartAlerts, ChartSpec, FramePart, Line, Placed, Row,
};
use super::geometry::PlotRect;
use super::shift::{self, FrameKey, Picture};
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
use plotters::{prelude::IntoDrawingArea, style::RGBColor};
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

/// The canvas' size in device pixels for a box of `size` CSS pixels, and the device pixel ratio.
fn device_size(size: CanvasBox) -> ((u32, u32), f64) {
    let scale = window().device_pixel_ratio().max(1.0);
    let (css_width, css_height) = (size.width.max(1.0), size.height.max(1.0));
    (((css_width * scale).round() as u32, (css_height * scale).round() as u32), scale)
}

/// Sizes `canvas` for a box of `size` CSS pixels at the device pixel ratio (only when that
/// changed, since resizing clears it); the ratio.
fn fit(canvas: &web_sys::HtmlCanvasElement, size: CanvasBox) -> f64 {
    let ((width, height), scale) = device_size(size);
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    scale
}

/// A plotters backend on `canvas`, sized for a box of `size` CSS pixels (`fit`), and the device
/// pixel ratio.
pub fn backend(canvas: &web_sys::HtmlCanvasElement, size: CanvasBox) -> Option<(super::backend::Canvas, f64)> {
    let scale = fit(canvas, size);
    Some((super::backend::Canvas::new(canvas.clone())?, scale))
}

/// The end of a live chart of `[from, to]` moved onto its grid of whole pixel columns
/// (`PlotRect::snap`), so that its picture can be shifted rather than drawn again.
fn snapped(size: CanvasBox, axis_unit: Option<&str>, (from, to): (Millis, Millis)) -> (Millis, Millis) {
    let (device, scale) = device_size(size);
    let span = to - from;
    let to = PlotRect::new(device, scale, axis_unit).snap(to, span);
    (to - span, to)
}

/// What a live chart keeps to shift its picture rather than draw it whole (`shift`): the
/// picture it drew last, and its plot's pixels in a canvas off the page twice the plot's width,
/// a ring the picture moves along: a move is a new offset into it, and the page shows the plot
/// from there, with what stays put drawn over it (`FramePart::Over`). Copying a canvas onto
/// itself at every move cost more than the drawing it saved (BENCHMARKS.md "Panels"); here the
/// kept columns are copied back to the ring's start once every plot's width of moves.
#[derive(Default)]
pub struct Shifting {
    /// The live picture drawn last: on the page, or under a zoomed one (`on_page`).
    last: Option<Picture>,
    /// Whether the page shows `last`. A zoom draws another picture on the page and keeps
    /// `last` and the ring untouched, so that a return to live moves them by the time spent
    /// zoomed rather than drawing every line again.
    on_page: bool,
    /// Whether the ring holds its plot (a whole draw leaves that to the next move).
    filled: bool,
    /// The picture of a span that does not move, drawn last (`Reuse::Still`).
    still: Option<Picture>,
    ring: Option<web_sys::HtmlCanvasElement>,
    /// The ring's column holding the plot's left column.
    offset: i32,
}

impl Shifting {
    /// The ring, `width` x `height` device pixels, opaque (copied onto the page without
    /// blending), and whether it was made or resized (cleared) now.
    fn ring(&mut self, (width, height): (u32, u32)) -> Option<(web_sys::HtmlCanvasElement, bool)> {
        use wasm_bindgen::JsCast;
        let fresh = self.ring.is_none();
        if fresh {
            let canvas: web_sys::HtmlCanvasElement = document().create_element("canvas").ok()?.dyn_into().ok()?;
            super::backend::context_2d(&canvas)?;
            self.ring = Some(canvas);
        }
        let ring = self.ring.clone()?;
        let resized = ring.width() != width || ring.height() != height;
        if resized {
            ring.set_width(width);
            ring.set_height(height);
        }
        Some((ring, fresh || resized))
    }
}

/// What `paint` may keep of the picture it drew before.
pub enum Reuse<'a> {
    /// Nothing: drawn whole (the redraw benchmark).
    Nothing,
    /// A span that does not move (zoomed): not drawn again while it would look the same. The
    /// stream's every update wakes it, and its span does not show them.
    Still(&'a mut Shifting),
    /// A live span: shifted by whole columns, and only the columns that changed drawn, when
    /// it can be (`shift`).
    Moving(&'a mut Shifting),
}

/// How `paint` brought a chart up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Painted {
    Whole,
    Shifted,
    /// Nothing drawn: the picture would have been the same.
    Unchanged,
}

/// Draws each line's points inside `[spec.from, spec.to]` on `canvas`, at most four per pixel
/// column (the ghost lines of `spec` are replaced by `ghosts`, reduced alike), keeping what
/// `reuse` allows. `spec.scale` is replaced by the device's. Returns the points it drew (or
/// would have), per line, and how.
pub fn paint<'a>(
    canvas: &web_sys::HtmlCanvasElement,
    size: CanvasBox,
    lines: Vec<(Box<dyn Iterator<Item = &'a Point> + 'a>, RGBColor)>,
    ghosts: Vec<(&'a [Point], RGBColor)>,
    spec: &ChartSpec,
    reuse: Reuse,
) -> (Vec<Vec<Point>>, Painted) {
    let scale = fit(canvas, size);
    let plot = PlotRect::new((canvas.width(), canvas.height()), scale, spec.axis_unit);
    let (from, to): (Millis, Millis) = (spec.from, spec.to);
    let columns = plot.columns().max(1) as usize;
    let reduce = |points| crate::model::decimate::decimate(points, from, to, columns);
    let (reduced, colours): (Vec<Vec<Point>>, Vec<RGBColor>) =
        lines.into_iter().map(|(points, colour)| (reduce(points), colour)).unzip();
    let reduced_ghosts: Vec<(Vec<Point>, RGBColor)> =
        ghosts.into_iter().map(|(points, colour)| (reduce(Box::new(points.iter())), colour)).collect();
    let ghost_lines: Vec<Line> =
        reduced_ghosts.iter().map(|(points, colour)| Line { points, colour: *colour }).collect();
    let drawn: Vec<Line> = reduced.iter().zip(colours).map(|(points, colour)| Line { points, colour }).collect();
    let spec = ChartSpec { scale, ghosts: &ghost_lines, ..*spec };
    let painted = match reuse {
        Reuse::Moving(shifting) => paint_shifted(canvas, shifting, plot, &drawn, &spec),
        Reuse::Still(shifting) => paint_still(canvas, shifting, &drawn, &spec),
        Reuse::Nothing => {
            super::backend::Canvas::new(canvas.clone()).ok_or_else(|| "no 2d context".to_owned()).and_then(|backend| {
                draw_chart(backend, &drawn, &spec).map(|()| Painted::Whole).map_err(|error| format!("{error:?}"))
            })
        }
    };
    let painted = painted.unwrap_or_else(|error| {
        leptos::logging::warn!("chart draw failed: {error}");
        Painted::Whole
    });
    (reduced, painted)
}

/// The picture of `placed` lines on `canvas` as `spec` lays it out (what `shift` compares).
fn picture(canvas: &web_sys::HtmlCanvasElement, spec: &ChartSpec, placed: &Placed) -> Picture {
    let clock = TimeAxis::for_span(spec.to - spec.from) != TimeAxis::Relative;
    let frame = FrameKey {
        size: (canvas.width(), canvas.height()),
        scale: spec.scale,
        span: spec.to - spec.from,
        clock_to: clock.then_some(spec.to),
        low: placed.low,
        high: placed.high,
        palette: spec.palette,
        format: spec.format,
        axis_unit: spec.axis_unit.map(str::to_owned),
        thresholds: spec.thresholds.to_vec(),
        levels: spec.alerts.levels.clone(),
        kind: spec.kind,
        stack: spec.stack,
        ghosts: !spec.ghosts.is_empty(),
        bar_gap: placed.bar_gap,
    };
    Picture { frame, from: spec.from, to: spec.to, lines: placed.lines.clone(), spans: spec.alerts.spans.clone() }
}

/// `paint` of a span that does not move: drawn whole on the page, unless the picture is the
/// one drawn last (ghosts are not compared, so a chart showing some is always drawn).
fn paint_still(
    canvas: &web_sys::HtmlCanvasElement,
    shifting: &mut Shifting,
    lines: &[Line],
    spec: &ChartSpec,
) -> Result<Painted, String> {
    // The ring keeps the live picture for a return to live (`paint_shifted`).
    shifting.on_page = false;
    let placed = Placed::new(lines, spec, None);
    let now = picture(canvas, spec, &placed);
    if !now.frame.ghosts && shifting.still.as_ref() == Some(&now) {
        return Ok(Painted::Unchanged);
    }
    let root = super::backend::Canvas::new(canvas.clone()).ok_or("no 2d context")?.into_drawing_area();
    draw_placed(&root, spec, &placed).map_err(|error| format!("{error:?}"))?;
    shifting.still = Some(now);
    Ok(Painted::Whole)
}

/// `paint` of a live span: the picture moved and its last columns drawn again when
/// `shift::update` allows, else drawn whole.
fn paint_shifted(
    canvas: &web_sys::HtmlCanvasElement,
    shifting: &mut Shifting,
    plot: PlotRect,
    lines: &[Line],
    spec: &ChartSpec,
) -> Result<Painted, String> {
    let failed = |what: &dyn std::fmt::Debug| format!("{what:?}");
    let page_size = (canvas.width(), canvas.height());
    shifting.still = None;
    let before = shifting.last.take();
    let placed = Placed::new(lines, spec, before.as_ref().map(|last| (last.frame.low, last.frame.high)));
    let now = picture(canvas, spec, &placed);
    let range = (placed.low, placed.high);
    let (width, height) = (plot.x1 - plot.x0, plot.y1 - plot.y0);
    let (ring, cleared) = shifting.ring((2 * width as u32, height as u32)).ok_or("no canvas")?;
    let update = before.as_ref().filter(|_| !cleared).and_then(|before| shift::update(before, &now, plot));
    // Backends laid out as the page's canvas (a backend remembers the styles it set, which a
    // context's `restore` takes back: one per drawing).
    let root = |target: &web_sys::HtmlCanvasElement| {
        super::backend::Canvas::with_size(target.clone(), page_size)
            .map(|backend| backend.into_drawing_area())
            .ok_or_else(|| "no 2d context".to_owned())
    };
    let ring_context = super::backend::context_2d(&ring).ok_or("no 2d context")?;
    let (x0, y0) = (f64::from(plot.x0), f64::from(plot.y0));
    let (ring_width, plot_width, plot_height) = (f64::from(2 * width), f64::from(width), f64::from(height));
    // Draws the plot's columns `x` (page coordinates) into the ring at `offset`: its frame's
    // lower part and the data from `times` on.
    let into_ring = |offset: i32, x: (i32, i32), times: Option<(Millis, Millis)>| -> Result<(), String> {
        ring_context.save();
        ring_context.translate(f64::from(offset) - x0, -y0).map_err(|error| failed(&error))?;
        ring_context.begin_path();
        ring_context.rect(f64::from(x.0), y0, f64::from(x.1 - x.0), plot_height);
        ring_context.clip();
        let drawn = root(&ring).and_then(|root| {
            draw_frame(&root, spec, range, FramePart::Under).map_err(|error| failed(&error))?;
            draw_data(&root, spec, &placed, times).map_err(|error| failed(&error))
        });
        ring_context.restore();
        drawn
    };
    let Some(update) = update else {
        // Drawn whole on the page, as a chart that does not move is. The ring is filled at the
        // next move: the frame that shows this one (a return to live, a new y range, a new
        // size) draws the chart once, not twice.
        draw_placed(&root(canvas)?, spec, &placed).map_err(|error| failed(&error))?;
        shifting.filled = false;
        shifting.last = Some(now);
        shifting.on_page = true;
        return Ok(Painted::Whole);
    };
    let painted = if !shifting.filled {
        // The first move after a whole draw: the ring filled whole, then copied as at every move.
        into_ring(0, (plot.x0, plot.x1), None)?;
        shifting.offset = 0;
        shifting.filled = true;
        Painted::Whole
    } else {
        let mut offset = shifting.offset + update.columns;
        if offset + width > 2 * width {
            // The columns kept, back to the ring's start.
            let kept = plot_width - f64::from(update.columns);
            ring_context.save();
            ring_context.begin_path();
            ring_context.rect(0.0, 0.0, kept, plot_height);
            ring_context.clip();
            ring_context.set_global_composite_operation("copy").map_err(|error| failed(&error))?;
            let copied = ring_context.draw_image_with_html_canvas_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
                &ring,
                f64::from(offset),
                0.0,
                kept,
                plot_height,
                0.0,
                0.0,
                kept,
                plot_height,
            );
            ring_context.restore();
            copied.map_err(|error| failed(&error))?;
            offset = 0;
        }
        into_ring(offset, update.strip.x, Some(update.strip.times))?;
        shifting.offset = offset;
        Painted::Shifted
    };
    debug_assert!(f64::from(shifting.offset) + plot_width <= ring_width);
    // The page: after a zoom, the frame around the plot as it was; the plot from the ring,
    // and what stays put over it.
    if !shifting.on_page {
        draw_frame(&root(canvas)?, spec, range, FramePart::Behind).map_err(|error| failed(&error))?;
    }
    let page = super::backend::context_2d(canvas).ok_or("no 2d context")?;
    page.draw_image_with_html_canvas_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
        &ring,
        f64::from(shifting.offset),
        0.0,
        plot_width,
        plot_height,
        x0,
        y0,
        plot_width,
        plot_height,
    )
    .map_err(|error| failed(&error))?;
    page.save();
    page.begin_path();
    page.rect(x0, y0, plot_width, plot_height);
    page.clip();
    let over =
        root(canvas).and_then(|root| draw_frame(&root, spec, range, FramePart::Over).map_err(|error| failed(&error)));
    page.restore();
    over?;
    shifting.last = Some(now);
    shifting.on_page = true;
    Ok(painted)
}

/// Draws rows of coloured spans (status, heatmap) on `canvas`.
fn paint_rows(canvas: &web_sys::HtmlCanvasElement, size: CanvasBox, rows: &[Row], spec: &ChartSpec) {
    let Some((backend, scale)) = backend(canvas, size) else { return };
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
    /// What the legend shows, summarised by the draw.
    pub summaries: RwSignal<Vec<super::legend::Summary>>,
}

/// Redraws the chart (at the next animation frame, with every other chart: `client::redraw`)
/// whenever its data, span, theme, fetched history or the page size changes, as long as the
/// tab is visible.
pub fn draw_on_change(chart: CanvasChart) {
    let state = expect_context::<DashboardState>();
    let edge = expect_context::<LiveEdge>();
    let view = expect_context::<ViewState>();
    let theme = expect_context::<ThemeState>();
    let CanvasChart { canvas, spec, data, hidden, rate, format, axis_unit, stats, shown, preview, summaries } = chart;
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
    let shifting = Rc::new(std::cell::RefCell::new(Shifting::default()));
    // Live, the second and the span's length the legend was last summarised for.
    let summarised = Rc::new(std::cell::Cell::new(None::<(Millis, Millis)>));
    // Status and heatmap panels: whether this chart asked for their rows' module, and when it
    // has arrived (the effect below then draws).
    let rows_asked = std::cell::Cell::new(false);
    let rows_arrived = RwSignal::new(false);
    let draw: Draw = Rc::new(move || {
        if !mounted.load(Ordering::Relaxed) || !state.visible.get_untracked() {
            return;
        }
        let Some(canvas) = canvas.get_untracked() else { return };
        let size = observed.get(&canvas);
        let (from, to) = view.shown_untracked(state, edge);
        let live = view.view.with_untracked(|view| view.span.is_none());
        let (from, to) = if live { snapped(size, axis_unit.as_deref(), (from, to)) } else { (from, to) };
        let palette = Palette::of(theme.0.get_untracked());
        let hidden = hidden.get_untracked();
        let mut lines = data.lines(from, to);
        summarise_when_due(&lines, from, to, live.then(|| view.now.get_untracked()), &summarised, summaries);
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
        let (drawn, painted): (Vec<Vec<Point>>, Painted) = match spec.kind {
            PanelKind::Status | PanelKind::Heatmap => {
                let Some(paint_rows) = rows_painter(&rows_asked, rows_arrived, data) else { return };
                paint_rows(&canvas, size, &lines, &spec, &chart_spec);
                (lines.iter().map(|line| line.points.clone()).collect(), Painted::Whole)
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
                let mut shifting = shifting.borrow_mut();
                let reuse = if live { Reuse::Moving(&mut shifting) } else { Reuse::Still(&mut shifting) };
                paint(&canvas, size, painted, ghost_points, &chart_spec, reuse)
            }
        };
        let seq = state.position.with_untracked(|position| position.seq);
        if painted == Painted::Unchanged {
            // The picture shows this seq too.
            stats.update(|stats| stats.seq = seq);
            return;
        }
        let (thresholds, spans) =
            (alerts.levels.len(), alerts.spans.iter().filter(|span| span.to > from && span.from < to).count());
        let points = drawn.iter().map(Vec::len).sum();
        let source = if data.from_history() { "history" } else { "live" };
        stats.update(|stats| {
            let (count, shifted) = (stats.count + 1, stats.shifted + u64::from(painted == Painted::Shifted));
            *stats = DrawStats { points, source, count, shifted, seq, edge: to, thresholds, spans }
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
        rows_arrived.track();
        state.alerts.track();
        observed.track();
        request_draw(key, draw.clone());
    });
}

/// Paints a status or a heatmap panel's rows (`paint_row_kinds`), from a module of its own
/// (`lazily`): most dashboards have none, so their first load does not carry it.
type PaintRows = fn(&web_sys::HtmlCanvasElement, CanvasBox, &[PanelLine], &PanelSpec, &ChartSpec);

thread_local! {
    /// The rows' painter, once its module has arrived.
    static PAINT_ROWS: std::cell::Cell<Option<PaintRows>> = const { std::cell::Cell::new(None) };
}

/// The rows' painter if its module has arrived. Else the chart asks for it (once: `asked`),
/// sets `arrived` when it is here, or says `NOT_LOADED` on the panel if it cannot be fetched.
fn rows_painter(asked: &std::cell::Cell<bool>, arrived: RwSignal<bool>, data: PanelData) -> Option<PaintRows> {
    if let Some(paint) = PAINT_ROWS.with(std::cell::Cell::get) {
        return Some(paint);
    }
    if !asked.replace(true) {
        leptos::task::spawn_local(async move {
            match split::rows_painter().await {
                Ok(paint) => {
                    PAINT_ROWS.with(|painter| painter.set(Some(paint)));
                    arrived.try_set(true);
                }
                Err(_) => _ = data.error.try_set(Some(crate::client::NOT_LOADED.to_owned())),
            }
        });
    }
    None
}

#[allow(unsafe_code)] // the split point's links (`lazily`)
mod split {
    use leptos::wasm_split::SplitLoaderError;

    #[leptos::wasm_split::wasm_split(row_charts, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn rows_painter() -> Result<super::PaintRows, SplitLoaderError> {
        Ok(super::paint_row_kinds)
    }
}

/// A status panel's rows (each series' bands) or a heatmap's (each bucket's cells).
fn paint_row_kinds(
    canvas: &web_sys::HtmlCanvasElement,
    size: CanvasBox,
    lines: &[PanelLine],
    spec: &PanelSpec,
    chart_spec: &ChartSpec,
) {
    let rows = match spec.kind {
        PanelKind::Status => status_rows(lines, spec, chart_spec.palette, chart_spec.to),
        _ => heatmap_rows(lines, chart_spec.palette, chart_spec.format),
    };
    paint_rows(canvas, size, &rows, chart_spec);
}

/// Summarises `lines` for the legend from the points the draw has in hand (reading them again
/// for it cost a second copy of every series at each change of span): zoomed, at every draw;
/// live (`now`: the clock's second), at the first draw of each second or of a new span, or
/// when the series are others.
fn summarise_when_due(
    lines: &[PanelLine],
    from: Millis,
    to: Millis,
    now: Option<Millis>,
    summarised: &std::cell::Cell<Option<(Millis, Millis)>>,
    summaries: RwSignal<Vec<super::legend::Summary>>,
) {
    let at = now.map(|now| (now, to - from));
    let same_series = || {
        summaries.with_untracked(|summaries| {
            summaries.len() == lines.len() && summaries.iter().zip(lines).all(|(summary, line)| summary.key == line.key)
        })
    };
    if lines.len() < 2 || (at.is_some() && at == summarised.replace(at) && same_series()) {
        return;
    }
    let now = super::legend::summarise(lines, from);
    if summaries.with_untracked(|summaries| *summaries != now) {
        summaries.set(now);
    }
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

/// A histogram bucket's bound (its `le` label): a number, or `+Inf`; none for anything else.
/// Read as the browser reads a number (`+le`, which cannot throw on a string): Rust's float
/// parser would bring a 10 KB table of powers of five into the first load for this one use.
fn bucket_bound(le: &str) -> Option<f64> {
    if le == "+Inf" {
        return Some(f64::INFINITY);
    }
    // The browser also reads "" and " " as 0.
    if le.is_empty() || le.trim() != le {
        return None;
    }
    let bound = wasm_bindgen::JsValue::from_str(le).unchecked_into_f64();
    (!bound.is_nan()).then_some(bound)
}

/// A heatmap's rows: each bucket (the series' `le`), its cells shaded from the background to
/// the line colour by how many observations fell in them.
fn heatmap_rows(lines: &[PanelLine], palette: Palette, format: Format) -> Vec<Row> {
    let buckets: Vec<(f64, &[Point])> = lines
        .iter()
        .filter_map(|line| {
            let le = line.labels.get("le")?;
            Some((bucket_bound(le)?, line.points.as_slice()))
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
