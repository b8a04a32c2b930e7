//! Counters (PROTOCOL.md 1.2 "Kinds"): a total that only grows, except when its producer
//! restarts. Its rate per second is computed between consecutive points, and a drop is a
//! reset: the increase since then is the new value itself. One definition for every place that
//! asks: alert rules with `rate = true`, the browser's cards and charts.

use super::series::Point;

/// The rate per second from `previous` to `current`; `None` when no time passed between them.
pub fn rate(previous: Point, current: Point) -> Option<f64> {
    let elapsed_ms = current.0 - previous.0;
    if elapsed_ms <= 0 {
        return None;
    }
    let increase = if current.1 >= previous.1 { current.1 - previous.1 } else { current.1 };
    Some(increase * 1000.0 / elapsed_ms as f64)
}

/// A counter's last point, turning each next total into the rate since it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateOf {
    last: Option<Point>,
}

impl RateOf {
    /// The rate from the last point to (`ts`, `total`), which becomes the last point; `None`
    /// for the first point (nothing to compare with) and for one not later than the last.
    pub fn next(&mut self, ts: i64, total: f64) -> Option<f64> {
        let previous = self.last.replace((ts, total))?;
        let rate = rate(previous, (ts, total));
        if rate.is_none() {
            // An out-of-order point does not move the baseline back.
            self.last = Some(previous);
        }
        rate
    }
}

/// A counter's points as rates per second, each at the later point of its pair (one point
/// fewer; a reset counts from zero).
pub fn rates<'a>(points: impl IntoIterator<Item = &'a Point>) -> Vec<Point> {
    let mut counter = RateOf::default();
    points.into_iter().filter_map(|&(ts, total)| Some((ts, counter.next(ts, total)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_of_totals_becomes_a_series_of_rates() {
        let totals = [(0, 10.0), (1_000, 20.0), (2_000, 5.0), (4_000, 25.0)];
        assert_eq!(rates(&totals), vec![(1_000, 10.0), (2_000, 5.0), (4_000, 10.0)]);
        assert!(rates(&[(0, 1.0)]).is_empty());
    }

    #[test]
    fn rates_are_per_second_between_points_and_survive_a_reset() {
        assert_eq!(rate((0, 100.0), (2_000, 160.0)), Some(30.0));
        assert_eq!(rate((0, 100.0), (1_000, 7.0)), Some(7.0), "a restart: counted from zero again");
        assert_eq!(rate((1_000, 1.0), (1_000, 2.0)), None);
        let mut counter = RateOf::default();
        assert_eq!(counter.next(0, 10.0), None, "nothing to compare the first with");
        assert_eq!(counter.next(500, 15.0), Some(10.0));
        assert_eq!(counter.next(400, 99.0), None, "late: ignored");
        assert_eq!(counter.next(1_500, 25.0), Some(10.0), "from the last point in time");
    }
}
