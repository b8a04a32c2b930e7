//! Reduces a series to at most four points per pixel column (first, min, max, last), uPlot's
//! trick: the drawn line is pixel-identical to the full one, and drawing cost depends on the
//! chart's width instead of the history's length.

use super::series::Point;
use crate::protocol::Millis;

/// The points of `points` (sorted by time) inside `[from, to]`, reduced for `columns` pixel
/// columns. The last point before `from` is kept so the line enters the chart from its edge.
pub fn decimate<'a>(
    points: impl IntoIterator<Item = &'a Point>,
    from: Millis,
    to: Millis,
    columns: usize,
) -> Vec<Point> {
    let columns = columns.max(1) as i64;
    let span = (to - from).max(1);
    let mut out = Vec::new();
    let mut before: Option<Point> = None;
    // The column being filled: its index and first, min, max, last points.
    let mut bucket: Option<(i64, Point, Point, Point, Point)> = None;

    let flush = |out: &mut Vec<Point>, (_, first, min, max, last): (i64, Point, Point, Point, Point)| {
        if [min, max, last].iter().all(|point| *point == first) {
            // A column of one point: the usual live chart, whose window holds fewer points
            // than it has columns (nothing to order).
            if out.last() != Some(&first) {
                out.push(first);
            }
            return;
        }
        let mut chosen = [first, min, max, last];
        chosen.sort_by_key(|point| point.0);
        for point in chosen {
            if out.last() != Some(&point) {
                out.push(point);
            }
        }
    };

    for &point in points {
        let (ts, value) = point;
        if ts < from {
            before = Some(point);
            continue;
        }
        if ts > to {
            break;
        }
        if let Some(edge) = before.take() {
            out.push(edge);
        }
        let column = ((ts - from) * columns / span).min(columns - 1);
        match &mut bucket {
            Some((current, _, min, max, last)) if *current == column => {
                if value < min.1 {
                    *min = point;
                }
                if value > max.1 {
                    *max = point;
                }
                *last = point;
            }
            _ => {
                if let Some(done) = bucket.take() {
                    flush(&mut out, done);
                }
                bucket = Some((column, point, point, point, point));
            }
        }
    }
    if let Some(done) = bucket {
        flush(&mut out, done);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_extremes_of_each_column() {
        // 1000 points over 10 columns: each column keeps at most 4.
        let points: Vec<Point> =
            (0..1000).map(|i| (i as Millis, if i % 7 == 0 { 100.0 } else { i as f64 % 5.0 })).collect();
        let reduced = decimate(&points, 0, 999, 10);
        assert!(reduced.len() <= 40, "{}", reduced.len());
        // Every column still shows its true min and max.
        for column in 0..10 {
            let slice = &points[column * 100..(column + 1) * 100];
            let kept: Vec<_> = reduced.iter().filter(|(t, _)| *t >= slice[0].0 && *t <= slice[99].0).collect();
            let true_max = slice.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            let true_min = slice.iter().map(|p| p.1).fold(f64::MAX, f64::min);
            assert!(kept.iter().any(|p| p.1 == true_max));
            assert!(kept.iter().any(|p| p.1 == true_min));
        }
        assert!(reduced.windows(2).all(|pair| pair[0].0 < pair[1].0), "stays sorted");
    }

    #[test]
    fn short_series_pass_through_with_their_left_edge() {
        let points = vec![(0, 1.0), (10, 2.0), (20, 3.0), (30, 4.0)];
        assert_eq!(decimate(&points, 15, 30, 100), vec![(10, 2.0), (20, 3.0), (30, 4.0)]);
        assert!(decimate(&points, 40, 50, 100).is_empty());
    }
}
