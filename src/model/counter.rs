//! Counters (PROTOCOL.md 1.2 "Kinds"): a total that only grows, except when its producer
//! restarts. Its rate per second is computed between consecutive points, and a drop is a
//! reset: the increase since then is the new value itself. One definition for every place that
//! asks: alert rules with `rate = true`, the browser's cards and charts, and history buckets
//! (a `Run` per bucket, joined in time order, gives each bucket's rate).

use super::series::Point;
use crate::protocol::Millis;

/// How much a counter grew from `previous` to `current`: after a drop (a reset), the new total.
pub fn increase(previous: f64, current: f64) -> f64 {
    if current >= previous {
        current - previous
    } else {
        current
    }
}

/// The rate per second from `previous` to `current`; `None` when no time passed between them.
pub fn rate(previous: Point, current: Point) -> Option<f64> {
    let elapsed_ms = current.0 - previous.0;
    if elapsed_ms <= 0 {
        return None;
    }
    Some(increase(previous.1, current.1) * 1000.0 / elapsed_ms as f64)
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

/// Consecutive points of a counter, in time order, reduced to what joining runs and rating
/// them needs: the first and last totals and the increase between its points (reset-safe).
/// A history bucket keeps one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    pub first: f64,
    pub last: f64,
    pub increase: f64,
}

impl Run {
    pub fn of(total: f64) -> Self {
        Run { first: total, last: total, increase: 0.0 }
    }

    /// Points whose order was not kept (a second of the per-second tier holding several): for a
    /// counter without a reset among them, from the smallest to the largest.
    pub fn unordered(min: f64, max: f64) -> Self {
        Run { first: min, last: max, increase: max - min }
    }

    /// `self` followed by `later`.
    pub fn then(&mut self, later: Run) {
        self.increase += increase(self.last, later.first) + later.increase;
        self.last = later.last;
    }
}

/// The rate per second over each bucket of `buckets` (start and run, in time order, `step_ms`
/// apart or more): the increase from the bucket before's last point to this one's last, over
/// the time between the two buckets; the first bucket only has the increase within it.
pub fn bucket_rates(buckets: &[(Millis, Run)], step_ms: Millis) -> Vec<f64> {
    let mut before: Option<(Millis, Run)> = None;
    buckets
        .iter()
        .map(|&(ts, run)| {
            let rate = match before {
                Some((earlier, previous)) if ts > earlier => {
                    (increase(previous.last, run.first) + run.increase) * 1000.0 / (ts - earlier) as f64
                }
                _ => run.increase * 1000.0 / step_ms as f64,
            };
            before = Some((ts, run));
            rate
        })
        .collect()
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

    #[test]
    fn runs_join_in_time_order_through_resets() {
        let mut run = Run::of(10.0);
        run.then(Run::of(15.0));
        run.then(Run { first: 3.0, last: 8.0, increase: 5.0 });
        assert_eq!(run, Run { first: 10.0, last: 8.0, increase: 5.0 + 3.0 + 5.0 }, "15 -> 3 is a reset: +3");
    }

    #[test]
    fn each_bucket_rates_from_the_last_point_before_it() {
        // A counter growing 2/s, sampled every 10 s, its producer restarted just after 110 s
        // (reading 20 at 120 s), in minute buckets.
        let total = |i: i64| if i < 12 { i as f64 * 20.0 } else { (i - 11) as f64 * 20.0 };
        let totals: Vec<Point> = (0..18).map(|i| (i * 10_000, total(i))).collect();
        let mut buckets: Vec<(Millis, Run)> = Vec::new();
        for &(ts, total) in &totals {
            let start = ts - ts % 60_000;
            match buckets.last_mut() {
                Some((at, run)) if *at == start => run.then(Run::of(total)),
                _ => buckets.push((start, Run::of(total))),
            }
        }
        let rates = bucket_rates(&buckets, 60_000);
        assert_eq!(rates[0], 100.0 / 60.0, "the first bucket: only what grew within it (0 -> 100)");
        assert_eq!(rates[1], 2.0);
        assert_eq!(rates[2], 2.0, "the reset counts from zero");
        let gap = bucket_rates(&[(0, Run::of(0.0)), (180_000, Run::of(360.0))], 60_000);
        assert_eq!(gap, vec![0.0, 2.0], "over the gap, not all in the last bucket");
    }
}
