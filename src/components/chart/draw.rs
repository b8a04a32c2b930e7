//! Drawing a chart with plotters, on any `DrawingBackend`: the page passes a `backend::Canvas`
//! (`canvas::paint`), tests an `SVGBackend` and read the labels back. Time runs along the x
//! axis (`axis::TimeAxis`), values in the metric's format up the y axis. The alert rules on
//! the metric add, under the line: shaded spans where a rule was firing, each level's clear
//! band, and a dashed line at each threshold (`ChartAlerts`). A panel's kind picks how the
//! values are drawn (`PanelKind`: lines, an area, stacked areas, bars), its own thresholds are
//! dashed lines kept inside the y range, and an earlier period compared with is drawn as faded
//! ghost lines. Status and heatmap panels draw rows of coloured spans instead (`draw_rows`).

use super::axis::TimeAxis;
use super::geometry::PlotRect;
use super::palette::Palette;
use crate::model::{
    alerts::{Direction, FiringSpan, Level, Severity},
    format::AxisLabels,
    panel::{stacked, PanelKind},
    series::Point,
};
use crate::protocol::{Format, Millis};
use plotters::coord::{
    ranged1d::{BoldPoints, Ranged},
    types::RangedCoordf64,
    Shift,
};
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendCoord, DrawingErrorKind};
use std::rc::Rc;

/// Value axis labels at most; plotters picks round numbers up to this many.
const Y_TICKS: usize = 4;

/// How to draw a chart, apart from its points.
#[derive(Clone, Copy, Debug)]
pub struct ChartSpec<'a> {
    /// The time span shown.
    pub from: Millis,
    pub to: Millis,
    pub format: Format,
    /// Written after the y axis values (see `geometry::axis_unit`).
    pub axis_unit: Option<&'a str>,
    /// `Area` fills under a lone line, `Stacked` stacks the lines' areas, `Bar` draws bars
    /// (stacked with `stack`); anything else draws lines.
    pub kind: PanelKind,
    pub stack: bool,
    /// A panel's thresholds: a dashed line each, in its colour.
    pub thresholds: &'a [(f64, RGBColor)],
    /// The y range's ends as configured (else the data's, with air).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The earlier period compared with, already moved onto this span: faded dashed lines.
    pub ghosts: &'a [Line<'a>],
    pub palette: Palette,
    /// Device pixels per CSS pixel: fonts and strokes scale with it to stay crisp.
    pub scale: f64,
    pub alerts: &'a ChartAlerts,
}

/// What the alert rules on a metric add to its chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartAlerts {
    /// Each rule's levels: a threshold line and its clear band.
    pub levels: Vec<(Severity, Level)>,
    /// Where the rules were firing.
    pub spans: Vec<FiringSpan>,
}

impl ChartAlerts {
    pub const NONE: &'static ChartAlerts = &ChartAlerts { levels: Vec::new(), spans: Vec::new() };
}

impl ChartSpec<'_> {
    /// An area chart of `[from, to]` in `format`, nothing else on it (no thresholds, alerts,
    /// ghosts or configured range), in the dark palette at scale 1.
    pub fn plain(from: Millis, to: Millis, format: Format) -> ChartSpec<'static> {
        ChartSpec {
            from,
            to,
            format,
            axis_unit: None,
            kind: PanelKind::Area,
            stack: false,
            thresholds: &[],
            min: None,
            max: None,
            ghosts: &[],
            palette: Palette::DARK,
            scale: 1.0,
            alerts: ChartAlerts::NONE,
        }
    }
}

/// One line of a chart: its points (already reduced to the chart's width) and colour.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    pub points: &'a [Point],
    pub colour: RGBColor,
}

/// The coordinates every layer of a chart is drawn in: its span along x (`axis::TimeAxis`),
/// `low..high` up y, inside the margins and label areas of `geometry`.
type Coords = Cartesian2d<RangedCoordf64, RangedCoordf64>;

/// The axes' labels: 11 CSS pixels of sans-serif. Named by its `FontFamily`, not by a string,
/// which plotters would lower-case (and so bring Unicode's case tables, 12 KB, into the WASM).
fn label_font(scale: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, 11.0 * scale, FontStyle::Normal)
}

/// A chart's plot: its part of `root` inside the margins and label areas (`PlotRect`, where
/// the pointer's readout finds it too), in its coordinates (`Coords`).
fn plot_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
    (low, high): (f64, f64),
) -> DrawingArea<DB, Coords> {
    let rect = PlotRect::new(root.dim_in_pixel(), spec.scale, spec.axis_unit);
    let axis = TimeAxis::for_span(spec.to - spec.from);
    let span = axis.position(spec.from, spec.to)..axis.position(spec.to, spec.to);
    // Pixels as plotters' `ChartBuilder` maps them: the first column to the last, the bottom
    // row up to the top one.
    let pixels = (rect.x0..rect.x1 - 1, rect.y1 - 1..rect.y0);
    root.clone().shrink((rect.x0, rect.y0), (rect.x1 - rect.x0, rect.y1 - rect.y0)).apply_coord_spec(Cartesian2d::new(
        span,
        low..high,
        pixels,
    ))
}

/// Draws each element of `series` on `plot`, as plotters' `ChartContext::draw_series` does.
fn draw_series<DB: DrawingBackend, E>(
    plot: &DrawingArea<DB, Coords>,
    series: impl IntoIterator<Item = E>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    for<'b> &'b E: PointCollection<'b, (f64, f64)>,
    E: Drawable<DB>,
{
    for element in series {
        plot.draw(&element)?;
    }
    Ok(())
}

/// The round values plotters picks on `range`, at most `count` of them: an axis' ticks.
fn ticks(range: std::ops::Range<f64>, count: usize) -> Vec<f64> {
    RangedCoordf64::from(range).key_points(BoldPoints(count))
}

/// A chart's mesh: grid lines at its axes' ticks and, on the left and at the bottom of the
/// plot, the axes with a tick mark and a label at each, laid out as plotters'
/// `configure_mesh` lays them out. Drawn here: plotters' mesh (its builder, its label layout
/// for every side, its default formatters) weighed 3.8 KB of brotli more in the first load.
struct Mesh<'a> {
    /// How many ticks at most along x and y (`ticks`).
    ticks: (usize, usize),
    /// Vertical grid lines at the x ticks; horizontal ones at the y ticks.
    grid: (bool, bool),
    /// The grid's, the axes' and the tick marks' line.
    style: ShapeStyle,
    axes: Option<Axes<'a>>,
}

/// The axes' labels: the text at each tick, and its font.
struct Axes<'a> {
    x_label: &'a dyn Fn(f64) -> String,
    y_label: &'a dyn Fn(f64) -> String,
    font: &'a TextStyle<'a>,
}

/// Draws `mesh` around and over `plot`. Pixels as plotters' own: the plot spans
/// columns `x0..=x1` and rows `y0..=y1`, the y axis runs down the column left of it and the
/// x axis along the row under it; tick marks are 5% of the plot's smaller side long, at most
/// 5 pixels, and labels sit twice that far from their axis.
fn draw_mesh<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &DrawingArea<DB, Coords>,
    mesh: &Mesh,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (x_range, y_range) = (plot.get_x_range(), plot.get_y_range());
    let ((x0, y1), (x1, y0)) =
        (plot.map_coordinate(&(x_range.start, y_range.start)), plot.map_coordinate(&(x_range.end, y_range.end)));
    let x_ticks: Vec<(f64, i32)> = ticks(x_range.clone(), mesh.ticks.0)
        .into_iter()
        .map(|x| (x, plot.map_coordinate(&(x, y_range.start)).0))
        .collect();
    let y_ticks: Vec<(f64, i32)> = ticks(y_range.clone(), mesh.ticks.1)
        .into_iter()
        .map(|y| (y, plot.map_coordinate(&(x_range.start, y)).1))
        .collect();
    let rule = |from, to| root.draw(&Rule { from, to, style: mesh.style });
    // The axes and tick marks are paths, as plotters draws them (the canvas does not move a
    // path onto the pixel grid).
    let path = |from, to| root.draw(&PathElement::new([from, to], mesh.style));
    if mesh.grid.0 {
        for (_, x) in &x_ticks {
            rule((*x, y1), (*x, y0))?;
        }
    }
    if mesh.grid.1 {
        for (_, y) in &y_ticks {
            rule((x0, *y), (x1, *y))?;
        }
    }
    let Some(axes) = &mesh.axes else { return Ok(()) };
    let (width, height) = plot.dim_in_pixel();
    let tick = ((f64::from(width.min(height)) * 0.05).round() as i32).min(5);
    let left = axes.font.pos(Pos::new(HPos::Right, VPos::Center));
    path((x0 - 1, y0), (x0 - 1, y1))?;
    for (value, y) in &y_ticks {
        root.draw_text(&(axes.y_label)(*value), &left, (x0 - 2 * tick, *y))?;
        path((x0 - 1 - tick, *y), (x0 - 1, *y))?;
    }
    let below = axes.font.pos(Pos::new(HPos::Center, VPos::Top));
    path((x0, y1 + 1), (x1, y1 + 1))?;
    for (value, x) in &x_ticks {
        root.draw_text(&(axes.x_label)(*value), &below, (*x, y1 + 1 + 2 * tick))?;
        path((*x, y1 + 1), (*x, y1 + 1 + tick))?;
    }
    Ok(())
}

/// A grid line of a chart's mesh, which the backend draws as a line (the canvas' puts it on
/// the pixel grid, `backend::on_pixels`), as plotters' mesh draws it.
struct Rule {
    from: BackendCoord,
    to: BackendCoord,
    style: ShapeStyle,
}

impl<'a> PointCollection<'a, BackendCoord> for &'a Rule {
    type Point = &'a BackendCoord;
    type IntoIter = [&'a BackendCoord; 2];

    fn point_iter(self) -> Self::IntoIter {
        [&self.from, &self.to]
    }
}

impl<DB: DrawingBackend> Drawable<DB> for Rule {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        match (points.next(), points.next()) {
            (Some(from), Some(to)) => backend.draw_line(from, to, &self.style),
            _ => Ok(()),
        }
    }
}

/// A chart's lines as drawn (stacked when the kind stacks them) and the y range that holds
/// them, the ghosts, the alert levels and the thresholds: what both of its layers are drawn
/// from.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// Shared with the picture a live chart keeps (`shift::Picture`), not copied into it.
    pub lines: Rc<Vec<(Vec<Point>, RGBColor)>>,
    pub stacks: bool,
    pub low: f64,
    pub high: f64,
    /// A bar chart's smallest time between two points of a line, which its slots are made
    /// from (`bar_slot`); `None` for other kinds, or with no two points apart.
    pub bar_gap: Option<Millis>,
}

impl Placed {
    /// `lines` placed for `spec`. With `steady`, the y range drawn before is kept while
    /// everything still fits in it without looking lost (`steady_range`): a live chart's axis
    /// does not twitch at every update, and its picture can be shifted rather than redrawn.
    pub fn new(lines: &[Line], spec: &ChartSpec, steady: Option<(f64, f64)>) -> Placed {
        let stacks =
            spec.kind == PanelKind::Stacked || (spec.stack && matches!(spec.kind, PanelKind::Bar | PanelKind::Area));
        let lines: Vec<(Vec<Point>, RGBColor)> = if stacks {
            let points: Vec<Vec<Point>> = lines.iter().map(|line| line.points.to_vec()).collect();
            stacked(&points).into_iter().zip(lines).map(|(points, line)| (points, line.colour)).collect()
        } else {
            lines.iter().map(|line| (line.points.to_vec(), line.colour)).collect()
        };
        let marks: Vec<f64> = spec.thresholds.iter().map(|(value, _)| *value).collect();
        let points = lines.iter().flat_map(|(points, _)| points).chain(spec.ghosts.iter().flat_map(|line| line.points));
        let (low, high) = value_range(points.clone(), &spec.alerts.levels, &marks, (spec.min, spec.max));
        let (low, high) = match steady {
            Some(before) if spec.min.is_none() && spec.max.is_none() => {
                let extent = extent(points, &spec.alerts.levels, &marks);
                steady_range(before, extent, (low, high))
            }
            _ => (low, high),
        };
        let bar_gap = (spec.kind == PanelKind::Bar).then(|| smallest_gap(&lines)).flatten();
        Placed { lines: Rc::new(lines), stacks, low, high, bar_gap }
    }
}

/// The smallest time between two points of a line.
fn smallest_gap(lines: &[(Vec<Point>, RGBColor)]) -> Option<Millis> {
    let gaps = lines.iter().flat_map(|(points, _)| points.windows(2).map(|pair| pair[1].0 - pair[0].0));
    gaps.filter(|gap| *gap > 0).min()
}

/// A bar chart's slot of time, shared by the `across` bars side by side (or by one stacked
/// bar), and the gap it was made from: the smallest gap between points, widened until each
/// bar gets two pixels of a plot `plot_px` wide (with more points than that, each slot shows
/// its highest).
pub fn bar_slot(span: Millis, across: f64, plot_px: f64, smallest_gap: Option<Millis>) -> (Millis, Millis) {
    let narrowest = (span as f64 * across * 2.0 / 0.8 / plot_px.max(1.0)).ceil() as Millis;
    let gap = smallest_gap.unwrap_or(span / 60);
    (gap.max(narrowest).max(1), gap)
}

/// Draws `lines` as the spec's kind says: lines, an area under a lone line, stacked areas or
/// bars, over the chart's frame (`draw_frame`, then `draw_data`, on one backend).
pub fn draw_chart<DB: DrawingBackend>(
    backend: DB,
    lines: &[Line],
    spec: &ChartSpec,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let root = backend.into_drawing_area();
    draw_placed(&root, spec, &Placed::new(lines, spec, None))?;
    root.present()
}

/// The whole chart of lines already placed: the frame behind them, the data, and the frame's
/// part over them, in the order a live chart that shifts shows them.
pub fn draw_placed<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
    placed: &Placed,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let range = (placed.low, placed.high);
    draw_frame(root, spec, range, FramePart::Behind)?;
    draw_data(root, spec, placed, None)?;
    draw_frame(root, spec, range, FramePart::Over)
}

/// Vertical grid lines at most: plotters picks round times up to this many. Clock axes ask for
/// more: their round numbers are coarser (every 5 or 10 hours).
fn x_ticks(axis: TimeAxis) -> usize {
    if axis == TimeAxis::Relative {
        4
    } else {
        6
    }
}

/// Which part of a chart's frame to draw: what lies behind the data or over it. A live chart
/// that shifts its picture (`canvas::Shifting`) keeps the plot's part behind the data in a
/// ring off the page and draws the part over it at every move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePart {
    /// `Under`, and around the plot the axes and their labels.
    Behind,
    /// What moves with the picture and looks the same moved: the background, the horizontal
    /// grid lines and the alert rules' levels' clear bands.
    Under,
    /// What stays put while the picture moves, drawn over it: the vertical grid lines (they
    /// count back from "now") and the dashed lines (the levels' and the panel's thresholds:
    /// their dashes would not meet, moved).
    Over,
}

/// The chart's frame (`FramePart`), in the y range `low..high`.
pub fn draw_frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
    (low, high): (f64, f64),
    part: FramePart,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let Palette { background, grid, text, warning, critical, .. } = spec.palette;
    if part != FramePart::Over {
        root.fill(&background)?;
    }
    let scale = spec.scale.max(1.0);
    let px = |css: f64| (css * scale).round() as u32;
    let axis = TimeAxis::for_span(spec.to - spec.from);
    let plot = plot_on(root, spec, (low, high));
    let x_label = |position: f64| axis.label(position);
    let y_labels = AxisLabels::new(spec.format, &ticks(low..high, Y_TICKS));
    let y_label = |value: f64| match spec.axis_unit {
        Some(unit) => format!("{} {unit}", y_labels.label(value)),
        None => y_labels.label(value),
    };
    let font = label_font(scale).color(&text);
    let mesh = Mesh {
        ticks: (x_ticks(axis), Y_TICKS),
        // The parts drawn at every move of a live chart have no axes or labels to write.
        grid: (part == FramePart::Over, part != FramePart::Over),
        style: grid.stroke_width(px(1.0)),
        axes: (part == FramePart::Behind).then_some(Axes { x_label: &x_label, y_label: &y_label, font: &font }),
    };
    draw_mesh(root, &plot, &mesh)?;

    let colour = |severity| if severity == Severity::Critical { critical } else { warning };
    let (left, right) = (axis.position(spec.from, spec.to), axis.position(spec.to, spec.to));
    for (severity, level) in &spec.alerts.levels {
        // The clear band: between the threshold and where a breach ends.
        let (band_low, band_high) = match level.direction {
            Direction::Above => (level.clear, level.threshold),
            Direction::Below => (level.threshold, level.clear),
        };
        if band_high > band_low && part != FramePart::Over {
            let band = Rectangle::new([(left, band_high), (right, band_low)], colour(*severity).mix(0.10).filled());
            draw_series(&plot, std::iter::once(band))?;
        }
        if part != FramePart::Under {
            let threshold = [(left, level.threshold), (right, level.threshold)];
            let style = colour(*severity).stroke_width(px(1.0));
            draw_series(&plot, DashedLineSeries::new(threshold, px(6.0), px(4.0), style))?;
        }
    }
    for (value, colour) in spec.thresholds.iter().filter(|_| part != FramePart::Under) {
        let style = colour.stroke_width(px(1.0));
        draw_series(&plot, DashedLineSeries::new([(left, *value), (right, *value)], px(4.0), px(3.0), style))?;
    }
    Ok(())
}

/// What moves with time, over the frame: where the alert rules fired, the ghosts of an earlier
/// period, and the lines, areas or bars. With `times`, only what lies in that span (and the
/// point either side, so a line crosses it whole); a caller drawing just those columns clips
/// the rest away.
pub fn draw_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
    placed: &Placed,
    times: Option<(Millis, Millis)>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let Palette { warning, critical, .. } = spec.palette;
    let px = |css: f64| (css * spec.scale.max(1.0)).round() as u32;
    let axis = TimeAxis::for_span(spec.to - spec.from);
    let (low, high) = (placed.low, placed.high);
    let plot = plot_on(root, spec, (low, high));
    let colour = |severity| if severity == Severity::Critical { critical } else { warning };
    let at = |ts: Millis| axis.position(ts.clamp(spec.from, spec.to), spec.to);
    let (shown_from, shown_to) = times.unwrap_or((spec.from, spec.to));
    let spans = spec.alerts.spans.iter().filter(|span| span.to > shown_from.max(spec.from) && span.from < shown_to);
    draw_series(
        &plot,
        spans.map(|span| {
            Rectangle::new([(at(span.from), high), (at(span.to), low)], colour(span.severity).mix(0.16).filled())
        }),
    )?;
    for ghost in spec.ghosts {
        let placed = ghost.points.iter().map(|(ts, value)| (axis.position(*ts, spec.to), *value));
        let style = ghost.colour.mix(0.45).stroke_width(px(1.0));
        draw_series(&plot, DashedLineSeries::new(placed, px(5.0), px(3.0), style))?;
    }
    let drawn: Vec<Line> = placed.lines.iter().map(|(points, colour)| Line { points, colour: *colour }).collect();
    let stacks = placed.stacks;

    if spec.kind == PanelKind::Bar {
        // Each time's slot is shared by the series side by side, or by one stacked bar; a
        // slot is wide enough for each bar to get two pixels (more points than that: each
        // slot shows its highest, the way decimation keeps peaks).
        let across = if stacks { 1.0 } else { drawn.len().max(1) as f64 };
        let plot_px = f64::from(plot.dim_in_pixel().0.max(1));
        let (slot, gap) = bar_slot(spec.to - spec.from, across, plot_px, placed.bar_gap);
        let width =
            axis.position(spec.from + (slot as f64 * 0.8) as Millis, spec.to) - axis.position(spec.from, spec.to);
        // A bar reaching into the columns drawn is in the slot either side of them: whole slots.
        let times =
            times.map(|(from, to)| ((from - slot).div_euclid(slot) * slot, (to + slot).div_euclid(slot) * slot + slot));
        // Stacked: the tallest first, each lower one drawn over it.
        for (index, line) in drawn.iter().enumerate().rev() {
            let offset = if stacks { 0.0 } else { index as f64 * width / across };
            let points = within(line.points, times);
            let bars = if slot > gap { highest_per_slot(points, slot) } else { points.to_vec() };
            draw_series(
                &plot,
                bars.iter().map(|(ts, value)| {
                    let x = axis.position(*ts, spec.to) - width / 2.0 + offset;
                    Rectangle::new([(x, *value), (x + width / across, low.max(0.0).min(high))], line.colour.filled())
                }),
            )?;
        }
        return Ok(());
    }
    let fills = match spec.kind {
        PanelKind::Area => drawn.len() == 1 || stacks,
        PanelKind::Stacked => true,
        _ => false,
    };
    // Many series read better thin, and a one-pixel line is the rasterizer's fast path (a
    // dozen charts of ten series drawn ten times a second: BENCHMARKS.md "Panels").
    let line_width = if drawn.len() > 3 { px(1.0) } else { px(1.5) };
    // Stacked areas: the top first, each lower one painted over it.
    let order: Vec<&Line> = if stacks { drawn.iter().rev().collect() } else { drawn.iter().collect() };
    for line in order {
        let placed: Vec<(f64, f64)> =
            within(line.points, times).iter().map(|(ts, value)| (axis.position(*ts, spec.to), *value)).collect();
        // The area under the line closed along the bottom, then the line over it, as plotters'
        // `AreaSeries` draws them; a line alone (no polygon to fill: a transparent one still
        // costs its rasterizing) as its `LineSeries` does. Drawn as shapes, not through those
        // series, whose elements are boxed behind a trait object.
        if fills {
            let mut area = placed.clone();
            if let (Some(first), Some(last)) = (placed.first().copied(), placed.last().copied()) {
                area.extend([(last.0, low), (first.0, low)]);
            }
            plot.draw(&Polygon::new(area, line.colour.mix(if stacks { 0.8 } else { 0.35 })))?;
        }
        if fills || !placed.is_empty() {
            plot.draw(&PathElement::new(placed, line.colour.stroke_width(line_width)))?;
        }
    }
    Ok(())
}

/// The points (sorted by time) in `times` and the one either side (all of them without it).
fn within(points: &[Point], times: Option<(Millis, Millis)>) -> &[Point] {
    match times {
        Some((from, to)) => {
            let start = points.partition_point(|point| point.0 < from).saturating_sub(1);
            let end = (points.partition_point(|point| point.0 <= to) + 1).min(points.len());
            &points[start..end.max(start)]
        }
        None => points,
    }
}

/// A row of coloured spans over time: a status series' bands or a heatmap bucket's cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub label: String,
    pub spans: Vec<(Millis, Millis, RGBColor)>,
}

/// Draws `rows` bottom up over the spec's span, each labelled on the y axis.
pub fn draw_rows<DB: DrawingBackend>(
    backend: DB,
    rows: &[Row],
    spec: &ChartSpec,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let root = backend.into_drawing_area();
    let Palette { background, grid, text, .. } = spec.palette;
    root.fill(&background)?;
    let scale = spec.scale.max(1.0);
    let px = |css: f64| (css * scale).round() as u32;
    let axis = TimeAxis::for_span(spec.to - spec.from);
    let count = rows.len().max(1);
    let plot = plot_on(&root, spec, (0.0, count as f64));
    let font = label_font(scale).color(&text);
    let x_label = |position: f64| axis.label(position);
    let y_label = |value: f64| {
        let row = value.floor() as usize;
        rows.get(row).filter(|_| (value - value.floor()).abs() < 1e-9).map(|row| row.label.clone()).unwrap_or_default()
    };
    let mesh = Mesh {
        ticks: (x_ticks(axis), count.min(8)),
        grid: (true, true),
        style: grid.stroke_width(px(1.0)),
        axes: Some(Axes { x_label: &x_label, y_label: &y_label, font: &font }),
    };
    draw_mesh(&root, &plot, &mesh)?;
    let at = |ts: Millis| axis.position(ts.clamp(spec.from, spec.to), spec.to);
    // Spans meet at whole pixels: a span thinner than a pixel column shows only where it
    // covers the column's middle, and neighbours of one colour are one rectangle.
    let (left, right) = (at(spec.from), at(spec.to));
    let per_pixel = f64::from(plot.dim_in_pixel().0.max(1)) / (right - left).max(f64::MIN_POSITIVE);
    let snap = |x: f64| ((x - left) * per_pixel).round() / per_pixel + left;
    // (colour, row, x0, x1) of every rectangle.
    let mut cells: Vec<(RGBColor, usize, f64, f64)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let start = cells.len();
        for (from, to, colour) in row.spans.iter().filter(|(from, to, _)| *to > spec.from && *from < spec.to) {
            let (x0, x1) = (snap(at(*from)), snap(at(*to)));
            match cells[start..].last_mut() {
                _ if x1 <= x0 => {}
                Some(last) if last.0 == *colour && last.3 >= x0 => last.3 = x1,
                _ => cells.push((*colour, index, x0, x1)),
            }
        }
    }
    // The rectangles never overlap, so they are drawn a colour at a time: the canvas' fill
    // style changes once per colour, not at every span (a status of many states changes
    // colour at nearly every one, and each change is a CSS colour string parsed).
    crate::model::sort::sort_by_key(&mut cells, |(colour, ..)| (colour.0, colour.1, colour.2));
    draw_series(
        &plot,
        cells.iter().map(|(colour, row, x0, x1)| {
            let (bottom, top) = (*row as f64 + 0.08, *row as f64 + 0.92);
            Rectangle::new([(*x0, top), (*x1, bottom)], colour.filled())
        }),
    )?;
    root.present()
}

/// `points` in slots `slot` ms wide (aligned on multiples of it, so they stay put as the span
/// moves), each the highest of its points, at the slot's middle.
fn highest_per_slot(points: &[Point], slot: Millis) -> Vec<Point> {
    let mut slotted: Vec<Point> = Vec::new();
    for &(ts, value) in points {
        let middle = ts.div_euclid(slot) * slot + slot / 2;
        match slotted.last_mut() {
            Some(last) if last.0 == middle => last.1 = last.1.max(value),
            _ => slotted.push((middle, value)),
        }
    }
    slotted
}

/// A stat's sparkline: the line alone, filled under, no axes.
pub fn draw_sparkline<DB: DrawingBackend>(
    backend: DB,
    points: &[Point],
    colour: RGBColor,
    spec: &ChartSpec,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let root = backend.into_drawing_area();
    root.fill(&spec.palette.background)?;
    let (low, high) = value_range(points.iter(), &[], &[], (spec.min, spec.max));
    let mut chart = ChartBuilder::on(&root).build_cartesian_2d(spec.from..spec.to.max(spec.from + 1), low..high)?;
    let placed = points.iter().copied().filter(|(ts, _)| *ts >= spec.from);
    let stroke = colour.stroke_width((1.5 * spec.scale.max(1.0)).round() as u32);
    chart.draw_series(AreaSeries::new(placed, low, colour.mix(0.25)).border_style(stroke))?;
    root.present()
}

/// A gauge: an arc from `min` (left) to `max` (right) in the threshold bands' colours, and the
/// value's arc over it in the colour of its band.
pub fn draw_gauge<DB: DrawingBackend>(
    backend: DB,
    value: Option<f64>,
    (min, max): (f64, f64),
    bands: &[(f64, RGBColor)],
    palette: Palette,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let root = backend.into_drawing_area();
    root.fill(&palette.background)?;
    let (width, height) = root.dim_in_pixel();
    let (width, height) = (f64::from(width), f64::from(height));
    let radius = (width / 2.0).min(height * 0.9) * 0.92;
    let (cx, cy) = (width / 2.0, height * 0.5 + radius * 0.45);
    let share = |v: f64| ((v - min) / (max - min)).clamp(0.0, 1.0);
    // An arc from share `a` to share `b` of the half circle (0 the left end), `thickness` wide.
    let arc = |a: f64, b: f64, outer: f64, thickness: f64| -> Vec<(i32, i32)> {
        let steps = ((b - a) * 64.0).ceil().max(1.0) as usize;
        let at = |share: f64, r: f64| {
            let angle = std::f64::consts::PI * (1.0 - share);
            ((cx + r * angle.cos()).round() as i32, (cy - r * angle.sin()).round() as i32)
        };
        let outside = (0..=steps).map(|i| at(a + (b - a) * i as f64 / steps as f64, outer));
        let inside = (0..=steps).rev().map(|i| at(a + (b - a) * i as f64 / steps as f64, outer - thickness));
        outside.chain(inside).collect()
    };
    let thick = radius * 0.22;
    root.draw(&Polygon::new(arc(0.0, 1.0, radius, thick), palette.grid.filled()))?;
    // The bands: a thin outer ring, each from its value to the next one's.
    for (index, (from, colour)) in bands.iter().enumerate() {
        let to = bands.get(index + 1).map_or(max, |(next, _)| *next);
        let (a, b) = (share(*from), share(to));
        if b > a {
            root.draw(&Polygon::new(arc(a, b, radius + thick * 0.35, thick * 0.25), colour.filled()))?;
        }
    }
    if let Some(value) = value.filter(|value| value.is_finite()) {
        let colour =
            bands.iter().rev().find(|(from, _)| value >= *from).or(bands.first()).map_or(palette.line, |b| b.1);
        root.draw(&Polygon::new(arc(0.0, share(value).max(0.004), radius, thick), colour.filled()))?;
    }
    root.present()
}

/// The lowest and highest of the data, the alert levels and the panel's thresholds.
fn extent<'a>(
    points: impl Iterator<Item = &'a Point>,
    levels: &[(Severity, Level)],
    marks: &[f64],
) -> Option<(f64, f64)> {
    let values = points
        .map(|(_, v)| *v)
        .chain(levels.iter().flat_map(|(_, level)| [level.threshold, level.clear]))
        .chain(marks.iter().copied())
        .filter(|value| value.is_finite());
    let (lowest, highest) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    lowest.is_finite().then_some((lowest, highest))
}

/// A y range with some air around the data, the alert levels and the panel's thresholds (so
/// each is in view: grafana#12135); non-negative data keeps a floor at zero; a configured end
/// wins.
fn value_range<'a>(
    points: impl Iterator<Item = &'a Point>,
    levels: &[(Severity, Level)],
    marks: &[f64],
    (min, max): (Option<f64>, Option<f64>),
) -> (f64, f64) {
    let (low, high) = match extent(points, levels, marks) {
        None => (0.0, 1.0),
        Some((lowest, highest)) => {
            let pad = if highest > lowest { (highest - lowest) * 0.15 } else { highest.abs().max(1.0) * 0.1 };
            let low = if lowest >= 0.0 { (lowest - pad).max(0.0) } else { lowest - pad };
            (low, highest + pad)
        }
    };
    // A configured end still lets a threshold past it be seen.
    let low = min.map_or(low, |min| marks.iter().fold(min, |low, mark| low.min(*mark)));
    let high = max.map_or(high, |max| marks.iter().fold(max, |high, mark| high.max(*mark)));
    (low, if high > low { high } else { low + 1.0 })
}

/// The y range drawn `before`, while what is drawn (`extent`) still fits inside it and fills
/// at least half of it; else the one fitted anew (`fitted`). Data swinging inside its range
/// (noise, a peak leaving the window) leaves the axis alone; a new high, or a range grown
/// twice too loose, moves it.
fn steady_range(before: (f64, f64), extent: Option<(f64, f64)>, fitted: (f64, f64)) -> (f64, f64) {
    match extent {
        Some((lowest, highest))
            if before.0 <= lowest && highest <= before.1 && (highest - lowest) * 2.0 >= before.1 - before.0 =>
        {
            before
        }
        _ => fitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::chart::geometry::axis_unit;

    fn spec(from: Millis, to: Millis, format: Format, axis_unit: Option<&str>) -> ChartSpec<'_> {
        ChartSpec { axis_unit, ..ChartSpec::plain(from, to, format) }
    }

    fn line(points: &[Point]) -> Line<'_> {
        Line { points, colour: Palette::DARK.line }
    }

    fn render(points: &[Point], format: Format) -> String {
        render_with_unit(points, format, None)
    }

    fn render_with_unit(points: &[Point], format: Format, axis_unit: Option<&str>) -> String {
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            draw_chart(backend, &[line(points)], &spec(0, 30_000, format, axis_unit)).unwrap();
        }
        svg
    }

    /// The text of every label in an SVG drawing.
    fn labels(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|rest| {
                let body = &rest[rest.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_owned())
            })
            .collect()
    }

    /// The y axis labels of a live (relative time) chart.
    fn value_labels(svg: &str) -> Vec<String> {
        labels(svg).into_iter().filter(|l| !(l.starts_with('-') && l.ends_with('s')) && l != "now").collect()
    }

    #[test]
    fn draws_the_line_and_labels_the_axes() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 100.0 + s as f64)).collect();
        let svg = render(&points, Format::Int);
        let labels = labels(&svg);
        assert!(labels.iter().any(|l| l == "now"), "the right edge is labelled now: {labels:?}");
        assert!(labels.iter().any(|l| l.starts_with('-') && l.ends_with('s')), "{labels:?}");
        assert!(labels.iter().any(|l| l.parse::<f64>().is_ok_and(|v| v > 90.0)), "{labels:?}");
        // The series: an outline polyline spanning the plot, in the line colour.
        assert!(svg.contains(r##"stroke="#4CC2FF""##), "the line is drawn");
    }

    #[test]
    fn a_family_draws_a_line_per_series_in_its_colour() {
        let cores: Vec<Vec<Point>> =
            (0..3).map(|core| (0..=30).map(|s| (s * 1000, core as f64 * 10.0 + s as f64)).collect()).collect();
        let palette = Palette::DARK;
        let lines: Vec<Line> =
            cores.iter().enumerate().map(|(i, points)| Line { points, colour: palette.series[i] }).collect();
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            draw_chart(backend, &lines, &spec(0, 30_000, Format::Int, None)).unwrap();
        }
        for colour in &palette.series[..3] {
            let hex = format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2);
            assert!(svg.contains(&format!(r#"stroke="{hex}""#)), "{hex} drawn");
        }
        let first = palette.series[0];
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", first.0, first.1, first.2);
        assert!(!svg.contains(&fill), "no area under several lines");
    }

    #[test]
    fn percent_axes_read_as_percent_and_empty_data_still_draws() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 0.01 * s as f64)).collect();
        let percent = labels(&render(&points, Format::Percent));
        assert!(percent.iter().any(|l| l.ends_with('%')), "{percent:?}");
        let empty = labels(&render(&[], Format::Decimal));
        assert!(empty.iter().any(|l| l == "now"), "axes without data: {empty:?}");
    }

    #[test]
    fn value_ticks_are_distinct_and_no_more_precise_than_needed() {
        // An error rate wandering between 0.4% and 0.55% (it read "0.5%, 0.5%, 0.5%, 0.4%").
        let rates: Vec<Point> = (0..=30).map(|s| (s * 1000, 0.004 + 0.0015 * (s as f64 / 30.0))).collect();
        let ticks = value_labels(&render(&rates, Format::Percent));
        let distinct: std::collections::HashSet<_> = ticks.iter().collect();
        assert!(ticks.len() >= 2 && distinct.len() == ticks.len(), "{ticks:?}");
        // Network traffic around 300 KB/s: whole kilobytes.
        let traffic: Vec<Point> = (0..=30).map(|s| (s * 1000, 200e3 + 10e3 * s as f64)).collect();
        let ticks = value_labels(&render(&traffic, Format::Bytes));
        assert!(ticks.iter().all(|l| l.ends_with(" KB") && !l.contains('.')), "{ticks:?}");
    }

    fn render_span(from: Millis, to: Millis) -> Vec<String> {
        let points: Vec<Point> = (0..=100).map(|i| (from + (to - from) * i / 100, i as f64)).collect();
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (600, 160));
            let spec = ChartSpec { kind: PanelKind::Line, ..spec(from, to, Format::Int, None) };
            draw_chart(backend, &[line(&points)], &spec).unwrap();
        }
        // The x labels: the y ones are plain numbers here.
        labels(&svg).into_iter().filter(|label| label.parse::<f64>().is_err()).collect()
    }

    #[test]
    fn long_windows_read_the_clock_or_the_date_on_whole_units() {
        // 2023-11-14 22:13:20 UTC.
        let to: Millis = 1_700_000_000_000;
        let day = render_span(to - 86_400_000, to);
        assert!(day.len() >= 2 && day.iter().all(|l| l.len() == 5 && l.ends_with(":00")), "24 h: whole hours: {day:?}");
        let hour = render_span(to - 3_600_000, to);
        assert!(
            hour.len() >= 2 && hour.iter().all(|l| l.len() == 5 && l.ends_with('0')),
            "1 h: round minutes: {hour:?}"
        );
        let month = render_span(to - 30 * 86_400_000, to);
        assert!(
            month.len() >= 2 && month.iter().all(|l| l.ends_with(" Oct") || l.ends_with(" Nov")),
            "30 d: dates: {month:?}"
        );
    }

    #[test]
    fn the_y_axis_carries_the_unit_unless_the_format_does() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 100.0 + s as f64)).collect();
        let labels = labels(&render_with_unit(&points, Format::Decimal, axis_unit(Format::Decimal, "ms")));
        let values: Vec<_> = labels.iter().filter(|l| !l.starts_with('-') && *l != "now").collect();
        assert!(!values.is_empty() && values.iter().all(|l| l.ends_with(" ms")), "{labels:?}");
        assert_eq!(axis_unit(Format::Bytes, "B"), None, "bytes are written 1.2 KB already");
        assert_eq!(axis_unit(Format::Int, ""), None);
    }

    /// A frame as plotters' own mesh (`configure_mesh`) draws it, configured as this module
    /// configured it before it drew its own (`draw_mesh`).
    fn frame_by_plotters(size: (u32, u32), spec: &ChartSpec, (low, high): (f64, f64), part: FramePart) -> String {
        use crate::components::chart::geometry::{y_labels_width, MARGIN, MARGIN_RIGHT, X_LABELS};
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            if part != FramePart::Over {
                root.fill(&spec.palette.background).unwrap();
            }
            let px = |css: f64| (css * spec.scale.max(1.0)).round() as u32;
            let axis = TimeAxis::for_span(spec.to - spec.from);
            let mut chart = ChartBuilder::on(&root)
                .margin(px(MARGIN))
                .margin_right(px(MARGIN_RIGHT))
                .x_label_area_size(px(X_LABELS))
                .y_label_area_size(px(y_labels_width(spec.axis_unit)))
                .build_cartesian_2d(axis.position(spec.from, spec.to)..axis.position(spec.to, spec.to), low..high)
                .unwrap();
            let y_labels = AxisLabels::new(spec.format, &ticks(low..high, Y_TICKS));
            let x_label = |position: &f64| axis.label(*position);
            let y_label = |value: &f64| match spec.axis_unit {
                Some(unit) => format!("{} {unit}", y_labels.label(*value)),
                None => y_labels.label(*value),
            };
            let mut mesh = chart.configure_mesh();
            mesh.x_labels(x_ticks(axis))
                .y_labels(Y_TICKS)
                .x_label_formatter(&x_label)
                .y_label_formatter(&y_label)
                .label_style(label_font(spec.scale.max(1.0)).color(&spec.palette.text))
                .bold_line_style(spec.palette.grid.stroke_width(px(1.0)))
                .light_line_style(TRANSPARENT)
                .axis_style(spec.palette.grid.stroke_width(px(1.0)));
            match part {
                FramePart::Behind => mesh.disable_x_mesh(),
                FramePart::Under => mesh.disable_x_mesh().disable_axes(),
                FramePart::Over => mesh.disable_y_mesh().disable_axes(),
            }
            .draw()
            .unwrap();
            root.present().unwrap();
        }
        svg
    }

    #[test]
    fn the_mesh_is_drawn_as_plotters_draws_its_own() {
        let charts = [
            ((400, 160), ChartSpec::plain(0, 30_000, Format::Int), (0.0, 150.0)),
            (
                (800, 320),
                ChartSpec { axis_unit: Some("req/s"), scale: 2.0, ..ChartSpec::plain(0, 30_000, Format::Int) },
                (-3.5, 12.0),
            ),
            ((600, 160), ChartSpec::plain(0, 360_000_000, Format::Decimal), (0.0, 1.0)),
            // Tick marks shorter than 5 pixels: 5% of a plot 30 pixels high.
            ((120, 60), ChartSpec::plain(0, 30_000, Format::Percent), (0.0, 0.02)),
        ];
        for (size, spec, range) in charts {
            for part in [FramePart::Behind, FramePart::Under, FramePart::Over] {
                let mut ours = String::new();
                {
                    let root = SVGBackend::with_string(&mut ours, size).into_drawing_area();
                    draw_frame(&root, &spec, range, part).unwrap();
                    root.present().unwrap();
                }
                assert!(part != FramePart::Behind || labels(&ours).len() > 4, "{size:?}: {ours}");
                assert_eq!(ours, frame_by_plotters(size, &spec, range, part), "{size:?} {part:?}");
            }
        }
    }

    #[test]
    fn value_range_has_air_and_respects_zero() {
        let none = (None, None);
        assert_eq!(value_range([].iter(), &[], &[], none), (0.0, 1.0));
        let (low, high) = value_range([(0, 10.0), (1, 20.0)].iter(), &[], &[], none);
        assert!((0.0..10.0).contains(&low) && high > 20.0);
        let (low, high) = value_range([(0, 5.0)].iter(), &[], &[], none);
        assert!(low < 5.0 && high > 5.0);
        assert_eq!(value_range([(0, 0.0), (1, 100.0)].iter(), &[], &[], none).0, 0.0);
        let crit = Level { direction: Direction::Above, threshold: 85.0, clear: 75.0 };
        let (_, high) = value_range([(0, 10.0), (1, 20.0)].iter(), &[(Severity::Critical, crit)], &[], none);
        assert!(high > 85.0, "the threshold is in view");
        let (_, high) = value_range([(0, 10.0)].iter(), &[], &[90.0], none);
        assert!(high > 90.0, "a panel's threshold is in view");
        assert_eq!(value_range([(0, 0.5)].iter(), &[], &[], (Some(0.0), Some(1.0))), (0.0, 1.0), "as configured");
        assert_eq!(
            value_range([(0, 0.5)].iter(), &[], &[1.5], (Some(0.0), Some(1.0))),
            (0.0, 1.5),
            "but holds a threshold"
        );
    }

    #[test]
    fn a_live_range_stays_while_the_data_fits_and_fills_half_of_it() {
        let before = (0.0, 100.0);
        assert_eq!(steady_range(before, Some((10.0, 90.0)), (0.0, 102.0)), before, "noise inside");
        assert_eq!(steady_range(before, Some((10.0, 101.0)), (0.0, 115.0)), (0.0, 115.0), "a new high");
        assert_eq!(steady_range(before, Some((40.0, 60.0)), (37.0, 63.0)), (37.0, 63.0), "twice too loose");
        assert_eq!(steady_range(before, None, (0.0, 1.0)), (0.0, 1.0), "nothing to show");
        let points = [(0, 10.0), (1_000, 90.0)];
        let spec = ChartSpec { kind: PanelKind::Line, ..ChartSpec::plain(0, 30_000, Format::Int) };
        let placed = Placed::new(&[line(&points)], &spec, Some(before));
        assert_eq!((placed.low, placed.high), before);
        let configured = ChartSpec { max: Some(95.0), ..spec };
        let placed = Placed::new(&[line(&points)], &configured, Some(before));
        assert_eq!(placed.high, 95.0, "a configured end wins");
    }

    fn fills_of(svg: &str, colour: RGBColor) -> usize {
        svg.matches(&format!("fill=\"#{:02X}{:02X}{:02X}\"", colour.0, colour.1, colour.2)).count()
    }

    #[test]
    fn stacked_areas_fill_every_series_and_bars_draw_a_rectangle_a_point() {
        let palette = Palette::DARK;
        let a: Vec<Point> = (0..=10).map(|s| (s * 3000, 1.0)).collect();
        let b: Vec<Point> = (0..=10).map(|s| (s * 3000, 2.0)).collect();
        let lines = [Line { points: &a, colour: palette.series[1] }, Line { points: &b, colour: palette.series[2] }];
        let draw = |kind| {
            let mut svg = String::new();
            {
                let backend = SVGBackend::with_string(&mut svg, (400, 160));
                draw_chart(backend, &lines, &ChartSpec { kind, ..spec(0, 30_000, Format::Int, None) }).unwrap();
            }
            svg
        };
        let stacked = draw(PanelKind::Stacked);
        assert!(fills_of(&stacked, palette.series[1]) >= 1 && fills_of(&stacked, palette.series[2]) >= 1);
        let labels = value_labels(&stacked);
        assert!(labels.iter().any(|l| l.parse::<f64>().is_ok_and(|v| v >= 3.0)), "2 on 1 reaches 3: {labels:?}");
        let bars = draw(PanelKind::Bar);
        assert_eq!(fills_of(&bars, palette.series[1]), 11, "a bar a point");
        assert_eq!(fills_of(&bars, palette.series[2]), 11);
        assert_eq!(fills_of(&draw(PanelKind::Line), palette.series[1]), 0, "lines fill nothing");
    }

    #[test]
    fn rows_draw_their_spans_in_their_colours() {
        let (up, down) = (RGBColor(0, 200, 0), RGBColor(200, 0, 0));
        let rows =
            [Row { label: "web".into(), spans: vec![(0, 10_000, up), (10_000, 20_000, down), (20_000, 30_000, up)] }];
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            draw_rows(backend, &rows, &spec(0, 30_000, Format::Int, None)).unwrap();
        }
        assert_eq!(fills_of(&svg, up), 2);
        assert_eq!(fills_of(&svg, down), 1);
        assert!(labels(&svg).iter().any(|l| l == "web"), "the row is named");
    }

    #[test]
    fn spans_thinner_than_a_pixel_are_merged_into_whole_pixels() {
        // 3,000 states in 30 s on a plot about 350 pixels wide: no more rectangles than pixels,
        // both states still shown, and a run of one state is one rectangle.
        let (up, down) = (RGBColor(0, 200, 0), RGBColor(200, 0, 0));
        let flapping = (0..3000).map(|i| (i * 10, i * 10 + 10, if i % 7 == 0 { down } else { up })).collect();
        let steady = vec![(0, 15_000, up), (15_000, 30_000, up)];
        let rows = [Row { label: "flapping".into(), spans: flapping }, Row { label: "steady".into(), spans: steady }];
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            draw_rows(backend, &rows, &spec(0, 30_000, Format::Int, None)).unwrap();
        }
        let (ups, downs) = (fills_of(&svg, up), fills_of(&svg, down));
        assert!(ups + downs <= 400 && downs > 10, "{ups} up and {downs} down rectangles");
        assert!(ups > 10);
    }

    #[test]
    fn bars_get_two_pixels_each_and_a_slot_keeps_its_highest() {
        let points: Vec<Point> = (0..3000).map(|i| (i * 10, if i == 1234 { 500.0 } else { 10.0 })).collect();
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            let spec = ChartSpec { kind: PanelKind::Bar, ..spec(0, 30_000, Format::Int, None) };
            draw_chart(backend, &[line(&points)], &spec).unwrap();
        }
        let bars = fills_of(&svg, Palette::DARK.line);
        assert!((50..=200).contains(&bars), "{bars} bars");
        assert!(value_labels(&svg).iter().any(|l| l.parse::<f64>().is_ok_and(|v| v >= 400.0)), "the peak is drawn");
        assert_eq!(highest_per_slot(&[(0, 1.0), (40, 3.0), (99, 2.0), (100, 1.0)], 100), vec![(50, 3.0), (150, 1.0)]);
    }

    #[test]
    fn thresholds_clear_bands_and_firing_spans_are_drawn_in_their_severity() {
        let points: Vec<Point> = (0..=30).map(|s| (s * 1000, 60.0 + s as f64)).collect();
        let alerts = ChartAlerts {
            levels: vec![
                (Severity::Warning, Level { direction: Direction::Above, threshold: 70.0, clear: 70.0 }),
                (Severity::Critical, Level { direction: Direction::Above, threshold: 85.0, clear: 75.0 }),
            ],
            spans: vec![FiringSpan { from: 20_000, to: 40_000, severity: Severity::Critical }],
        };
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, (400, 160));
            let spec = ChartSpec { alerts: &alerts, ..spec(0, 30_000, Format::Int, None) };
            draw_chart(backend, &[line(&points)], &spec).unwrap();
        }
        let critical = format!(
            "#{:02X}{:02X}{:02X}",
            Palette::DARK.critical.0,
            Palette::DARK.critical.1,
            Palette::DARK.critical.2
        );
        let warning =
            format!("#{:02X}{:02X}{:02X}", Palette::DARK.warning.0, Palette::DARK.warning.1, Palette::DARK.warning.2);
        assert!(svg.contains(&format!(r#"stroke="{warning}""#)), "the warning line");
        assert!(svg.contains(&format!(r#"stroke="{critical}""#)), "the critical line");
        // Filled in the critical colour: the firing span and the clear band (none for warning,
        // whose clear is its threshold).
        let filled = svg.matches(&format!(r#"fill="{critical}""#)).count();
        assert_eq!(filled, 2, "{svg}");
        assert_eq!(svg.matches(&format!(r#"fill="{warning}""#)).count(), 0);
    }
}
