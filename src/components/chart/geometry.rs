//! Where the plot area sits inside a chart, in CSS pixels: drawing (`draw`) and the pointer
//! readout (which maps a pointer position back to a time) share these numbers, so the value
//! shown under the pointer is the one drawn there.

use crate::model::series::Point;
use crate::protocol::{Format, Millis};

/// The plot area's distance from the canvas edges.
pub const MARGIN: f64 = 6.0;
/// Room for the centred "now" label at the right edge.
pub const MARGIN_RIGHT: f64 = 16.0;
pub const X_LABELS: f64 = 18.0;
pub const Y_LABELS: f64 = 52.0;
/// Room per character of a unit written after the y axis values.
const UNIT_CHAR: f64 = 6.5;

/// The unit the y axis writes after its values: formats that do not carry their own (bytes,
/// durations, percent and currency do), when the metric has one.
pub fn axis_unit(format: Format, unit: &str) -> Option<&str> {
    (matches!(format, Format::Int | Format::Decimal) && !unit.is_empty()).then_some(unit)
}

/// Width of the y axis labels: wider when they carry a unit.
pub fn y_labels_width(axis_unit: Option<&str>) -> f64 {
    Y_LABELS + axis_unit.map_or(0.0, |unit| (unit.chars().count() as f64 + 1.0) * UNIT_CHAR).min(60.0)
}

/// The time under horizontal position `x` (CSS pixels from the canvas' left edge) of a chart
/// `width` CSS pixels wide showing `[from, to]`, clamped to that span.
pub fn time_at(x: f64, width: f64, from: Millis, to: Millis, axis_unit: Option<&str>) -> Millis {
    let left = MARGIN + y_labels_width(axis_unit);
    let plot_width = (width - left - MARGIN_RIGHT).max(1.0);
    let fraction = ((x - left) / plot_width).clamp(0.0, 1.0);
    from + ((to - from) as f64 * fraction).round() as Millis
}

/// Where time `ts` lies on a chart `width` CSS pixels wide showing `[from, to]`, in CSS pixels
/// from the canvas' left edge: `time_at`'s inverse.
pub fn x_at(ts: Millis, width: f64, from: Millis, to: Millis, axis_unit: Option<&str>) -> f64 {
    let left = MARGIN + y_labels_width(axis_unit);
    let plot_width = (width - left - MARGIN_RIGHT).max(1.0);
    left + plot_width * (ts - from) as f64 / (to - from).max(1) as f64
}

/// The plot area of a canvas `width` x `height` device pixels at `scale`, in device pixels,
/// where `draw` draws it (inside its margins and label areas, each rounded to whole pixels):
/// `x0..x1` and `y0..y1`, ends excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // the browser's canvas and tests
pub struct PlotRect {
    pub x0: i32,
    pub x1: i32,
    pub y0: i32,
    pub y1: i32,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl PlotRect {
    pub fn new((width, height): (u32, u32), scale: f64, axis_unit: Option<&str>) -> PlotRect {
        let px = |css: f64| (css * scale.max(1.0)).round() as i32;
        let (width, height) = (width as i32, height as i32);
        let x0 = px(MARGIN) + px(y_labels_width(axis_unit));
        let y0 = px(MARGIN);
        PlotRect {
            x0,
            x1: (width - px(MARGIN_RIGHT)).max(x0 + 2),
            y0,
            y1: (height - px(MARGIN) - px(X_LABELS)).max(y0 + 2),
        }
    }

    /// The pixel columns a span is spread over: plotters maps `[from, to]` onto `x0..=x1 - 1`.
    pub fn columns(&self) -> i32 {
        self.x1 - 1 - self.x0
    }

    /// The column of `ts` on a chart of `[from, to]`, as plotters places it.
    pub fn x_of(&self, ts: Millis, from: Millis, to: Millis) -> i32 {
        let share = (ts - from) as f64 / (to - from).max(1) as f64;
        self.x0 + (f64::from(self.columns()) * share + 1e-3).floor() as i32
    }

    /// `to` moved onto the grid of whole columns of a `span` wide chart (absolute time, so the
    /// grid stays put as time goes by): between two such ends the picture moves by whole
    /// columns, and a chart can shift what it drew instead of drawing it again. Moved forward,
    /// by less than a column, so that the newest point is always in view (a column of a day's
    /// chart is two minutes).
    pub fn snap(&self, to: Millis, span: Millis) -> Millis {
        let column_ms = span as f64 / f64::from(self.columns().max(1));
        ((to as f64 / column_ms).ceil() * column_ms).round() as Millis
    }

    /// How many columns a chart of `span` moves between ends `before` and `after` (both
    /// snapped), if a whole number of them.
    pub fn shift(&self, before: Millis, after: Millis, span: Millis) -> Option<i32> {
        let columns = (after - before) as f64 * f64::from(self.columns()) / span.max(1) as f64;
        let whole = columns.round();
        ((columns - whole).abs() < 0.05).then_some(whole as i32)
    }
}

/// The point of `points` (sorted by time) nearest to `ts`.
pub fn nearest(points: &[Point], ts: Millis) -> Option<Point> {
    let after = points.partition_point(|point| point.0 < ts);
    let candidates = [after.checked_sub(1), Some(after)];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|index| points.get(index).copied())
        .min_by_key(|point| (point.0 - ts).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_positions_map_to_times_and_the_nearest_point() {
        let width = MARGIN + Y_LABELS + 100.0 + MARGIN_RIGHT;
        assert_eq!(time_at(MARGIN + Y_LABELS, width, 0, 30_000, None), 0);
        assert_eq!(time_at(MARGIN + Y_LABELS + 50.0, width, 0, 30_000, None), 15_000);
        assert_eq!(time_at(width, width, 0, 30_000, None), 30_000, "clamped to the span");
        assert_eq!(time_at(0.0, width, 0, 30_000, None), 0);
        let labelled = y_labels_width(Some("ms"));
        assert!(labelled > Y_LABELS, "a unit widens the labels");
        assert_eq!(time_at(MARGIN + labelled, width + labelled - Y_LABELS, 0, 30_000, Some("ms")), 0);
        for x in [MARGIN + Y_LABELS, MARGIN + Y_LABELS + 37.0, width - MARGIN_RIGHT] {
            let back = x_at(time_at(x, width, 0, 30_000, None), width, 0, 30_000, None);
            assert!((back - x).abs() < 0.5, "{x} -> {back}");
        }
        let points = [(0, 1.0), (10_000, 2.0), (20_000, 3.0)];
        assert_eq!(nearest(&points, 14_000), Some((10_000, 2.0)));
        assert_eq!(nearest(&points, 16_000), Some((20_000, 3.0)));
        assert_eq!(nearest(&points, 99_000), Some((20_000, 3.0)));
        assert_eq!(nearest(&[], 5), None);
    }

    #[test]
    fn the_plot_rect_is_where_plotters_puts_the_plot_area() {
        use plotters::prelude::*;
        for (size, scale, unit) in [((780, 180), 1.0, None), ((1561, 361), 2.0, Some("ms")), ((300, 120), 1.5, None)] {
            let mut svg = String::new();
            let area = {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                let px = |css: f64| (css * scale).round() as u32;
                let chart = ChartBuilder::on(&root)
                    .margin(px(MARGIN))
                    .margin_right(px(MARGIN_RIGHT))
                    .x_label_area_size(px(X_LABELS))
                    .y_label_area_size(px(y_labels_width(unit)))
                    .build_cartesian_2d(0.0..30.0, 0.0..1.0)
                    .unwrap();
                let placed = (chart.backend_coord(&(0.0, 0.0)), chart.backend_coord(&(30.0, 0.0)));
                (chart.plotting_area().get_pixel_range(), placed)
            };
            let rect = PlotRect::new(size, scale, unit);
            let ((xs, ys), (left, right)) = area;
            assert_eq!(
                (rect.x0, rect.x1, rect.y0, rect.y1),
                (xs.start, xs.end, ys.start, ys.end),
                "{size:?} at {scale}"
            );
            assert_eq!((rect.x_of(0, 0, 30_000), rect.x_of(30_000, 0, 30_000)), (left.0, right.0));
        }
    }

    #[test]
    fn snapped_ends_move_the_picture_by_whole_columns() {
        let rect = PlotRect::new((780, 180), 1.0, None);
        let span = 30_000;
        let mut before = rect.snap(1_764_000_000_123, span);
        for step in [100, 37, 250, 1_000, 99] {
            let after = rect.snap(before + step, span);
            let columns = rect.shift(before, after, span).expect("whole columns");
            // Every point moves by that many columns, give or take the rounding of an end to
            // whole milliseconds (a fiftieth of a column here): a point on a column's very
            // edge may land one column over.
            let moved: Vec<i32> = (after - span..before)
                .step_by(7)
                .map(|ts| rect.x_of(ts, before - span, before) - columns - rect.x_of(ts, after - span, after))
                .collect();
            assert!(moved.iter().all(|off| off.abs() <= 1), "{moved:?}");
            assert!(moved.iter().filter(|off| **off != 0).count() * 50 < moved.len(), "{moved:?}");
            before = after;
        }
        assert_eq!(rect.shift(0, 5, span), None, "a fifth of a column is no whole shift");
    }
}
