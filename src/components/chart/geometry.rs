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
}
